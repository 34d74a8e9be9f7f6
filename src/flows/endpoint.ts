import type { KeyObject } from 'node:crypto';
import { type Clock, systemClock } from '../core/clock.js';
import { ConfigError } from '../core/errors.js';
import type { Secret } from '../core/secret.js';
import {
  type RawBody,
  type SecretInput,
  SIGNATURE_HEADER,
  verifySignature,
} from '../webhooks/verify-signature.js';
import type { HeaderBag } from '../webhooks/webhook-handler.js';
import {
  decryptFlowRequest,
  encryptFlowResponse,
  FlowCryptoError,
  type FlowPrivateKeyInput,
  loadFlowPrivateKey,
} from './crypto.js';
import {
  classifyFlowRequest,
  type FlowBackRequest,
  type FlowDataExchangeRequest,
  type FlowErrorNotification,
  type FlowInitRequest,
  type FlowRequest,
  type FlowResponse,
} from './types.js';

/** Meta waits 10 s for an endpoint answer; we answer before that so the client gets our status, not a timeout. */
export const DEFAULT_FLOW_TIMEOUT_MS = 8_000;
/** Flow requests are small (screen data); 1 MiB is generous and bounds what an unsigned caller can make us read. */
export const DEFAULT_FLOW_MAX_BODY_BYTES = 1024 * 1024;

/**
 * Flow endpoint statuses (Meta's endpoint guide): 421 the key did not fit (the client re-fetches the public key),
 * 427 the flow token is no longer valid (the client shows an error and closes the flow), 432 the request signature
 * did not verify.
 */
export type FlowRejection =
  | 'method_not_allowed'
  | 'payload_too_large'
  | 'malformed_request'
  | 'cannot_decrypt'
  | 'invalid_flow_token'
  | 'bad_signature'
  | 'handler_failed'
  | 'handler_timeout'
  | 'not_found';

export const FLOW_REJECTION_STATUS: Readonly<Record<FlowRejection, number>> = {
  method_not_allowed: 405,
  payload_too_large: 413,
  malformed_request: 400,
  cannot_decrypt: 421,
  invalid_flow_token: 427,
  bad_signature: 432,
  handler_failed: 500,
  handler_timeout: 503,
  not_found: 404,
};

export interface FlowHandlerContext {
  /** Aborted when the endpoint's time budget is spent (the answer has then already gone out). */
  signal: AbortSignal;
}

type Answer<T> = T | Promise<T>;

/** One case per action. `init` and `dataExchange` are required; `back` only for screens with `refresh_on_back`. */
export interface FlowHandlers {
  init(request: FlowInitRequest, context: FlowHandlerContext): Answer<FlowResponse>;
  dataExchange(request: FlowDataExchangeRequest, context: FlowHandlerContext): Answer<FlowResponse>;
  back?(request: FlowBackRequest, context: FlowHandlerContext): Answer<FlowResponse>;
  /** The client found the previous answer invalid (logged by default); the endpoint acknowledges it. */
  errorNotification?(request: FlowErrorNotification, context: FlowHandlerContext): Answer<void>;
}

export interface FlowEndpointOptions {
  /** The private key(s): the current one first, then one kept during a rotation's grace period. */
  privateKey: FlowPrivateKeyInput | readonly FlowPrivateKeyInput[];
  passphrase?: string | Secret | undefined;
  /** The app secret Meta signs requests with (`X-Hub-Signature-256`); several during an app secret rotation. */
  appSecret: SecretInput | readonly SecretInput[];
  handler: FlowHandlers;
  /** Refuse a flow token you did not issue or that expired: `false` answers 427. */
  validateFlowToken?: ((flowToken: string, request: FlowRequest) => Answer<boolean>) | undefined;
  /** Time budget for the handler; default 8 s (Meta's limit is 10 s). */
  timeoutMs?: number | undefined;
  /** Measures the time budget; default the system clock (tests pass a ManualClock). */
  clock?: Clock | undefined;
  maxBodyBytes?: number | undefined;
  /** When set, requests for other paths get 404 (or `next()` in middleware). */
  path?: string | undefined;
  /** Handler failures and refusals, for logs and metrics (never given the key or the body). */
  onError?: ((error: { reason: FlowRejection; message: string; cause?: unknown }) => void) | undefined;
}

export interface FlowEndpointRequest {
  method: string;
  url: string;
  headers: HeaderBag;
  body?: RawBody | undefined;
}

export interface FlowEndpointResponse {
  status: number;
  headers: Record<string, string>;
  /** A base64 string (the encrypted answer) for 200; a short reason otherwise. */
  body: string;
}

export interface FlowEndpoint {
  handle(request: FlowEndpointRequest): Promise<FlowEndpointResponse>;
  reject(reason: FlowRejection, message: string): FlowEndpointResponse;
  readonly maxBodyBytes: number;
  readonly path: string | undefined;
}

const HEADERS = { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' } as const;

function headerValue(headers: HeaderBag, name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  const v = (headers as Record<string, string | readonly string[] | undefined>)[name];
  return Array.isArray(v) ? (v.length === 1 ? v[0] : undefined) : (v as string | undefined);
}

/**
 * Runs the handler case for a decrypted request and returns the plain answer (what gets encrypted). Shared by the
 * SDK endpoint and the broker, which forwards the plain request to a tenant instead of calling handlers.
 */
export async function answerFlowRequest(
  body: unknown,
  run: (
    request: FlowRequest,
    kind: 'INIT' | 'data_exchange' | 'BACK' | 'error',
  ) => Promise<FlowResponse | undefined>,
): Promise<{ status: 200; answer: unknown } | { status: number; reason: FlowRejection; message: string }> {
  const classified = classifyFlowRequest(body);
  switch (classified.kind) {
    case 'invalid':
      return { status: 400, reason: 'malformed_request', message: classified.message };
    case 'ping':
      return { status: 200, answer: { data: { status: 'active' } } };
    case 'error':
      await run(classified.request, 'error');
      return { status: 200, answer: { data: { acknowledged: true } } };
    default: {
      const answer = await run(classified.request, classified.kind);
      return { status: 200, answer };
    }
  }
}

/**
 * The framework-neutral Flow endpoint: verifies `X-Hub-Signature-256` (432), decrypts (421 when the key does not
 * fit), answers `ping`, checks the flow token (427), routes INIT / data_exchange / BACK / error notifications to the
 * handler cases, and encrypts the answer, all within `timeoutMs`.
 */
export function createFlowEndpoint(options: FlowEndpointOptions): FlowEndpoint {
  const secrets = (
    Array.isArray(options.appSecret) ? options.appSecret : [options.appSecret]
  ) as SecretInput[];
  if (!secrets.some((s) => (typeof s === 'string' ? s : s.reveal()) !== '')) {
    throw new ConfigError('appSecret', 'the app secret is required: Meta signs every Flow endpoint request');
  }
  const given = (
    Array.isArray(options.privateKey) ? options.privateKey : [options.privateKey]
  ) as FlowPrivateKeyInput[];
  if (given.length === 0) throw new ConfigError('privateKey', 'at least one Flow private key is required');
  const keys: KeyObject[] = given.map((k) => loadFlowPrivateKey(k, options.passphrase));
  const timeoutMs = options.timeoutMs ?? DEFAULT_FLOW_TIMEOUT_MS;
  const clock = options.clock ?? systemClock;
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0 || timeoutMs >= 10_000) {
    throw new ConfigError('timeoutMs', `must be a whole number of ms below Meta's 10000, got ${timeoutMs}`);
  }
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_FLOW_MAX_BODY_BYTES;
  const path = options.path === undefined ? undefined : options.path.replace(/\/+$/, '') || '/';
  const handler = options.handler;
  if (typeof handler?.init !== 'function' || typeof handler.dataExchange !== 'function') {
    throw new ConfigError('handler', 'needs init and dataExchange cases');
  }

  const reject = (reason: FlowRejection, message: string, cause?: unknown): FlowEndpointResponse => {
    options.onError?.({ reason, message, cause });
    const status = FLOW_REJECTION_STATUS[reason];
    return { status, headers: { ...HEADERS }, body: reason };
  };

  const run = async (request: FlowRequest, kind: string, signal: AbortSignal) => {
    const context = { signal };
    if (kind === 'error') {
      await handler.errorNotification?.(request as FlowErrorNotification, context);
      return undefined;
    }
    if (kind === 'BACK') {
      if (!handler.back) throw new Error('BACK received but the handler has no back case');
      return handler.back(request as FlowBackRequest, context);
    }
    if (kind === 'INIT') return handler.init(request as FlowInitRequest, context);
    return handler.dataExchange(request as FlowDataExchangeRequest, context);
  };

  const handle = async (req: FlowEndpointRequest): Promise<FlowEndpointResponse> => {
    if (path !== undefined) {
      const p = req.url.startsWith('/') ? req.url.split('?')[0] : new URL(req.url).pathname;
      if ((p ?? '').replace(/\/+$/, '') !== path.replace(/\/+$/, ''))
        return reject('not_found', 'other path');
    }
    if (req.method.toUpperCase() !== 'POST') {
      return {
        ...reject('method_not_allowed', 'Flow endpoints take POST'),
        headers: { ...HEADERS, allow: 'POST' },
      };
    }
    const raw = req.body ?? '';
    const check = verifySignature(raw, headerValue(req.headers, SIGNATURE_HEADER), secrets);
    if (!check.valid) return reject('bad_signature', `X-Hub-Signature-256 ${check.reason}`);
    let decrypted: ReturnType<typeof decryptFlowRequest>;
    try {
      decrypted = decryptFlowRequest(raw, keys);
    } catch (error) {
      if (error instanceof FlowCryptoError) {
        return reject(error.status === 421 ? 'cannot_decrypt' : 'malformed_request', error.message);
      }
      throw error;
    }
    const body = decrypted.decryptedBody as Record<string, unknown> | null;
    const controller = new AbortController();
    const timer = new AbortController();
    const deadline = clock.sleep(timeoutMs, timer.signal).then(
      () => 'timeout' as const,
      () => 'cancelled' as const,
    );
    const work = (async () => {
      if (options.validateFlowToken && body && typeof body === 'object' && body.action !== 'ping') {
        const token = body.flow_token;
        const ok =
          typeof token === 'string' &&
          (await options.validateFlowToken(token, body as unknown as FlowRequest));
        if (!ok) return { status: 427, reason: 'invalid_flow_token' as const, message: 'flow_token refused' };
      }
      return answerFlowRequest(body, (r, kind) => run(r, kind, controller.signal));
    })();
    try {
      const outcome = await Promise.race([work, deadline]);
      if (outcome === 'timeout' || outcome === 'cancelled') {
        controller.abort();
        work.catch(() => undefined);
        return reject('handler_timeout', `the handler did not answer within ${timeoutMs} ms`);
      }
      if ('reason' in outcome) return reject(outcome.reason, outcome.message);
      if (outcome.answer === undefined || outcome.answer === null || typeof outcome.answer !== 'object') {
        return reject('handler_failed', 'the handler returned no response object');
      }
      return {
        status: 200,
        headers: { ...HEADERS },
        body: encryptFlowResponse(outcome.answer, decrypted.aesKey, decrypted.initialVector),
      };
    } catch (error) {
      return reject('handler_failed', 'the handler threw', error);
    } finally {
      timer.abort();
    }
  };

  return { handle, reject: (reason, message) => reject(reason, message), maxBodyBytes, path };
}
