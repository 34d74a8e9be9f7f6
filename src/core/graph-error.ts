import { WacloudError } from './errors.js';

/** How a Graph error should be handled. Chosen from Graph `code`/`error_subcode`; the HTTP status is unreliable. */
export type GraphErrorKind =
  | 'expired'
  | 'invalid-session'
  | 'permission'
  | 'throttled'
  | 'transient'
  | 'invalid-parameter'
  | 'policy'
  | 'not-found'
  | 'unknown';

/** The `error` object of a Graph error body (wire shape, snake_case kept). */
export interface GraphErrorBody {
  message?: string;
  type?: string;
  code?: number;
  error_subcode?: number;
  error_user_title?: string;
  error_user_msg?: string;
  fbtrace_id?: string;
  is_transient?: boolean;
  error_data?: { messaging_product?: string; details?: string; [key: string]: unknown };
  title?: string;
  href?: string;
}

export interface GraphErrorInit {
  kind: GraphErrorKind;
  httpStatus: number;
  body: GraphErrorBody;
  /** Seconds to wait before retrying, from `Retry-After` or `estimated_time_to_regain_access`. */
  retryAfterSec?: number | undefined;
  path?: string | undefined;
}

/** An error answered by Graph. Subclasses exist per kind so `instanceof` works as well as `switch (err.kind)`. */
export class GraphError extends WacloudError {
  readonly kind: GraphErrorKind;
  readonly httpStatus: number;
  readonly graphCode: number | undefined;
  readonly graphSubcode: number | undefined;
  readonly graphType: string | undefined;
  readonly fbtraceId: string | undefined;
  readonly isTransient: boolean;
  readonly details: string | undefined;
  readonly userTitle: string | undefined;
  readonly userMessage: string | undefined;
  readonly retryAfterSec: number | undefined;
  readonly path: string | undefined;

  constructor(init: GraphErrorInit) {
    const b = init.body;
    const codePart =
      b.code === undefined ? '' : ` (code ${b.code}${b.error_subcode ? `/${b.error_subcode}` : ''})`;
    const where = init.path ? ` on ${init.path}` : '';
    super('GRAPH', `Graph API error${codePart}${where}: ${b.message ?? 'no message'}`);
    this.name = 'GraphError';
    this.kind = init.kind;
    this.httpStatus = init.httpStatus;
    this.graphCode = b.code;
    this.graphSubcode = b.error_subcode;
    this.graphType = b.type;
    this.fbtraceId = b.fbtrace_id;
    this.isTransient = b.is_transient === true;
    this.details = b.error_data?.details;
    this.userTitle = b.error_user_title;
    this.userMessage = b.error_user_msg;
    this.retryAfterSec = init.retryAfterSec;
    this.path = init.path;
  }

  /** True when a retry after a pause can succeed (throttling, Meta-side transient failures). */
  get retryable(): boolean {
    return this.kind === 'throttled' || this.kind === 'transient';
  }

  /** True when the token itself is the problem (190 and friends): the lifecycle manager should inspect it. */
  get isTokenError(): boolean {
    return this.kind === 'expired' || this.kind === 'invalid-session';
  }
}

export class GraphTokenExpiredError extends GraphError {
  override name = 'GraphTokenExpiredError';
}
export class GraphInvalidSessionError extends GraphError {
  override name = 'GraphInvalidSessionError';
}
export class GraphPermissionError extends GraphError {
  override name = 'GraphPermissionError';
}
export class GraphThrottledError extends GraphError {
  override name = 'GraphThrottledError';
}
export class GraphTransientError extends GraphError {
  override name = 'GraphTransientError';
}
export class GraphInvalidParameterError extends GraphError {
  override name = 'GraphInvalidParameterError';
}
export class GraphPolicyError extends GraphError {
  override name = 'GraphPolicyError';
}
export class GraphNotFoundError extends GraphError {
  override name = 'GraphNotFoundError';
}
export class GraphUnknownError extends GraphError {
  override name = 'GraphUnknownError';
}

const CLASS_BY_KIND: Record<GraphErrorKind, new (init: GraphErrorInit) => GraphError> = {
  expired: GraphTokenExpiredError,
  'invalid-session': GraphInvalidSessionError,
  permission: GraphPermissionError,
  throttled: GraphThrottledError,
  transient: GraphTransientError,
  'invalid-parameter': GraphInvalidParameterError,
  policy: GraphPolicyError,
  'not-found': GraphNotFoundError,
  unknown: GraphUnknownError,
};

// Codes from graph-api-facts.md §8.2 (Graph) and §8.3 (WhatsApp Cloud API).
const THROTTLE_CODES = new Set([4, 17, 32, 341, 613, 80007, 130429, 131048, 131056]);
const TRANSIENT_CODES = new Set([1, 2, 131000]);
const PERMISSION_CODES = new Set([3, 10, 131005]);
const POLICY_CODES = new Set([368, 131026, 131031, 131047]);
const SESSION_CODES = new Set([0, 102, 104]);
const NOT_FOUND_CODES = new Set([803, 132001]);
/** 190 subcode that means "expired"; every other 190 is an invalid session (458, 459, 460, 464, 467, 492, 493, none). */
const EXPIRED_SUBCODE = 463;
/** Code 100 with subcode 33: "Object with ID ... does not exist". */
const MISSING_OBJECT_SUBCODE = 33;

/** Classifies a Graph error body by `code`/`error_subcode` (never by HTTP status, which Meta applies unevenly). */
export function classifyGraphError(body: GraphErrorBody, httpStatus = 0): GraphErrorKind {
  const code = body.code;
  if (code === 190) return body.error_subcode === EXPIRED_SUBCODE ? 'expired' : 'invalid-session';
  if (code === undefined) {
    // No Graph code at all (proxy page, empty body): fall back on the status as the only hint there is.
    if (httpStatus === 429) return 'throttled';
    if (httpStatus >= 500) return 'transient';
    return 'unknown';
  }
  if (SESSION_CODES.has(code)) return 'invalid-session';
  if (THROTTLE_CODES.has(code)) return 'throttled';
  if (TRANSIENT_CODES.has(code)) return 'transient';
  if (PERMISSION_CODES.has(code) || (code >= 200 && code <= 299)) return 'permission';
  if (POLICY_CODES.has(code)) return 'policy';
  if (NOT_FOUND_CODES.has(code)) return 'not-found';
  if (code === 100 && body.error_subcode === MISSING_OBJECT_SUBCODE) return 'not-found';
  // 131xxx-135xxx: WhatsApp message and template errors; 136025: wrong verification code; 2200: callback
  // verification failed (subscribed_apps override). All mean "fix the request".
  if (code === 100 || code === 2200 || (code >= 131000 && code < 137000)) return 'invalid-parameter';
  if (body.is_transient === true) return 'transient';
  return 'unknown';
}

export function createGraphError(init: Omit<GraphErrorInit, 'kind'> & { kind?: GraphErrorKind }): GraphError {
  const kind = init.kind ?? classifyGraphError(init.body, init.httpStatus);
  return new CLASS_BY_KIND[kind]({ ...init, kind });
}

/**
 * Turns any error response into a GraphError: JSON Graph bodies, empty bodies, HTML pages from a proxy, garbage.
 * `retryAfterSec` comes from the caller (it reads headers).
 */
export function graphErrorFromResponse(
  httpStatus: number,
  bodyText: string,
  extra: { retryAfterSec?: number | undefined; path?: string | undefined } = {},
): GraphError {
  let body: GraphErrorBody | undefined;
  let isJson = false;
  const trimmed = bodyText.trim();
  if (trimmed.startsWith('{')) {
    try {
      const parsed = JSON.parse(trimmed) as { error?: unknown };
      isJson = true;
      if (parsed && typeof parsed.error === 'object' && parsed.error !== null)
        body = parsed.error as GraphErrorBody;
      else if (parsed && typeof parsed.error === 'string') body = { message: parsed.error };
    } catch {
      body = undefined;
    }
  }
  if (!body) {
    const kindOfBody =
      trimmed === ''
        ? 'an empty body'
        : trimmed.startsWith('<')
          ? 'an HTML page'
          : isJson
            ? 'a JSON body without an error object'
            : 'a non-JSON body';
    body = { message: `HTTP ${httpStatus} with ${kindOfBody} instead of a Graph error` };
  }
  return createGraphError({ httpStatus, body, retryAfterSec: extra.retryAfterSec, path: extra.path });
}
