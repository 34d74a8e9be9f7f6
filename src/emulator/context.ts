import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import type { FaultInjector } from './faults.js';
import { type ErrorStatusMapping, type ErrorSurface, graphError } from './graph-errors.js';
import type { RateLimiter } from './limits.js';
import type { EmulatorState } from './state.js';
import type { Principal, TokenService } from './tokens.js';
import type { VirtualClock } from './virtual-clock.js';
import type { WebhookDispatcher } from './webhooks.js';

/** Options every route needs, resolved with defaults. */
export interface CoreSettings {
  apiVersion: string;
  minVersion: number;
  maxVersion: number;
  errorStatus: ErrorStatusMapping;
  maxBodyBytes: number;
  maxMediaBytes: number;
  templateApproval: { status: 'APPROVED' | 'PENDING' | 'REJECTED'; delayMs: number };
  longLivedReexchange: 'same-token' | 'new-token-same-expiry';
  /** Media URLs expire after this long (virtual ms). Default 5 minutes (Meta's documented media URL lifetime). */
  mediaUrlTtlMs: number;
  /** The error for an app access token on a WhatsApp Business endpoint; undefined: the missing-permission error. */
  appTokenError: AppTokenError | undefined;
  /** Origin of media download URLs; undefined: the request's own origin. */
  mediaUrlOrigin: string | undefined;
  /** Fragment appended to the login dialog's query redirects (`_=_`, as facebook.com does); undefined for none. */
  loginRedirectFragment: string | undefined;
}

export interface AppTokenError {
  code: number;
  message: string;
  subcode?: number | undefined;
  type?: string | undefined;
}

/** A pending login dialog, between the consent page and the user's choice. */
export interface DialogRequest {
  id: string;
  appId: string;
  userId: string;
  redirectUri: string;
  state: string | undefined;
  scopes: string[];
  responseType: string;
  /** `response_type` asked for `granted_scopes` too. */
  grantedScopes: boolean;
  codeChallenge: string | undefined;
  codeChallengeMethod: 'S256' | 'plain' | undefined;
  configId: string | undefined;
  /** `extras={"setup":{...}}` with a config: Embedded Signup, finished with the session info (facts §7). */
  embeddedSignup: boolean;
  expiresAtMs: number;
}

/** Everything the routes share. */
export interface EmulatorCore {
  state: EmulatorState;
  clock: VirtualClock;
  tokens: TokenService;
  webhooks: WebhookDispatcher;
  limits: RateLimiter;
  faults: FaultInjector;
  settings: CoreSettings;
  counters: Map<string, number>;
  dialogs: Map<string, DialogRequest>;
  /** The user "signed in" to the emulated facebook.com, who sees the consent page. */
  dialogUserId: string | undefined;
  /** Key for signing media URLs (random per run). */
  mediaUrlKey: Buffer;
  /** Called after state changes that should reach the state file. */
  persist(): void;
}

export interface EmuVariables {
  trace: string;
  version: string;
  surface: ErrorSurface;
  endpoint: string;
  appId: string | undefined;
  wabaId: string | undefined;
  /** Usage header values, kept so error responses carry them too. */
  appUsage: string | undefined;
  businessUsage: string | undefined;
  params: Record<string, string> | undefined;
}

/** Node bindings when served by @hono/node-server; undefined in-process. */
export type EmuBindings = {
  incoming?: IncomingMessage;
};

export type EmuEnv = { Variables: EmuVariables; Bindings: EmuBindings };
export type EmuContext = Context<EmuEnv>;

/**
 * A request header. Served by @hono/node-server, it is read from Node's header object: `c.req.header()` builds a
 * web `Headers` per request first, a measurable cost on the send path.
 */
export function header(c: EmuContext, name: string): string | undefined {
  const incoming = c.env?.incoming;
  if (incoming) {
    const v = incoming.headers[name];
    return Array.isArray(v) ? v.join(', ') : v;
  }
  return c.req.header(name);
}

/** Reads the body, refusing more than `maxBytes` whatever Content-Length claims (or omits). */
export async function readBodyBytes(c: EmuContext, maxBytes: number): Promise<Buffer> {
  const declared = header(c, 'content-length');
  if (declared !== undefined && Number(declared) > maxBytes) throw tooLarge(maxBytes);
  // Served by @hono/node-server: read the Node stream directly. Going through the web Request body costs a
  // stream conversion per request and measured 3-6x slower on the send path.
  const incoming = c.env?.incoming;
  if (incoming && !incoming.readableEnded && typeof incoming.on === 'function')
    return readIncoming(incoming, maxBytes);
  const body = c.req.raw.body;
  if (!body) return Buffer.alloc(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  return chunks.length === 1 ? Buffer.from(chunks[0] as Uint8Array) : Buffer.concat(chunks);
}

/** Reads a Node request body with a cap (rejects with the 413 Graph error beyond it). */
export function readIncoming(incoming: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) =>
    readIncomingThen(incoming, maxBytes, (err, body) => (err ? reject(err) : resolve(body as Buffer))),
  );
}

/**
 * readIncoming with a callback, called once: the send fast path reads every body this way (no promise and no async
 * function per send).
 */
export function readIncomingThen(
  incoming: IncomingMessage,
  maxBytes: number,
  done: (err: unknown, body?: Buffer) => void,
): void {
  const chunks: Buffer[] = [];
  let total = 0;
  let over = false;
  let settled = false;
  const settle = (err: unknown, body?: Buffer): void => {
    if (settled) return;
    settled = true;
    done(err, body);
  };
  const onData = (chunk: Buffer): void => {
    total += chunk.length;
    if (over) {
      // Drain what the client already sent so the answer can go out, but not forever.
      if (total > maxBytes * 4 + 1_048_576) incoming.destroy();
      return;
    }
    if (total > maxBytes) {
      over = true;
      chunks.length = 0;
      return;
    }
    chunks.push(chunk);
  };
  // No listener removal once settled: the request object (and its listeners) is dropped after one use, and
  // later calls are ignored (removing four listeners per send was a measurable cost).
  const onEnd = (): void => {
    if (over) settle(tooLarge(maxBytes));
    else settle(undefined, chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total));
  };
  const onError = (err: Error): void => {
    settle(err);
  };
  const onClose = (): void => {
    if (incoming.readableEnded) return;
    settle(
      over ? tooLarge(maxBytes) : new Error('the client closed the connection before sending the whole body'),
    );
  };
  incoming.on('data', onData);
  incoming.on('end', onEnd);
  incoming.on('error', onError);
  incoming.on('close', onClose);
}

function tooLarge(maxBytes: number) {
  return graphError(100, `(#100) The request body is larger than the emulator accepts (${maxBytes} bytes)`, {
    status: 413,
  });
}

/** Parses a JSON body; Meta's code-100 error when it is not JSON (fixture openapi-400-100-malformed-request). */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw graphError(100, '(#100) Invalid JSON in request body');
  }
}

/**
 * Query and body parameters merged (body wins), as Graph treats them: a token or `appsecret_proof` may come in
 * either; bodies may be form-encoded or JSON. Values that are objects stay JSON text. Cached per request.
 */
export async function requestParams(c: EmuContext, maxBytes: number): Promise<Record<string, string>> {
  const cached = c.get('params');
  if (cached) return cached;
  const out: Record<string, string> = {};
  const url = c.req.url;
  const q = url.indexOf('?');
  if (q >= 0) for (const [k, v] of new URLSearchParams(url.slice(q + 1))) out[k] = v;
  if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
    const type = (header(c, 'content-type') ?? '').toLowerCase();
    if (!type.startsWith('multipart/')) {
      const text = (await readBodyBytes(c, maxBytes)).toString('utf8');
      if (text.trim() !== '') {
        if (type.includes('json') || /^\s*[{[]/.test(text)) {
          const body = parseJson(text);
          if (body && typeof body === 'object' && !Array.isArray(body)) {
            for (const [k, v] of Object.entries(body)) {
              out[k] = typeof v === 'string' ? v : JSON.stringify(v);
            }
          }
        } else {
          for (const [k, v] of new URLSearchParams(text)) out[k] = v;
        }
      }
    }
  }
  c.set('params', out);
  return out;
}

/** The token a request carries: `Authorization: Bearer|OAuth <token>`, else `access_token`. */
export function tokenFrom(c: EmuContext, params: Record<string, string> | undefined): string | undefined {
  return tokenFromParts(header(c, 'authorization'), params);
}

/** Printable ASCII other than space: not matched by `\s`. */
const printable = (c: number): boolean => c > 32 && c < 127;

function tokenFromParts(
  authorization: string | undefined,
  params: Record<string, string> | undefined,
): string | undefined {
  if (authorization) {
    // The usual `Bearer <token>` without stray spaces skips the regex (same result; every request has one).
    if (
      authorization.startsWith('Bearer ') &&
      authorization.length > 7 &&
      printable(authorization.charCodeAt(7)) &&
      printable(authorization.charCodeAt(authorization.length - 1))
    ) {
      return authorization.slice(7);
    }
    const m = /^(?:Bearer|OAuth)\s+(.+?)\s*$/i.exec(authorization);
    if (m) return m[1];
  }
  const fromParams = params?.access_token;
  return fromParams ? fromParams : undefined;
}

/**
 * Authenticates a Graph call: missing token → 104, bad token → 190 (with subcode), bad or missing
 * `appsecret_proof` → 100. Independent of the HTTP layer (the Node fast path uses it too).
 */
export function authenticateToken(
  core: EmulatorCore,
  authorization: string | undefined,
  params: Record<string, string> | undefined,
): Principal {
  const value = tokenFromParts(authorization, params);
  if (!value) {
    throw graphError(104, 'An access token is required to request this resource.', {
      wwwAuthenticate: 'invalid_request',
    });
  }
  const principal = core.tokens.require(value);
  core.tokens.checkProof(principal, params?.appsecret_proof, params?.appsecret_time);
  return principal;
}

/** {@link authenticateToken} for a Hono request; records the app for usage headers. */
export function authenticate(
  core: EmulatorCore,
  c: EmuContext,
  params: Record<string, string> | undefined,
): Principal {
  const principal = authenticateToken(core, header(c, 'authorization'), params);
  useApp(core, c, principal.app.id);
  return principal;
}

/**
 * Records the app a call is billed to and sets `X-App-Usage`. Headers are set on the context before the response
 * exists (never mutated afterwards: @hono/node-server's lightweight Response may drop late changes).
 */
export function useApp(core: EmulatorCore, c: EmuContext, appId: string): void {
  if (c.get('appId') === appId) return;
  c.set('appId', appId);
  const usage = core.limits.appUsage(appId, core.clock.now());
  c.set('appUsage', usage);
  c.header('x-app-usage', usage);
}

/** Records the WABA a WhatsApp call concerns and sets `X-Business-Use-Case-Usage` (keyed by the WABA id). */
export function useWaba(core: EmulatorCore, c: EmuContext, wabaId: string): void {
  if (c.get('wabaId') === wabaId) return;
  c.set('wabaId', wabaId);
  const usage = core.limits.businessUsage(wabaId, core.clock.now());
  c.set('businessUsage', usage);
  c.header('x-business-use-case-usage', usage);
}

/** Query parameters only, without reading the body (hot path). */
export function queryParams(c: EmuContext): Record<string, string> | undefined {
  const url = c.req.url;
  const q = url.indexOf('?');
  if (q < 0) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(url.slice(q + 1))) out[k] = v;
  return out;
}

/** `fields=a,b{c}` → the top-level names, or undefined for "all". */
export function fieldsParam(params: Record<string, string> | undefined): Set<string> | undefined {
  const f = params?.fields;
  if (!f) return undefined;
  const names = new Set<string>();
  let depth = 0;
  let cur = '';
  for (const ch of f) {
    if (ch === '{') depth++;
    else if (ch === '}') depth--;
    else if (ch === ',' && depth === 0) {
      if (cur.trim()) names.add(cur.trim());
      cur = '';
    } else if (depth === 0) cur += ch;
  }
  if (cur.trim()) names.add(cur.trim());
  return names;
}

/** Keeps `id` and the requested fields (Graph's `fields=` behaviour), or everything when none were asked for. */
export function pickFields(
  obj: Record<string, unknown>,
  fields: Set<string> | undefined,
): Record<string, unknown> {
  if (!fields) return obj;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) if (fields.has(k) || k === 'id') out[k] = v;
  return out;
}
