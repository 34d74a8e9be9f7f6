import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Agent, type Dispatcher } from 'undici';
import type { Clock } from '../core/clock.js';
import { classifyGraphError, type GraphErrorBody } from '../core/graph-error.js';
import type { Secret } from '../core/secret.js';
import { appSecretProofParams } from '../graph/appsecret-proof.js';
import type { SendDecision } from '../scale/send-limiter.js';
import { rateLimitHitBody } from '../scale/send-limiter.js';
import { graphErrorBody } from './graph-error-body.js';

/** Who is calling, from a broker API key. */
export interface ProxyPrincipal {
  tenantId: string;
  keyId: string;
}

/** The tenant's current token, as the token manager holds it (in memory). */
export interface ProxyToken {
  token: Secret;
  credentialId: string;
  version: number;
}

export interface GraphProxyOptions {
  /** Meta's Graph base URL, or the emulator's. */
  upstreamUrl: string;
  clock: Clock;
  dispatcher?: Dispatcher;
  appSecret?: Secret | undefined;
  /** API key → principal; must be an in-memory (cached) lookup on the hot path. */
  authenticate(apiKey: string): ProxyPrincipal | undefined | Promise<ProxyPrincipal | undefined>;
  /** Whether the tenant may reach this Graph object id (its phone numbers, WABAs, and objects it created). */
  isAllowedObject(tenantId: string, objectId: string): boolean | Promise<boolean>;
  /** The token for this tenant's request on this object (a number's own credential, or the tenant's). */
  tokenFor(tenantId: string, objectId: string): ProxyToken | undefined | Promise<ProxyToken | undefined>;
  /**
   * Meta rejected the token (190 family). Resolves a newer token when one exists (rotated meanwhile): the request is
   * retried once with it. The token manager inspects and marks the credential otherwise.
   */
  onTokenRejected(
    tenantId: string,
    rejected: ProxyToken,
    error: GraphErrorBody,
  ): Promise<ProxyToken | undefined>;
  /**
   * Per-number send limit, asked once per `POST /{phone-number-id}/messages` before anything is forwarded. A refusal
   * answers 429 with Meta's own 130429 body.
   */
  admitSend?(phoneNumberId: string): SendDecision | Promise<SendDecision>;
  /** An object the tenant created through the proxy (uploaded media, a template): it may address it later. */
  rememberObject?(tenantId: string, objectId: string): void;
  observe?(event: {
    tenantId: string | undefined;
    status: number;
    durationMs: number;
    upstreamMs: number;
  }): void;
  /** Request bodies up to this size are buffered (so a 190 can be retried); larger ones are refused. Default 100 MiB. */
  maxBodyBytes?: number;
  timeoutMs?: number;
}

const VERSION = /^v\d{1,3}\.\d{1,2}$/;
const OBJECT_ID = /^\d{1,32}$/;
/** Edges after the object id are plain names (`messages`, `media`): no `.`/`..`, no encoded separators. */
const EDGE = /^[A-Za-z0-9_]{1,64}$/;
/** Query parameters that name other objects (Graph's multi-id read): the object check would not cover them. */
const OBJECT_QUERY = ['ids'];
/**
 * Incoming headers passed on to Graph; everything else (cookies, the broker key, hop-by-hop) stays here.
 * No accept-encoding: the proxy reads JSON bodies (190 detection, created ids), so it asks Graph for identity.
 */
const FORWARD_REQUEST_HEADERS = ['content-type', 'accept', 'user-agent'];
/** Graph response headers passed back: content, usage and tracing. */
const FORWARD_RESPONSE_HEADERS = [
  'content-type',
  'content-length',
  'x-app-usage',
  'x-business-use-case-usage',
  'x-ad-account-usage',
  'x-fb-trace-id',
  'x-fb-request-id',
  'facebook-api-version',
  'retry-after',
  'www-authenticate',
];
/** Secret-bearing query parameters a client may have added; the broker sets its own. */
const STRIPPED_QUERY = new Set(['access_token', 'appsecret_proof', 'appsecret_time']);

function deny(res: ServerResponse, status: number, code: number, message: string): void {
  const body = graphErrorBody(code, message);
  res.writeHead(status, {
    'content-type': 'application/json; charset=UTF-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

async function readBody(req: IncomingMessage, max: number): Promise<Buffer | 'too-large'> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) return 'too-large';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > max) return 'too-large';
    chunks.push(chunk as Buffer);
  }
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
}

function bearer(req: IncomingMessage, query: URLSearchParams): string | undefined {
  const h = req.headers.authorization;
  if (h) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
    return m?.[1];
  }
  return query.get('access_token') ?? undefined;
}

/**
 * The Graph proxy: `/graph/{version}/{object-id}/...` with a tenant API key → forwarded to Graph with the tenant's
 * current token and `appsecret_proof`. Only the tenant's own objects are reachable; `/debug_token`, `/me`, system
 * users and other tenants' ids are refused with a Graph-shaped 403. Other services never hold a Meta token.
 */
export function createGraphProxy(options: GraphProxyOptions) {
  const dispatcher = options.dispatcher ?? new Agent({ connections: 256, keepAliveTimeout: 30_000 });
  const upstream = new URL(options.upstreamUrl);
  const upstreamOrigin = upstream.origin;
  const upstreamBase = upstream.pathname.replace(/\/+$/, '');
  const maxBody = options.maxBodyBytes ?? 100 * 1024 * 1024;

  // The classic proof depends only on the token (the app secret is fixed here): one HMAC per token version, not per
  // request (~3% of the proxy's CPU in bench/broker-proxy.js). Keyed by the manager's Secret object, held weakly.
  const proofs = new WeakMap<Secret, Record<string, string> | undefined>();
  function proofFor(token: Secret): Record<string, string> | undefined {
    if (proofs.has(token)) return proofs.get(token);
    const proof = appSecretProofParams('classic', token, options.appSecret, options.clock.now());
    proofs.set(token, proof);
    return proof;
  }

  async function forward(
    method: string,
    path: string,
    headers: Record<string, string>,
    body: Buffer | undefined,
    token: ProxyToken,
    query: URLSearchParams,
  ): Promise<Dispatcher.ResponseData> {
    const q = new URLSearchParams(query);
    const proof = proofFor(token.token);
    if (proof) for (const [k, v] of Object.entries(proof)) q.set(k, v);
    const qs = q.toString();
    return dispatcher.request({
      origin: upstreamOrigin,
      path: `${upstreamBase}${path}${qs ? `?${qs}` : ''}`,
      method: method as Dispatcher.HttpMethod,
      headers: { ...headers, authorization: `Bearer ${token.token.reveal()}` },
      body,
      headersTimeout: options.timeoutMs ?? 30_000,
      bodyTimeout: options.timeoutMs ?? 30_000,
    });
  }

  /** Handles one request whose URL starts with the proxy prefix; `subpath` is what follows `/graph`. */
  return async function handleGraphProxy(
    req: IncomingMessage,
    res: ServerResponse,
    subpath: string,
  ): Promise<void> {
    const started = performance.now();
    let tenantId: string | undefined;
    let status = 500;
    let upstreamMs = 0;
    try {
      const qIndex = subpath.indexOf('?');
      const pathOnly = qIndex < 0 ? subpath : subpath.slice(0, qIndex);
      const query = new URLSearchParams(qIndex < 0 ? '' : subpath.slice(qIndex + 1));
      const segments = pathOnly.split('/').filter(Boolean);
      const [version, objectId] = segments;
      if (!version || !VERSION.test(version) || !objectId) {
        status = 400;
        return deny(res, 400, 100, 'Unsupported request: use /graph/{version}/{object-id}/...');
      }
      const apiKey = bearer(req, query);
      if (!apiKey) {
        status = 401;
        return deny(res, 401, 104, 'A broker API key is required (Authorization: Bearer <key>)');
      }
      const principal = await options.authenticate(apiKey);
      if (!principal) {
        status = 401;
        return deny(res, 401, 190, 'Invalid broker API key');
      }
      tenantId = principal.tenantId;
      if (segments.slice(2).some((e) => !EDGE.test(e)) || OBJECT_QUERY.some((k) => query.has(k))) {
        status = 403;
        return deny(res, 403, 200, '(#200) This API key may only address its own objects by plain paths');
      }
      if (!OBJECT_ID.test(objectId) || !(await options.isAllowedObject(tenantId, objectId))) {
        status = 403;
        return deny(
          res,
          403,
          200,
          `(#200) This API key may not access ${OBJECT_ID.test(objectId) ? 'object' : 'path'} ${objectId.slice(0, 64)}`,
        );
      }
      if (
        options.admitSend &&
        segments.length === 3 &&
        segments[2] === 'messages' &&
        (req.method ?? '').toUpperCase() === 'POST'
      ) {
        const decision = await options.admitSend(objectId);
        if (!decision.ok) {
          status = 429;
          const body = rateLimitHitBody(`wacloud-${randomBytes(8).toString('base64url')}`);
          // Meta documents no Retry-After for 130429; ours says when the window frees a slot (SDKs honour it).
          res.writeHead(429, {
            'content-type': 'application/json; charset=UTF-8',
            'content-length': Buffer.byteLength(body),
            'retry-after': String(Math.max(1, Math.ceil(decision.retryAfterMs / 1000))),
          });
          res.end(body);
          return;
        }
      }
      for (const k of STRIPPED_QUERY) query.delete(k);
      let token = await options.tokenFor(tenantId, objectId);
      if (!token) {
        status = 503;
        return deny(
          res,
          503,
          2,
          'The tenant has no working WhatsApp token; reconnect it in the broker dashboard',
        );
      }
      const method = (req.method ?? 'GET').toUpperCase();
      let body: Buffer | undefined;
      if (method !== 'GET' && method !== 'HEAD' && method !== 'DELETE') {
        const read = await readBody(req, maxBody);
        if (read === 'too-large') {
          status = 413;
          return deny(res, 413, 100, `Request body over ${maxBody} bytes`);
        }
        body = read;
      }
      const headers: Record<string, string> = {};
      for (const h of FORWARD_REQUEST_HEADERS) {
        const v = req.headers[h];
        if (typeof v === 'string') headers[h] = v;
      }
      const path = `/${segments.join('/')}`;
      const up0 = performance.now();
      let upstreamRes = await forward(method, path, headers, body, token, query);
      let errorBody: GraphErrorBody | undefined;
      let text: string | undefined;
      const isJson = String(upstreamRes.headers['content-type'] ?? '').includes('json');
      if (isJson) text = await upstreamRes.body.text();
      if (upstreamRes.statusCode >= 400 && text !== undefined) {
        try {
          errorBody = (JSON.parse(text) as { error?: GraphErrorBody }).error;
        } catch {
          errorBody = undefined;
        }
        const kind = errorBody ? classifyGraphError(errorBody, upstreamRes.statusCode) : 'unknown';
        if (errorBody && (kind === 'expired' || kind === 'invalid-session')) {
          const newer = await options.onTokenRejected(tenantId, token, errorBody);
          if (newer && newer.version !== token.version) {
            // Rejected with a token that was rotated meanwhile: the request never took effect, so one retry is safe.
            token = newer;
            upstreamRes = await forward(method, path, headers, body, token, query);
            text = String(upstreamRes.headers['content-type'] ?? '').includes('json')
              ? await upstreamRes.body.text()
              : undefined;
          }
        }
      }
      upstreamMs = performance.now() - up0;
      status = upstreamRes.statusCode;
      if (status < 300 && text !== undefined && options.rememberObject && method === 'POST') {
        // Media uploads and template creations return ids the tenant will address next.
        try {
          const parsed = JSON.parse(text) as { id?: unknown };
          if (typeof parsed.id === 'string' && OBJECT_ID.test(parsed.id))
            options.rememberObject(tenantId, parsed.id);
        } catch {
          // not an object response: nothing to remember
        }
      }
      const outHeaders: Record<string, string> = {};
      for (const h of FORWARD_RESPONSE_HEADERS) {
        const v = upstreamRes.headers[h];
        if (typeof v === 'string') outHeaders[h] = v;
      }
      if (text !== undefined) {
        outHeaders['content-length'] = String(Buffer.byteLength(text));
        res.writeHead(status, outHeaders);
        res.end(text);
      } else {
        res.writeHead(status, outHeaders);
        for await (const chunk of upstreamRes.body) res.write(chunk);
        res.end();
      }
    } catch (err) {
      status = 502;
      if (!res.headersSent) {
        const code = (err as { code?: string }).code;
        deny(res, 502, 2, `Graph API unreachable from the broker${code ? ` (${code})` : ''}`);
      } else {
        res.destroy();
      }
    } finally {
      options.observe?.({ tenantId, status, durationMs: performance.now() - started, upstreamMs });
    }
  };
}
