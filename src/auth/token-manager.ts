import { randomUUID } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { type LoadConfigOptions, loadConfig } from '../core/config.js';
import { ConfigError, ValidationError, WacloudError } from '../core/errors.js';
import type { GraphError } from '../core/graph-error.js';
import { type Logger, silentLogger } from '../core/logger.js';
import { Secret } from '../core/secret.js';
import type { GraphClient, TokenProvider } from '../graph/graph-client.js';
import type { Transport } from '../transport/types.js';
import { AuthClient } from './auth-client.js';
import {
  CredentialNotFoundError,
  type CredentialRecord,
  type CredentialStore,
  type CredentialSummary,
  MemoryCredentialStore,
  toSummary,
} from './credential-store.js';
import { assertUsable } from './login-flow.js';
import { OAuthError } from './oauth-errors.js';
import { usableToken, type VersionedToken } from './token-cache.js';
import {
  TokenEventHub,
  type TokenEventListener,
  type TokenEventTrigger,
  type TokenEventType,
} from './token-events.js';
import { checkCredential, inspectRejected } from './token-health.js';
import { allTargetIds, credentialKindOf, describeTokenSubcode } from './token-inspection.js';
import { type AddCredentialInput, credentialFields } from './token-intake.js';
import {
  afterSuccess,
  isTerminal,
  NEVER_MS,
  renewMethodOf,
  resolvePolicies,
  scheduledAction,
  type TokenPolicies,
  warningsOnAdd,
} from './token-policy.js';
import { renewCredential } from './token-renewal.js';
import { forEachConcurrent, TokenScheduler } from './token-scheduler.js';
import { TokenStoreSync } from './token-store-sync.js';

export { CredentialUnavailableError, type VersionedToken } from './token-cache.js';
export type { AddCredentialInput } from './token-intake.js';
export { DEFAULT_TOKEN_POLICIES, NEVER_MS, type TokenPolicies } from './token-policy.js';

export interface TokenManagerOptions {
  /** Where credentials live. Default: in memory. The vault's encrypted SQLite/PostgreSQL store plugs in here. */
  store?: CredentialStore | undefined;
  /** An auth client for the app; or give `appId` + `appSecret` (+ `graph` / `transport` / `graphUrl`). */
  auth?: AuthClient | undefined;
  appId?: string | undefined;
  appSecret?: string | Secret | undefined;
  graph?: GraphClient | undefined;
  transport?: Transport | undefined;
  graphUrl?: string | undefined;
  apiVersion?: string | undefined;
  /** Per-request timeout of the auth client the manager creates. */
  timeoutMs?: number | undefined;
  clock?: Clock | undefined;
  logger?: Logger | undefined;
  policies?: Partial<TokenPolicies> | undefined;
  /**
   * Where {@link TokenManager.fromEnv} (and {@link createTokenManager}) read missing app settings from; default
   * process.env and ./.env. The constructor never reads the environment.
   */
  configSource?: LoadConfigOptions | undefined;
  /** Lease owner name; default a random id per manager. */
  instanceId?: string | undefined;
  /** Uniform [0, 1) for retry jitter. */
  random?: (() => number) | undefined;
  /**
   * Called after this instance stored a change other instances must pick up at once: a new token version (renewal or
   * replacement) or a terminal status at the same version (expired, invalid, revoked, removed), so that a revoked
   * token stops being served everywhere. The broker announces it (PostgreSQL NOTIFY); the others call
   * {@link TokenManager.reload}.
   */
  onRotated?: ((info: { credentialId: string; tenantId: string; version: number }) => void) | undefined;
}

/** The auth client the options describe, built from explicit settings only. */
function authClientOf(options: TokenManagerOptions): AuthClient {
  if (options.auth) return options.auth;
  if (options.appId === undefined || options.appSecret === undefined) {
    throw new ConfigError(
      options.appId === undefined ? 'WA_APP_ID' : 'WA_APP_SECRET',
      'is required by the token manager (pass appId and appSecret or an auth client, or use ' +
        'createTokenManager / TokenManager.fromEnv to read them from the environment)',
    );
  }
  return new AuthClient({
    appId: options.appId,
    appSecret: options.appSecret,
    graph: options.graph,
    transport: options.transport,
    graphUrl: options.graph ? undefined : options.graphUrl,
    apiVersion: options.graph ? undefined : options.apiVersion,
    clock: options.clock,
    logger: options.logger,
    timeoutMs: options.timeoutMs,
  });
}

/**
 * The token lifecycle manager: keeps many tenants' Meta credentials working.
 *
 * - short-lived user tokens are exchanged for long-lived ones at once;
 * - 60-day system-user tokens are refreshed `renewBeforeExpiryMs` ahead of expiry;
 * - every credential gets a daily `debug_token` health check (revocation, password change, app removal);
 * - expiries that cannot be renewed raise early `credential.expiring` warnings;
 * - a 190 during any SDK call (through {@link tokenProvider}) retries once with a newer version, or inspects and
 *   marks the credential invalid;
 * - renewal happens once per credential however many callers ask at once (in-process single flight, a store lease
 *   across instances, and a version compare-and-set), and the old token keeps working until the new one is stored.
 *
 * All timing goes through the injected clock. This class wires the parts, each with one job: the pure policy
 * (`token-policy.ts`), the send-path cache (`token-cache.ts`), the scheduler loop (`token-scheduler.ts`), store
 * coordination and failure bookkeeping (`token-store-sync.ts`), renewal (`token-renewal.ts`) and health checks
 * (`token-health.ts`). The constructor reads no environment: {@link TokenManager.fromEnv} does.
 *
 * @example
 * const manager = createTokenManager({ appId, appSecret });
 * const cred = await manager.addCredential({ tenantId: 'acme', token: shortLivedToken }); // exchanged at once
 * const wa = new WhatsApp({ tokenProvider: manager.tokenProvider(cred.id), phoneNumberId });
 * manager.on('credential.expiring', (e) => alert(e.tenantId, e.expiresAtMs));
 * manager.start();
 */
export class TokenManager {
  readonly store: CredentialStore;
  readonly auth: AuthClient;
  readonly clock: Clock;
  readonly policies: Readonly<TokenPolicies>;
  readonly instanceId: string;
  readonly #logger: Logger;
  readonly #events: TokenEventHub;
  readonly #ownsAuth: boolean;
  readonly #sync: TokenStoreSync;
  readonly #scheduler: TokenScheduler;
  readonly #renewing = new Map<string, Promise<CredentialRecord>>();
  readonly #suspects = new Map<string, Promise<VersionedToken | undefined>>();
  /** Background re-reads in flight (TTL expiry, rotation notices), one per credential. */
  readonly #reloading = new Map<string, Promise<unknown>>();

  /**
   * Like `new WhatsApp()`: app settings not given (WA_APP_ID, WA_APP_SECRET, WA_GRAPH_URL, WA_API_VERSION,
   * WA_REQUEST_TIMEOUT_MS) come from the environment and ./.env (`options.configSource`). For the edges (the CLI,
   * scripts); libraries and the broker pass explicit settings to the constructor.
   */
  static fromEnv(options: TokenManagerOptions = {}): TokenManager {
    if (options.auth) return new TokenManager(options);
    const config = loadConfig(
      {
        appId: options.appId,
        appSecret: options.appSecret,
        graphUrl: options.graph ? undefined : options.graphUrl,
        apiVersion: options.graph ? undefined : options.apiVersion,
      },
      options.configSource,
    );
    return new TokenManager({
      ...options,
      appId: config.appId,
      appSecret: config.appSecret,
      graphUrl: config.graphUrl,
      apiVersion: config.apiVersion,
      timeoutMs: options.timeoutMs ?? config.requestTimeoutMs,
    });
  }

  constructor(options: TokenManagerOptions = {}) {
    this.store = options.store ?? new MemoryCredentialStore();
    this.#ownsAuth = !options.auth;
    this.auth = authClientOf(options);
    this.clock = options.clock ?? this.auth.graph.clock;
    this.policies = resolvePolicies(options.policies);
    this.instanceId = options.instanceId ?? `tm-${randomUUID()}`;
    this.#logger = options.logger ?? silentLogger;
    this.#events = new TokenEventHub(this.#logger);
    this.#scheduler = new TokenScheduler({
      clock: this.clock,
      logger: this.#logger,
      pollIntervalMs: this.policies.pollIntervalMs,
      batchSize: this.policies.batchSize,
      sweep: () => this.runDue(),
      earliestDue: () => this.#sync.cache.earliestDue(),
    });
    this.#sync = new TokenStoreSync({
      store: this.store,
      clock: this.clock,
      logger: this.#logger,
      policies: this.policies,
      instanceId: this.instanceId,
      random: options.random ?? Math.random,
      events: this.#events,
      kick: () => this.#scheduler.kick(),
      onRotated: options.onRotated,
    });
  }

  /** Listens to one event type, or `'*'` for all. Returns an unsubscribe function. */
  on<T extends TokenEventType>(type: T | '*', listener: TokenEventListener<T>): () => void {
    return this.#events.on(type, listener);
  }

  // ---------------------------------------------------------------- token lookup (the send path)

  /**
   * A {@link TokenProvider} for one credential: `getToken` is an in-memory lookup of the latest version (a store read
   * only the first time); `onTokenRejected` retries once with a newer version, or inspects and marks the credential.
   */
  tokenProvider(credentialId: string): TokenProvider {
    return {
      getToken: () => this.getToken(credentialId),
      onTokenRejected: async (token, error) => (await this.tokenRejected(credentialId, token, error))?.token,
    };
  }

  /** The current token of a credential. Throws {@link CredentialUnavailableError} once it is invalid, expired or revoked. */
  getToken(credentialId: string): Secret | Promise<Secret> {
    const current = this.currentToken(credentialId);
    return current instanceof Promise ? current.then((c) => c.token) : current.token;
  }

  /**
   * The current token with its version (they come from the same cache entry, so the version is the token's own):
   * in memory after the first read. Throws {@link CredentialUnavailableError} like {@link getToken}.
   */
  currentToken(credentialId: string): VersionedToken | Promise<VersionedToken> {
    const entry = this.#sync.cache.get(credentialId);
    if (entry) {
      // Stale (a rotation notice may have been lost): serve this one, re-read in the background.
      if (this.#sync.cache.isStale(entry, this.clock.now(), this.policies.cacheTtlMs)) {
        this.#reloadInBackground(credentialId);
      }
      return usableToken(entry);
    }
    return this.#sync.load(credentialId).then(usableToken);
  }

  /**
   * Graph refused `token` (a 190): the version to retry with (one rotated meanwhile, or found by inspecting), or
   * undefined when there is none; the credential is marked when Graph says the token is dead. Concurrent calls for
   * one credential share one inspection.
   */
  async tokenRejected(
    credentialId: string,
    token: Secret,
    error: GraphError,
  ): Promise<VersionedToken | undefined> {
    const cached = this.#sync.cache.get(credentialId);
    if (cached && !cached.token.equals(token) && !isTerminal(cached.status)) {
      return { token: cached.token, version: cached.version };
    }
    let inflight = this.#suspects.get(credentialId);
    if (!inflight) {
      inflight = inspectRejected(this.#sync, this.auth, credentialId, token, error).finally(() =>
        this.#suspects.delete(credentialId),
      );
      this.#suspects.set(credentialId, inflight);
      this.#scheduler.track(inflight);
    }
    const next = await inflight;
    return next && !next.token.equals(token) ? next : undefined;
  }

  #reloadInBackground(id: string): void {
    if (this.#reloading.has(id)) return;
    const p = this.refreshFromStore(id)
      .catch((err) => {
        // The store is unreachable: keep serving the cached token; count the TTL again before the next try.
        this.#sync.cache.touch(id, this.clock.now());
        this.#logger.warn('token manager: could not re-read a credential', { credentialId: id, err });
      })
      .finally(() => this.#reloading.delete(id));
    this.#reloading.set(id, p);
    this.#scheduler.track(p);
  }

  /**
   * Another instance stored `version` of a credential (a rotation notice): re-reads it unless the cached version is
   * newer. The same version is re-read too: that notice carries a status change (revoked, invalid, removed). Nothing
   * happens for credentials this instance has not used (their first use reads the store anyway).
   */
  async reload(credentialId: string, version: number): Promise<void> {
    const entry = this.#sync.cache.get(credentialId);
    if (!entry || entry.version > version) return;
    await this.refreshFromStore(credentialId);
  }

  /** Re-reads every cached credential (after a lost listener connection: notices may have been missed). */
  async resyncAll(): Promise<{ checked: number; changed: number }> {
    const ids = this.#sync.cache.ids();
    let changed = 0;
    await forEachConcurrent(ids, 8, async (id) => {
      const before = this.#sync.cache.get(id)?.version;
      const rec = await this.refreshFromStore(id);
      if (rec?.version !== before) changed++;
    });
    return { checked: ids.length, changed };
  }

  /** Version of a credential's cached token, if any (diagnostics and tests). */
  cachedVersion(credentialId: string): number | undefined {
    return this.#sync.cache.get(credentialId)?.version;
  }

  /**
   * Re-reads a credential from the store, for when another instance rotated it (the broker calls this on a
   * PostgreSQL NOTIFY). Emits `credential.rotated` with source `store` when the token changed.
   */
  refreshFromStore(credentialId: string): Promise<CredentialRecord | undefined> {
    return this.#sync.refresh(credentialId);
  }

  // ---------------------------------------------------------------- credentials

  /**
   * Stores a credential. By default the token is inspected first (an invalid, expired or foreign token is refused and
   * nothing is stored); a short-lived user token is then exchanged for a long-lived one at once.
   */
  async addCredential(input: AddCredentialInput): Promise<CredentialRecord> {
    if (!input.tenantId || typeof input.tenantId !== 'string') {
      throw new ValidationError('is required', 'tenantId');
    }
    const token = Secret.from(input.token, 'access-token');
    if (token.length === 0) throw new ValidationError('is empty', 'token');
    const now = this.clock.now();
    const fields = await credentialFields(this.auth, input, token, now);
    const rec = await this.store.insert(
      {
        ...fields,
        token,
        id: input.id,
        tenantId: input.tenantId,
        appId: this.auth.appId,
        ...afterSuccess(this.policies, fields, now),
      },
      now,
    );
    this.#sync.apply(rec);
    this.#sync.emit('credential.added', rec, { expiresAtMs: rec.expiresAtMs });
    // Already inside a warning window at insert: say so now, since no scheduled boundary lies ahead for it.
    this.#sync.emitWarnings(rec, warningsOnAdd(this.policies, rec, now), now);
    if (renewMethodOf(rec) === 'exchange-short-lived' && this.policies.exchangeShortLived) {
      try {
        return await this.renew(rec.id, 'add');
      } catch {
        // Recorded (failures, next attempt, event); the short-lived token stays usable meanwhile.
        return (await this.store.get(rec.id)) ?? rec;
      }
    }
    this.#scheduler.kick();
    return rec;
  }

  /** The stored record (token as a {@link Secret}). */
  async getCredential(id: string): Promise<CredentialRecord | undefined> {
    return this.store.get(id);
  }

  async listCredentials(tenantId?: string): Promise<CredentialRecord[]> {
    return tenantId === undefined ? this.store.list() : this.store.listByTenant(tenantId);
  }

  /** Credentials without their tokens (no decryption when the store supports it): metrics, routing, listings. */
  async listSummaries(tenantId?: string): Promise<CredentialSummary[]> {
    if (this.store.listSummaries) return this.store.listSummaries(tenantId);
    return (await this.listCredentials(tenantId)).map(toSummary);
  }

  /**
   * Renews a credential now: exchange a short-lived token, or refresh a 60-day system-user token. Concurrent calls
   * share one renewal. Throws when the kind cannot be renewed or Graph refuses; the old token stays in place then.
   */
  renew(id: string, trigger: TokenEventTrigger = 'manual'): Promise<CredentialRecord> {
    let inflight = this.#renewing.get(id);
    if (!inflight) {
      inflight = renewCredential(this.#sync, this.auth, id, trigger).finally(() => this.#renewing.delete(id));
      this.#renewing.set(id, inflight);
      this.#scheduler.track(inflight);
    }
    return inflight;
  }

  /** Runs a `debug_token` health check now. */
  async check(id: string): Promise<CredentialRecord> {
    const rec = await this.store.get(id);
    if (!rec) throw new CredentialNotFoundError(id);
    // Meta never revives a dead token: a terminal credential needs a new one (replaceToken), not another look.
    if (isTerminal(rec.status)) return rec;
    return (await checkCredential(this.#sync, this.auth, rec, 'manual')) ?? rec;
  }

  /**
   * Puts a new token into an existing credential (after the person logged in again), inspected first. Clients see it
   * on their next request.
   */
  async replaceToken(id: string, token: string | Secret): Promise<CredentialRecord> {
    const rec = await this.store.get(id);
    if (!rec) throw new CredentialNotFoundError(id);
    const secret = Secret.from(token, 'access-token');
    const inspection = await this.auth.inspect(secret);
    if (!inspection.isValid) {
      throw new OAuthError(
        inspection.error?.subcode === 463 ? 'token-expired' : 'token-invalid',
        `The new token is not valid (${describeTokenSubcode(inspection.error?.subcode)}): the credential was not changed.`,
      );
    }
    assertUsable(inspection, this.auth.appId);
    const now = this.clock.now();
    const kind = credentialKindOf(inspection, now, rec.kind) ?? rec.kind;
    const timing = {
      kind,
      expiresAtMs: inspection.expiresAtMs,
      dataAccessExpiresAtMs: inspection.dataAccessExpiresAtMs,
    };
    const patch = {
      ...timing,
      token: secret,
      scopes: inspection.scopes,
      targetIds: allTargetIds(inspection),
      subjectId: inspection.userId ?? rec.subjectId,
      issuedAtMs: inspection.issuedAtMs ?? now,
      ...afterSuccess(this.policies, timing, now),
      failures: 0,
      lastError: null,
    };
    const updated = await this.store.update(id, rec.version, patch, now);
    if (!updated) {
      throw new WacloudError('CONFLICT', `credential ${id} changed meanwhile; read it again and retry`);
    }
    this.#sync.apply(updated);
    if (updated.version !== rec.version) this.#sync.rotated(updated, rec.version, 'replace');
    if (renewMethodOf(updated) === 'exchange-short-lived' && this.policies.exchangeShortLived) {
      return this.renew(id, 'manual').catch(async () => (await this.store.get(id)) ?? updated);
    }
    this.#scheduler.kick();
    return updated;
  }

  /** Revokes the token at Meta (`/oauth/revoke`) and marks the credential `revoked`. Nothing changes if Graph fails. */
  async revoke(id: string): Promise<CredentialRecord> {
    const rec = await this.store.get(id);
    if (!rec) throw new CredentialNotFoundError(id);
    await this.auth.revoke(rec.token);
    const updated = await this.#sync.write(rec, {
      status: 'revoked',
      nextCheckAtMs: NEVER_MS,
      lastError: 'revoked',
      leaseOwner: null,
      leaseExpiresAtMs: null,
    });
    const final = updated ?? rec;
    this.#sync.emit('credential.revoked', final, {});
    this.#sync.announce(final);
    return final;
  }

  /** Deletes a credential from the store (the token is not revoked; call {@link revoke} first for that). */
  async removeCredential(id: string): Promise<void> {
    const rec = await this.store.get(id);
    await this.store.delete(id);
    this.#sync.cache.delete(id);
    if (rec) {
      this.#sync.emit('credential.removed', rec, {});
      this.#sync.announce(rec);
    }
  }

  // ---------------------------------------------------------------- scheduler

  /** Processes every due credential once (what the scheduler does on each tick). Returns how many were claimed. */
  async runDue(): Promise<number> {
    const claimed = await this.store.claimDue(
      this.clock.now(),
      this.policies.batchSize,
      this.instanceId,
      this.policies.leaseMs,
    );
    await forEachConcurrent(claimed, this.policies.concurrency, async (rec) => {
      try {
        await this.#process(rec);
      } catch (err) {
        this.#logger.error('token manager: processing a credential failed', { credentialId: rec.id, err });
        await this.#sync.release(rec).catch(() => undefined);
      }
    });
    return claimed.length;
  }

  /** Carries out what the policy decides for a claimed credential, then emits the warnings crossed meanwhile. */
  async #process(rec: CredentialRecord): Promise<void> {
    this.#sync.apply(rec);
    const scheduledAt = rec.nextCheckAtMs;
    const todo = scheduledAction(this.policies, rec, this.clock.now());
    if (todo.action === 'park') {
      await this.#sync.write(rec, { nextCheckAtMs: NEVER_MS, leaseOwner: null, leaseExpiresAtMs: null });
      return;
    }
    if (todo.action === 'expire') {
      await this.#sync.markTerminal(rec, 'expired', 'the token has expired', 'schedule');
      return;
    }
    let after: CredentialRecord | undefined;
    if (todo.action === 'renew') {
      try {
        const renewed = await this.renew(rec.id, 'schedule');
        if (renewed.version !== rec.version) return;
      } catch {
        // Recorded by the renewal (failures, back-off, event).
      }
      after = await this.store.get(rec.id);
    } else {
      after = await checkCredential(this.#sync, this.auth, rec, 'schedule');
    }
    if (after) this.#sync.warn(after, scheduledAt, this.clock.now());
  }

  /** Starts the scheduler loop (idempotent). It sleeps on the injected clock until the next credential is due. */
  start(): void {
    this.#scheduler.start();
  }

  /** Resolves once no sweep, renewal or inspection started so far is still running (tests, graceful shutdown). */
  idle(): Promise<void> {
    return this.#scheduler.idle();
  }

  /** Stops the scheduler and waits for work in progress. */
  stop(): Promise<void> {
    return this.#scheduler.stop();
  }

  /** Stops and releases the auth client's pool if the manager created it. */
  async close(): Promise<void> {
    await this.stop();
    if (this.#ownsAuth) await this.auth.close();
  }
}

/**
 * Creates a {@link TokenManager}; app settings not given are read from the environment and ./.env
 * ({@link TokenManager.fromEnv}).
 */
export function createTokenManager(options: TokenManagerOptions = {}): TokenManager {
  return TokenManager.fromEnv(options);
}
