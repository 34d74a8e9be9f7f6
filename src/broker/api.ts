import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { AuthorizationCodeError } from '../auth/oauth-errors.js';
import { WacloudError } from '../core/errors.js';
import { Secret, scrubText } from '../core/secret.js';
import { WhatsApp } from '../whatsapp/whatsapp.js';
import type { Principal } from './access.js';
import { type ConnectedAccount, connectEmbeddedSignup, discoverAssets, storePastedToken } from './connect.js';
import type { BrokerContext } from './context.js';
import { credentialMetadata } from './credential-view.js';
import {
  brokerFlowKeyDeps,
  FlowKeyRefusedError,
  listFlowKeys,
  provisionFlowKey,
} from './flow-key-service.js';
import { replayWebhook } from './inbox.js';
import { type BodySchema, openApiDocument, REQUEST_BODIES } from './openapi.js';
import { OutboundRefusedError } from './outbound-policy.js';
import { parseRowId } from './ports.js';
import { generateApiKey } from './security/api-key.js';
import { isThrottled } from './security/auth-guard.js';
import { generateWebhookSecret } from './standard-webhooks.js';
import { setSubscriptionActive, subscriptionView } from './subscriptions.js';

type Env = { Variables: { principal: Principal; body: Record<string, unknown> } };

class ApiError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 502 | 503,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const notFound = (what: string): ApiError => new ApiError(404, 'not_found', `${what} not found`);

/** The operation a request addresses, from the OpenAPI document: its body schema and whether it is admin-only. */
interface Operation {
  method: string;
  pattern: RegExp;
  body: BodySchema | undefined;
  admin: boolean;
}

function compileOperations(): Operation[] {
  const doc = openApiDocument() as { paths: Record<string, Record<string, Record<string, unknown>>> };
  const ops: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    const pattern = new RegExp(`^${path.replace(/\{[^}]+\}/g, '[^/]+')}/?$`);
    for (const [method, op] of Object.entries(methods)) {
      const key = `${method.toUpperCase()} ${path}`;
      ops.push({
        method: method.toUpperCase(),
        pattern,
        body: REQUEST_BODIES[key],
        admin: op['x-wacloud-admin'] === true,
      });
    }
  }
  return ops;
}

function typeOk(value: unknown, type: unknown): boolean {
  const types = Array.isArray(type) ? type : [type];
  return types.some((t) =>
    t === 'null'
      ? value === null
      : t === 'array'
        ? Array.isArray(value)
        : t === 'object'
          ? typeof value === 'object' && value !== null && !Array.isArray(value)
          : typeof value === t,
  );
}

/** Checks a parsed body against its schema; the first problem, named by field, or undefined. */
function bodyProblem(body: Record<string, unknown>, schema: BodySchema): string | undefined {
  if (!schema.additionalProperties) {
    // Own properties only: `__proto__` and `constructor` are "in" every object and must count as unknown.
    const unknown = Object.keys(body).filter((k) => !Object.hasOwn(schema.properties, k));
    if (unknown.length > 0)
      return `unknown field${unknown.length > 1 ? 's' : ''}: ${unknown.slice(0, 5).join(', ').slice(0, 200)}`;
  }
  for (const field of schema.required) if (body[field] === undefined) return `${field} is required`;
  for (const [field, rule] of Object.entries(schema.properties)) {
    const v = body[field];
    if (v === undefined) continue;
    const type = rule.type;
    const shown = Array.isArray(type) ? type.join(' or ') : String(type);
    if (!typeOk(v, type)) return `${field} must be ${type === 'array' ? 'an array' : `a ${shown}`}`;
    if (typeof v === 'string' && typeof rule.maxLength === 'number' && v.length > rule.maxLength)
      return `${field} must be at most ${rule.maxLength} characters`;
    if (Array.isArray(v)) {
      const items = (rule.items ?? {}) as Record<string, unknown>;
      if (typeof rule.maxItems === 'number' && v.length > rule.maxItems)
        return `${field} takes at most ${rule.maxItems} items`;
      for (const item of v) {
        if (!typeOk(item, items.type)) return `${field} must contain only ${String(items.type)}s`;
        if (typeof item === 'string' && typeof items.maxLength === 'number' && item.length > items.maxLength)
          return `${field} items must be at most ${items.maxLength} characters`;
      }
    }
  }
  return undefined;
}

function str(body: Record<string, unknown>, field: string, max = 500): string {
  const v = body[field];
  if (typeof v !== 'string' || v.trim() === '' || v.length > max) {
    throw new ApiError(422, 'invalid', `${field} is required (a string of at most ${max} characters)`);
  }
  return v.trim();
}

function httpUrl(value: string, field: string): string {
  try {
    const u = new URL(value);
    if (u.protocol === 'https:' || u.protocol === 'http:') return u.toString();
  } catch {
    // fall through
  }
  throw new ApiError(422, 'invalid', `${field} must be an http(s) URL`);
}

/** A subscription URL the outbound policy accepts (normalised), or a 422 saying why not. */
async function outboundUrl(ctx: BrokerContext, value: string): Promise<string> {
  httpUrl(value, 'url');
  try {
    return await ctx.outbound.checkUrl(value);
  } catch (err) {
    if (err instanceof OutboundRefusedError)
      throw new ApiError(422, 'outbound_refused', `url: ${err.message}`);
    throw err;
  }
}

/** A discovery result as the API shows it (ids, counts and scrubbed messages only). */
function discoveryView(d: Omit<ConnectedAccount, 'credential'>) {
  return {
    wabaIds: d.wabaIds,
    phoneNumbers: d.phoneNumbers,
    skipped: d.skipped,
    warnings: d.warnings,
    complete: d.complete,
  };
}

/**
 * The admin/tenant API under /api/v1. Admin keys see everything; a tenant key sees only its tenant, and another
 * tenant's ids answer 404 as if they did not exist. Responses carry metadata only: never a token value.
 */
export function createApi(ctx: BrokerContext): Hono<Env> {
  const api = new Hono<Env>();

  api.onError((err, c) => {
    if (err instanceof FlowKeyRefusedError) {
      const status =
        err.reason === 'not_found'
          ? 404
          : err.reason === 'no_token' || err.reason === 'unavailable'
            ? 503
            : 409;
      return c.json({ error: { code: err.reason, message: err.message } }, status);
    }
    if (err instanceof ApiError)
      return c.json({ error: { code: err.code, message: err.message } }, err.status);
    if (err instanceof WacloudError) {
      const status =
        err.code === 'VALIDATION'
          ? 422
          : err.code === 'GRAPH' || err.code === 'OAUTH'
            ? 502
            : err.code === 'TRANSPORT'
              ? 502
              : 500;
      return c.json({ error: { code: err.code.toLowerCase(), message: err.message } }, status);
    }
    ctx.logger.error('api error', { error: scrubText(String((err as Error)?.message ?? err)) });
    return c.json({ error: { code: 'internal', message: 'internal error' } }, 500);
  });
  api.notFound((c) => c.json({ error: { code: 'not_found', message: 'no such route' } }, 404));

  api.get('/openapi.json', (c) => c.json(openApiDocument()));

  api.use(
    '*',
    bodyLimit({
      maxSize: 1024 * 1024,
      onError: (c) => c.json({ error: { code: 'too_large', message: 'body over 1 MiB' } }, 413),
    }),
  );
  api.use('*', async (c, next) => {
    const m = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '');
    const principal = m
      ? await ctx.authGuard.authenticate('api', ctx.authGuard.clientOfEnv(c.env), m[1] as string)
      : undefined;
    if (isThrottled(principal))
      return c.json(
        {
          error: {
            code: 'throttled',
            message: 'too many failed authentications from this client; retry later',
          },
        },
        429,
        { 'retry-after': String(principal.retryAfterSec) },
      );
    if (!principal)
      return c.json(
        {
          error: {
            code: 'unauthorized',
            message: 'a valid broker API key is required (Authorization: Bearer <key>)',
          },
        },
        401,
      );
    c.set('principal', principal);
    await next();
  });
  // Every operation's admin flag and body come from the OpenAPI document: checked here, before any handler runs.
  const operations = compileOperations();
  api.use('*', async (c, next) => {
    const path = c.req.path.startsWith('/api/v1') ? c.req.path.slice('/api/v1'.length) : c.req.path;
    const op = operations.find((o) => o.method === c.req.method && o.pattern.test(path));
    if (!op) return next(); // answered 404 by notFound
    if (op.admin && !c.get('principal').admin)
      throw new ApiError(403, 'forbidden', 'this needs an admin key');
    const text = c.req.method === 'GET' || c.req.method === 'HEAD' ? '' : await c.req.text();
    if (!op.body) {
      if (text.trim() !== '')
        throw new ApiError(400, 'unexpected_body', 'this operation takes no request body');
      return next();
    }
    const type = (c.req.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/json')
      throw new ApiError(415, 'unsupported_media_type', 'send the body as Content-Type: application/json');
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new ApiError(400, 'bad_json', 'the request body is not valid JSON');
    }
    if (!body || typeof body !== 'object' || Array.isArray(body))
      throw new ApiError(400, 'bad_json', 'the body must be a JSON object');
    const problem = bodyProblem(body as Record<string, unknown>, op.body);
    if (problem) throw new ApiError(422, 'invalid', problem);
    c.set('body', body as Record<string, unknown>);
    return next();
  });
  /** The request's JSON object, already checked against its schema by the middleware above. */
  const jsonBody = async (c: Context<Env>): Promise<Record<string, unknown>> => c.get('body') ?? {};

  const requireAdmin = (c: Context<Env>): void => {
    if (!c.get('principal').admin) throw new ApiError(403, 'forbidden', 'this needs an admin key');
  };
  /** The tenant in the path, if the caller may see it; otherwise 404 (never reveal another tenant exists). */
  const tenantFor = async (c: Context<Env>) => {
    const id = c.req.param('tenantId') as string;
    const p = c.get('principal');
    if (!p.admin && p.tenantId !== id) throw notFound('tenant');
    const tenant = await ctx.store.tenants.get(id);
    if (!tenant) throw notFound('tenant');
    return tenant;
  };
  const credentialFor = async (c: Context<Env>) => {
    const cred = await ctx.manager.getCredential(c.req.param('credentialId') as string);
    const p = c.get('principal');
    if (!cred || (!p.admin && p.tenantId !== cred.tenantId)) throw notFound('credential');
    return cred;
  };

  api.get('/tenants', async (c) => {
    const p = c.get('principal');
    const all = await ctx.store.tenants.list();
    return c.json({ data: p.admin ? all : all.filter((t) => t.id === p.tenantId) });
  });
  api.post('/tenants', async (c) => {
    requireAdmin(c);
    const body = await jsonBody(c);
    const tenant = await ctx.store.tenants.create({ name: str(body, 'name', 100) }, ctx.clock.now());
    await ctx.audit('tenant.created', { tenantId: tenant.id });
    return c.json(tenant, 201);
  });
  api.get('/tenants/:tenantId', async (c) => c.json(await tenantFor(c)));

  api.get('/tenants/:tenantId/credentials', async (c) => {
    const tenant = await tenantFor(c);
    return c.json({ data: (await ctx.manager.listCredentials(tenant.id)).map(credentialMetadata) });
  });
  /**
   * A pasted token (system user, or any token): inspected with debug_token, refused if unusable, stored encrypted, then
   * its WABAs and phone numbers discovered. 201 even when discovery failed (the token is kept): `discovery.complete`
   * says so and POST /credentials/{id}/discover runs it again.
   */
  api.post('/tenants/:tenantId/credentials', async (c) => {
    const tenant = await tenantFor(c);
    const body = await jsonBody(c);
    const token = new Secret(str(body, 'token', 4096), 'access-token');
    const stored = await storePastedToken(ctx, tenant.id, token);
    return c.json({ ...credentialMetadata(stored.credential), discovery: discoveryView(stored) }, 201);
  });
  api.post('/tenants/:tenantId/embedded-signup', async (c) => {
    const tenant = await tenantFor(c);
    const body = await jsonBody(c);
    const wabaIds = Array.isArray(body.wabaIds)
      ? body.wabaIds.filter((x): x is string => typeof x === 'string')
      : [];
    const opt = (name: string) => (typeof body[name] === 'string' ? (body[name] as string) : undefined);
    let connected: ConnectedAccount;
    try {
      connected = await connectEmbeddedSignup(ctx, tenant.id, {
        code: str(body, 'code', 2048),
        pin: opt('pin'),
        session: {
          wabaId: opt('wabaId') ?? wabaIds[0],
          phoneNumberId: opt('phoneNumberId'),
          businessId: opt('businessId'),
        },
      });
    } catch (err) {
      // An expired, used or foreign code is the caller's to fix (start the signup again), not a Graph failure.
      if (err instanceof AuthorizationCodeError)
        throw new ApiError(400, err.reason.replace(/-/g, '_'), err.message);
      throw err;
    }
    return c.json({ credential: credentialMetadata(connected.credential), ...discoveryView(connected) }, 201);
  });
  api.get('/credentials/:credentialId', async (c) => c.json(credentialMetadata(await credentialFor(c))));
  api.post('/credentials/:credentialId/renew', async (c) => {
    const cred = await credentialFor(c);
    return c.json(credentialMetadata(await ctx.manager.renew(cred.id, 'manual')));
  });
  /** Discovers the credential's WABAs and phone numbers again (after a failed discovery, or new numbers at Meta). */
  api.post('/credentials/:credentialId/discover', async (c) => {
    const cred = await credentialFor(c);
    if (cred.status !== 'active' && cred.status !== 'expiring')
      throw new ApiError(409, 'not_usable', `the credential is ${cred.status}: reconnect it first`);
    return c.json(discoveryView(await discoverAssets(ctx, cred, { trigger: 'manual' })));
  });
  api.post('/credentials/:credentialId/check', async (c) => {
    const cred = await credentialFor(c);
    return c.json(credentialMetadata(await ctx.manager.check(cred.id)));
  });
  api.delete('/credentials/:credentialId', async (c) => {
    const cred = await credentialFor(c);
    await ctx.manager.removeCredential(cred.id);
    await ctx.audit('credential.deleted', { tenantId: cred.tenantId, credentialId: cred.id });
    return c.body(null, 204);
  });

  api.get('/tenants/:tenantId/phone-numbers', async (c) => {
    const tenant = await tenantFor(c);
    return c.json({ data: await ctx.store.phoneNumbers.listByTenant(tenant.id) });
  });

  api.get('/api-keys', async (c) => {
    const p = c.get('principal');
    const rows = p.admin ? await ctx.store.apiKeys.list() : await ctx.store.apiKeys.listByTenant(p.tenantId);
    return c.json({ data: rows.map(({ hash: _hash, ...rest }) => rest) });
  });
  /** Creates a key: admin (tenantId null) or scoped to one tenant. The key is in this response only. */
  api.post('/api-keys', async (c) => {
    requireAdmin(c);
    const body = await jsonBody(c);
    const tenantId =
      body.tenantId === null || body.tenantId === undefined ? null : str(body, 'tenantId', 100);
    if (tenantId && !(await ctx.store.tenants.get(tenantId))) throw notFound('tenant');
    const label = typeof body.label === 'string' ? body.label.slice(0, 100) : '';
    const made = generateApiKey();
    await ctx.store.apiKeys.insert({ keyId: made.keyId, hash: made.hash, tenantId, label }, ctx.clock.now());
    await ctx.audit('api_key.created', { tenantId, detail: { keyId: made.keyId } });
    return c.json(
      { keyId: made.keyId, tenantId, label, key: made.key.reveal(), note: 'shown once: store it now' },
      201,
    );
  });
  api.delete('/api-keys/:keyId', async (c) => {
    requireAdmin(c);
    const ok = await ctx.store.apiKeys.revoke(c.req.param('keyId'), ctx.clock.now());
    if (!ok) throw notFound('API key');
    ctx.access.invalidateKeys();
    await ctx.audit('api_key.revoked', { detail: { keyId: c.req.param('keyId') } });
    return c.body(null, 204);
  });

  api.get('/tenants/:tenantId/subscriptions', async (c) => {
    const tenant = await tenantFor(c);
    const subs = await ctx.store.subscriptions.listByTenant(tenant.id);
    return c.json({ data: subs.map(subscriptionView) });
  });
  /** Outbound webhooks for a tenant; the signing secret (Standard Webhooks) is in this response only. */
  api.post('/tenants/:tenantId/subscriptions', async (c) => {
    const tenant = await tenantFor(c);
    const body = await jsonBody(c);
    const url = await outboundUrl(ctx, str(body, 'url', 2000));
    const events = Array.isArray(body.events)
      ? body.events.filter((e): e is string => typeof e === 'string')
      : [];
    const secret = generateWebhookSecret();
    const sub = await ctx.store.subscriptions.create(
      { tenantId: tenant.id, url, secret, events },
      ctx.clock.now(),
    );
    await ctx.audit('subscription.created', { tenantId: tenant.id, detail: { subscriptionId: sub.id } });
    return c.json(
      {
        id: sub.id,
        tenantId: tenant.id,
        url,
        events,
        secret: secret.reveal(),
        note: 'the secret is shown once',
      },
      201,
    );
  });
  const subscriptionFor = async (c: Context<Env>) => {
    const sub = await ctx.store.subscriptions.get(c.req.param('subscriptionId') as string);
    const p = c.get('principal');
    if (!sub || (!p.admin && p.tenantId !== sub.tenantId)) throw notFound('subscription');
    return sub;
  };
  /** Deactivates (nothing new is sent; pending deliveries are dead-lettered when due) or reactivates. */
  api.patch('/subscriptions/:subscriptionId', async (c) => {
    const sub = await subscriptionFor(c);
    const body = await jsonBody(c);
    return c.json(await setSubscriptionActive(ctx, sub, body.active === true));
  });
  api.delete('/subscriptions/:subscriptionId', async (c) => {
    const sub = await subscriptionFor(c);
    await ctx.store.subscriptions.delete(sub.id);
    return c.body(null, 204);
  });
  api.get('/tenants/:tenantId/deliveries', async (c) => {
    const tenant = await tenantFor(c);
    const status = c.req.query('status');
    if (status !== undefined && status !== 'pending' && status !== 'delivered' && status !== 'dead')
      throw new ApiError(422, 'invalid', 'status must be pending, delivered or dead');
    const rows = await ctx.store.deliveries.listByTenant(tenant.id, 100, status);
    return c.json({ data: rows.map(({ payload: _payload, ...rest }) => ({ ...rest, id: String(rest.id) })) });
  });
  /** A dead (or delivered) delivery is sent again with its original id as `webhook-id` and a fresh retry schedule. */
  api.post('/deliveries/:deliveryId/replay', async (c) => {
    const p = c.get('principal');
    const deliveryId = parseRowId(c.req.param('deliveryId'));
    const delivery = deliveryId === undefined ? undefined : await ctx.store.deliveries.get(deliveryId);
    if (!delivery || (!p.admin && p.tenantId !== delivery.tenantId)) throw notFound('delivery');
    if (!(await ctx.store.deliveries.requeue(delivery.id, ctx.clock.now())))
      throw new ApiError(409, 'already_pending', 'the delivery is pending already: it will be attempted');
    ctx.poke();
    return c.json({ id: String(delivery.id), status: 'pending' });
  });

  api.get('/webhooks', async (c) => {
    const p = c.get('principal');
    const rows = await ctx.store.inbox.recent(100, p.admin ? undefined : (p.tenantId as string));
    // A body carrying several tenants' events is listed under each; a tenant key sees itself as its tenant.
    return c.json({
      data: rows.map(({ body, ...rest }) => ({
        ...rest,
        id: String(rest.id),
        tenantId: p.admin ? rest.tenantId : p.tenantId,
        bytes: body.byteLength,
      })),
    });
  });
  api.post('/webhooks/:inboxId/replay', async (c) => {
    requireAdmin(c);
    const replayed = await replayWebhook(ctx.store, c.req.param('inboxId'), ctx.clock.now());
    if (!replayed) throw notFound('webhook');
    if (replayed.alreadyPending)
      throw new ApiError(409, 'already_pending', 'the webhook is pending already: it will be processed');
    ctx.poke();
    return c.json({ id: c.req.param('inboxId'), status: 'pending', deliveries: replayed.deliveries });
  });

  /** Sends a message as the tenant, with its current token; the caller never holds it. */
  api.post('/tenants/:tenantId/messages', async (c) => {
    const tenant = await tenantFor(c);
    const body = await jsonBody(c);
    const from = str(body, 'from', 40);
    const number = await ctx.store.phoneNumbers.get(from);
    if (!number || number.tenantId !== tenant.id) throw notFound('phone number');
    const credentialId =
      number.credentialId ??
      (await ctx.manager.listCredentials(tenant.id)).find(
        (x) => x.status === 'active' || x.status === 'expiring',
      )?.id;
    if (!credentialId) throw new ApiError(503, 'no_token', 'the tenant has no working token: reconnect it');
    const { from: _from, ...message } = body;
    const wa = new WhatsApp({
      tokenProvider: ctx.manager.tokenProvider(credentialId),
      phoneNumberId: from,
      appSecret: ctx.appSecret,
      graphUrl: ctx.graphUrl,
      apiVersion: ctx.apiVersion,
      transport: ctx.transport,
      clock: ctx.clock,
      configSource: { env: {}, envFile: false },
    });
    const sent = await wa.messages.send(message as never);
    await ctx.audit('message.sent', {
      tenantId: tenant.id,
      detail: { from, messageId: sent.messages?.[0]?.id },
    });
    return c.json(sent);
  });

  /** WhatsApp Flows keys: generated, uploaded and rotated with the tenant's stored credential; public fields only. */
  const flowKeys = brokerFlowKeyDeps(ctx);
  api.get('/tenants/:tenantId/flow-keys', async (c) => {
    const tenant = await tenantFor(c);
    return c.json({ data: await listFlowKeys(flowKeys, tenant.id) });
  });
  for (const [path, mode, status] of [
    ['/tenants/:tenantId/flow-keys', 'first', 201],
    ['/tenants/:tenantId/flow-keys/rotate', 'rotate', 200],
  ] as const) {
    api.post(path, async (c) => {
      const tenant = await tenantFor(c);
      const body = await jsonBody(c);
      return c.json(
        await provisionFlowKey(flowKeys, tenant.id, str(body, 'phoneNumberId', 32), mode),
        status,
      );
    });
  }

  api.get('/audit', async (c) => {
    const p = c.get('principal');
    const tenantId = p.admin ? c.req.query('tenant') : (p.tenantId as string);
    return c.json({ data: await ctx.store.audit.list({ tenantId, limit: 200 }) });
  });

  // Anything else under /api/v1 (including paths a `..` folded into) is a JSON 404 here, not a dashboard redirect.
  api.all('*', (c) => c.json({ error: { code: 'not_found', message: 'no such route' } }, 404));

  return api;
}
