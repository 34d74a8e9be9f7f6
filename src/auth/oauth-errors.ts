import { WacloudError } from '../core/errors.js';
import type { GraphError } from '../core/graph-error.js';
import { TransportError } from '../transport/transport-error.js';

/**
 * Why an OAuth step failed. Stable strings: `switch (err.reason)` in callers, exit codes in the CLI, events.
 * - `state-missing` / `state-unknown` / `state-replayed` / `state-expired`: the callback's `state` does not belong to a
 *   login we started (forged), was already used (replayed), or is too old.
 * - `access-denied`: the person declined (`error=access_denied`).
 * - `callback-error`: any other `error=` on the redirect, or a callback without a code.
 * - `code-used` / `code-expired` / `code-invalid` / `redirect-mismatch` / `verifier-mismatch`: Graph refused the code.
 * - `token-expired` / `token-invalid` / `wrong-app`: Graph refused a token sent for exchange, refresh or revocation.
 * - `app-credentials`: the app id or app secret is wrong.
 * - `unavailable`: Graph could not be reached or failed (5xx, network): nothing was changed on our side.
 * - `bad-response`: Graph answered 200 with something that is not a token response.
 * - `invalid-request`: our own input check failed before any request (bad redirect URI, empty scopes, ...).
 */
export type OAuthErrorReason =
  | 'state-missing'
  | 'state-unknown'
  | 'state-replayed'
  | 'state-expired'
  | 'access-denied'
  | 'callback-error'
  | 'code-used'
  | 'code-expired'
  | 'code-invalid'
  | 'redirect-mismatch'
  | 'verifier-mismatch'
  | 'token-expired'
  | 'token-invalid'
  | 'wrong-app'
  | 'app-credentials'
  | 'unavailable'
  | 'bad-response'
  | 'invalid-request';

export interface OAuthErrorOptions {
  cause?: unknown;
  /** Graph `code`/`error_subcode` when Graph answered. */
  graphCode?: number | undefined;
  graphSubcode?: number | undefined;
  fbtraceId?: string | undefined;
}

/**
 * Base of every login, exchange and revocation failure. Messages say what went wrong and what to do; they never carry
 * a code, token, state or secret.
 */
export class OAuthError extends WacloudError {
  readonly reason: OAuthErrorReason;
  readonly graphCode: number | undefined;
  readonly graphSubcode: number | undefined;
  readonly fbtraceId: string | undefined;

  constructor(reason: OAuthErrorReason, message: string, options: OAuthErrorOptions = {}) {
    super('OAUTH', message, { cause: options.cause });
    this.name = 'OAuthError';
    this.reason = reason;
    this.graphCode = options.graphCode;
    this.graphSubcode = options.graphSubcode;
    this.fbtraceId = options.fbtraceId;
  }
}

/** The callback's `state` is missing, unknown (forged), already used (replayed) or expired. Nothing was exchanged. */
export class OAuthStateError extends OAuthError {
  override name = 'OAuthStateError';
}

/** The person declined the login dialog. `errorReason` is Meta's `error_reason` (usually `user_denied`). */
export class OAuthDeniedError extends OAuthError {
  override name = 'OAuthDeniedError';
  readonly errorReason: string | undefined;
  readonly errorDescription: string | undefined;
  constructor(message: string, details: { errorReason?: string; errorDescription?: string } = {}) {
    super('access-denied', message);
    this.errorReason = details.errorReason;
    this.errorDescription = details.errorDescription;
  }
}

/** The redirect carried an error other than a denial, or no code at all. */
export class OAuthCallbackError extends OAuthError {
  override name = 'OAuthCallbackError';
}

/** Graph refused the authorization code (used, expired, wrong redirect URI, wrong PKCE verifier, malformed). */
export class AuthorizationCodeError extends OAuthError {
  override name = 'AuthorizationCodeError';
}

/** Graph refused a token sent for exchange, refresh or revocation (expired, invalid, of another app). */
export class TokenExchangeError extends OAuthError {
  override name = 'TokenExchangeError';
}

/** The app id or secret is wrong (Graph code 101 / 1 on the token endpoint). */
export class AppCredentialsError extends OAuthError {
  override name = 'AppCredentialsError';
}

/** Graph was unreachable or failed mid-exchange. Nothing was stored; whether Meta acted is said in the message. */
export class OAuthUnavailableError extends OAuthError {
  override name = 'OAuthUnavailableError';
}

// Subcodes seen on the token endpoint (graph-api-facts.md §1.3, third-party captures).
const SUBCODE_CODE_EXPIRED = 36007;
const SUBCODE_REDIRECT_MISMATCH = 36008;
const SUBCODE_CODE_USED = 36009;

/** What the failing request was, for the message. */
export type OAuthOperation =
  | 'code-exchange'
  | 'token-exchange'
  | 'refresh'
  | 'revoke'
  | 'app-token'
  | 'inspect';

const OPERATION_TEXT: Record<OAuthOperation, string> = {
  'code-exchange': 'the authorization code exchange',
  'token-exchange': 'the long-lived token exchange',
  refresh: 'the system-user token refresh',
  revoke: 'the token revocation',
  'app-token': 'the app token request',
  inspect: 'the token inspection (debug_token)',
};

function graphOptions(err: GraphError): OAuthErrorOptions {
  return { cause: err, graphCode: err.graphCode, graphSubcode: err.graphSubcode, fbtraceId: err.fbtraceId };
}

/**
 * Turns a failure of an OAuth request into the right {@link OAuthError}: Graph error bodies by `code`/`error_subcode`
 * (messages matched only where Graph has no subcode), transport failures into {@link OAuthUnavailableError}.
 * Anything else is returned unchanged.
 */
export function toOAuthError(err: unknown, operation: OAuthOperation): unknown {
  if (err instanceof OAuthError) return err;
  const what = OPERATION_TEXT[operation];
  if (err instanceof TransportError) {
    const reached = err.mayHaveReachedServer;
    return new OAuthUnavailableError(
      'unavailable',
      `Graph could not be reached during ${what} (${err.failure}); nothing was stored.` +
        (operation === 'code-exchange' && reached
          ? ' The request may have reached Meta, so the code may be spent: start the login again.'
          : ' Try again.'),
      { cause: err },
    );
  }
  if (!(err instanceof WacloudError) || err.code !== 'GRAPH') return err;
  const g = err as GraphError;
  const code = g.graphCode;
  const sub = g.graphSubcode;
  const text = (g.message || '').toLowerCase();
  const opts = graphOptions(g);
  if (
    text.includes('another app') ||
    text.includes('issued to app') ||
    text.includes('same app') ||
    text.includes('not to client_id')
  ) {
    return new TokenExchangeError(
      'wrong-app',
      `The token belongs to another app than WA_APP_ID: ${what} must use the app that issued the token.`,
      opts,
    );
  }
  // Before the transient check: Graph answers a wrong secret with code 1, which is otherwise "unknown, retry".
  if (
    code === 101 ||
    text.includes('client secret') ||
    text.includes('client_id') ||
    text.includes('invalid application id')
  ) {
    return new AppCredentialsError(
      'app-credentials',
      'Graph rejected the app credentials: check WA_APP_ID and WA_APP_SECRET (the secret may have been reset).',
      opts,
    );
  }
  if (g.kind === 'transient' || g.kind === 'throttled' || (code === undefined && g.httpStatus >= 500)) {
    return new OAuthUnavailableError(
      'unavailable',
      `Graph failed during ${what} (HTTP ${g.httpStatus}${code !== undefined ? `, code ${code}` : ''}); nothing was stored. Try again later.`,
      opts,
    );
  }
  if (operation === 'code-exchange') {
    if (sub === SUBCODE_CODE_USED || text.includes('has been used')) {
      return new AuthorizationCodeError(
        'code-used',
        'This authorization code was already used: codes are single use. Start the login again.',
        opts,
      );
    }
    if (sub === SUBCODE_CODE_EXPIRED || text.includes('code has expired')) {
      return new AuthorizationCodeError(
        'code-expired',
        'This authorization code has expired (login codes live minutes, Embedded Signup codes 30 seconds). Start the login again and exchange the code at once.',
        opts,
      );
    }
    if (sub === SUBCODE_REDIRECT_MISMATCH || text.includes('redirect_uri')) {
      return new AuthorizationCodeError(
        'redirect-mismatch',
        'The redirect URI does not match the one used in the login dialog: send exactly the same redirect_uri (or none for Embedded Signup / Login for Business codes).',
        opts,
      );
    }
    if (text.includes('code_verifier')) {
      return new AuthorizationCodeError(
        'verifier-mismatch',
        'The PKCE code_verifier is missing or does not match the code_challenge of the login dialog.',
        opts,
      );
    }
  }
  if (code === 190) {
    if (g.kind === 'expired') {
      return new TokenExchangeError(
        'token-expired',
        `The token sent for ${what} has expired: an expired token cannot be exchanged or refreshed. Log in again.`,
        opts,
      );
    }
    return new TokenExchangeError(
      'token-invalid',
      `Graph rejected the token sent for ${what} (code 190${sub ? `/${sub}` : ''}): it is invalid, revoked or malformed.`,
      opts,
    );
  }
  if (operation === 'code-exchange' && code === 100) {
    return new AuthorizationCodeError(
      'code-invalid',
      'Graph rejected the authorization code (malformed, or issued to another app).',
      opts,
    );
  }
  return new OAuthError(
    operation === 'code-exchange' ? 'code-invalid' : 'token-invalid',
    `Graph refused ${what}: ${g.message}`,
    opts,
  );
}
