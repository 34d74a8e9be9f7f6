import { type Clock, systemClock } from '../core/clock.js';
import { ConfigError } from '../core/errors.js';
import { createJsonLogger, type Logger } from '../core/logger.js';
import { createDeduplicator, createMemoryDedupeStore, type Deduplicator } from './dedupe.js';
import { WebhookError, type WebhookRejection } from './errors.js';
import type { WebhookEvent } from './events.js';
import { verifyHandshake } from './handshake.js';
import { parseJsonBody } from './parse-json-body.js';
import { parseWebhook } from './parse-webhook.js';
import type { EventHandler, HandlerFailure, WebhookRouter } from './router.js';
import { type RawBody, type SecretInput, SIGNATURE_HEADER, verifySignature } from './verify-signature.js';

/** Meta's documented maximum payload is 3 MB; we cap at 3 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 3 * 1024 * 1024;

/** Header bags as adapters find them: fetch `Headers`, or node's lowercase-keyed record. */
export type HeaderBag = Headers | Readonly<Record<string, string | readonly string[] | undefined>>;

/** A request as the core sees it; adapters translate to this. */
export interface WebhookRequest {
  method: string;
  /** Path with query (`/webhook?hub.mode=…`), or a full URL. */
  url: string;
  headers: HeaderBag;
  /** The raw body bytes exactly as received; a string is taken as their UTF-8 text. */
  body?: RawBody | undefined;
}

/** A delivery whose signature checked out: what `beforeAck` is given. */
export interface VerifiedDelivery {
  rawBody: Uint8Array;
  /** The parsed JSON; `undefined` with `parse: 'after-ack'` (not parsed yet). */
  payload: unknown;
  /** The typed events; empty with `parse: 'after-ack'` (not parsed yet). */
  events: WebhookEvent[];
  signature: { secretIndex: number; method: 'raw' | 'escaped-unicode' };
  receivedAtMs: number;
}

/** How processing of one delivery went; `done` resolves with it and never rejects. */
export interface DeliveryReport {
  events: number;
  duplicates: number;
  handled: number;
  failures: HandlerFailure[];
}

export interface WebhookResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** All events parsed from the delivery (empty for handshakes and rejections). */
  events: WebhookEvent[];
  /** The rejection, for statuses other than 200. */
  error: WebhookError | undefined;
  /**
   * Resolves when this delivery's handlers have finished (at once for handshakes and rejections). Never rejects;
   * handler errors are in the report and were passed to `onError`. Serverless adapters hand it to `waitUntil`.
   */
  done: Promise<DeliveryReport>;
}

export interface WebhookHandlerOptions {
  /** The app secret that signs deliveries (WA_APP_SECRET). */
  appSecret?: SecretInput | undefined;
  /** Current secret first, then previous ones still accepted during a rotation. Combined with `appSecret`. */
  appSecrets?: readonly SecretInput[] | undefined;
  /** The verify token of the GET handshake (WEBHOOK_VERIFICATION_TOKEN). Without it every handshake gets 403. */
  verifyToken?: SecretInput | undefined;
  /** When set, requests for other paths get 404 (or `next()` in middleware adapters). */
  path?: string | undefined;
  router?: WebhookRouter | undefined;
  /** Called for every new (non-duplicate) event, after the router's handlers. */
  onEvent?: EventHandler | undefined;
  /** De-duplication of redelivered messages and statuses: a Deduplicator, `true` (in memory, the default) or `false`. */
  dedupe?: Deduplicator | boolean | undefined;
  /**
   * Awaited after the signature is verified and the body parsed, before the 200 is sent: commit the delivery to
   * durable storage here. If it throws, the answer is 500 so that Meta delivers again.
   */
  beforeAck?: ((delivery: VerifiedDelivery) => void | Promise<void>) | undefined;
  /**
   * `after-ack` (default): answer 200 at once and run handlers afterwards. `before-ack`: run handlers first and
   * answer 500 if any failed, so Meta retries (handlers must then be quick: Meta expects a fast answer).
   */
  handlers?: 'after-ack' | 'before-ack' | undefined;
  /**
   * `before-ack` (default): the body must be JSON (else 400) and is parsed into events before `beforeAck` and the
   * 200. `after-ack`: answer once the signature and `beforeAck` pass, and parse afterwards, only when there are
   * handlers to run; for a `beforeAck` that stores the raw bytes to process later (the broker's inbox), which then
   * does not pay for a parse it does not use. A signed body that is not JSON is then acknowledged and reported to
   * `onError` (`stage: 'parse'`) instead of refused: only Meta holds the app secret, and Meta sends JSON. Cannot be
   * combined with `handlers: 'before-ack'`.
   */
  parse?: 'before-ack' | 'after-ack' | undefined;
  /** Body cap in bytes; default 3 MiB. Adapters enforce it while streaming. */
  maxBodyBytes?: number | undefined;
  /** Accept bodies that arrived with their `\uXXXX` escapes decoded (Meta's escaped-unicode rule). Default true. */
  escapedUnicodeFallback?: boolean | undefined;
  /** Handler and `beforeAck` errors. Default: logged at error level. */
  onError?:
    | ((failure: HandlerFailure | { stage: 'beforeAck' | 'parse'; error: unknown }) => void)
    | undefined;
  /** Every refused request (bad signature, bad JSON, …), e.g. for metrics. */
  onRejected?: ((error: WebhookError, request: { method: string; path: string }) => void) | undefined;
  logger?: Logger | undefined;
  clock?: Clock | undefined;
}

/** The framework-neutral webhook endpoint. Adapters read the request, call `handle`, write the response. */
export interface WebhookHandler {
  handle(request: WebhookRequest): Promise<WebhookResponse>;
  /** A response for a request an adapter refused on its own (oversize body, unreadable raw body). */
  reject(
    reason: WebhookRejection,
    message: string,
    request?: { method: string; path: string },
  ): WebhookResponse;
  readonly maxBodyBytes: number;
  readonly path: string | undefined;
}

const TEXT_HEADERS = { 'content-type': 'text/plain; charset=utf-8' } as const;
const COMMON_HEADERS = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' } as const;
const PLAIN_HEADERS: Readonly<Record<string, string>> = { ...TEXT_HEADERS, ...COMMON_HEADERS };

const EMPTY_REPORT: DeliveryReport = Object.freeze({ events: 0, duplicates: 0, handled: 0, failures: [] });

const defer: (fn: () => void) => void =
  typeof setImmediate === 'function' ? (fn) => void setImmediate(fn) : (fn) => void setTimeout(fn, 0);

/**
 * Creates the webhook endpoint core: GET handshake, POST verification (method, size, content type, signature over
 * the raw bytes, JSON) and parsing into typed events, then `beforeAck`, the answer, and handlers (with
 * de-duplication) after the answer.
 *
 * Statuses: 200 accepted; 400 bad JSON; 401 missing or wrong signature; 403 failed handshake; 404 other path;
 * 405 other method; 413 body over the cap; 415 not `application/json`; 500 raw body unavailable or `beforeAck` failed.
 *
 * @example
 * const webhook = createWebhookHandler({ appSecret: process.env.WA_APP_SECRET, verifyToken: '…', router });
 * const res = await webhook.handle({ method: 'POST', url: '/webhook', headers, body: rawBytes });
 */
export function createWebhookHandler(options: WebhookHandlerOptions): WebhookHandler {
  const secrets = [
    ...(options.appSecret !== undefined ? [options.appSecret] : []),
    ...(options.appSecrets ?? []),
  ];
  if (!secrets.some((s) => (typeof s === 'string' ? s : s.reveal()) !== '')) {
    throw new ConfigError(
      'WA_APP_SECRET',
      'an app secret is required to verify webhook signatures (appSecret or appSecrets)',
    );
  }
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes <= 0) {
    throw new ConfigError('maxBodyBytes', `must be a positive whole number of bytes, got ${maxBodyBytes}`);
  }
  const path = options.path === undefined ? undefined : normalisePath(options.path);
  const logger = options.logger ?? createJsonLogger({ level: 'warn' });
  const clock = options.clock ?? systemClock;
  const dedupe =
    options.dedupe === false
      ? undefined
      : options.dedupe === true || options.dedupe === undefined
        ? createDeduplicator({ store: createMemoryDedupeStore({ clock }) })
        : options.dedupe;
  const beforeAckMode = options.handlers === 'before-ack';
  const parseAfterAck = options.parse === 'after-ack';
  if (parseAfterAck && beforeAckMode) {
    throw new ConfigError('parse', "parse: 'after-ack' cannot be combined with handlers: 'before-ack'");
  }
  if (options.parse !== undefined && options.parse !== 'before-ack' && !parseAfterAck) {
    throw new ConfigError('parse', `must be 'before-ack' or 'after-ack', got ${String(options.parse)}`);
  }
  // Nothing runs after the answer without these: an after-ack parse would be thrown away.
  const hasHandlers = options.router !== undefined || options.onEvent !== undefined;
  const onError =
    options.onError ??
    ((failure) => {
      const where = 'stage' in failure ? failure.stage : `handler for "${failure.selector}"`;
      const fields: Record<string, unknown> = { error: failure.error };
      if (!('stage' in failure)) {
        fields.eventType = failure.event.type;
        fields.phoneNumberId = failure.event.phoneNumberId;
      }
      logger.error(`webhook ${where} failed`, fields);
    });

  const respond = (
    status: number,
    body: string,
    error?: WebhookError,
    extra?: Record<string, string>,
  ): WebhookResponse => ({
    status,
    // A fresh object per response: some servers (e.g. @hono/node-server) add headers to what they are given.
    headers: extra ? { ...TEXT_HEADERS, ...COMMON_HEADERS, ...extra } : { ...PLAIN_HEADERS },
    body,
    events: [],
    error,
    done: Promise.resolve(EMPTY_REPORT),
  });

  const accepted = (events: WebhookEvent[], done: Promise<DeliveryReport>): WebhookResponse => ({
    status: 200,
    headers: { ...PLAIN_HEADERS },
    body: 'ok',
    events,
    error: undefined,
    done,
  });

  const reject = (
    reason: WebhookRejection,
    message: string,
    request?: { method: string; path: string },
  ): WebhookResponse => {
    const error = new WebhookError(reason, message);
    if (request) {
      try {
        options.onRejected?.(error, request);
      } catch (err) {
        logger.warn('webhook onRejected hook failed', { error: err });
      }
    }
    const extra: Record<string, string> = { 'content-type': 'application/json' };
    if (reason === 'method_not_allowed') extra.allow = 'GET, POST';
    if (reason === 'payload_too_large') extra.connection = 'close';
    return respond(error.status, JSON.stringify({ error: { reason, message: error.message } }), error, extra);
  };

  const runHandlers = async (events: WebhookEvent[]): Promise<DeliveryReport> => {
    const report: DeliveryReport = { events: events.length, duplicates: 0, handled: 0, failures: [] };
    let fresh = events;
    if (dedupe) {
      fresh = [];
      for (const event of events) {
        try {
          if (await dedupe.claim(event)) fresh.push(event);
          else report.duplicates++;
        } catch (error) {
          // A store outage must not lose events: process them (at-least-once) and report the outage.
          report.failures.push({ event, selector: '*', error });
          fresh.push(event);
        }
      }
    }
    if (options.router) {
      const r = await options.router.dispatch(fresh);
      report.handled += r.handled;
      report.failures.push(...r.failures);
    }
    if (options.onEvent) {
      for (const event of fresh) {
        try {
          await options.onEvent(event, { tenant: undefined });
          report.handled++;
        } catch (error) {
          report.failures.push({ event, selector: '*', error });
        }
      }
    }
    if (dedupe && report.failures.length > 0) {
      // Let a redelivery of a failed event be processed again.
      for (const event of new Set(report.failures.map((f) => f.event))) {
        await dedupe.release(event).catch(() => undefined);
      }
    }
    for (const failure of report.failures) {
      try {
        onError(failure);
      } catch {
        // An error reporter that throws must not take the process down.
      }
    }
    return report;
  };

  const handle = async (request: WebhookRequest): Promise<WebhookResponse> => {
    const method = (request.method ?? '').toUpperCase();
    // Deliveries only need the path; the full URL parser runs for the handshake's query (and absolute URLs).
    const rawUrl = request.url ?? '';
    let url: URL | undefined;
    let pathname: string;
    if (method === 'GET' || !rawUrl.startsWith('/')) {
      try {
        url = new URL(rawUrl, 'http://localhost');
      } catch {
        return reject('not_found', 'the request URL is not valid', { method, path: '' });
      }
      pathname = url.pathname;
    } else {
      const q = rawUrl.search(/[?#]/);
      pathname = q === -1 ? rawUrl : rawUrl.slice(0, q);
    }
    const where = { method, path: pathname };
    if (path !== undefined && normalisePath(pathname) !== path) {
      return reject('not_found', 'no webhook endpoint at this path', where);
    }

    if (method === 'GET' && url) {
      const result = verifyHandshake(url.searchParams, options.verifyToken);
      if (result.ok) return respond(200, result.challenge);
      return reject(
        'handshake_failed',
        result.reason === 'no_verify_token'
          ? 'no verify token is configured (WEBHOOK_VERIFICATION_TOKEN)'
          : 'the verification request was refused (hub.mode must be subscribe and hub.verify_token must match)',
        where,
      );
    }
    if (method !== 'POST')
      return reject('method_not_allowed', 'use POST for deliveries, GET for the handshake', where);

    const raw = request.body ?? new Uint8Array(0);
    const bytes = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw;
    if (bytes.byteLength > maxBodyBytes) {
      return reject('payload_too_large', `the body is larger than ${maxBodyBytes} bytes`, where);
    }
    const contentType = header(request.headers, 'content-type');
    if (!isJsonContentType(contentType)) {
      return reject('unsupported_media_type', 'deliveries must be sent as application/json', where);
    }
    const signatureHeader = header(request.headers, SIGNATURE_HEADER);
    const check = verifySignature(bytes, signatureHeader, secrets, {
      escapedUnicodeFallback: options.escapedUnicodeFallback !== false,
    });
    if (!check.valid) {
      return check.reason === 'missing'
        ? reject('missing_signature', 'the X-Hub-Signature-256 header is missing', where)
        : reject(
            'bad_signature',
            'the X-Hub-Signature-256 header does not match the body (wrong app secret, or the body was changed or re-serialised before verification)',
            where,
          );
    }
    let payload: unknown;
    let events: WebhookEvent[] = [];
    if (!parseAfterAck) {
      try {
        payload = parseJsonBody(bytes);
      } catch {
        return reject('bad_json', 'the request body is not valid JSON', where);
      }
      events = parseWebhook(payload);
    }
    const receivedAtMs = clock.now();

    if (options.beforeAck) {
      try {
        await options.beforeAck({
          rawBody: bytes,
          payload,
          events,
          signature: { secretIndex: check.secretIndex, method: check.method },
          receivedAtMs,
        });
      } catch (error) {
        try {
          onError({ stage: 'beforeAck', error });
        } catch {
          // see runHandlers
        }
        return reject('not_acknowledged', 'the delivery could not be stored; it will be retried', where);
      }
    }

    if (beforeAckMode) {
      const report = await runHandlers(events);
      if (report.failures.length > 0) {
        const res = reject('not_acknowledged', 'a handler failed; the delivery will be retried', where);
        return { ...res, events, done: Promise.resolve(report) };
      }
      return accepted(events, Promise.resolve(report));
    }
    if (parseAfterAck && !hasHandlers) return accepted(events, Promise.resolve(EMPTY_REPORT));
    const done = new Promise<DeliveryReport>((resolve) => {
      // Handlers start after the adapter has written the 200.
      defer(() => {
        let parsed = events;
        if (parseAfterAck) {
          try {
            parsed = parseWebhook(parseJsonBody(bytes));
          } catch (error) {
            try {
              onError({ stage: 'parse', error });
            } catch {
              // see runHandlers
            }
            resolve(EMPTY_REPORT);
            return;
          }
        }
        runHandlers(parsed).then(resolve, (error: unknown) => {
          logger.error('webhook handlers crashed', { error });
          resolve({ events: parsed.length, duplicates: 0, handled: 0, failures: [] });
        });
      });
    });
    return accepted(events, done);
  };

  return {
    async handle(request) {
      try {
        return await handle(request);
      } catch (error) {
        // Unreachable by design; a bug here must still produce an answer, not a crash.
        logger.error('webhook handler failed unexpectedly', { error });
        return reject('not_acknowledged', 'internal error; the delivery will be retried');
      }
    },
    reject,
    maxBodyBytes,
    path,
  };
}

/** Reads one header from either kind of header bag; repeated headers come back as an array. */
export function header(headers: HeaderBag, name: string): string | readonly string[] | undefined {
  if (typeof (headers as Headers).get === 'function' && typeof (headers as Headers).has === 'function') {
    const h = headers as Headers;
    return h.has(name) ? (h.get(name) ?? undefined) : undefined;
  }
  const record = headers as Readonly<Record<string, string | readonly string[] | undefined>>;
  const direct = record[name];
  if (direct !== undefined) return direct;
  const lower = name.toLowerCase();
  for (const key of Object.keys(record)) if (key.toLowerCase() === lower) return record[key];
  return undefined;
}

function isJsonContentType(value: string | readonly string[] | undefined): boolean {
  if (typeof value !== 'string') return false;
  const semi = value.indexOf(';');
  const media = (semi === -1 ? value : value.slice(0, semi)).trim().toLowerCase();
  return media === 'application/json';
}

function normalisePath(p: string): string {
  const trimmed = p.length > 1 && p.endsWith('/') ? p.replace(/\/+$/, '') : p;
  return trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
}
