import type { Clock } from '../core/clock.js';
import { ConfigError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { Secret } from '../core/secret.js';
import { appSecretProof } from '../graph/appsecret-proof.js';
import { GraphClient } from '../graph/graph-client.js';
import type { Transport } from '../transport/types.js';
import { OAuthError, type OAuthOperation, toOAuthError } from './oauth-errors.js';
import { parseDebugToken, type TokenInspection } from './token-inspection.js';

export interface AuthClientOptions {
  appId: string;
  appSecret: string | Secret;
  /** A Graph client to send through (shares its pool). Otherwise one is made from the options below. */
  graph?: GraphClient | undefined;
  graphUrl?: string | undefined;
  apiVersion?: string | undefined;
  transport?: Transport | undefined;
  clock?: Clock | undefined;
  logger?: Logger | undefined;
  timeoutMs?: number | undefined;
  /**
   * How `/oauth/access_token` calls carry the app secret: `GET` with query parameters (Meta's documented form, the
   * default) or `POST` with a form body, which keeps the secret out of URLs and access logs. Graph accepts POST in
   * practice; Meta's docs show only GET (graph-api-facts.md §1.3).
   */
  tokenRequestMethod?: 'GET' | 'POST' | undefined;
}

/** A token endpoint answer. `expiresAtMs` is computed from `expires_in` (or legacy `expires`) on the client's clock. */
export interface TokenResponse {
  accessToken: Secret;
  tokenType: string;
  /** Seconds until expiry as Graph said; null when Graph gave none (never-expiring, or not told). */
  expiresInSec: number | null;
  expiresAtMs: number | null;
}

export interface ExchangeCodeOptions {
  code: string;
  /** Exactly the dialog's redirect URI. Leave out for Embedded Signup / Login for Business JS SDK codes. */
  redirectUri?: string | undefined;
  /** The PKCE verifier when the dialog carried a code challenge. */
  codeVerifier?: string | Secret | undefined;
}

export interface CreateSystemUserTokenOptions {
  systemUserId: string;
  /** Scopes for the new token, e.g. whatsapp_business_messaging. */
  scopes: readonly string[];
  /** An admin user or admin system-user token of the same business. */
  callerToken: string | Secret;
  /** `set_token_expires_in_60_days=true`: a 60-day token that can be refreshed. Default false (never expires). */
  expiresIn60Days?: boolean | undefined;
  /** The app the token is for. Default: this client's app. */
  appId?: string | undefined;
}

type Params = Record<string, string | undefined>;

/**
 * A thin Meta-specific OAuth client: code exchange, long-lived exchange, app tokens, `debug_token`, system-user tokens
 * and revocation. Generic OAuth libraries reject Meta's token and error shapes (landscape.md); this one maps every
 * failure to an {@link OAuthError} with a message that says what to do, and never puts a code, token or secret in it.
 *
 * @example
 * const auth = createAuthClient({ appId: process.env.WA_APP_ID!, appSecret: process.env.WA_APP_SECRET! });
 * const short = await auth.exchangeCode({ code, redirectUri, codeVerifier });
 * const long = await auth.exchangeForLongLived(short.accessToken);
 * const info = await auth.inspect(long.accessToken);
 */
export class AuthClient {
  readonly appId: string;
  readonly graph: GraphClient;
  readonly #appSecret: Secret;
  readonly #ownsGraph: boolean;
  readonly #method: 'GET' | 'POST';

  constructor(options: AuthClientOptions) {
    if (!/^\d{1,32}$/.test(String(options.appId ?? ''))) {
      throw new ConfigError('WA_APP_ID', 'the app id must be numeric');
    }
    const secret = options.appSecret === undefined ? '' : Secret.from(options.appSecret, 'app-secret');
    if (secret === '' || secret.length === 0) {
      throw new ConfigError('WA_APP_SECRET', 'the app secret is required');
    }
    this.appId = options.appId;
    this.#appSecret = secret;
    this.#method = options.tokenRequestMethod ?? 'GET';
    this.#ownsGraph = !options.graph;
    this.graph =
      options.graph ??
      new GraphClient({
        graphUrl: options.graphUrl,
        apiVersion: options.apiVersion,
        transport: options.transport,
        clock: options.clock,
        logger: options.logger,
        timeoutMs: options.timeoutMs,
      });
  }

  /** `app_id|app_secret`: an app access token derived locally, valid until the secret is reset. Never store it. */
  get appToken(): Secret {
    return new Secret(`${this.appId}|${this.#appSecret.reveal()}`, 'app-token');
  }

  /** `appsecret_proof` for `token` keyed by this app's secret (time-stamped when `timeSec` is given). */
  proof(token: Secret | string, timeSec?: number): string {
    return appSecretProof(token, this.#appSecret, timeSec);
  }

  async #tokenEndpoint(params: Params, operation: OAuthOperation): Promise<TokenResponse> {
    const all: Params = { client_id: this.appId, client_secret: this.#appSecret.reveal(), ...params };
    let data: unknown;
    try {
      const res = await this.graph.request<unknown>({
        method: this.#method,
        path: 'oauth/access_token',
        ...(this.#method === 'GET' ? { query: all } : { form: all }),
        auth: 'none',
        // Codes are single use and exchanges mint tokens: never re-send after the request may have reached Meta.
        retry: operation === 'app-token' ? 'idempotent' : 'once-only',
      });
      data = res.data;
    } catch (err) {
      throw toOAuthError(err, operation);
    }
    return this.#parseTokenResponse(data, operation);
  }

  #parseTokenResponse(data: unknown, operation: OAuthOperation): TokenResponse {
    if (!data || typeof data !== 'object') {
      throw new OAuthError('bad-response', `Graph answered ${operation} without a JSON object`);
    }
    const d = data as Record<string, unknown>;
    // Embedded Signup captures show `business_token` in place of `access_token` (pywa fixture).
    const value = typeof d.access_token === 'string' ? d.access_token : d.business_token;
    if (typeof value !== 'string' || value === '') {
      throw new OAuthError('bad-response', `Graph answered ${operation} without an access_token`);
    }
    const now = this.graph.clock.now();
    let expiresInSec: number | null = null;
    let expiresAtMs: number | null = null;
    const expiresIn = Number(d.expires_in ?? Number.NaN);
    if (Number.isFinite(expiresIn) && expiresIn > 0) {
      expiresInSec = expiresIn;
      expiresAtMs = now + expiresIn * 1000;
    } else if (d.expires !== undefined && Number(d.expires) > 0) {
      // Pre-v2.3 form-style answers sent `expires` (seconds from now); some proxies still do.
      expiresInSec = Number(d.expires);
      expiresAtMs = now + expiresInSec * 1000;
    } else if (typeof d.expires_at === 'number' && d.expires_at > 0) {
      expiresAtMs = d.expires_at * 1000;
      expiresInSec = Math.max(0, Math.floor((expiresAtMs - now) / 1000));
    }
    return {
      accessToken: new Secret(value, 'access-token'),
      tokenType: typeof d.token_type === 'string' ? d.token_type : 'bearer',
      expiresInSec,
      expiresAtMs,
    };
  }

  /**
   * Exchanges an authorization code for a token (short-lived user token, or a business-integration token for Login
   * for Business / Embedded Signup codes).
   *
   * @see https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow#confirm
   */
  async exchangeCode(options: ExchangeCodeOptions): Promise<TokenResponse> {
    if (!options.code || typeof options.code !== 'string') {
      throw new OAuthError('invalid-request', 'the authorization code is empty');
    }
    const verifier =
      options.codeVerifier === undefined
        ? undefined
        : Secret.from(options.codeVerifier, 'pkce-verifier').reveal();
    return this.#tokenEndpoint(
      { code: options.code, redirect_uri: options.redirectUri, code_verifier: verifier },
      'code-exchange',
    );
  }

  /**
   * `fb_exchange_token`: a short-lived user token (1–2 h, or the dashboard's 24 h temporary one) for a long-lived one
   * (about 60 days). An expired token cannot be exchanged: the person must log in again.
   *
   * @see https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived
   */
  async exchangeForLongLived(token: string | Secret): Promise<TokenResponse> {
    return this.#tokenEndpoint(
      { grant_type: 'fb_exchange_token', fb_exchange_token: Secret.from(token).reveal() },
      'token-exchange',
    );
  }

  /**
   * Refreshes a 60-day system-user (or business-integration) token: a new token valid 60 days from now. The old one
   * keeps working until its own expiry.
   *
   * @see https://developers.facebook.com/docs/business-management-apis/system-users/install-apps-and-generate-tokens
   */
  async refreshSystemUserToken(token: string | Secret): Promise<TokenResponse> {
    return this.#tokenEndpoint(
      {
        grant_type: 'fb_exchange_token',
        fb_exchange_token: Secret.from(token).reveal(),
        set_token_expires_in_60_days: 'true',
      },
      'refresh',
    );
  }

  /** An app access token from Graph (`client_credentials`). {@link appToken} derives one without a request. */
  async getAppToken(): Promise<Secret> {
    const res = await this.#tokenEndpoint({ grant_type: 'client_credentials' }, 'app-token');
    return new Secret(res.accessToken.reveal(), 'app-token');
  }

  /**
   * `debug_token`: what a token is, for whom, until when, with which scopes and target ids. Asked with the app token
   * unless `accessToken` is given (an app developer's token of the same app also works).
   *
   * @see https://developers.facebook.com/docs/graph-api/reference/debug_token
   */
  async inspect(
    token: string | Secret,
    options: { accessToken?: Secret | string } = {},
  ): Promise<TokenInspection> {
    const input = Secret.from(token).reveal();
    if (input === '') throw new OAuthError('invalid-request', 'the token to inspect is empty');
    let data: unknown;
    try {
      const res = await this.graph.request<unknown>({
        method: 'GET',
        path: 'debug_token',
        query: { input_token: input },
        token: options.accessToken ? Secret.from(options.accessToken) : this.appToken,
        retry: 'idempotent',
      });
      data = res.data;
    } catch (err) {
      throw toOAuthError(err, 'inspect');
    }
    try {
      return parseDebugToken(data);
    } catch (err) {
      throw new OAuthError('bad-response', (err as Error).message, { cause: err });
    }
  }

  /**
   * Revokes a token (`/oauth/revoke`). After this Graph answers 190/467 for it.
   */
  async revoke(token: string | Secret): Promise<void> {
    const query = {
      client_id: this.appId,
      client_secret: this.#appSecret.reveal(),
      revoke_token: Secret.from(token).reveal(),
      access_token: this.appToken.reveal(),
    };
    let data: unknown;
    try {
      const res = await this.graph.request<unknown>({
        method: 'GET',
        path: 'oauth/revoke',
        query,
        auth: 'none',
        retry: 'idempotent',
      });
      data = res.data;
    } catch (err) {
      throw toOAuthError(err, 'revoke');
    }
    if (data && typeof data === 'object' && (data as { success?: unknown }).success === false) {
      throw new OAuthError('token-invalid', 'Graph did not revoke the token (success: false)');
    }
  }

  /** Installs an app for a system user (`POST /{system-user-id}/applications`), a prerequisite for its tokens. */
  async installAppForSystemUser(options: {
    systemUserId: string;
    callerToken: string | Secret;
    appId?: string;
  }): Promise<void> {
    checkId(options.systemUserId, 'systemUserId');
    try {
      await this.graph.request({
        method: 'POST',
        path: `${options.systemUserId}/applications`,
        form: { business_app: options.appId ?? this.appId },
        token: Secret.from(options.callerToken),
      });
    } catch (err) {
      throw toOAuthError(err, 'refresh');
    }
  }

  /**
   * Creates a system-user token (`POST /{system-user-id}/access_tokens`, with the required `appsecret_proof` of the
   * caller's token).
   *
   * @see https://developers.facebook.com/docs/business-management-apis/system-users/install-apps-and-generate-tokens
   */
  async createSystemUserToken(options: CreateSystemUserTokenOptions): Promise<TokenResponse> {
    checkId(options.systemUserId, 'systemUserId');
    if (options.scopes.length === 0)
      throw new OAuthError('invalid-request', 'give at least one scope for the token');
    const caller = Secret.from(options.callerToken);
    let data: unknown;
    try {
      const res = await this.graph.request<unknown>({
        method: 'POST',
        path: `${options.systemUserId}/access_tokens`,
        form: {
          business_app: options.appId ?? this.appId,
          scope: options.scopes.join(','),
          appsecret_proof: this.proof(caller),
          set_token_expires_in_60_days: options.expiresIn60Days ? 'true' : undefined,
        },
        token: caller,
        retry: 'never',
      });
      data = res.data;
    } catch (err) {
      throw toOAuthError(err, 'refresh');
    }
    const parsed = this.#parseTokenResponse(data, 'refresh');
    // Graph answers only {access_token}: the lifetime follows from the request.
    if (parsed.expiresAtMs === null && options.expiresIn60Days) {
      parsed.expiresInSec = 60 * 86_400;
      parsed.expiresAtMs = this.graph.clock.now() + 60 * 86_400_000;
    }
    return parsed;
  }

  /** Closes the Graph client's pool if this client created it. */
  async close(): Promise<void> {
    if (this.#ownsGraph) await this.graph.close();
  }
}

function checkId(value: string, name: string): void {
  if (!/^\d{1,32}$/.test(value ?? ''))
    throw new OAuthError('invalid-request', `${name} must be a numeric id`);
}

export function createAuthClient(options: AuthClientOptions): AuthClient {
  return new AuthClient(options);
}
