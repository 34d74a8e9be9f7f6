import { type Clock, systemClock } from '../core/clock.js';
import type { Secret } from '../core/secret.js';
import type { AuthClient, TokenResponse } from './auth-client.js';
import type { CredentialKind } from './credential-store.js';
import {
  buildLoginDialogUrl,
  checkRedirectUri,
  type LoginCallbackParams,
  parseLoginCallback,
} from './login-dialog.js';
import { OAuthCallbackError, OAuthDeniedError, OAuthError, OAuthStateError } from './oauth-errors.js';
import { MemoryOAuthStateStore, type OAuthStateRecord, type OAuthStateStore } from './oauth-state-store.js';
import { createOAuthState, createPkcePair, hashOAuthState } from './pkce.js';
import { credentialKindOf, type TokenInspection } from './token-inspection.js';

export interface LoginFlowOptions {
  auth: AuthClient;
  /** Exactly as registered in the app's Valid OAuth redirect URIs. */
  redirectUri: string;
  scopes?: readonly string[] | undefined;
  /** Facebook Login for Business configuration id. */
  configId?: string | undefined;
  /** Send `override_default_response_type=true` (Login for Business configurations that issue system-user tokens). */
  overrideDefaultResponseType?: boolean | undefined;
  /** Dialog `extras` (JSON), e.g. `{ setup: {} }` for Embedded Signup. */
  extras?: Record<string, unknown> | undefined;
  /** PKCE S256 on every login (default true). */
  pkce?: boolean | undefined;
  /** Where pending logins wait for their callback. Default: in memory (one process). */
  stateStore?: OAuthStateStore | undefined;
  /** How long a started login may take (default 10 minutes). */
  stateTtlMs?: number | undefined;
  /** Exchange a user token for a long-lived one at once (default true). */
  exchangeForLongLived?: boolean | undefined;
  dialogUrl?: string | undefined;
  apiVersion?: string | undefined;
  clock?: Clock | undefined;
}

export interface StartLoginOptions {
  tenantId?: string | undefined;
  /** Ask again for declined permissions. */
  rerequest?: boolean | undefined;
  /**
   * Binds the login to whoever started it (a server-side session, say): the callback then completes only when it
   * presents the same binding ({@link CompleteLoginOptions}), so a state handed to someone else is worthless.
   */
  binding?: string | undefined;
}

export interface CompleteLoginOptions {
  /** The binding given to {@link LoginFlow.start}; a different or missing one fails like a forged state. */
  binding?: string | undefined;
}

export interface StartedLogin {
  /** Send the person here. */
  url: string;
  /** The state in the URL (already saved, hashed, in the state store). */
  state: string;
  expiresAtMs: number;
}

/** A finished login: the token to keep and what Graph says about it. */
export interface LoginResult {
  token: Secret;
  kind: CredentialKind;
  inspection: TokenInspection;
  expiresAtMs: number | null;
  tenantId: string | undefined;
  /** True when the code's short-lived token was exchanged for a long-lived one. */
  exchanged: boolean;
  /** The code exchange's answer (the short-lived token when `exchanged`). */
  codeToken: TokenResponse;
}

/**
 * Facebook Login (and Login for Business) done server-side: a dialog URL with an unguessable single-use `state` and
 * PKCE S256, then the callback: state checked and spent, denial and errors typed, code exchanged (with the same
 * redirect URI and the verifier), the short-lived token exchanged for a long-lived one, and the result inspected.
 *
 * @example
 * const flow = createLoginFlow({ auth, redirectUri: 'https://example.com/callback', scopes: ['whatsapp_business_management'] });
 * const { url } = await flow.start();          // redirect the person to url
 * const result = await flow.complete(req.url); // in the callback handler
 */
export class LoginFlow {
  readonly #o: LoginFlowOptions;
  readonly #store: OAuthStateStore;
  readonly #clock: Clock;

  constructor(options: LoginFlowOptions) {
    checkRedirectUri(options.redirectUri);
    this.#o = options;
    this.#store = options.stateStore ?? new MemoryOAuthStateStore();
    this.#clock = options.clock ?? options.auth.graph.clock ?? systemClock;
  }

  get stateStore(): OAuthStateStore {
    return this.#store;
  }

  /** Creates the dialog URL and saves the pending login. */
  async start(options: StartLoginOptions = {}): Promise<StartedLogin> {
    const state = createOAuthState();
    const pkce = this.#o.pkce === false ? undefined : createPkcePair();
    const now = this.#clock.now();
    const expiresAtMs = now + (this.#o.stateTtlMs ?? 600_000);
    const url = buildLoginDialogUrl({
      appId: this.#o.auth.appId,
      redirectUri: this.#o.redirectUri,
      state,
      scopes: this.#o.scopes,
      configId: this.#o.configId,
      overrideDefaultResponseType: this.#o.overrideDefaultResponseType,
      extras: this.#o.extras,
      rerequest: options.rerequest,
      codeChallenge: pkce?.codeChallenge,
      dialogUrl: this.#o.dialogUrl,
      apiVersion: this.#o.apiVersion ?? this.#o.auth.graph.apiVersion,
    });
    await this.#store.save({
      stateHash: hashOAuthState(state, options.binding),
      redirectUri: this.#o.redirectUri,
      codeVerifier: pkce?.codeVerifier,
      scopes: [...(this.#o.scopes ?? [])],
      configId: this.#o.configId,
      tenantId: options.tenantId,
      createdAtMs: now,
      expiresAtMs,
    });
    return { url, state, expiresAtMs };
  }

  /**
   * Handles the redirect back: the full callback URL, its query string, or its parameters. Throws an
   * {@link OAuthError} subclass for a forged, replayed or expired state, a denial, a callback error, or a refused
   * code; nothing is returned (or stored) in those cases.
   */
  async complete(
    callback: Parameters<typeof parseLoginCallback>[0],
    options: CompleteLoginOptions = {},
  ): Promise<LoginResult> {
    const { code, pending } = await this.verifyCallback(callback, options);
    const auth = this.#o.auth;
    const codeToken = await auth.exchangeCode({
      code,
      redirectUri: pending.redirectUri,
      codeVerifier: pending.codeVerifier,
    });
    let token = codeToken.accessToken;
    let inspection = await auth.inspect(token);
    assertUsable(inspection, auth.appId);
    let exchanged = false;
    const now = this.#clock.now();
    // A Login for Business configuration that issues system-user tokens issues business integration ones (BISU).
    const hint = pending.configId ? 'business-integration' : undefined;
    let kind = credentialKindOf(inspection, now, hint);
    if (
      this.#o.exchangeForLongLived !== false &&
      inspection.kind === 'user' &&
      (kind === 'user-short' || kind === 'temporary')
    ) {
      const long = await auth.exchangeForLongLived(token);
      token = long.accessToken;
      inspection = await auth.inspect(token);
      assertUsable(inspection, auth.appId);
      exchanged = true;
      kind = credentialKindOf(inspection, this.#clock.now());
    }
    return {
      token,
      kind: kind ?? 'user-short',
      inspection,
      expiresAtMs: inspection.expiresAtMs,
      tenantId: pending.tenantId,
      exchanged,
      codeToken,
    };
  }

  /**
   * The callback's checks without the code exchange: the state is checked and spent, a denial or an error throws,
   * and the code comes back with the pending login. For callbacks whose code is exchanged another way (Embedded
   * Signup: without redirect URI, by `completeEmbeddedSignup`).
   */
  async verifyCallback(
    callback: Parameters<typeof parseLoginCallback>[0],
    options: CompleteLoginOptions = {},
  ): Promise<{ code: string; pending: OAuthStateRecord; params: LoginCallbackParams }> {
    const params = parseLoginCallback(callback);
    if (!params.state) {
      throw new OAuthStateError(
        'state-missing',
        'The callback has no state parameter: it did not come from a login this app started.',
      );
    }
    // The state is spent before anything else, so even a denied or failed callback cannot be replayed.
    const found = await this.#store.consume(hashOAuthState(params.state, options.binding), this.#clock.now());
    if (found.status === 'unknown') {
      throw new OAuthStateError(
        'state-unknown',
        'The callback state does not match any login started here (forged, from another server, or started in another session): ignored.',
      );
    }
    if (found.status === 'used') {
      throw new OAuthStateError(
        'state-replayed',
        'This login callback was already handled (the state is single use): start the login again.',
      );
    }
    if (found.status === 'expired') {
      throw new OAuthStateError(
        'state-expired',
        'The login took too long and its state expired: start again.',
      );
    }
    const pending = found.record;
    if (params.error) {
      if (params.error === 'access_denied') {
        throw new OAuthDeniedError(
          'The person declined the login dialog (access_denied): no token was issued. Start the login again to retry.',
          { errorReason: params.errorReason, errorDescription: params.errorDescription },
        );
      }
      throw new OAuthCallbackError(
        'callback-error',
        `The login dialog returned an error: ${params.error}${params.errorDescription ? ` (${params.errorDescription})` : ''}`,
      );
    }
    if (!params.code) {
      throw new OAuthCallbackError(
        'callback-error',
        'The callback has neither a code nor an error parameter.',
      );
    }
    return { code: params.code, pending, params };
  }
}

/** Throws unless the inspected token is valid and belongs to `appId`. */
export function assertUsable(inspection: TokenInspection, appId: string): void {
  if (!inspection.isValid) {
    throw new OAuthError(
      'token-invalid',
      `Graph says the new token is not valid: ${inspection.error?.message ?? 'no reason given'}`,
      { graphCode: inspection.error?.code, graphSubcode: inspection.error?.subcode },
    );
  }
  if (inspection.appId !== undefined && inspection.appId !== appId) {
    throw new OAuthError('wrong-app', `The token belongs to app ${inspection.appId}, not to ${appId}.`);
  }
}

export function createLoginFlow(options: LoginFlowOptions): LoginFlow {
  return new LoginFlow(options);
}
