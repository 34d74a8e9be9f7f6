import { createHmac, timingSafeEqual } from 'node:crypto';
import { EmulatorGraphError, expiredMessage, type GraphErrorSpec, graphError, MSG } from './graph-errors.js';
import { accessTokenValue } from './ids.js';
import type { AppRecord, EmulatorState, GranularScope, TokenKind, TokenRecord } from './state.js';
import type { VirtualClock } from './virtual-clock.js';

/** Lifetimes (seconds). Defaults from graph-api-facts.md §1-§7; the short-lived and code TTLs are UNVERIFIED there. */
export interface TokenTtlOptions {
  /** The App Dashboard's temporary token. Default 24 h. */
  temporarySec?: number;
  /** A user token from the login code exchange. Default 2 h ("about two hours"). */
  shortLivedSec?: number;
  /** `fb_exchange_token` result. Default 60 days. */
  longLivedSec?: number;
  /** Data access window of user tokens. Default 90 days. */
  dataAccessSec?: number;
  /** System-user tokens with `set_token_expires_in_60_days`. Default 60 days. */
  systemUser60dSec?: number;
  /** Login dialog codes. Default 10 minutes (UNVERIFIED). */
  codeSec?: number;
  /** Embedded Signup codes. Default 30 s (documented). */
  embeddedSignupCodeSec?: number;
}

export type ResolvedTtls = Required<TokenTtlOptions>;

export function resolveTtls(o: TokenTtlOptions = {}): ResolvedTtls {
  return {
    temporarySec: o.temporarySec ?? 86_400,
    shortLivedSec: o.shortLivedSec ?? 7_200,
    longLivedSec: o.longLivedSec ?? 60 * 86_400,
    dataAccessSec: o.dataAccessSec ?? 90 * 86_400,
    systemUser60dSec: o.systemUser60dSec ?? 60 * 86_400,
    codeSec: o.codeSec ?? 600,
    embeddedSignupCodeSec: o.embeddedSignupCodeSec ?? 30,
  };
}

export interface MintOptions {
  kind: Exclude<TokenKind, 'app'>;
  appId: string;
  subjectId: string;
  scopes: string[];
  /** Asset ids the token is limited to (applied to the WhatsApp scopes). Omit for unrestricted. */
  targetIds?: string[] | undefined;
  /** Seconds until expiry; 0 = never. */
  expiresInSec: number;
  /** Seconds until data access expires; 0 = never. */
  dataAccessExpiresInSec?: number | undefined;
  longLived?: boolean | undefined;
  origin: string;
}

/** Scopes whose grant can be limited to assets (debug_token lists their target_ids). */
const ASSET_SCOPES = new Set([
  'whatsapp_business_management',
  'whatsapp_business_messaging',
  'business_management',
]);

/** The caller behind a Graph request. */
export interface Principal {
  kind: TokenKind;
  app: AppRecord;
  /** Undefined for app tokens, which are derived, not stored. */
  token: TokenRecord | undefined;
  /** The raw token, for appsecret_proof checks. */
  value: string;
  subjectId: string;
}

/**
 * Tokens: minting, O(1) lookup, and the validity rules behind every 190 (facts §2, §4, §8.2).
 */
export class TokenService {
  /** Principals of stored tokens, reused by require(). */
  readonly #principals = new WeakMap<TokenRecord, Principal>();

  constructor(
    private readonly state: EmulatorState,
    private readonly clock: VirtualClock,
    readonly ttl: ResolvedTtls,
  ) {}

  mint(o: MintOptions): TokenRecord {
    const now = this.clock.now();
    const tokenKind = o.kind === 'business_integration' ? 'business' : o.kind;
    const granularScopes: GranularScope[] = o.scopes.map((scope) =>
      o.targetIds && ASSET_SCOPES.has(scope) ? { scope, targetIds: [...o.targetIds] } : { scope },
    );
    const record: TokenRecord = {
      value: accessTokenValue(tokenKind),
      kind: o.kind,
      appId: o.appId,
      subjectId: o.subjectId,
      scopes: [...o.scopes],
      granularScopes,
      issuedAtMs: now,
      expiresAtMs: o.expiresInSec > 0 ? now + o.expiresInSec * 1000 : 0,
      dataAccessExpiresAtMs:
        o.dataAccessExpiresInSec && o.dataAccessExpiresInSec > 0 ? now + o.dataAccessExpiresInSec * 1000 : 0,
      longLived: o.longLived ?? false,
      revoked: false,
      origin: o.origin,
    };
    this.state.tokens.set(record.value, record);
    this.state.touch();
    return record;
  }

  /** `{app-id}|{opaque}`: derived from the secret, so it stays valid until the secret is reset (facts §3). */
  appToken(app: AppRecord): string {
    const opaque = createHmac('sha256', app.secret)
      .update(`app-token:${app.id}:${app.secretVersion}`)
      .digest('base64url')
      .slice(0, 27);
    return `${app.id}|${opaque}`;
  }

  /**
   * Finds the principal behind a token, or the exact 190 Meta would answer. Used by every authenticated route and,
   * without throwing, by debug_token.
   */
  resolve(value: string): { principal: Principal } | { error: GraphErrorSpec; token?: TokenRecord } {
    // Known tokens first: one Map lookup on the hot path; the shape checks only run for unknown strings.
    const token = this.state.tokens.get(value);
    if (!token) {
      const pipe = value.indexOf('|');
      if (pipe > 0) return this.#resolveAppToken(value, pipe);
      if (!/^[A-Za-z0-9_-]{20,}$/.test(value)) return { error: { code: 190, message: MSG.malformed } };
      return { error: { code: 190, message: MSG.cannotParse } };
    }
    const app = this.state.apps.get(token.appId);
    if (!app) return { error: { code: 190, message: MSG.cannotParse }, token };
    const invalid = this.validityError(token, app);
    if (invalid) return { error: invalid, token };
    return { principal: { kind: token.kind, app, token, value, subjectId: token.subjectId } };
  }

  #resolveAppToken(value: string, pipe: number): { principal: Principal } | { error: GraphErrorSpec } {
    const app = this.state.apps.get(value.slice(0, pipe));
    const rest = value.slice(pipe + 1);
    if (!app || app.removed || (!safeEqual(rest, app.secret) && !safeEqual(value, this.appToken(app)))) {
      return { error: { code: 190, message: MSG.cannotParse } };
    }
    return { principal: { kind: 'app', app, token: undefined, value, subjectId: app.id } };
  }

  /** Why a known token no longer works, in Meta's order of precedence; undefined when it works. */
  validityError(token: TokenRecord, app: AppRecord): GraphErrorSpec | undefined {
    const now = this.clock.now();
    if (token.revoked) return { code: 190, subcode: 467, message: MSG.loggedOut };
    if (app.removed) return { code: 190, subcode: 458, message: MSG.appNotAuthorized(app.id) };
    if (token.kind === 'user') {
      const user = this.state.users.get(token.subjectId);
      if (user?.removedAppIds.includes(app.id)) {
        return { code: 190, subcode: 458, message: MSG.appNotAuthorized(app.id) };
      }
      if (user && user.passwordChangedAtMs > token.issuedAtMs) {
        return { code: 190, subcode: 460, message: MSG.passwordChanged };
      }
    }
    if (token.expiresAtMs > 0 && now >= token.expiresAtMs) {
      return { code: 190, subcode: 463, message: expiredMessage(token.expiresAtMs, now) };
    }
    if (token.dataAccessExpiresAtMs > 0 && now >= token.dataAccessExpiresAtMs) {
      return { code: 190, subcode: 493, message: MSG.dataAccessExpired };
    }
    return undefined;
  }

  /** Throws the 190 for a token that does not work; returns its principal otherwise. */
  require(value: string): Principal {
    // Hot path (every send): a known, working token gets its principal back without new objects. The checks are
    // the same as resolve()'s; only the Principal is reused while its token and app records are the same.
    const token = this.state.tokens.get(value);
    if (token) {
      const app = this.state.apps.get(token.appId);
      if (app && this.validityError(token, app) === undefined) {
        const cached = this.#principals.get(token);
        if (cached?.app === app && cached.kind === token.kind && cached.subjectId === token.subjectId)
          return cached;
        const principal: Principal = { kind: token.kind, app, token, value, subjectId: token.subjectId };
        this.#principals.set(token, principal);
        return principal;
      }
    }
    const r = this.resolve(value);
    if ('error' in r) throw new EmulatorGraphError({ ...r.error, wwwAuthenticate: 'invalid_token' });
    return r.principal;
  }

  /**
   * `appsecret_proof` (facts §5): when given it must be right; when the app requires it, it must be given.
   * Classic form HMAC(secret, token); time-stamped form HMAC(secret, token|time) within 5 minutes.
   */
  checkProof(p: Principal, proof: string | undefined, time: string | undefined): void {
    if (p.kind === 'app') return;
    if (proof === undefined || proof === '') {
      if (p.app.requireAppSecret) throw graphError(100, MSG.proofRequired, { type: 'GraphMethodException' });
      return;
    }
    let message = p.value;
    if (time !== undefined && time !== '') {
      const t = Number(time);
      const nowSec = Math.floor(this.clock.now() / 1000);
      if (!Number.isInteger(t) || Math.abs(nowSec - t) > 300) {
        throw graphError(100, MSG.proofInvalid, {
          type: 'GraphMethodException',
          userMessage:
            'appsecret_time is missing, malformed or more than 5 minutes away from the current time.',
        });
      }
      message = `${p.value}|${time}`;
    }
    const expected = createHmac('sha256', p.app.secret).update(message).digest('hex');
    if (!safeEqual(proof.toLowerCase(), expected)) {
      throw graphError(100, MSG.proofInvalid, { type: 'GraphMethodException' });
    }
  }

  /** True when the token's grant of `scope` covers asset `assetId` (no target ids = unrestricted). */
  grantsAsset(p: Principal, scope: string, assetId: string): boolean {
    if (p.kind === 'app' || !p.token) return true;
    const g = p.token.granularScopes.find((s) => s.scope === scope);
    return !g?.targetIds || g.targetIds.includes(assetId);
  }

  hasScope(p: Principal, scope: string): boolean {
    return p.kind === 'app' || (p.token?.scopes.includes(scope) ?? false);
  }
}

export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}
