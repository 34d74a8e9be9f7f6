import type { Secret } from '../../core/secret.js';
import { TransportError } from '../../transport/transport-error.js';
import type { Transport, TransportRequest } from '../../transport/types.js';
import { redactText, SecretSourceError } from './secret-source-error.js';

/** What a JSON-over-HTTP secret backend answered. */
export interface JsonResponse {
  status: number;
  /** The parsed body, or undefined when it was empty or not JSON. */
  json: unknown;
}

export interface JsonCall {
  transport: Transport;
  source: string;
  key: string;
  timeoutMs: number;
  /** Values that must not appear in an error (the credential, the value being written). */
  redact: ReadonlyArray<Secret | string | undefined>;
}

/** A body above this is no secret: refuse it rather than hand it on. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

/**
 * One bounded HTTP request with a JSON body. Failures below HTTP become `unavailable` errors naming the host; the
 * caller maps statuses.
 */
export async function requestJson(
  call: JsonCall,
  request: Omit<TransportRequest, 'timeoutMs'>,
): Promise<JsonResponse> {
  let host = 'the server';
  try {
    host = new URL(request.url).host;
  } catch {
    // keep the generic name
  }
  try {
    const res = await call.transport.request({ ...request, timeoutMs: call.timeoutMs });
    const bytes = await res.bytes();
    if (bytes.byteLength > MAX_BODY_BYTES) {
      throw new SecretSourceError(
        'bad-response',
        call.source,
        `${host} sent a ${bytes.byteLength}-byte body`,
        {
          key: call.key,
          httpStatus: res.status,
        },
      );
    }
    const text = new TextDecoder().decode(bytes);
    let json: unknown;
    if (text.trim() !== '') {
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
    }
    return { status: res.status, json };
  } catch (err) {
    if (err instanceof SecretSourceError) throw err;
    if (err instanceof TransportError) {
      const timeout = err.failure === 'timeout' ? ` (limit ${call.timeoutMs} ms)` : '';
      throw new SecretSourceError(
        'unavailable',
        call.source,
        `cannot reach ${host}: ${redactText(err.message, call.redact)}${timeout}`,
        { key: call.key, cause: err },
      );
    }
    throw new SecretSourceError('unavailable', call.source, `request to ${host} failed`, {
      key: call.key,
      cause: err instanceof Error ? new Error(redactText(err.message, call.redact)) : undefined,
    });
  }
}

/** Narrows unknown JSON to a plain object. */
export function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
