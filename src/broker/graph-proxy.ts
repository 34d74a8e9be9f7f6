import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline, type Readable, Transform } from 'node:stream';
import { Agent, type Dispatcher } from 'undici';
import type { Clock } from '../core/clock.js';
import { classifyGraphError, type GraphErrorBody } from '../core/graph-error.js';
import type { Secret } from '../core/secret.js';
import { appSecretProofParams } from '../graph/appsecret-proof.js';
import type { SendDecision } from '../scale/send-limiter.js';
import { rateLimitHitBody } from '../scale/send-limiter.js';
import { sendGraphError } from './graph-error-body.js';

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

type ProxyAuth = ProxyPrincipal | { throttled: true; retryAfterSec: number };

export interface GraphProxyOptions {
  /** Meta's Graph base URL, or the emulator's. */
  upstreamUrl: string;
  clock: Clock;
  dispatcher?: Dispatcher;
  appSecret?: Secret | undefined;
  /**
   * API key → principal; must be an in-memory (cached) lookup on the hot path. `{ throttled }` after a burst of
   * failed attempts from this client (security/auth-guard.ts): answered 429 with Retry-After.
   */
  authenticate(apiKey: string, req: IncomingMessage): ProxyAuth | undefined | Promise<ProxyAuth | undefined>;
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
  /**
   * An object the tenant created through the proxy (uploaded media, a template, a flow): it may address it later, on
   * any instance. `edge` is the creating path's edge (`media`, `message_templates`, `flows`). Awaited before the
   * answer goes out.
   */
  rememberObject?(tenantId: string, objectId: string, edge: string | undefined): void | Promise<void>;
  /**
   * A successful `GET /{object-id}` JSON answer, offered for rewriting before it goes back (media answers: Meta's
   * lookaside `url` becomes a signed broker URL). Undefined keeps the body as Graph sent it.
   */
  rewriteObjectAnswer?(tenantId: string, objectId: string, json: Buffer): Buffer | undefined;
  observe?(event: {
    tenantId: string | undefined;
    status: number;
    durationMs: number;
    upstreamMs: number;
  }): void;
  /** Request bodies over this size are refused (413). Default 100 MiB (Meta's largest media upload). */
  maxBodyBytes?: number;
  /**
   * Request bodies with a declared length up to this are buffered, so a request Meta refused with a 190 can be
   * retried with a newer token (every message send); larger or unsized ones (media uploads) are streamed straight
   * through and never held whole in memory. Default 256 KiB.
   */
  bufferBodyBytes?: number;
  timeoutMs?: number;
}

const VERSION = /^v\d{1,3}\.\d{1,2}$/;
const OBJECT_ID = /^\d{1,32}$/;
/** Edges after the object id are plain names (`messages`, `media`): no `.`/`..`, no encoded separators. */
const EDGE = /^[A-Za-z0-9_]{1,64}$/;
/**
 * Query parameters that name other objects (Graph's multi-id read): the object check would not cover them. Every
 * casing and array form (`IDS`, `ids[]`, `ids[0]`) is refused too: what Graph tolerates is not ours to guess.
 */
const OBJECT_QUERY = /^ids(\[[^\]]*\])*$/i;
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

const deny = sendGraphError;

/**
 * Reads the whole request body into one Buffer (one chunk upstream; kept so a 190 can be retried), or 'too-large'
 * past `max` (declared or counted). Plain listeners, not an async iterator: this runs on every send.
 */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | 'too-large'> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) return Promise.resolve('too-large');
  return new Promise((resolve, reject) => {
    let first: Buffer | undefined;
    let more: Buffer[] | undefined;
    let size = 0;
    const done = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        done();
        // The rest is read and dropped; the 413 closes the connection.
        req.resume();
        resolve('too-large');
      } else if (first === undefined) first = chunk;
      else if (more) more.push(chunk);
      else more = [first, chunk];
    };
    const onEnd = () => {
      done();
      resolve(more ? Buffer.concat(more, size) : (first ?? Buffer.alloc(0)));
    };
    const onError = (err: Error) => {
      done();
      reject(err);
    };
    const onClose = () => {
      done();
      reject(Object.assign(new Error('client closed the request'), { code: 'ECONNRESET' }));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/** An unsized (chunked) request body as a stream for undici, counted: past `max` it fails the upstream request. */
function streamedBody(req: IncomingMessage, max: number): Readable {
  let size = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length;
      if (size > max)
        done(Object.assign(new Error(`request body over ${max} bytes`), { code: 'BODY_TOO_LARGE' }));
      else done(null, chunk);
    },
  });
  pipeline(req, counter, () => undefined);
  return counter;
}

/**
 * The body to forward: a small declared one read whole (so a 190 can be retried with it), anything larger or unsized
 * streamed (with its declared length, which undici holds it to); 'too-large' past `max` when declared.
 */
async function proxiedBody(
  req: IncomingMessage,
  max: number,
  bufferMax: number,
): Promise<{ body: Buffer | Readable; declared?: string } | 'too-large'> {
  const declared = req.headers['content-length'];
  const size = declared === undefined ? Number.NaN : Number(declared);
  if (size > max) return 'too-large';
  if (size <= bufferMax) {
    const read = await readBody(req, bufferMax);
    return read === 'too-large' ? read : { body: read };
  }
  return declared === undefined ? { body: streamedBody(req, max) } : { body: req, declared };
}

/** Edges after the object id that are not plain names, or `ids` in any form in the query: both reach other objects. */
function addressesOtherObjects(segments: string[], query: URLSearchParams | undefined): boolean {
  for (let i = 2; i < segments.length; i++) if (!EDGE.test(segments[i] as string)) return true;
  return query !== undefined && [...query.keys()].some((k) => OBJECT_QUERY.test(k.trim()));
}

/**
 * Graph reads parameters from a form or JSON body as from the query string, so `ids` there is refused like `ids` in
 * the query. A form body too large to read first is refused outright (Graph's form posts are small; uploads are
 * multipart).
 */
function bodyAddressesObjects(contentType: string, body: Buffer | Readable): boolean {
  const type = contentType.toLowerCase();
  const form = type.includes('application/x-www-form-urlencoded');
  if (!form && !type.includes('json')) return false;
  if (!Buffer.isBuffer(body)) return form;
  const text = body.toString('utf8');
  if (form) return [...new URLSearchParams(text).keys()].some((k) => OBJECT_QUERY.test(k.trim()));
  try {
    const parsed: unknown = JSON.parse(text);
    return (
      typeof parsed === 'object' &&
      parsed !== null &&
      !Array.isArray(parsed) &&
      Object.keys(parsed).some((k) => OBJECT_QUERY.test(k.trim()))
    );
  } catch {
    return false; // not JSON: Graph refuses it itself
  }
}

function bearer(req: IncomingMessage, query: URLSearchParams | undefined): string | undefined {
  const h = req.headers.authorization;
  if (h) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
    return m?.[1];
  }
  return query?.get('access_token') ?? undefined;
}

/** What Graph answered: JSON bodies collected (190 detection, created ids), anything else already streamed to `res`. */
interface UpstreamAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The JSON body; undefined when the body was not JSON and went straight through. */
  json: Buffer | undefined;
}

/** Graph's response headers that go back to the client, as a flat [name, value, ...] list for `writeHead`. */
function responseHead(headers: UpstreamAnswer['headers'], contentLength: number | undefined): string[] {
  const out: string[] = [];
  for (const h of FORWARD_RESPONSE_HEADERS) {
    if (contentLength !== undefined && h === 'content-length') continue;
    const v = headers[h];
    if (typeof v === 'string') out.push(h, v);
  }
  if (contentLength !== undefined) out.push('content-length', String(contentLength));
  return out;
}

/**
 * One upstream exchange through undici's `dispatch` (no body stream object, no async iterator): a JSON body is
 * collected as chunks, any other body is written to `res` as it comes, with backpressure both ways.
 */
class UpstreamCall implements Dispatcher.DispatchHandler {
  private status = 0;
  private headers: UpstreamAnswer['headers'] = {};
  private chunks: Buffer[] | undefined;
  private size = 0;
  private streaming = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly resolve: (a: UpstreamAnswer) => void,
    private readonly reject: (e: Error) => void,
  ) {}

  /** Present so undici takes this for a controller-style handler (its check is on this method). */
  onRequestStart(): void {}

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: UpstreamAnswer['headers'],
  ): void {
    this.status = statusCode;
    this.headers = headers;
    if (String(headers['content-type'] ?? '').includes('json')) {
      this.chunks = [];
      return;
    }
    // Media downloads and other binary bodies go straight through, never held whole in memory.
    this.streaming = true;
    this.res.writeHead(statusCode, responseHead(headers, undefined));
    this.res.once('close', () => {
      if (!this.res.writableFinished) controller.abort(new Error('client went away'));
    });
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.streaming) {
      this.chunks?.push(chunk);
      this.size += chunk.length;
    } else if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(): void {
    if (this.streaming) {
      this.res.end();
      this.resolve({ status: this.status, headers: this.headers, json: undefined });
      return;
    }
    const chunks = this.chunks ?? [];
    const json = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, this.size);
    this.resolve({ status: this.status, headers: this.headers, json });
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.reject(error);
  }
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
  const bufferMax = Math.min(options.bufferBodyBytes ?? 256 * 1024, maxBody);
  const timeoutMs = options.timeoutMs ?? 30_000;

  // What every request with a given token carries: the bearer header and the classic proof, which depends only on
  // the token (the app secret is fixed here). Computed once per token version, not per request (the HMAC was ~3% of
  // the proxy's CPU in bench/broker-proxy.js). Keyed by the manager's Secret object, held weakly.
  interface TokenWire {
    authorization: string;
    proof: Record<string, string> | undefined;
    /** `?appsecret_proof=…` for a request without a query of its own, else ''. */
    proofQuery: string;
  }
  const wires = new WeakMap<Secret, TokenWire>();
  function wireFor(token: Secret): TokenWire {
    let wire = wires.get(token);
    if (!wire) {
      const proof = appSecretProofParams('classic', token, options.appSecret, options.clock.now());
      const qs = proof ? new URLSearchParams(proof).toString() : '';
      wire = { authorization: `Bearer ${token.reveal()}`, proof, proofQuery: qs ? `?${qs}` : '' };
      wires.set(token, wire);
    }
    return wire;
  }

  function forward(
    res: ServerResponse,
    method: string,
    path: string,
    headers: string[],
    body: Buffer | Readable | undefined,
    token: ProxyToken,
    query: URLSearchParams | undefined,
  ): Promise<UpstreamAnswer> {
    const wire = wireFor(token.token);
    let qs = wire.proofQuery;
    if (query && query.size > 0) {
      const q = new URLSearchParams(query);
      if (wire.proof) for (const [k, v] of Object.entries(wire.proof)) q.set(k, v);
      qs = `?${q.toString()}`;
    }
    return new Promise((resolve, reject) => {
      dispatcher.dispatch(
        {
          origin: upstreamOrigin,
          path: `${upstreamBase}${path}${qs}`,
          method: method as Dispatcher.HttpMethod,
          headers: [...headers, 'authorization', wire.authorization],
          body,
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        },
        new UpstreamCall(res, resolve, reject),
      );
    });
  }

  /**
   * A successful JSON answer: an id it created is remembered (media uploads and template creations return ids the
   * tenant will address next; a send's answer never does), a `GET /{object-id}` answer may be rewritten.
   */
  async function onSuccess(
    tenantId: string,
    method: string,
    segments: string[],
    isSend: boolean,
    json: Buffer,
  ): Promise<Buffer> {
    if (options.rewriteObjectAnswer && method === 'GET' && segments.length === 2)
      return options.rewriteObjectAnswer(tenantId, segments[1] as string, json) ?? json;
    if (options.rememberObject && method === 'POST' && !isSend) {
      let created: string | undefined;
      try {
        const parsed = JSON.parse(json.toString()) as { id?: unknown };
        if (typeof parsed.id === 'string' && OBJECT_ID.test(parsed.id)) created = parsed.id;
      } catch {
        // not an object response: nothing to remember
      }
      if (created) await options.rememberObject(tenantId, created, segments[2]);
    }
    return json;
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
      // Most sends carry no query: no URLSearchParams then.
      const query = qIndex < 0 ? undefined : new URLSearchParams(subpath.slice(qIndex + 1));
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
      // The lookups are in-memory on a cache hit: no await (a microtask each) unless they return a promise.
      const authenticated = options.authenticate(apiKey, req);
      const principal = authenticated instanceof Promise ? await authenticated : authenticated;
      if (principal && 'throttled' in principal) {
        status = 429;
        res.setHeader('retry-after', String(principal.retryAfterSec));
        return deny(res, 429, 4, 'Too many failed authentications from this client; retry later');
      }
      if (!principal) {
        status = 401;
        return deny(res, 401, 190, 'Invalid broker API key');
      }
      tenantId = principal.tenantId;
      if (addressesOtherObjects(segments, query)) {
        status = 403;
        return deny(res, 403, 200, '(#200) This API key may only address its own objects by plain paths');
      }
      let allowed = OBJECT_ID.test(objectId);
      if (allowed) {
        const check = options.isAllowedObject(tenantId, objectId);
        allowed = check instanceof Promise ? await check : check;
      }
      if (!allowed) {
        status = 403;
        return deny(
          res,
          403,
          200,
          `(#200) This API key may not access ${OBJECT_ID.test(objectId) ? 'object' : 'path'} ${objectId.slice(0, 64)}`,
        );
      }
      const method = (req.method ?? 'GET').toUpperCase();
      const isSend = segments.length === 3 && segments[2] === 'messages' && method === 'POST';
      if (options.admitSend && isSend) {
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
      if (query) for (const k of STRIPPED_QUERY) query.delete(k);
      const found = options.tokenFor(tenantId, objectId);
      let token = found instanceof Promise ? await found : found;
      if (!token) {
        status = 503;
        return deny(
          res,
          503,
          2,
          'The tenant has no working WhatsApp token; reconnect it in the broker dashboard',
        );
      }
      let body: Buffer | Readable | undefined;
      const headers: string[] = [];
      for (const h of FORWARD_REQUEST_HEADERS) {
        const v = req.headers[h];
        if (typeof v === 'string') headers.push(h, v);
      }
      if (method !== 'GET' && method !== 'HEAD' && method !== 'DELETE') {
        const got = await proxiedBody(req, maxBody, bufferMax);
        if (got === 'too-large') {
          status = 413;
          res.shouldKeepAlive = false;
          return deny(res, 413, 100, `Request body over ${maxBody} bytes`);
        }
        body = got.body;
        if (got.declared !== undefined) headers.push('content-length', got.declared);
        if (bodyAddressesObjects(String(req.headers['content-type'] ?? ''), body)) {
          status = 403;
          return deny(res, 403, 200, '(#200) This API key may only address its own objects by plain paths');
        }
      }
      const path = `/${segments.join('/')}`;
      const up0 = performance.now();
      let answer = await forward(res, method, path, headers, body, token, query);
      if (answer.status >= 400 && answer.json !== undefined) {
        let errorBody: GraphErrorBody | undefined;
        try {
          errorBody = (JSON.parse(answer.json.toString()) as { error?: GraphErrorBody }).error;
        } catch {
          errorBody = undefined;
        }
        const kind = errorBody ? classifyGraphError(errorBody, answer.status) : 'unknown';
        if (errorBody && (kind === 'expired' || kind === 'invalid-session')) {
          const newer = await options.onTokenRejected(tenantId, token, errorBody);
          // A streamed body is gone once sent: the client retries (the manager has the newer token by then).
          if (newer && newer.version !== token.version && !(body && !Buffer.isBuffer(body))) {
            // Rejected with a token that was rotated meanwhile: the request never took effect, so one retry is safe.
            token = newer;
            answer = await forward(res, method, path, headers, body, token, query);
          }
        }
      }
      upstreamMs = performance.now() - up0;
      status = answer.status;
      if (answer.json === undefined) return; // streamed through already
      const json =
        status < 300 ? await onSuccess(tenantId, method, segments, isSend, answer.json) : answer.json;
      res.writeHead(status, responseHead(answer.headers, json.length));
      res.end(json);
    } catch (err) {
      status = 502;
      if (!res.headersSent) {
        const code = (err as { code?: string }).code;
        if (code === 'BODY_TOO_LARGE') {
          status = 413;
          res.shouldKeepAlive = false;
          deny(res, 413, 100, `Request body over ${maxBody} bytes`);
        } else deny(res, 502, 2, `Graph API unreachable from the broker${code ? ` (${code})` : ''}`);
      } else res.destroy();
    } finally {
      options.observe?.({ tenantId, status, durationMs: performance.now() - started, upstreamMs });
    }
  };
}
