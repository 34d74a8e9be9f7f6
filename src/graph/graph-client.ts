import { type Clock, systemClock } from '../core/clock.js';
import { DEFAULT_API_VERSION, DEFAULT_GRAPH_URL, parseBaseUrl } from '../core/config.js';
import { WacloudError } from '../core/errors.js';
import { createGraphError, type GraphError, graphErrorFromResponse } from '../core/graph-error.js';
import { type Logger, silentLogger } from '../core/logger.js';
import { Secret } from '../core/secret.js';
import { TransportError } from '../transport/transport-error.js';
import type { Transport, TransportRequest, TransportResponse } from '../transport/types.js';
import { createUndiciTransport } from '../transport/undici-transport.js';
import { type AppSecretProofMode, appSecretProofParams } from './appsecret-proof.js';
import { encodeMultipart, type MultipartPart } from './multipart.js';
import { type GraphUsage, parseUsageHeaders, retryAfterSeconds } from './usage.js';

/**
 * Supplies the token for each request. The lifecycle manager implements it so clients pick up rotated tokens on
 * their next request without a restart.
 */
export interface TokenProvider {
  /** The token to use now. Called on every request: keep it an in-memory lookup. */
  getToken(): Secret | Promise<Secret>;
  /**
   * Graph rejected `token` with a token error (190 family). Resolve a different, newer token to retry the request
   * once, or undefined to give up (the provider should inspect and mark the credential).
   */
  onTokenRejected?(token: Secret, error: GraphError): Promise<Secret | undefined>;
}

export interface RetryOptions {
  /** Total attempts including the first (default 3). */
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** A throttle asking for a longer pause than this is not waited out: the error is thrown with `retryAfterSec`. */
  maxRetryAfterMs?: number;
}

export interface GraphClientOptions {
  accessToken?: string | Secret | undefined;
  tokenProvider?: TokenProvider | undefined;
  /** Enables `appsecret_proof` on every authenticated call (classic form unless `appSecretProof` says otherwise). */
  appSecret?: string | Secret | undefined;
  appSecretProof?: AppSecretProofMode | undefined;
  /** Default `https://graph.facebook.com` (WA_GRAPH_URL). */
  graphUrl?: string | undefined;
  /** Default `v26.0` (CLOUD_API_VERSION). */
  apiVersion?: string | undefined;
  transport?: Transport | undefined;
  clock?: Clock | undefined;
  /** Uniform [0, 1): jitter source. */
  random?: (() => number) | undefined;
  logger?: Logger | undefined;
  /** Log every request and response line (method, path, status, time; never a token). */
  debug?: boolean | undefined;
  /** Whole-request timeout in ms (REQUEST_TIMEOUT; default 20 s). */
  timeoutMs?: number | undefined;
  retry?: RetryOptions | undefined;
}

type QueryValue = string | number | boolean | undefined | null;

/**
 * How a failed request may be retried:
 * - `idempotent`: throttling, Meta-side transient errors, refused connections, resets and timeouts (reads, deletes);
 * - `once-only`: only where Meta certainly did not act: throttling errors and connections that never opened
 *   (message sends and other creations; a send is never re-sent after it may have reached Meta);
 * - `never`.
 */
export type RetryMode = 'idempotent' | 'once-only' | 'never';

export interface GraphRequest {
  method: TransportRequest['method'];
  /** Path after the version, e.g. `123/messages` (a leading slash is fine). */
  path: string;
  query?: Record<string, QueryValue> | undefined;
  json?: unknown;
  form?: Record<string, QueryValue> | undefined;
  multipart?: MultipartPart[] | undefined;
  /** A raw body with its own headers (resumable upload chunks: `file_offset`). */
  raw?: { body: Uint8Array; headers: Record<string, string> } | undefined;
  /** `bearer` (default) sends the token in `Authorization`; `none` sends no token (app-secret flows put theirs in query). */
  auth?: 'bearer' | 'none' | undefined;
  /** Use this token instead of the client's (system-user and exchange flows). */
  token?: Secret | undefined;
  /** Default: `idempotent` for GET/DELETE, `once-only` otherwise. */
  retry?: RetryMode | undefined;
  /** Prefix the version (default true). Set false for unversioned URLs such as a media download URL. */
  versioned?: boolean | undefined;
  /** Read the body as bytes instead of JSON. */
  responseType?: 'json' | 'bytes' | undefined;
  /** Absolute URL (media downloads): replaces base URL + version + path. Only https or loopback http. */
  absoluteUrl?: string | undefined;
  signal?: AbortSignal | undefined;
  timeoutMs?: number | undefined;
}

export interface GraphResponse<T> {
  data: T;
  status: number;
  headers: Record<string, string>;
  usage: GraphUsage;
}

function appendQuery(parts: string[], query: Record<string, QueryValue> | undefined): void {
  if (!query) return;
  for (const key in query) {
    const v = query[key];
    if (v === undefined || v === null) continue;
    parts.push(`${encodeURIComponent(key)}=${encodeURIComponent(String(v))}`);
  }
}

function encodeForm(form: Record<string, QueryValue>): string {
  const parts: string[] = [];
  appendQuery(parts, form);
  return parts.join('&');
}

/** The usage of a response without usage headers. */
const NO_USAGE: GraphUsage = Object.freeze({ app: undefined, businessUseCase: Object.freeze([]) as never[] });

function freezeUsage(u: GraphUsage): GraphUsage {
  if (u.app) Object.freeze(u.app);
  for (const b of u.businessUseCase) Object.freeze(b);
  Object.freeze(u.businessUseCase);
  return Object.freeze(u);
}

/** The Graph API client: versioned paths, auth, proofs, retries, usage headers, typed errors. */
export class GraphClient {
  readonly baseUrl: string;
  readonly apiVersion: string;
  readonly transport: Transport;
  readonly clock: Clock;
  #token: Secret | undefined;
  #tokenProvider: TokenProvider | undefined;
  #appSecret: Secret | undefined;
  readonly #proofMode: AppSecretProofMode;
  readonly #random: () => number;
  readonly #logger: Logger;
  readonly #debug: boolean;
  readonly #timeoutMs: number;
  readonly #retry: Required<RetryOptions>;
  readonly #ownsTransport: boolean;
  /** The last usage headers and their parse: Meta's values change slowly, so most responses repeat the last ones. */
  #usageMemo: { app: string | undefined; buc: string | undefined; usage: GraphUsage } | undefined;
  /** Usage headers of the most recent response, for dashboards and adaptive senders. */
  lastUsage: GraphUsage | undefined;

  constructor(options: GraphClientOptions = {}) {
    this.baseUrl = parseBaseUrl('graphUrl', options.graphUrl ?? DEFAULT_GRAPH_URL);
    this.apiVersion = options.apiVersion ?? DEFAULT_API_VERSION;
    if (!/^v\d{1,3}\.\d{1,2}$/.test(this.apiVersion)) {
      throw new WacloudError(
        'CONFIG_INVALID',
        `apiVersion: "${this.apiVersion}" is not like ${DEFAULT_API_VERSION}`,
      );
    }
    this.#ownsTransport = !options.transport;
    this.transport = options.transport ?? createUndiciTransport();
    this.clock = options.clock ?? systemClock;
    this.#token =
      options.accessToken === undefined ? undefined : Secret.from(options.accessToken, 'access-token');
    this.#tokenProvider = options.tokenProvider;
    this.#appSecret =
      options.appSecret === undefined ? undefined : Secret.from(options.appSecret, 'app-secret');
    this.#proofMode = options.appSecretProof ?? (this.#appSecret ? 'classic' : 'off');
    this.#random = options.random ?? Math.random;
    this.#logger = options.logger ?? silentLogger;
    this.#debug = options.debug === true;
    this.#timeoutMs = options.timeoutMs ?? 20_000;
    this.#retry = {
      maxAttempts: options.retry?.maxAttempts ?? 3,
      baseDelayMs: options.retry?.baseDelayMs ?? 250,
      maxDelayMs: options.retry?.maxDelayMs ?? 10_000,
      maxRetryAfterMs: options.retry?.maxRetryAfterMs ?? 60_000,
    };
  }

  /** Replaces the token; the next request uses it. */
  setAccessToken(token: string | Secret): void {
    this.#token = Secret.from(token, 'access-token');
  }

  setTokenProvider(provider: TokenProvider | undefined): void {
    this.#tokenProvider = provider;
  }

  get hasToken(): boolean {
    return this.#token !== undefined || this.#tokenProvider !== undefined;
  }

  async #currentToken(): Promise<Secret> {
    if (this.#tokenProvider) return await this.#tokenProvider.getToken();
    if (this.#token) return this.#token;
    throw new WacloudError(
      'TOKEN_UNAVAILABLE',
      'no access token: set CLOUD_API_ACCESS_TOKEN, pass accessToken, or give a tokenProvider',
    );
  }

  /** `${baseUrl}/${version}/${path}` */
  url(path: string, versioned = true): string {
    const clean = path.startsWith('/') ? path.slice(1) : path;
    return versioned ? `${this.baseUrl}/${this.apiVersion}/${clean}` : `${this.baseUrl}/${clean}`;
  }

  /** Sends one Graph request with retries and token-rejection handling. Throws GraphError / TransportError. */
  async request<T = unknown>(req: GraphRequest): Promise<GraphResponse<T>> {
    const mode: RetryMode =
      req.retry ?? (req.method === 'GET' || req.method === 'DELETE' ? 'idempotent' : 'once-only');
    // The common case (a held token) stays synchronous: no extra await on the send path.
    let token =
      req.auth === 'none'
        ? undefined
        : (req.token ?? (this.#tokenProvider || !this.#token ? await this.#currentToken() : this.#token));
    let tokenRetried = false;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#once<T>(req, token);
      } catch (err) {
        // A rejected token: ask the provider for a newer one and retry exactly once.
        if (
          token &&
          !req.token &&
          !tokenRetried &&
          this.#tokenProvider?.onTokenRejected &&
          err instanceof WacloudError &&
          (err as GraphError).isTokenError === true
        ) {
          tokenRetried = true;
          const next = await this.#tokenProvider.onTokenRejected(token, err as GraphError);
          if (next && !next.equals(token)) {
            token = next;
            attempt--;
            continue;
          }
          throw err;
        }
        const delayMs = this.#retryDelay(err, mode, attempt);
        if (delayMs === undefined) throw err;
        if (this.#debug) {
          this.#logger.debug('graph retry', {
            path: req.path,
            attempt,
            delayMs,
            reason: (err as Error).name,
          });
        }
        await this.clock.sleep(delayMs, req.signal);
      }
    }
  }

  /** ms to wait before the next attempt, or undefined when the error must be thrown. */
  #retryDelay(err: unknown, mode: RetryMode, attempt: number): number | undefined {
    if (mode === 'never' || attempt >= this.#retry.maxAttempts) return undefined;
    let retryAfterMs = 0;
    if (err instanceof TransportError) {
      if (mode === 'once-only' && err.mayHaveReachedServer) return undefined;
      if (err.failure === 'aborted') return undefined;
    } else if (err instanceof WacloudError && 'kind' in err) {
      const g = err as GraphError;
      if (g.kind === 'throttled') {
        retryAfterMs = (g.retryAfterSec ?? 0) * 1000;
        if (retryAfterMs > this.#retry.maxRetryAfterMs) return undefined;
      } else if (g.kind === 'transient') {
        // A transient error on a send may still have been delivered: only idempotent calls retry it.
        if (mode !== 'idempotent') return undefined;
      } else {
        return undefined;
      }
    } else {
      return undefined;
    }
    // Full jitter on an exponential ceiling, never less than what Meta asked for.
    const ceiling = Math.min(this.#retry.maxDelayMs, this.#retry.baseDelayMs * 2 ** (attempt - 1));
    return Math.max(retryAfterMs, Math.floor(this.#random() * ceiling));
  }

  async #once<T>(req: GraphRequest, token: Secret | undefined): Promise<GraphResponse<T>> {
    const queryParts: string[] = [];
    appendQuery(queryParts, req.query);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token) {
      headers.authorization = `Bearer ${token.reveal()}`;
      appendQuery(
        queryParts,
        appSecretProofParams(this.#proofMode, token, this.#appSecret, this.clock.now()),
      );
    }
    let body: string | Uint8Array | undefined;
    if (req.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(req.json);
    } else if (req.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = encodeForm(req.form);
    } else if (req.multipart) {
      const encoded = encodeMultipart(req.multipart);
      headers['content-type'] = encoded.contentType;
      body = encoded.body;
    } else if (req.raw) {
      Object.assign(headers, req.raw.headers);
      body = req.raw.body;
    }
    let url: string;
    if (req.absoluteUrl) {
      // Checked like a base URL (https, or http on loopback) but sent as given: Meta's media URLs end in "/?mid=…"
      // and must not be normalised.
      url = req.absoluteUrl.split('?')[0] ?? '';
      parseBaseUrl('url', url);
      const existing = req.absoluteUrl.includes('?')
        ? req.absoluteUrl.slice(req.absoluteUrl.indexOf('?') + 1)
        : '';
      if (existing) queryParts.unshift(existing);
    } else {
      url = this.url(req.path, req.versioned !== false);
    }
    if (queryParts.length > 0) url += `?${queryParts.join('&')}`;
    const started = this.#debug ? performance.now() : 0;
    const res = await this.transport.request({
      method: req.method,
      url,
      headers,
      body,
      timeoutMs: req.timeoutMs ?? this.#timeoutMs,
      signal: req.signal,
    });
    return this.#read<T>(req, res, started);
  }

  /** Parsed usage headers (frozen, shared while the header text repeats), or undefined when there are none. */
  #usageOf(headers: Record<string, string>): GraphUsage | undefined {
    const app = headers['x-app-usage'];
    const buc = headers['x-business-use-case-usage'];
    if (!app && !buc) return undefined;
    const memo = this.#usageMemo;
    if (memo && memo.app === app && memo.buc === buc) return memo.usage;
    const usage = freezeUsage(parseUsageHeaders(headers));
    this.#usageMemo = { app, buc, usage };
    return usage;
  }

  async #read<T>(req: GraphRequest, res: TransportResponse, started: number): Promise<GraphResponse<T>> {
    const usage = this.#usageOf(res.headers);
    if (usage) this.lastUsage = usage;
    const ok = res.status >= 200 && res.status < 300;
    if (this.#debug) {
      this.#logger.debug('graph response', {
        method: req.method,
        path: req.path,
        status: res.status,
        ms: Math.round((performance.now() - started) * 10) / 10,
        fbtraceId: res.headers['x-fb-trace-id'],
      });
    }
    if (ok && req.responseType === 'bytes') {
      const data = (await res.bytes()) as T;
      return {
        data,
        status: res.status,
        headers: res.headers,
        usage: usage ?? NO_USAGE,
      };
    }
    const text = await res.text();
    if (!ok) {
      throw graphErrorFromResponse(res.status, text, {
        retryAfterSec: retryAfterSeconds(res.headers, this.clock.now()),
        path: req.path,
      });
    }
    let data: T;
    try {
      data = (text === '' ? {} : JSON.parse(text)) as T;
    } catch {
      throw createGraphError({
        httpStatus: res.status,
        kind: 'unknown',
        body: { message: `HTTP ${res.status} with a body that is not JSON` },
        path: req.path,
      });
    }
    // Graph sometimes answers 200 with an error envelope (older endpoints, some proxies).
    if (
      data &&
      typeof data === 'object' &&
      'error' in data &&
      !('data' in data) &&
      typeof (data as { error: unknown }).error === 'object'
    ) {
      throw graphErrorFromResponse(res.status, text, { path: req.path });
    }
    return {
      data,
      status: res.status,
      headers: res.headers,
      usage: usage ?? NO_USAGE,
    };
  }

  async get<T = unknown>(
    path: string,
    query?: Record<string, QueryValue>,
    extra: Partial<GraphRequest> = {},
  ): Promise<T> {
    return (await this.request<T>({ ...extra, method: 'GET', path, query })).data;
  }

  async post<T = unknown>(path: string, json?: unknown, extra: Partial<GraphRequest> = {}): Promise<T> {
    return (await this.request<T>({ ...extra, method: 'POST', path, json })).data;
  }

  async delete<T = unknown>(
    path: string,
    query?: Record<string, QueryValue>,
    extra: Partial<GraphRequest> = {},
  ): Promise<T> {
    return (await this.request<T>({ ...extra, method: 'DELETE', path, query })).data;
  }

  /** Closes the transport if this client created it. */
  async close(): Promise<void> {
    if (this.#ownsTransport) await this.transport.close();
  }
}

export function createGraphClient(options: GraphClientOptions = {}): GraphClient {
  return new GraphClient(options);
}
