import type { ErrorObject, ValidateFunction } from 'ajv';
import Ajv2020Module from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { type EmulatorGraphError, graphError } from './graph-errors.js';
import schemas from './spec/schemas.json' with { type: 'json' };
import { withMetaAdditions } from './spec-additions.js';

// ajv and ajv-formats are CommonJS modules that also set `exports.default`, which is what their types describe.
const Ajv2020 = Ajv2020Module.default;
const addFormats = addFormatsModule.default;

/** Request bodies validated against Meta's schemas (src/emulator/spec/schemas.json, from scripts/extract-spec.mjs). */
export type BodySchemaName =
  | 'RegisterRequest'
  | 'RequestCodeRequest'
  | 'VerifyCodeRequest'
  | 'BusinessProfileUpdateRequest'
  | 'SubscriptionRequest';

interface Compiled {
  byType: Map<string, ValidateFunction>;
  readReceipt: ValidateFunction;
  bodies: Map<string, ValidateFunction>;
}

let compiled: Compiled | undefined;

/** Compiled once per process, on first use: every emulator instance shares the validators. */
function validators(): Compiled {
  if (compiled) return compiled;
  const ajv = new Ajv2020({ strict: false, allErrors: false });
  addFormats(ajv);
  // The spec's `format: url` on media links: Meta accepts the send and fails later if the link cannot be fetched.
  ajv.addFormat('url', true);
  ajv.addSchema(withMetaAdditions(schemas.bundle, Object.values(schemas.messageTypes)));
  const get = (name: string): ValidateFunction => {
    const fn = ajv.getSchema(`${schemas.bundle.$id}#/$defs/${name}`);
    if (!fn) throw new Error(`emulator schema ${name} is missing from spec/schemas.json`);
    return fn;
  };
  const byType = new Map<string, ValidateFunction>();
  for (const [type, name] of Object.entries(schemas.messageTypes)) byType.set(type, get(name));
  const bodies = new Map<string, ValidateFunction>();
  for (const [name, def] of Object.entries(schemas.roots)) if (name !== 'Message') bodies.set(name, get(def));
  compiled = { byType, readReceipt: get('ReadReceipt'), bodies };
  return compiled;
}

/** Compiles the validators now rather than on the first request (a listening server calls this at start). */
export function warmValidators(): void {
  validators();
}

/** The message types the send endpoint accepts. */
export function messageTypes(): string[] {
  return Object.keys(schemas.messageTypes);
}

/**
 * The message type of a send body: its `type`, or (Meta: "defaults to text") the one content key present.
 * The same rule as scripts/extract-spec.mjs uses for its self-check.
 */
export function inferMessageType(body: Record<string, unknown>): string {
  if (typeof body.type === 'string') return body.type;
  const present = messageTypes().filter((t) => body[t] !== undefined);
  return present.length === 1 ? (present[0] as string) : 'text';
}

export type SendBodyKind = { kind: 'message'; type: string } | { kind: 'read' };

/**
 * Validates a `/messages` body. Returns what it is, or throws Meta's code-100 error naming the field.
 */
export function validateSendBody(body: unknown): SendBodyKind {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw graphError(100, '(#100) The parameter messaging_product is required.');
  }
  const b = body as Record<string, unknown>;
  const v = validators();
  if (b.status !== undefined && b.type === undefined && b.to === undefined && b.recipient === undefined) {
    if (!v.readReceipt(b)) throw toGraphError(v.readReceipt.errors ?? [], b);
    return READ;
  }
  if (b.messaging_product === undefined)
    throw graphError(100, '(#100) The parameter messaging_product is required.');
  const type = inferMessageType(b);
  const validate = v.byType.get(type);
  if (!validate) {
    const allowed = messageTypes()
      .map((t) => t.toUpperCase())
      .sort()
      .join(', ');
    throw graphError(100, `(#100) Param type must be one of {${allowed}} - got "${String(type)}".`);
  }
  if (!validate(b)) throw toGraphError(validate.errors ?? [], b);
  let kind = KINDS.get(type);
  if (!kind) {
    kind = Object.freeze({ kind: 'message', type }) as SendBodyKind;
    KINDS.set(type, kind);
  }
  return kind;
}

/** One frozen answer per message type (no allocation per send). */
const KINDS = new Map<string, SendBodyKind>();
const READ: SendBodyKind = Object.freeze({ kind: 'read' });

/** Validates another request body by schema name; throws Meta's code-100 error. */
export function validateBody(name: BodySchemaName, body: unknown): void {
  const validate = validators().bodies.get(name);
  if (!validate) throw new Error(`unknown body schema ${name}`);
  if (!validate(body)) throw toGraphError(validate.errors ?? [], body);
}

/** `/text/body` → `text['body']`, `/interactive/action/buttons/0` → `interactive['action']['buttons'][0]`: Meta's style. */
export function paramPath(instancePath: string, extra?: string): string {
  const parts = instancePath.split('/').filter(Boolean);
  if (extra !== undefined) parts.push(extra);
  if (parts.length === 0) return '(body)';
  const [first, ...rest] = parts.map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  return `${first}${rest.map((p) => (/^\d+$/.test(p) ? `[${p}]` : `['${p}']`)).join('')}`;
}

const COMBINATORS = new Set(['oneOf', 'anyOf', 'allOf', 'not', 'if']);

/** Picks the most telling ajv error and words it like Graph does. Every message names the field. */
export function toGraphError(errors: ErrorObject[], body: unknown): EmulatorGraphError {
  const specific = errors.filter((e) => !COMBINATORS.has(e.keyword));
  // oneOf branches report errors for every branch; the deepest one is usually the real mistake.
  const pick =
    specific.sort((a, b) => b.instancePath.split('/').length - a.instancePath.split('/').length)[0] ??
    errors[0];
  if (!pick) return graphError(100, '(#100) Invalid parameter');
  const path = paramPath(pick.instancePath);
  const p = pick.params as Record<string, unknown>;
  switch (pick.keyword) {
    case 'required':
      return graphError(
        100,
        `(#100) The parameter ${paramPath(pick.instancePath, String(p.missingProperty))} is required.`,
      );
    case 'additionalProperties':
      return graphError(100, '(#100) Invalid parameter', {
        details: `Unexpected key "${String(p.additionalProperty)}" on param "${path}".`,
      });
    case 'type':
      return graphError(100, `(#100) Param ${path} must be a ${String(p.type).replace(',', ' or ')}.`);
    case 'enum': {
      const got = valueAt(body, pick.instancePath);
      const allowed = (p.allowedValues as unknown[]).map(String).join(', ');
      return graphError(100, `(#100) Param ${path} must be one of {${allowed}} - got "${String(got)}".`);
    }
    case 'maxLength':
      return graphError(100, `(#100) Param ${path} must be at most ${String(p.limit)} characters long.`);
    case 'minLength':
      return graphError(100, `(#100) Param ${path} must be at least ${String(p.limit)} characters long.`);
    case 'maxItems':
      return graphError(100, `(#100) Param ${path} must have at most ${String(p.limit)} elements.`);
    case 'minItems':
      return graphError(100, `(#100) Param ${path} must have at least ${String(p.limit)} elements.`);
    case 'oneOf':
      return graphError(100, '(#100) Invalid parameter', {
        details: `Param ${path} must match exactly one of its allowed forms (for media: exactly one of "id" or "link").`,
      });
    default:
      return graphError(100, '(#100) Invalid parameter', {
        details: `Param ${path} ${pick.message ?? 'is invalid'}.`,
      });
  }
}

function valueAt(body: unknown, instancePath: string): unknown {
  let cur: unknown = body;
  for (const part of instancePath.split('/').filter(Boolean)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}
