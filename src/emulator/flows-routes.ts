import { createPublicKey, randomBytes } from 'node:crypto';
import type { Hono } from 'hono';
import { validateFlowJson } from '../flows/flow-json.js';
import { FLOW_CATEGORIES, type FlowValidationError } from '../flows/management-api.js';
import { requireAccess, unknownObject } from './access.js';
import {
  authenticate,
  type EmuContext,
  type EmuEnv,
  type EmulatorCore,
  header,
  readBodyBytes,
  requestParams,
  useWaba,
} from './context.js';
import { callFlowEndpoint } from './flow-client.js';
import type { FlowRecord } from './flow-state.js';
import { graphError } from './graph-errors.js';
import { numericId } from './ids.js';
import { page } from './paging.js';
import { phoneOr404, wabaOr404 } from './routes/shared.js';
import type { Principal } from './tokens.js';

const MANAGEMENT = 'whatsapp_business_management';
/**
 * Flows error code for refused state changes (publishing an invalid flow, editing a published one, deleting a
 * non-draft). Meta's Flows error reference lists its cases under one Flows code; the number 139001 is UNVERIFIED.
 */
export const FLOW_STATE_ERROR = 139001;
/** Meta's preview links last 30 days (Flows API reference, `preview.expires_at`). */
const PREVIEW_TTL_MS = 30 * 24 * 3600_000;

function flowOr404(core: EmulatorCore, c: EmuContext, id: string, p: Principal): FlowRecord {
  const flow = core.state.flows.get(id);
  if (!flow) throw unknownObject(c.req.method, id);
  useWaba(core, c, flow.wabaId);
  requireAccess(core, p, [MANAGEMENT], flow.wabaId);
  return flow;
}

function refused(message: string, userMessage: string) {
  return graphError(FLOW_STATE_ERROR, message, { userTitle: message, userMessage });
}

/** `fields=a,b.c(x),metric.name(N).granularity(DAY)`: the requested names with their modifier chains. */
function parseFields(raw: string | undefined): Map<string, Record<string, string>> | undefined {
  if (!raw) return undefined;
  const out = new Map<string, Record<string, string>>();
  for (const part of raw.split(/,(?![^(]*\))/)) {
    const [name, ...mods] = part.trim().split('.');
    if (!name) continue;
    const args: Record<string, string> = {};
    for (const m of mods) {
      const mm = /^(\w+)\((.*)\)$/.exec(m);
      if (mm) args[mm[1] as string] = mm[2] as string;
    }
    out.set(name, args);
  }
  return out;
}

function statusOfHealth(flow: FlowRecord): string {
  if (flow.status === 'BLOCKED') return 'BLOCKED';
  return flow.status === 'THROTTLED' ? 'LIMITED' : 'AVAILABLE';
}

function metric(flow: FlowRecord, args: Record<string, string>): Record<string, unknown> {
  const name = args.name ?? 'ENDPOINT_REQUEST_COUNT';
  const known = [
    'ENDPOINT_REQUEST_COUNT',
    'ENDPOINT_REQUEST_ERROR',
    'ENDPOINT_REQUEST_ERROR_RATE',
    'ENDPOINT_REQUEST_LATENCY_SECONDS_CEIL',
    'ENDPOINT_AVAILABILITY',
  ];
  if (!known.includes(name)) throw graphError(100, `(#100) metric name must be one of ${known.join(', ')}`);
  const granularity = args.granularity ?? 'DAY';
  const days = Object.entries(flow.endpointStats)
    .filter(([d]) => (!args.since || d >= args.since) && (!args.until || d <= args.until))
    .sort(([a], [b]) => a.localeCompare(b));
  const value = (s: { requests: number; errors: number; latencyMsTotal: number }): number => {
    switch (name) {
      case 'ENDPOINT_REQUEST_ERROR':
        return s.errors;
      case 'ENDPOINT_REQUEST_ERROR_RATE':
        return s.requests ? s.errors / s.requests : 0;
      case 'ENDPOINT_REQUEST_LATENCY_SECONDS_CEIL':
        return s.requests ? Math.ceil(s.latencyMsTotal / s.requests / 1000) : 0;
      case 'ENDPOINT_AVAILABILITY':
        return s.requests ? (s.requests - s.errors) / s.requests : 1;
      default:
        return s.requests;
    }
  };
  return {
    name,
    granularity,
    data_points: days.map(([d, s]) => ({
      timestamp: `${d}T00:00:00+0000`,
      data: [{ key: 'value', value: value(s) }],
    })),
  };
}

function flowObject(
  core: EmulatorCore,
  c: EmuContext,
  flow: FlowRecord,
  fields: Map<string, Record<string, string>> | undefined,
) {
  const origin = new URL(c.req.url).origin;
  const list: Map<string, Record<string, string>> = fields ??
  new Map(['name', 'status', 'categories', 'validation_errors'].map((k) => [k, {}]));
  const out: Record<string, unknown> = { id: flow.id };
  const meta = flow.json ? safeJson(flow.json) : undefined;
  for (const [name, args] of list) {
    switch (name) {
      case 'name':
      case 'status':
      case 'categories':
        out[name] = flow[name];
        break;
      case 'validation_errors':
        out.validation_errors = flow.validationErrors;
        break;
      case 'json_version':
        if (typeof meta?.version === 'string') out.json_version = meta.version;
        break;
      case 'data_api_version':
        if (typeof meta?.data_api_version === 'string') out.data_api_version = meta.data_api_version;
        break;
      case 'endpoint_uri':
        if (flow.endpointUri) out.endpoint_uri = flow.endpointUri;
        break;
      case 'whatsapp_business_account':
        out.whatsapp_business_account = { id: flow.wabaId };
        break;
      case 'application': {
        const app = core.state.apps.get(flow.applicationId);
        out.application = { id: flow.applicationId, name: app?.name };
        break;
      }
      case 'preview': {
        const now = core.clock.now();
        if (args.invalidate === 'true' || flow.previewExpiresAtMs <= now) {
          flow.previewToken = randomBytes(12).toString('hex');
          flow.previewExpiresAtMs = now + PREVIEW_TTL_MS;
          core.state.touch();
        }
        out.preview = {
          preview_url: `${origin}/_emulator/flows/${flow.id}/preview?token=${flow.previewToken}`,
          expires_at: new Date(flow.previewExpiresAtMs).toISOString().replace(/\.\d{3}Z$/, '+0000'),
        };
        break;
      }
      case 'health_status': {
        const can = statusOfHealth(flow);
        out.health_status = {
          can_send_message: can,
          entities: [
            { entity_type: 'FLOW', id: flow.id, can_send_message: can },
            { entity_type: 'WABA', id: flow.wabaId, can_send_message: 'AVAILABLE' },
            { entity_type: 'APP', id: flow.applicationId, can_send_message: 'AVAILABLE' },
          ],
        };
        break;
      }
      case 'metric':
        out.metric = metric(flow, args);
        break;
      case 'id':
        break;
      default:
        throw graphError(
          100,
          `(#100) Tried accessing nonexisting field (${name}) on node type (WhatsAppFlow)`,
        );
    }
  }
  return out;
}

function safeJson(text: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(text);
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function checkCategories(raw: string | undefined, required: boolean): string[] | undefined {
  if (raw === undefined) {
    if (required) throw graphError(100, '(#100) The parameter categories is required.');
    return undefined;
  }
  let list: unknown;
  try {
    list = JSON.parse(raw);
  } catch {
    list = raw.split(',');
  }
  if (!Array.isArray(list) || list.length === 0 || list.some((x) => !FLOW_CATEGORIES.includes(x))) {
    throw graphError(
      100,
      `(#100) Param categories must be a non-empty list of {${FLOW_CATEGORIES.join(', ')}}`,
    );
  }
  return list as string[];
}

function checkEndpoint(uri: string | undefined): string | undefined {
  if (uri === undefined || uri === '') return undefined;
  try {
    const u = new URL(uri);
    // Meta calls endpoints over HTTPS; the emulator also takes loopback http so local endpoints can be tested.
    if (
      u.protocol === 'https:' ||
      (u.protocol === 'http:' && /^(127\.0\.0\.1|localhost|\[::1\])$/.test(u.hostname))
    )
      return uri;
  } catch {
    // fall through
  }
  throw graphError(100, '(#100) Param endpoint_uri must be a valid https URL');
}

/** Stores a Flow JSON and what validating it found (positions refer to the stored text). */
function setJson(flow: FlowRecord, text: string): FlowValidationError[] {
  const { errors } = validateFlowJson(text);
  flow.json = text;
  flow.validationErrors = errors;
  return errors;
}

const mark = (c: EmuContext, endpoint: string) => {
  c.set('endpoint', endpoint);
  c.set('surface', 'whatsapp');
};

function changed(core: EmulatorCore): void {
  core.state.touch();
  core.persist();
}

/** Registers the Flows management API and `whatsapp_business_encryption` under `prefix`. */
export function registerFlowRoutes(app: Hono<EmuEnv>, core: EmulatorCore, prefix: string): void {
  registerWabaFlowRoutes(app, core, prefix);
  registerFlowNodeRoutes(app, core, prefix);
  registerEncryptionRoutes(app, core, prefix);
}

/** `/{waba-id}/flows` (list, create) and `/{waba-id}/migrate_flows`. */
function registerWabaFlowRoutes(app: Hono<EmuEnv>, core: EmulatorCore, prefix: string): void {
  const s = core.state;
  app.get(`${prefix}/:id/flows`, async (c) => {
    mark(c, 'GET /{waba-id}/flows');
    const params = await requestParams(c, core.settings.maxBodyBytes);
    const p = authenticate(core, c, params);
    const waba = wabaOr404(core, c, c.req.param('id'));
    requireAccess(core, p, [MANAGEMENT], waba.id);
    const fields = parseFields(params.fields);
    const list = [...s.flows.values()].filter((f) => f.wabaId === waba.id);
    return c.json(page(list, params, (f) => flowObject(core, c, f, fields), c));
  });

  app.post(`${prefix}/:id/flows`, async (c) => {
    mark(c, 'POST /{waba-id}/flows');
    const params = await requestParams(c, core.settings.maxBodyBytes);
    const p = authenticate(core, c, params);
    const waba = wabaOr404(core, c, c.req.param('id'));
    requireAccess(core, p, [MANAGEMENT], waba.id);
    const name = params.name?.trim();
    if (!name) throw graphError(100, '(#100) The parameter name is required.');
    const categories = checkCategories(params.categories, true) as string[];
    // Meta: "Flow name should be unique within one WhatsApp Business Account" (error 100).
    for (const f of s.flows.values()) {
      if (f.wabaId === waba.id && f.name === name) {
        throw graphError(100, '(#100) Invalid parameter', {
          userTitle: 'Flow name is not unique',
          userMessage: `A flow named "${name}" already exists on this WhatsApp Business Account.`,
        });
      }
    }
    const now = core.clock.now();
    const flow: FlowRecord = {
      id: numericId(16),
      wabaId: waba.id,
      name,
      categories,
      status: 'DRAFT',
      endpointUri: checkEndpoint(params.endpoint_uri),
      applicationId: p.app.id,
      json: undefined,
      validationErrors: [],
      previewToken: randomBytes(12).toString('hex'),
      previewExpiresAtMs: now + PREVIEW_TTL_MS,
      createdAtMs: now,
      endpointStats: {},
    };
    if (params.clone_flow_id) {
      const source = s.flows.get(params.clone_flow_id);
      if (!source || source.wabaId !== waba.id)
        throw graphError(100, '(#100) Flow with specified ID does not exist');
      if (source.json) setJson(flow, source.json);
    }
    const out: Record<string, unknown> = { id: flow.id, success: true };
    if (params.flow_json !== undefined) out.validation_errors = setJson(flow, params.flow_json);
    s.flows.set(flow.id, flow);
    if (params.publish === 'true') await publish(core, flow);
    changed(core);
    return c.json(out);
  });

  app.post(`${prefix}/:id/migrate_flows`, async (c) => {
    mark(c, 'POST /{waba-id}/migrate_flows');
    const params = await requestParams(c, core.settings.maxBodyBytes);
    const p = authenticate(core, c, params);
    const dest = wabaOr404(core, c, c.req.param('id'));
    requireAccess(core, p, [MANAGEMENT], dest.id);
    const sourceId = params.source_waba_id;
    if (!sourceId) throw graphError(100, '(#100) The parameter source_waba_id is required.');
    const source = s.wabas.get(sourceId);
    if (!source) throw unknownObject('post', sourceId);
    requireAccess(core, p, [MANAGEMENT], source.id);
    // Meta migrates between WABAs of the same business only.
    if (source.businessId !== dest.businessId) {
      throw graphError(100, '(#100) Invalid parameter', {
        userMessage: 'Both WhatsApp Business Accounts must belong to the same business.',
      });
    }
    let names: string[] | undefined;
    if (params.source_flow_names !== undefined) {
      const parsed = safeJsonArray(params.source_flow_names);
      if (!parsed) throw graphError(100, '(#100) Param source_flow_names must be an array of strings');
      names = parsed;
    }
    const migrated: unknown[] = [];
    const failed: unknown[] = [];
    const candidates = [...s.flows.values()].filter(
      (f) => f.wabaId === source.id && (!names || names.includes(f.name)),
    );
    for (const name of names ?? []) {
      if (!candidates.some((f) => f.name === name))
        failed.push({ source_name: name, error_code: '4233041', error_message: 'Flow not found' });
    }
    for (const f of candidates) {
      if ([...s.flows.values()].some((x) => x.wabaId === dest.id && x.name === f.name)) {
        failed.push({
          source_name: f.name,
          error_code: '4233032',
          error_message: 'A flow with this name already exists',
        });
        continue;
      }
      const copy: FlowRecord = {
        ...structuredClone(f),
        id: numericId(16),
        wabaId: dest.id,
        status: 'DRAFT',
        endpointStats: {},
      };
      s.flows.set(copy.id, copy);
      migrated.push({ source_name: f.name, source_id: f.id, migrated_id: copy.id });
    }
    changed(core);
    return c.json({ migrated_flows: migrated, failed_flows: failed });
  });
}

/** `/{flow-id}` and its edges: metadata, assets, publish, deprecate, delete. */
function registerFlowNodeRoutes(app: Hono<EmuEnv>, core: EmulatorCore, prefix: string): void {
  const s = core.state;
  // Flow nodes share `/{id}` with other objects: answer for flows, hand everything else on.
  app.get(`${prefix}/:id`, async (c, next) => {
    if (!s.flows.has(c.req.param('id'))) return next();
    mark(c, 'GET /{flow-id}');
    const params = await requestParams(c, core.settings.maxBodyBytes);
    const flow = flowOr404(core, c, c.req.param('id'), authenticate(core, c, params));
    return c.json(flowObject(core, c, flow, parseFields(params.fields)));
  });

  app.post(`${prefix}/:id`, async (c, next) => {
    if (!s.flows.has(c.req.param('id'))) return next();
    mark(c, 'POST /{flow-id}');
    const params = await requestParams(c, core.settings.maxBodyBytes);
    const flow = flowOr404(core, c, c.req.param('id'), authenticate(core, c, params));
    if (flow.status === 'DEPRECATED')
      throw refused("Flow can't be updated", 'A deprecated flow cannot be changed.');
    const categories = checkCategories(params.categories, false);
    if (params.name !== undefined) {
      const name = params.name.trim();
      if (!name) throw graphError(100, '(#100) Param name must be non-empty');
      if (
        [...s.flows.values()].some((f) => f.wabaId === flow.wabaId && f.id !== flow.id && f.name === name)
      ) {
        throw graphError(100, '(#100) Invalid parameter', { userTitle: 'Flow name is not unique' });
      }
      flow.name = name;
    }
    if (categories) flow.categories = categories;
    if (params.endpoint_uri !== undefined) flow.endpointUri = checkEndpoint(params.endpoint_uri);
    if (params.application_id !== undefined) {
      if (!s.apps.has(params.application_id)) throw unknownObject('post', params.application_id);
      flow.applicationId = params.application_id;
    }
    changed(core);
    return c.json({ success: true });
  });

  app.delete(`${prefix}/:id`, async (c, next) => {
    if (!s.flows.has(c.req.param('id'))) return next();
    mark(c, 'DELETE /{flow-id}');
    const params = await requestParams(c, core.settings.maxBodyBytes);
    const flow = flowOr404(core, c, c.req.param('id'), authenticate(core, c, params));
    // Meta: only draft flows can be deleted; published ones are deprecated instead.
    if (flow.status !== 'DRAFT')
      throw refused("Flow can't be deleted", 'Only draft flows can be deleted; deprecate a published flow.');
    s.flows.delete(flow.id);
    changed(core);
    return c.json({ success: true });
  });

  app.post(`${prefix}/:id/assets`, async (c) => {
    mark(c, 'POST /{flow-id}/assets');
    const type = header(c, 'content-type') ?? '';
    const bytes = await readBodyBytes(c, core.settings.maxBodyBytes);
    const query = Object.fromEntries(new URL(c.req.url).searchParams);
    if (!type.toLowerCase().startsWith('multipart/form-data')) {
      flowOr404(core, c, c.req.param('id'), authenticate(core, c, query));
      throw graphError(100, '(#100) The parameter file is required.', {
        details:
          'Upload the Flow JSON as multipart/form-data with file, name=flow.json and asset_type=FLOW_JSON.',
      });
    }
    let form: FormData;
    try {
      form = await new Response(new Uint8Array(bytes), { headers: { 'content-type': type } }).formData();
    } catch {
      throw graphError(100, '(#100) Invalid parameter', {
        details: 'The multipart/form-data body could not be parsed.',
      });
    }
    const field = (n: string) => (typeof form.get(n) === 'string' ? (form.get(n) as string) : undefined);
    const token = field('access_token');
    const flow = flowOr404(
      core,
      c,
      c.req.param('id'),
      authenticate(core, c, token ? { ...query, access_token: token } : query),
    );
    if (field('asset_type') !== 'FLOW_JSON')
      throw graphError(100, '(#100) Param asset_type must be one of {FLOW_JSON}');
    if (field('name') !== 'flow.json') throw graphError(100, '(#100) Param name must be flow.json');
    const file = form.get('file');
    if (!file || typeof file === 'string') throw graphError(100, '(#100) The parameter file is required.');
    // Meta: a published flow's JSON cannot change; clone it into a new draft.
    if (flow.status !== 'DRAFT')
      throw refused("Flow can't be updated", 'Only draft flows can be updated; clone the flow to change it.');
    const errors = setJson(flow, Buffer.from(await file.arrayBuffer()).toString('utf8'));
    changed(core);
    return c.json({ success: true, validation_errors: errors });
  });

  app.get(`${prefix}/:id/assets`, async (c) => {
    mark(c, 'GET /{flow-id}/assets');
    const params = await requestParams(c, core.settings.maxBodyBytes);
    const flow = flowOr404(core, c, c.req.param('id'), authenticate(core, c, params));
    const origin = new URL(c.req.url).origin;
    const data = flow.json
      ? [
          {
            name: 'flow.json',
            asset_type: 'FLOW_JSON',
            download_url: `${origin}/_emulator/flows/${flow.id}/flow.json?token=${flow.previewToken}`,
          },
        ]
      : [];
    return c.json({ data, paging: {} });
  });

  app.post(`${prefix}/:id/publish`, async (c) => {
    mark(c, 'POST /{flow-id}/publish');
    const params = await requestParams(c, core.settings.maxBodyBytes);
    const flow = flowOr404(core, c, c.req.param('id'), authenticate(core, c, params));
    await publish(core, flow);
    changed(core);
    return c.json({ success: true });
  });

  app.post(`${prefix}/:id/deprecate`, async (c) => {
    mark(c, 'POST /{flow-id}/deprecate');
    const params = await requestParams(c, core.settings.maxBodyBytes);
    const flow = flowOr404(core, c, c.req.param('id'), authenticate(core, c, params));
    if (flow.status !== 'PUBLISHED' && flow.status !== 'THROTTLED' && flow.status !== 'BLOCKED') {
      throw refused("Flow can't be deprecated", 'Only published flows can be deprecated.');
    }
    flow.status = 'DEPRECATED';
    changed(core);
    return c.json({ success: true });
  });
}

/** The business public key of a phone number (`whatsapp_business_encryption`). */
function registerEncryptionRoutes(app: Hono<EmuEnv>, core: EmulatorCore, prefix: string): void {
  const s = core.state;

  app.post(`${prefix}/:id/whatsapp_business_encryption`, async (c) => {
    mark(c, 'POST /{phone-number-id}/whatsapp_business_encryption');
    const params = await requestParams(c, core.settings.maxBodyBytes);
    const p = authenticate(core, c, params);
    const phone = phoneOr404(core, c, c.req.param('id'));
    requireAccess(core, p, [MANAGEMENT], phone.wabaId);
    const pem = params.business_public_key;
    if (!pem) throw graphError(100, '(#100) The parameter business_public_key is required.');
    let bits = 0;
    try {
      const key = createPublicKey(pem);
      bits = key.asymmetricKeyType === 'rsa' ? (key.asymmetricKeyDetails?.modulusLength ?? 0) : 0;
    } catch {
      bits = -1;
    }
    // Meta requires a 2048-bit RSA public key in PEM.
    if (bits !== 2048)
      throw graphError(100, '(#100) Invalid parameter', {
        details: 'business_public_key must be a 2048-bit RSA public key in PEM format.',
      });
    s.flowKeys.set(phone.id, {
      phoneNumberId: phone.id,
      publicKeyPem: pem.trim(),
      setAtMs: core.clock.now(),
    });
    changed(core);
    return c.json({ success: true });
  });

  app.get(`${prefix}/:id/whatsapp_business_encryption`, async (c) => {
    mark(c, 'GET /{phone-number-id}/whatsapp_business_encryption');
    const params = await requestParams(c, core.settings.maxBodyBytes);
    const p = authenticate(core, c, params);
    const phone = phoneOr404(core, c, c.req.param('id'));
    requireAccess(core, p, [MANAGEMENT], phone.wabaId);
    const key = s.flowKeys.get(phone.id);
    return c.json({
      data: key
        ? [{ business_public_key: key.publicKeyPem, business_public_key_signature_status: 'VALID' }]
        : [],
    });
  });
}

function safeJsonArray(raw: string): string[] | undefined {
  try {
    const v = JSON.parse(raw);
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Meta's publishing checks that need no human: a valid Flow JSON, and for a flow with an endpoint the endpoint URI,
 * a business public key on a number of the WABA, and a passing health check (`ping` answered `active`).
 */
async function publish(core: EmulatorCore, flow: FlowRecord): Promise<void> {
  if (flow.status !== 'DRAFT')
    throw refused("Flow can't be published", `The flow is ${flow.status.toLowerCase()}, not a draft.`);
  if (!flow.json) throw refused("Flow can't be published", 'Upload a Flow JSON first.');
  if (flow.validationErrors.length > 0) {
    throw refused(
      "Flow can't be published",
      `The Flow JSON has ${flow.validationErrors.length} validation error(s).`,
    );
  }
  const json = safeJson(flow.json);
  if (json?.data_api_version !== undefined) {
    if (!flow.endpointUri)
      throw refused("Flow can't be published", 'A flow with data_api_version needs an endpoint_uri.');
    const phone = [...core.state.phoneNumbers.values()].find(
      (p) => p.wabaId === flow.wabaId && core.state.flowKeys.has(p.id),
    );
    if (!phone)
      throw refused(
        "Flow can't be published",
        'Set a business public key on a phone number of this WhatsApp Business Account.',
      );
    const ping = await callFlowEndpoint(core, flow, phone.id, { version: '3.0', action: 'ping' });
    const status = ping.ok ? (ping.answer.data as { status?: unknown } | undefined)?.status : undefined;
    if (status !== 'active') {
      throw refused(
        "Flow can't be published",
        `The endpoint health check failed: ${ping.ok ? 'the answer was not {"data":{"status":"active"}}' : ping.problem}.`,
      );
    }
  }
  flow.status = 'PUBLISHED';
}
