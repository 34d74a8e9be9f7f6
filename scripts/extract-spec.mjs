#!/usr/bin/env node
// Extracts from Meta's official OpenAPI spec (facebook/openapi, MIT) the JSON Schemas and examples the emulator
// needs, so they ship inside the package (test/meta is not published). Deterministic: same spec in, same files out.
//
//   node scripts/extract-spec.mjs [path/to/business-messaging-api_v23.0.yaml] [--out DIR]
//
// Writes src/emulator/spec/{schemas,message-examples,webhook-examples}.json (or into DIR: the drift test,
// test/integration/emulator-spec.test.ts, re-derives them there and compares). What it does to the schemas:
//  1. bundles every component schema reachable from the roots under one `$defs` (refs rewritten to #/$defs/X);
//  2. drops annotation-only keywords (description, example, discriminator, ...);
//  3. flattens `allOf` of plain objects into one object: the spec writes `allOf: [Base, {additionalProperties:
//     false, ...}]`, which under JSON Schema rejects every Base property; Meta clearly means "Base plus these";
//  4. applies the CORRECTIONS below, each with its reason, where the spec contradicts Meta's own examples or guide;
//  5. checks that every request example of POST /{Phone-Number-ID}/messages validates, and fails otherwise.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import YAML from 'yaml';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const outFlag = args.indexOf('--out');
const outArg = outFlag >= 0 ? args.splice(outFlag, 2)[1] : undefined;
if (outFlag >= 0 && !outArg) throw new Error('--out needs a directory');
const specPath = resolve(args[0] ?? resolve(repoRoot, 'test/meta/spec/business-messaging-api_v23.0.yaml'));
const outDir = resolve(outArg ?? resolve(repoRoot, 'src/emulator/spec'));

const raw = readFileSync(specPath);
const sha256 = createHash('sha256').update(raw).digest('hex');
const spec = YAML.parse(raw.toString('utf8'));
const components = spec.components.schemas;

const MESSAGES_PATH = '/{Version}/{Phone-Number-ID}/messages';
const ROOTS = {
  // Request bodies the emulator validates, by the name it uses for them.
  Message: 'Message',
  RegisterRequest: 'WhatsAppBusinessPhoneNumberRegistrationRequest',
  RequestCodeRequest: 'RequestCodeRequest',
  VerifyCodeRequest: 'VerifyCodeRequest',
  BusinessProfileUpdateRequest: 'WhatsAppBusinessProfileUpdateRequest',
  SubscriptionRequest: 'SubscriptionRequest',
};

const DROP_KEYWORDS = new Set([
  'description',
  'example',
  'examples',
  'discriminator',
  'xml',
  'externalDocs',
  'deprecated',
  'title',
  'readOnly',
  'writeOnly',
]);

/** Component names reachable from `name`, in a stable order. */
function reachable(names) {
  const seen = new Set();
  const visit = (node) => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (!node || typeof node !== 'object') return;
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') {
        const target = refName(v);
        if (!seen.has(target)) {
          seen.add(target);
          visit(components[target]);
        }
      } else visit(v);
    }
  };
  for (const n of names) {
    seen.add(n);
    visit(components[n]);
  }
  return [...seen].sort();
}

function refName(ref) {
  const m = /^#\/components\/schemas\/(.+)$/.exec(ref);
  if (!m || !components[m[1]]) throw new Error(`unresolvable $ref ${ref}`);
  return m[1];
}

/** Deep copy without annotation keywords, refs pointing into $defs. `properties` keys are data, not keywords. */
function clean(node, isPropertyMap = false) {
  if (Array.isArray(node)) return node.map((n) => clean(n));
  if (!node || typeof node !== 'object') return node;
  const out = {};
  for (const [k, v] of Object.entries(node)) {
    if (isPropertyMap) {
      out[k] = clean(v);
      continue;
    }
    if (DROP_KEYWORDS.has(k)) continue;
    if (k === '$ref') out[k] = `#/$defs/${refName(v)}`;
    else out[k] = clean(v, k === 'properties' || k === 'patternProperties' || k === '$defs');
  }
  return out;
}

/** allOf of plain object schemas → one object schema (see header, step 3). */
function flattenAllOf(defs) {
  const resolveLocal = (s) => (s.$ref ? defs[s.$ref.slice('#/$defs/'.length)] : s);
  const isPlainObject = (s) =>
    s && !s.oneOf && !s.anyOf && !s.allOf && (s.type === 'object' || s.properties !== undefined);
  const walk = (node) => {
    if (Array.isArray(node)) return node.map(walk);
    if (!node || typeof node !== 'object') return node;
    for (const k of Object.keys(node)) node[k] = walk(node[k]);
    if (Array.isArray(node.allOf)) {
      const parts = node.allOf.map(resolveLocal);
      if (parts.every(isPlainObject)) {
        const merged = { type: 'object', properties: {}, required: [] };
        for (const p of parts) {
          Object.assign(merged.properties, p.properties ?? {});
          for (const r of p.required ?? []) if (!merged.required.includes(r)) merged.required.push(r);
          if (p.additionalProperties === false) merged.additionalProperties = false;
        }
        if (merged.required.length === 0) delete merged.required;
        const { allOf: _allOf, ...rest } = node;
        return { ...rest, ...merged };
      }
    }
    return node;
  };
  for (const name of Object.keys(defs)) defs[name] = walk(defs[name]);
}

/**
 * Where the spec contradicts Meta's own examples, guide or documented limits. Each returns a short note that is
 * written into the provenance, so the output says exactly how it differs from the input.
 */
const CORRECTIONS = [
  (d) => {
    // Meta's getting-started curl (hello_world) and the spec's own "Send Contact Message" omit recipient_type.
    for (const def of Object.values(d)) {
      if (def.properties?.recipient_type && Array.isArray(def.required)) {
        def.required = def.required.filter((r) => r !== 'recipient_type' && r !== 'type');
      }
    }
    return 'messages: recipient_type optional (defaults to "individual"; Meta\'s guide omits it); type optional (Meta: defaults to text; the emulator infers it from the one content key present, as the spec\'s "Send Reply to List Message" example needs)';
  },
  (d) => {
    for (const def of Object.values(d)) {
      if (def.properties?.recipient_type) def.properties.messaging_product = { type: 'string', enum: ['whatsapp'] };
    }
    return 'messages: messaging_product enum ["whatsapp"] (the only value Cloud API accepts)';
  },
  (d) => {
    const text = d.TextMessage.properties.text;
    text.required = ['body'];
    text.properties.body.maxLength = 4096;
    return 'TextMessage.text: body required, at most 4096 characters (Cloud API text limits)';
  },
  (d) => {
    // The spec's own template examples omit policy; Meta's guide does too.
    d.LanguageObject.required = ['code'];
    return 'LanguageObject: policy optional (the spec\'s template examples and Meta\'s guide omit it)';
  },
  (d) => {
    const loc = d.LocationMessage.properties.location.properties;
    loc.latitude = { type: ['number', 'string'] };
    loc.longitude = { type: ['number', 'string'] };
    return 'LocationMessage: latitude/longitude numbers or strings (the spec\'s own example sends numbers)';
  },
  (d) => {
    const t = d.InteractiveObject.properties.type;
    for (const extra of ['order_details', 'order_status', 'cta_url', 'location_request_message', 'address_message']) {
      if (!t.enum.includes(extra)) t.enum.push(extra);
    }
    return 'InteractiveObject.type: adds order_details, order_status (used by the spec\'s examples), cta_url, location_request_message, address_message';
  },
  (d) => {
    d.ActionObject.oneOf.push({
      required: ['name', 'parameters'],
      properties: { name: { type: 'string', enum: ['review_and_pay', 'review_order'] }, parameters: { type: 'object' } },
    });
    // Documented in Meta's Cloud API reference (interactive CTA URL, location request and address messages),
    // absent from the v23.0 spec.
    d.ActionObject.oneOf.push(
      {
        required: ['name', 'parameters'],
        properties: {
          name: { type: 'string', enum: ['cta_url'] },
          parameters: {
            type: 'object',
            required: ['display_text', 'url'],
            properties: { display_text: { type: 'string', maxLength: 20 }, url: { type: 'string' } },
          },
        },
      },
      { required: ['name'], properties: { name: { type: 'string', enum: ['send_location'] } } },
      {
        required: ['name', 'parameters'],
        properties: { name: { type: 'string', enum: ['address_message'] }, parameters: { type: 'object' } },
      },
    );
    return 'ActionObject: adds the order_details/order_status action (name review_and_pay | review_order) the spec\'s examples use, and the cta_url, send_location and address_message actions of Meta\'s reference';
  },
  (d) => {
    // The spec's own "Send Catalog Template Message" example sends sub_type "CATALOG" and index 0 (a number);
    // its pattern "^[2-6, 11-14]$" is a character class that rejects "0" and "1".
    const c = d.TemplateComponent.properties;
    const subTypes = ['quick_reply', 'url', 'catalog', 'copy_code', 'flow', 'mpm', 'voice_call', 'order_details'];
    c.sub_type = { type: 'string', enum: [...subTypes, ...subTypes.map((t) => t.toUpperCase())] };
    c.index = { type: ['string', 'integer'], pattern: '^[0-9]{1,2}$', minimum: 0, maximum: 99 };
    return 'TemplateComponent: sub_type case-insensitive (incl. copy_code, flow, mpm, ...), index a string or integer 0-99';
  },
];

// 1-2: bundle and clean.
const names = reachable(Object.values(ROOTS));
const defs = {};
for (const n of names) defs[n] = clean(components[n]);
// 3: flatten.
flattenAllOf(defs);
// 4: corrections.
const correctionNotes = CORRECTIONS.map((fix) => fix(defs));
// Read receipts / typing indicators share the endpoint but are not in the spec's Message schema.
defs.ReadReceipt = {
  type: 'object',
  additionalProperties: false,
  required: ['messaging_product', 'status', 'message_id'],
  properties: {
    messaging_product: { type: 'string', enum: ['whatsapp'] },
    status: { type: 'string', enum: ['read'] },
    message_id: { type: 'string', minLength: 1 },
    typing_indicator: {
      type: 'object',
      additionalProperties: false,
      required: ['type'],
      properties: { type: { type: 'string', enum: ['text'] } },
    },
  },
};
correctionNotes.push(
  'ReadReceipt: added (the spec documents read receipts and typing indicators only as an example of this endpoint)',
);

const messageTypes = {};
for (const [type, ref] of Object.entries(components.Message.discriminator.mapping)) messageTypes[type] = refName(ref);

const provenance = {
  source: 'facebook/openapi business-messaging-api_v23.0.yaml (https://github.com/facebook/openapi)',
  license: 'MIT (Copyright Meta Platforms, Inc. and affiliates)',
  specVersion: spec.info.version,
  openapi: spec.openapi,
  sha256,
  generatedBy: 'scripts/extract-spec.mjs',
  transformations: [
    'bundled reachable component schemas under $defs; annotation keywords dropped',
    'allOf of plain object schemas flattened into one object (base properties allowed next to additionalProperties:false)',
    ...correctionNotes,
  ],
};

const schemas = {
  provenance,
  roots: ROOTS,
  messageTypes,
  bundle: { $id: 'https://wacloud.local/emulator/schemas.json', $defs: defs },
};

// Request examples of the send endpoint, in spec order.
const sendOp = spec.paths[MESSAGES_PATH].post;
const messageExamples = Object.entries(sendOp.requestBody.content['application/json'].examples).map(
  ([name, ex]) => ({ name, body: ex.value }),
);
const webhookOp = spec.paths['/whatsapp/webhooks'].post;
const webhookExamples = Object.entries(webhookOp.requestBody.content['application/json'].examples).map(
  ([name, ex]) => ({ name, body: ex.value }),
);

// 5: self-check, with the same type inference and placeholder filling the emulator uses
// (src/emulator/validate.ts, src/emulator/examples.ts).
function inferType(body) {
  if (typeof body.type === 'string') return body.type;
  const present = Object.keys(messageTypes).filter((t) => body[t] !== undefined);
  return present.length === 1 ? present[0] : 'text';
}
function fillPlaceholders(body) {
  const json = JSON.stringify(body)
    .replaceAll('{{Recipient-Phone-Number}}', '16505551234')
    .replaceAll('{{Recipient-WA-Phone-Number}}', '16505551234')
    .replaceAll('<HEADER_TYPE>', 'text');
  return JSON.parse(json);
}

const ajv = new Ajv2020({ strict: false, allErrors: false });
addFormats(ajv);
ajv.addFormat('url', true);
ajv.addSchema(schemas.bundle);
const failures = [];
for (const ex of messageExamples) {
  const body = fillPlaceholders(ex.body);
  const target = body.status === 'read' ? 'ReadReceipt' : messageTypes[inferType(body)];
  const validate = target && ajv.getSchema(`${schemas.bundle.$id}#/$defs/${target}`);
  if (!validate) failures.push(`${ex.name}: no schema for type ${body.type}`);
  else if (!validate(body)) failures.push(`${ex.name}: ${ajv.errorsText(validate.errors)}`);
}
if (failures.length) {
  console.error(`extract-spec: ${failures.length} example(s) do not validate:\n  ${failures.join('\n  ')}`);
  process.exit(1);
}

mkdirSync(outDir, { recursive: true });
const write = (file, value) => writeFileSync(resolve(outDir, file), `${JSON.stringify(value, null, 2)}\n`);
write('schemas.json', schemas);
write('message-examples.json', { provenance, examples: messageExamples });
write('webhook-examples.json', { provenance, examples: webhookExamples });
// The repo's formatter owns JSON layout; running it here keeps `biome check` clean and the output stable. Biome
// formats files of this repo only: with --out elsewhere the layout is JSON.stringify's (the content is the same).
if (!outArg) {
  execFileSync(resolve(repoRoot, 'node_modules/.bin/biome'), ['format', '--write', outDir], { stdio: 'ignore' });
}
console.log(
  `extract-spec: ${names.length} schemas, ${messageExamples.length} message examples, ${webhookExamples.length} webhook examples → ${outDir}`,
);
