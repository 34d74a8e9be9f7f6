/**
 * Graph error bodies as Meta sends them (graph-api-facts.md §8), and the HTTP status each gets.
 */

/** Which family of endpoint answered: statuses differ (facts §8.3). */
export type ErrorSurface = 'whatsapp' | 'oauth' | 'graph';

/** `WWW-Authenticate: OAuth "Facebook Platform" "<kind>" "<message>"` (facts §8.4). */
export type WwwAuthenticateKind = 'invalid_token' | 'invalid_request' | 'invalid_code' | 'not_found';

export interface GraphErrorSpec {
  code: number;
  message: string;
  subcode?: number | undefined;
  type?: string | undefined;
  userTitle?: string | undefined;
  userMessage?: string | undefined;
  /** WhatsApp errors carry `error_data.details`. */
  details?: string | undefined;
  isTransient?: boolean | undefined;
  wwwAuthenticate?: WwwAuthenticateKind | undefined;
  /** Forces the HTTP status (fault injection, body limits); otherwise the status mapping decides. */
  status?: number | undefined;
}

/** Thrown inside handlers; the app's error handler turns it into Meta's error response. */
export class EmulatorGraphError extends Error {
  constructor(readonly spec: GraphErrorSpec) {
    super(spec.message);
    this.name = 'EmulatorGraphError';
  }
}

export function graphError(
  code: number,
  message: string,
  extra: Omit<GraphErrorSpec, 'code' | 'message'> = {},
) {
  return new EmulatorGraphError({ code, message, ...extra });
}

/**
 * How error codes map to HTTP statuses. `meta` (default): the WhatsApp error table on WhatsApp endpoints, 400 on
 * `/oauth/*`, `/debug_token` and other classic Graph endpoints (the status Graph has been observed to use there).
 * `always-400`: classic Graph everywhere. A function may decide per error (return undefined to fall back to `meta`).
 * Meta's real per-endpoint statuses are UNVERIFIED (facts §8.3), hence configurable.
 */
export type ErrorStatusMapping =
  | 'meta'
  | 'always-400'
  | ((error: { code: number; subcode: number | undefined; surface: ErrorSurface }) => number | undefined);

/** The WhatsApp Cloud API error table (facts §8.3), plus 104 → 401 and 803 → 404 from the OpenAPI examples. */
const WHATSAPP_STATUS: Record<number, number> = {
  0: 401,
  1: 400,
  2: 503,
  3: 500,
  4: 429,
  10: 403,
  17: 429,
  100: 400,
  104: 401,
  190: 401,
  368: 403,
  803: 404,
  80007: 429,
  130429: 429,
  131000: 500,
  131005: 403,
  131031: 403,
  131048: 429,
  131056: 429,
  // Template errors are client errors: a missing or unapproved template (132001) answers 400 like the rest of the
  // 132xxx family (peer SDKs' captured responses and Meta's error-codes table list it as a 400).
  132001: 400,
};

export function httpStatusFor(
  mapping: ErrorStatusMapping,
  code: number,
  subcode: number | undefined,
  surface: ErrorSurface,
): number {
  if (typeof mapping === 'function') {
    const chosen = mapping({ code, subcode, surface });
    if (chosen !== undefined) return chosen;
  } else if (mapping === 'always-400') {
    return 400;
  }
  if (surface !== 'whatsapp') return 400;
  if (code >= 200 && code <= 299) return 403;
  return WHATSAPP_STATUS[code] ?? 400;
}

/** The `error` object, keys in Meta's order. */
export function errorBody(spec: GraphErrorSpec, fbtraceId: string): { error: Record<string, unknown> } {
  const error: Record<string, unknown> = { message: spec.message, type: spec.type ?? 'OAuthException' };
  error.code = spec.code;
  if (spec.subcode !== undefined) error.error_subcode = spec.subcode;
  if (spec.details !== undefined) error.error_data = { messaging_product: 'whatsapp', details: spec.details };
  if (spec.isTransient !== undefined) error.is_transient = spec.isTransient;
  if (spec.userTitle !== undefined) error.error_user_title = spec.userTitle;
  if (spec.userMessage !== undefined) error.error_user_msg = spec.userMessage;
  error.fbtrace_id = fbtraceId;
  return { error };
}

/** `OAuth "Facebook Platform" "invalid_token" "..."` with quotes in the message made safe. */
export function wwwAuthenticate(kind: WwwAuthenticateKind, message: string): string {
  return `OAuth "Facebook Platform" "${kind}" "${message.replace(/["\\\r\n]/g, ' ')}"`;
}

// Messages Meta uses, in one place (sources in graph-api-facts.md).
export const MSG = {
  missingToken: 'An access token is required to request this resource.',
  cannotParse: 'Invalid OAuth access token - Cannot parse access token',
  malformed: 'Malformed access token',
  passwordChanged:
    'Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.',
  loggedOut:
    'Error validating access token: This may be because the user logged out or may be due to a system error.',
  dataAccessExpired:
    "The access token is invalid since the user hasn't engaged the app in longer than 90 days.",
  appNotAuthorized: (appId: string) =>
    `Error validating access token: The user has not authorized application ${appId}.`,
  proofRequired: 'API calls from the server require an appsecret_proof argument',
  proofInvalid: 'Invalid appsecret_proof provided in the API argument',
  codeUsed: 'This authorization code has been used.',
  codeExpired: 'This authorization code has expired.',
  redirectMismatch:
    'Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request',
} as const;

const PACIFIC = new Intl.DateTimeFormat('en-US', {
  timeZone: 'America/Los_Angeles',
  weekday: 'long',
  day: '2-digit',
  month: 'short',
  year: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hourCycle: 'h23',
  timeZoneName: 'short',
});

/** Meta's date style in 463 messages: "Friday, 26-Apr-24 06:00:00 PDT" (Pacific time). */
export function metaDate(ms: number): string {
  const parts = Object.fromEntries(PACIFIC.formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
  return `${parts.weekday}, ${parts.day}-${parts.month}-${parts.year} ${parts.hour}:${parts.minute}:${parts.second} ${parts.timeZoneName}`;
}

/** The 190/463 message, with both dates (facts §8.2; pywa fixture). */
export function expiredMessage(expiresAtMs: number, nowMs: number): string {
  return `Error validating access token: Session has expired on ${metaDate(expiresAtMs)}. The current time is ${metaDate(nowMs)}.`;
}
