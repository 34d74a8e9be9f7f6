import { randomUUID } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { type LoadConfigOptions, loadConfig } from '../core/config.js';
import { ConfigError, ValidationError, WacloudError } from '../core/errors.js';
import type { GraphError } from '../core/graph-error.js';
import { type Logger, silentLogger } from '../core/logger.js';
import { Secret, scrubText } from '../core/secret.js';
import type { GraphClient, TokenProvider } from '../graph/graph-client.js';
import type { Transport } from '../transport/types.js';
import { AuthClient } from './auth-client.js';
import {
  type CredentialKind,
  CredentialNotFoundError,
  type CredentialPatch,
  type CredentialRecord,
  type CredentialStatus,
  type CredentialStore,
  type CredentialSummary,
  MemoryCredentialStore,
  toSummary,
} from './credential-store.js';
import { assertUsable } from './login-flow.js';
import { OAuthError } from './oauth-errors.js';
import {
  type TokenEvent,
  TokenEventHub,
  type TokenEventListener,
  type TokenEventTrigger,
  type TokenEventType,
} from './token-events.js';
import {
  allTargetIds,
  credentialKindOf,
  describeTokenSubcode,
  type TokenInspection,
} from './token-inspection.js';

const DAY_MS = 86_400_000;
/** "Never": the largest time a JS Date can hold (fits a BIGINT column). */
export const NEVER_MS = 8_640_000_000_000_000;

/** Per-kind policies (design.md "Token lifecycle"). All durations in ms. */
export interface TokenPolicies {
  /** Renew 60-day system-user / business-integration tokens this long before they expire. Default 10 days. */
  renewBeforeExpiryMs: number;
  /** `debug_token` health check interval for every credential. Default 24 h (Meta recommends at least daily). */
  healthCheckIntervalMs: number;
  /**
   * Early warnings (`credential.expiring`) this long before an expiry that cannot be renewed (long-lived user tokens,
   * data access), or whose renewal keeps failing. Default 7 days, 3 days, 1 day.
   */
  expiryWarningsMs: number[];
  /** Exchange short-lived user tokens (and the dashboard's 24-hour temporary token) for long-lived ones at once. */
  exchangeShortLived: boolean;
  /** Back-off after a failed renewal or check: `retryBaseMs * 2^(failures-1)`, capped, with jitter. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** How long a scheduler lease holds a credential. Default 2 minutes. */
  leaseMs: number;
  /** Credentials claimed per sweep. Default 100. */
  batchSize: number;
  /** Credentials processed at once within a sweep. Default 4. */
  concurrency: number;
  /** How often the scheduler asks the store for work that other instances scheduled. Default 60 s. */
  pollIntervalMs: number;
  /**
   * Last resort when a rotation notice from another instance was lost: a cached token older than this is re-read
   * from the store in the background on its next use (the call itself is served from memory). Default 5 minutes.
   */
  cacheTtlMs: number;
}

export const DEFAULT_TOKEN_POLICIES: Readonly<TokenPolicies> = Object.freeze({
  renewBeforeExpiryMs: 10 * DAY_MS,
  healthCheckIntervalMs: DAY_MS,
  expiryWarningsMs: [7 * DAY_MS, 3 * DAY_MS, DAY_MS],
  exchangeShortLived: true,
  retryBaseMs: 60_000,
  retryMaxMs: 3_600_000,
  leaseMs: 120_000,
  batchSize: 100,
  concurrency: 4,
  pollIntervalMs: 60_000,
  cacheTtlMs: 300_000,
});

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
  clock?: Clock | undefined;
  logger?: Logger | undefined;
  policies?: Partial<TokenPolicies> | undefined;
  /** Where missing app settings are read from; default process.env and ./.env. */
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

export interface AddCredentialInput {
  tenantId: string;
  token: string | Secret;
  id?: string | undefined;
  /** The kind, when the flow knows better than `debug_token` (a business-integration token looks like a system user). */
  kind?: CredentialKind | undefined;
  /**
   * Inspect with `debug_token` before storing (default true): an invalid, expired or foreign token is refused and
   * nothing is stored. With `false` the fields below are trusted as given.
   */
  inspect?: boolean | undefined;
  expiresAtMs?: number | null | undefined;
  dataAccessExpiresAtMs?: number | null | undefined;
  issuedAtMs?: number | null | undefined;
  scopes?: string[] | undefined;
  targetIds?: string[] | undefined;
  subjectId?: string | null | undefined;
}

/** A credential's token cannot be used (invalid, expired or revoked): someone must log in again. */
export class CredentialUnavailableError extends WacloudError {
  readonly credentialId: string;
  readonly status: CredentialStatus;
  constructor(id: string, tenantId: string, status: CredentialStatus, detail: string | null) {
    super(
      'TOKEN_UNAVAILABLE',
      `credential ${id} of tenant ${tenantId} is ${status}${detail ? ` (${detail})` : ''}: log in again or replace its token`,
    );
    this.name = 'CredentialUnavailableError';
    this.credentialId = id;
    this.status = status;
  }
}

interface CacheEntry {
  id: string;
  tenantId: string;
  kind: CredentialKind;
  version: number;
  token: Secret;
  status: CredentialStatus;
  lastError: string | null;
  /** When this entry was read from the store (or written by us), on the manager's clock: the TTL counts from it. */
  loadedAtMs: number;
}

const TERMINAL: ReadonlySet<CredentialStatus> = new Set(['invalid', 'expired', 'revoked']);

type RenewMethod = 'exchange-short-lived' | 'renew-60-day';

function renewMethodOf(rec: Pick<CredentialRecord, 'kind' | 'expiresAtMs'>): RenewMethod | undefined {
  if (rec.kind === 'user-short' || rec.kind === 'temporary') return 'exchange-short-lived';
  if ((rec.kind === 'system-user' || rec.kind === 'business-integration') && rec.expiresAtMs !== null) {
    return 'renew-60-day';
  }
  return undefined;
}

function messageOf(err: unknown): string {
  return scrubText(err instanceof Error ? err.message : String(err)).slice(0, 500);
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
 * All timing goes through the injected clock.
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
  readonly #random: () => number;
  readonly #events: TokenEventHub;
  readonly #ownsAuth: boolean;
  readonly #onRotated: TokenManagerOptions['onRotated'];
  readonly #cache = new Map<string, CacheEntry>();
  /** Next check time of every credential this instance knows: the scheduler sleeps until the earliest. */
  readonly #dueAt = new Map<string, number>();
  readonly #renewing = new Map<string, Promise<CredentialRecord>>();
  readonly #suspects = new Map<string, Promise<Secret | undefined>>();
  /** Background re-reads in flight (TTL expiry, rotation notices), one per credential. */
  readonly #reloading = new Map<string, Promise<unknown>>();
  readonly #pending = new Set<Promise<unknown>>();
  #running = false;
  #loop: Promise<void> | undefined;
  #wake: AbortController | undefined;

  constructor(options: TokenManagerOptions = {}) {
    this.store = options.store ?? new MemoryCredentialStore();
    this.#ownsAuth = !options.auth;
    if (options.auth) this.auth = options.auth;
    else {
      // Like `new WhatsApp()`: what is not given comes from the environment and ./.env (WA_APP_ID, WA_GRAPH_URL, ...).
      const config = loadConfig(
        {
          appId: options.appId,
          appSecret: options.appSecret,
          graphUrl: options.graph ? undefined : options.graphUrl,
          apiVersion: options.graph ? undefined : options.apiVersion,
        },
        options.configSource,
      );
      if (config.appId === undefined || config.appSecret === undefined) {
        throw new ConfigError(
          config.appId === undefined ? 'WA_APP_ID' : 'WA_APP_SECRET',
          'is required by the token manager (or pass appId and appSecret, or an auth client)',
        );
      }
      this.auth = new AuthClient({
        appId: config.appId,
        appSecret: config.appSecret,
        graph: options.graph,
        transport: options.transport,
        graphUrl: config.graphUrl,
        apiVersion: config.apiVersion,
        clock: options.clock,
        logger: options.logger,
        timeoutMs: config.requestTimeoutMs,
      });
    }
    this.clock = options.clock ?? this.auth.graph.clock;
    const policies = { ...DEFAULT_TOKEN_POLICIES, ...options.policies };
    policies.expiryWarningsMs = [...policies.expiryWarningsMs].filter((w) => w > 0).sort((a, b) => b - a);
    for (const key of [
      'renewBeforeExpiryMs',
      'healthCheckIntervalMs',
      'retryBaseMs',
      'retryMaxMs',
      'leaseMs',
      'batchSize',
      'concurrency',
      'pollIntervalMs',
      'cacheTtlMs',
    ] as const) {
      if (!Number.isFinite(policies[key]) || policies[key] <= 0) {
        throw new WacloudError('CONFIG_INVALID', `policies.${key} must be a positive number`);
      }
    }
    this.policies = Object.freeze(policies);
    this.instanceId = options.instanceId ?? `tm-${randomUUID()}`;
    this.#logger = options.logger ?? silentLogger;
    this.#random = options.random ?? Math.random;
    this.#events = new TokenEventHub(this.#logger);
    this.#onRotated = options.onRotated;
  }

  // ---------------------------------------------------------------- events

  /** Listens to one event type, or `'*'` for all. Returns an unsubscribe function. */
  on<T extends TokenEventType>(type: T | '*', listener: TokenEventListener<T>): () => void {
    return this.#events.on(type, listener);
  }

  #emit(event: TokenEvent): void {
    const level = event.type === 'credential.invalid' || event.type.endsWith('_failed') ? 'warn' : 'info';
    this.#logger[level](event.type, { ...event });
    this.#events.emit(event);
  }

  #base(rec: CredentialRecord): Omit<Extract<TokenEvent, { type: 'credential.revoked' }>, 'type'> {
    return {
      credentialId: rec.id,
      tenantId: rec.tenantId,
      kind: rec.kind,
      status: rec.status,
      version: rec.version,
      atMs: this.clock.now(),
    };
  }

  // ---------------------------------------------------------------- token lookup (the send path)

  /**
   * A {@link TokenProvider} for one credential: `getToken` is an in-memory lookup of the latest version (a store read
   * only the first time); `onTokenRejected` retries once with a newer version, or inspects and marks the credential.
   */
  tokenProvider(credentialId: string): TokenProvider {
    return {
      getToken: () => this.getToken(credentialId),
      onTokenRejected: (token, error) => this.#onRejected(credentialId, token, error),
    };
  }

  /** The current token of a credential. Throws {@link CredentialUnavailableError} once it is invalid, expired or revoked. */
  getToken(credentialId: string): Secret | Promise<Secret> {
    const entry = this.#cache.get(credentialId);
    if (entry) {
      // Stale (a rotation notice may have been lost): serve this one, re-read in the background.
      if (this.clock.now() - entry.loadedAtMs >= this.policies.cacheTtlMs)
        this.#reloadInBackground(credentialId);
      return this.#usable(entry);
    }
    return this.#load(credentialId).then((e) => this.#usable(e));
  }

  #reloadInBackground(id: string): void {
    if (this.#reloading.has(id)) return;
    const p = this.refreshFromStore(id)
      .catch((err) => {
        // The store is unreachable: keep serving the cached token; count the TTL again before the next try.
        const entry = this.#cache.get(id);
        if (entry) entry.loadedAtMs = this.clock.now();
        this.#logger.warn('token manager: could not re-read a credential', { credentialId: id, err });
      })
      .finally(() => this.#reloading.delete(id));
    this.#reloading.set(id, p);
    this.#track(p);
  }

  /**
   * Another instance stored `version` of a credential (a rotation notice): re-reads it unless the cached version is
   * newer. The same version is re-read too: that notice carries a status change (revoked, invalid, removed). Nothing
   * happens for credentials this instance has not used (their first use reads the store anyway).
   */
  async reload(credentialId: string, version: number): Promise<void> {
    const entry = this.#cache.get(credentialId);
    if (!entry || entry.version > version) return;
    await this.refreshFromStore(credentialId);
  }

  /** Re-reads every cached credential (after a lost listener connection: notices may have been missed). */
  async resyncAll(): Promise<{ checked: number; changed: number }> {
    const ids = [...this.#cache.keys()];
    let changed = 0;
    let i = 0;
    const worker = async (): Promise<void> => {
      while (i < ids.length) {
        const id = ids[i++] as string;
        const before = this.#cache.get(id)?.version;
        const rec = await this.refreshFromStore(id);
        if (rec?.version !== before) changed++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(8, ids.length) }, worker));
    return { checked: ids.length, changed };
  }

  /** Version of a credential's cached token, if any (diagnostics and tests). */
  cachedVersion(credentialId: string): number | undefined {
    return this.#cache.get(credentialId)?.version;
  }

  #usable(entry: CacheEntry): Secret {
    if (TERMINAL.has(entry.status)) {
      throw new CredentialUnavailableError(entry.id, entry.tenantId, entry.status, entry.lastError);
    }
    return entry.token;
  }

  async #load(id: string): Promise<CacheEntry> {
    const rec = await this.store.get(id);
    if (!rec) throw new CredentialNotFoundError(id);
    this.#apply(rec);
    return this.#cache.get(id) as CacheEntry;
  }

  /** Puts a stored record into the cache if it is not older than what is there. Returns true when the token changed. */
  #apply(rec: CredentialRecord): boolean {
    const cur = this.#cache.get(rec.id);
    if (cur && cur.version > rec.version) return false;
    const changed = cur !== undefined && !cur.token.equals(rec.token);
    this.#cache.set(rec.id, {
      id: rec.id,
      tenantId: rec.tenantId,
      kind: rec.kind,
      version: rec.version,
      token: rec.token,
      status: rec.status,
      lastError: rec.lastError,
      loadedAtMs: this.clock.now(),
    });
    this.#dueAt.set(rec.id, rec.nextCheckAtMs);
    return changed;
  }

  /**
   * Re-reads a credential from the store, for when another instance rotated it (the broker calls this on a
   * PostgreSQL NOTIFY). Emits `credential.rotated` with source `store` when the token changed.
   */
  async refreshFromStore(credentialId: string): Promise<CredentialRecord | undefined> {
    const rec = await this.store.get(credentialId);
    if (!rec) {
      this.#cache.delete(credentialId);
      this.#dueAt.delete(credentialId);
      return undefined;
    }
    const previous = this.#cache.get(credentialId);
    if (this.#apply(rec) && previous) {
      this.#emit({
        type: 'credential.rotated',
        ...this.#base(rec),
        previousVersion: previous.version,
        source: 'store',
      });
    }
    this.#kick();
    return rec;
  }

  async #onRejected(id: string, token: Secret, error: GraphError): Promise<Secret | undefined> {
    const cached = this.#cache.get(id);
    if (cached && !cached.token.equals(token) && !TERMINAL.has(cached.status)) return cached.token;
    let inflight = this.#suspects.get(id);
    if (!inflight) {
      inflight = this.#inspectSuspect(id, token, error).finally(() => this.#suspects.delete(id));
      this.#suspects.set(id, inflight);
      this.#track(inflight);
    }
    const next = await inflight;
    return next && !next.equals(token) ? next : undefined;
  }

  /** A 190 was seen with `token`: is there a newer version? If not, ask Graph and mark the credential. */
  async #inspectSuspect(id: string, token: Secret, error: GraphError): Promise<Secret | undefined> {
    const rec = await this.refreshFromStore(id);
    if (!rec) return undefined;
    if (!rec.token.equals(token)) return TERMINAL.has(rec.status) ? undefined : rec.token;
    if (TERMINAL.has(rec.status)) return undefined;
    this.#logger.warn('token rejected by Graph; inspecting', {
      credentialId: id,
      tenantId: rec.tenantId,
      graphCode: error.graphCode,
      graphSubcode: error.graphSubcode,
    });
    let inspection: TokenInspection;
    try {
      inspection = await this.auth.inspect(rec.token);
    } catch (err) {
      // Graph is down or refuses the inspection: leave the state alone and look again soon.
      await this.#write(rec, { nextCheckAtMs: this.clock.now(), lastError: messageOf(err) });
      this.#kick();
      return undefined;
    }
    if (inspection.isValid) {
      // Graph still vouches for the token: the 190 was about something else; there is nothing newer to retry with.
      await this.#checked(rec, inspection, 'token-rejected');
      return undefined;
    }
    const after = await this.#markFromInspection(rec, inspection, 'token-rejected');
    return after && !after.token.equals(token) && !TERMINAL.has(after.status) ? after.token : undefined;
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
    let fields: Pick<
      CredentialRecord,
      'kind' | 'subjectId' | 'scopes' | 'targetIds' | 'issuedAtMs' | 'expiresAtMs' | 'dataAccessExpiresAtMs'
    >;
    if (input.inspect === false) {
      if (!input.kind) throw new ValidationError('is required when inspect is false', 'kind');
      fields = {
        kind: input.kind,
        subjectId: input.subjectId ?? null,
        scopes: input.scopes ?? [],
        targetIds: input.targetIds ?? [],
        issuedAtMs: input.issuedAtMs ?? null,
        expiresAtMs: input.expiresAtMs ?? null,
        dataAccessExpiresAtMs: input.dataAccessExpiresAtMs ?? null,
      };
    } else {
      const inspection = await this.auth.inspect(token);
      if (!inspection.isValid) {
        const expired = inspection.error?.subcode === 463;
        throw new OAuthError(
          expired ? 'token-expired' : 'token-invalid',
          expired
            ? 'The token has expired: nothing was stored. Log in again to get a new one.'
            : `The token is not valid (${describeTokenSubcode(inspection.error?.subcode)}): nothing was stored.`,
          { graphCode: inspection.error?.code, graphSubcode: inspection.error?.subcode },
        );
      }
      assertUsable(inspection, this.auth.appId);
      const kind = credentialKindOf(inspection, now, input.kind) ?? input.kind;
      if (!kind) throw new ValidationError(`debug_token type "${inspection.type}" is not supported`, 'token');
      fields = {
        kind,
        subjectId: inspection.userId ?? input.subjectId ?? null,
        scopes: inspection.scopes,
        targetIds: allTargetIds(inspection),
        issuedAtMs: inspection.issuedAtMs ?? now,
        expiresAtMs: inspection.expiresAtMs,
        dataAccessExpiresAtMs: inspection.dataAccessExpiresAtMs,
      };
    }
    if (fields.kind === 'app') {
      throw new ValidationError(
        'app tokens are derived from the app secret when needed and never stored (design.md)',
        'token',
      );
    }
    if (fields.expiresAtMs !== null && fields.expiresAtMs <= now) {
      throw new OAuthError('token-expired', 'The token has already expired: nothing was stored.');
    }
    const draft = { ...fields, status: 'active' as CredentialStatus, token };
    const status = this.#statusFor(draft, now);
    const rec = await this.store.insert(
      {
        ...draft,
        id: input.id,
        tenantId: input.tenantId,
        appId: this.auth.appId,
        status,
        nextCheckAtMs: this.#nextCheckAt({ ...draft, status, failures: 0 }, now),
      },
      now,
    );
    this.#apply(rec);
    this.#emit({ type: 'credential.added', ...this.#base(rec), expiresAtMs: rec.expiresAtMs });
    // Already inside a warning window at insert: say so now, since no scheduled boundary lies ahead for it.
    this.#warnOnAdd(rec, now);
    if (renewMethodOf(rec) === 'exchange-short-lived' && this.policies.exchangeShortLived) {
      try {
        return await this.renew(rec.id, 'add');
      } catch {
        // Recorded (failures, next attempt, event); the short-lived token stays usable meanwhile.
        return (await this.store.get(rec.id)) ?? rec;
      }
    }
    this.#kick();
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
      inflight = this.#renewNow(id, trigger).finally(() => this.#renewing.delete(id));
      this.#renewing.set(id, inflight);
      this.#track(inflight);
    }
    return inflight;
  }

  async #renewNow(id: string, trigger: TokenEventTrigger): Promise<CredentialRecord> {
    const now = this.clock.now();
    let rec: CredentialRecord | undefined;
    if (this.store.claim) {
      rec = await this.store.claim(id, this.instanceId, now, this.policies.leaseMs);
      if (!rec) {
        const current = await this.store.get(id);
        if (!current) throw new CredentialNotFoundError(id);
        // Another instance holds the lease and is renewing: its new version reaches us through the store.
        this.#apply(current);
        return current;
      }
    } else {
      rec = await this.store.get(id);
      if (!rec) throw new CredentialNotFoundError(id);
    }
    this.#apply(rec);
    if (TERMINAL.has(rec.status)) {
      await this.#release(rec);
      throw new CredentialUnavailableError(rec.id, rec.tenantId, rec.status, rec.lastError);
    }
    // A sweep works through a batch claimed earlier: when a slow batch outlived its lease, another instance may have
    // renewed this credential already. Renewing what is no longer due would refresh it at Meta a second time.
    const renewAt = this.#renewAt(rec);
    if (trigger === 'schedule' && renewAt !== undefined && renewAt > now) {
      await this.#release(rec);
      return rec;
    }
    const method = renewMethodOf(rec);
    if (!method) {
      await this.#release(rec);
      throw new ValidationError(
        `a ${rec.kind} token${rec.expiresAtMs === null ? ' that never expires' : ''} cannot be renewed; ${
          rec.kind === 'user-long' ? 'the person must log in again before it expires' : 'nothing to do'
        }`,
        'credential',
      );
    }
    let fresh: { accessToken: Secret; expiresAtMs: number | null };
    try {
      fresh =
        method === 'exchange-short-lived'
          ? await this.auth.exchangeForLongLived(rec.token)
          : await this.auth.refreshSystemUserToken(rec.token);
    } catch (err) {
      await this.#renewalFailed(rec, err, trigger);
      throw err;
    }
    const at = this.clock.now();
    const kind: CredentialKind = method === 'exchange-short-lived' ? 'user-long' : rec.kind;
    const expiresAtMs = fresh.expiresAtMs ?? (method === 'renew-60-day' ? at + 60 * DAY_MS : rec.expiresAtMs);
    const sameToken = fresh.accessToken.equals(rec.token);
    const next = { ...rec, kind, expiresAtMs, status: 'active' as CredentialStatus, failures: 0 };
    next.status = this.#statusFor(next, at);
    const patch: CredentialPatch = {
      kind,
      expiresAtMs,
      status: next.status,
      failures: 0,
      lastError: null,
      nextCheckAtMs: this.#nextCheckAt(next, at),
      leaseOwner: null,
      leaseExpiresAtMs: null,
    };
    if (!sameToken) {
      patch.token = new Secret(fresh.accessToken.reveal(), 'access-token');
      patch.issuedAtMs = at;
    }
    let updated: CredentialRecord | undefined;
    try {
      updated = await this.store.update(rec.id, rec.version, patch, at);
    } catch (err) {
      // The store failed: the new token is dropped, the old one stays in use (it still works), and we retry later.
      this.#logger.error('could not store a renewed token; keeping the current one', {
        credentialId: rec.id,
        err,
      });
      await this.#release(rec).catch(() => undefined);
      throw err;
    }
    if (!updated) {
      // Another writer rotated first: theirs wins (ours is simply never used).
      const current = await this.refreshFromStore(rec.id);
      await this.#release(rec).catch(() => undefined);
      if (!current) throw new CredentialNotFoundError(rec.id);
      return current;
    }
    this.#apply(updated);
    this.#kick();
    if (sameToken) {
      // Graph handed the same token back (a never-expiring system-user token, a long-lived re-exchange).
      return updated;
    }
    this.#emit({
      type: 'credential.refreshed',
      ...this.#base(updated),
      previousVersion: rec.version,
      method,
      expiresAtMs: updated.expiresAtMs,
      trigger,
    });
    this.#rotated(updated, rec.version, 'renewal');
    return updated;
  }

  #rotated(rec: CredentialRecord, previousVersion: number, source: 'renewal' | 'replace'): void {
    this.#emit({ type: 'credential.rotated', ...this.#base(rec), previousVersion, source });
    this.#announce(rec);
  }

  /** Tells the other instances (through the onRotated hook) to re-read this credential. */
  #announce(rec: CredentialRecord): void {
    try {
      this.#onRotated?.({ credentialId: rec.id, tenantId: rec.tenantId, version: rec.version });
    } catch (err) {
      this.#logger.error('onRotated hook failed', { credentialId: rec.id, err });
    }
  }

  async #renewalFailed(rec: CredentialRecord, err: unknown, trigger: TokenEventTrigger): Promise<void> {
    if (err instanceof OAuthError && (err.reason === 'token-expired' || err.reason === 'token-invalid')) {
      // Graph refuses the token itself: look at it and mark it (expired / invalid) rather than retrying forever.
      let inspection: TokenInspection | undefined;
      try {
        inspection = await this.auth.inspect(rec.token);
      } catch {
        inspection = undefined;
      }
      if (inspection && !inspection.isValid) {
        await this.#markFromInspection(rec, inspection, trigger);
        return;
      }
      if (!inspection && err.reason === 'token-expired') {
        await this.#markTerminal(rec, 'expired', 'the token expired before it could be renewed', trigger);
        return;
      }
    }
    const now = this.clock.now();
    const failures = rec.failures + 1;
    const retryAt = now + this.#backoff(failures);
    const next = { ...rec, failures };
    const status = this.#statusFor(next, now);
    const nextCheckAtMs = this.#nextCheckAt({ ...next, status }, now, retryAt);
    const error = messageOf(err);
    const updated = await this.#write(rec, {
      failures,
      lastError: error,
      status,
      nextCheckAtMs,
      leaseOwner: null,
      leaseExpiresAtMs: null,
    });
    if (!updated) return;
    this.#emit({
      type: 'credential.renewal_failed',
      ...this.#base(updated),
      failures,
      nextAttemptAtMs: nextCheckAtMs,
      error,
      trigger,
    });
  }

  /** Runs a `debug_token` health check now. */
  async check(id: string): Promise<CredentialRecord> {
    const rec = await this.store.get(id);
    if (!rec) throw new CredentialNotFoundError(id);
    // Meta never revives a dead token: a terminal credential needs a new one (replaceToken), not another look.
    if (TERMINAL.has(rec.status)) return rec;
    return (await this.#check(rec, 'manual')) ?? rec;
  }

  async #check(rec: CredentialRecord, trigger: TokenEventTrigger): Promise<CredentialRecord | undefined> {
    let inspection: TokenInspection;
    try {
      inspection = await this.auth.inspect(rec.token);
    } catch (err) {
      const now = this.clock.now();
      const failures = rec.failures + 1;
      const retryAt = now + this.#backoff(failures);
      const status = this.#statusFor(rec, now);
      const nextCheckAtMs = this.#nextCheckAt({ ...rec, failures, status }, now, retryAt);
      const error = messageOf(err);
      const updated = await this.#write(rec, {
        failures,
        lastError: error,
        status,
        nextCheckAtMs,
        leaseOwner: null,
        leaseExpiresAtMs: null,
      });
      if (updated) {
        this.#emit({
          type: 'credential.check_failed',
          ...this.#base(updated),
          failures,
          nextAttemptAtMs: nextCheckAtMs,
          error,
          trigger,
        });
      }
      return updated;
    }
    if (!inspection.isValid) return this.#markFromInspection(rec, inspection, trigger);
    return this.#checked(rec, inspection, trigger);
  }

  async #checked(
    rec: CredentialRecord,
    inspection: TokenInspection,
    trigger: TokenEventTrigger,
  ): Promise<CredentialRecord | undefined> {
    const now = this.clock.now();
    const next = {
      ...rec,
      expiresAtMs: inspection.expiresAtMs,
      dataAccessExpiresAtMs: inspection.dataAccessExpiresAtMs,
      failures: 0,
    };
    const status = this.#statusFor({ ...next, status: 'active' }, now);
    const updated = await this.#write(rec, {
      expiresAtMs: next.expiresAtMs,
      dataAccessExpiresAtMs: next.dataAccessExpiresAtMs,
      scopes: inspection.scopes,
      targetIds: allTargetIds(inspection),
      subjectId: inspection.userId ?? rec.subjectId,
      status,
      failures: 0,
      lastError: null,
      nextCheckAtMs: this.#nextCheckAt({ ...next, status }, now),
      leaseOwner: null,
      leaseExpiresAtMs: null,
    });
    if (updated) {
      this.#emit({
        type: 'credential.checked',
        ...this.#base(updated),
        expiresAtMs: updated.expiresAtMs,
        dataAccessExpiresAtMs: updated.dataAccessExpiresAtMs,
        trigger,
      });
    }
    return updated;
  }

  async #markFromInspection(
    rec: CredentialRecord,
    inspection: TokenInspection,
    trigger: TokenEventTrigger,
  ): Promise<CredentialRecord | undefined> {
    const sub = inspection.error?.subcode;
    const now = this.clock.now();
    const expired = sub === 463 || (sub === undefined && rec.expiresAtMs !== null && now >= rec.expiresAtMs);
    return this.#markTerminal(
      rec,
      expired ? 'expired' : 'invalid',
      expired ? 'the token has expired' : describeTokenSubcode(sub),
      trigger,
      inspection.error?.code,
      sub,
    );
  }

  async #markTerminal(
    rec: CredentialRecord,
    status: 'expired' | 'invalid',
    reason: string,
    trigger: TokenEventTrigger,
    graphCode?: number,
    graphSubcode?: number,
  ): Promise<CredentialRecord | undefined> {
    const updated = await this.#write(rec, {
      status,
      lastError: reason,
      nextCheckAtMs: NEVER_MS,
      leaseOwner: null,
      leaseExpiresAtMs: null,
    });
    if (!updated) return undefined;
    if (status === 'expired') {
      this.#emit({
        type: 'credential.expired',
        ...this.#base(updated),
        expiresAtMs: updated.expiresAtMs,
        trigger,
      });
    } else {
      this.#emit({
        type: 'credential.invalid',
        ...this.#base(updated),
        reason,
        graphCode,
        graphSubcode,
        trigger,
      });
    }
    this.#announce(updated);
    return updated;
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
    const next = {
      ...rec,
      kind,
      token: secret,
      expiresAtMs: inspection.expiresAtMs,
      dataAccessExpiresAtMs: inspection.dataAccessExpiresAtMs,
      status: 'active' as CredentialStatus,
      failures: 0,
    };
    next.status = this.#statusFor(next, now);
    const updated = await this.store.update(
      id,
      rec.version,
      {
        token: secret,
        kind,
        scopes: inspection.scopes,
        targetIds: allTargetIds(inspection),
        subjectId: inspection.userId ?? rec.subjectId,
        issuedAtMs: inspection.issuedAtMs ?? now,
        expiresAtMs: next.expiresAtMs,
        dataAccessExpiresAtMs: next.dataAccessExpiresAtMs,
        status: next.status,
        failures: 0,
        lastError: null,
        nextCheckAtMs: this.#nextCheckAt(next, now),
      },
      now,
    );
    if (!updated) {
      throw new WacloudError('CONFLICT', `credential ${id} changed meanwhile; read it again and retry`);
    }
    this.#apply(updated);
    if (updated.version !== rec.version) this.#rotated(updated, rec.version, 'replace');
    if (renewMethodOf(updated) === 'exchange-short-lived' && this.policies.exchangeShortLived) {
      return this.renew(id, 'manual').catch(async () => (await this.store.get(id)) ?? updated);
    }
    this.#kick();
    return updated;
  }

  /** Revokes the token at Meta (`/oauth/revoke`) and marks the credential `revoked`. Nothing changes if Graph fails. */
  async revoke(id: string): Promise<CredentialRecord> {
    const rec = await this.store.get(id);
    if (!rec) throw new CredentialNotFoundError(id);
    await this.auth.revoke(rec.token);
    const updated = await this.#write(rec, {
      status: 'revoked',
      nextCheckAtMs: NEVER_MS,
      lastError: 'revoked',
      leaseOwner: null,
      leaseExpiresAtMs: null,
    });
    const final = updated ?? rec;
    this.#emit({ type: 'credential.revoked', ...this.#base(final) });
    this.#announce(final);
    return final;
  }

  /** Deletes a credential from the store (the token is not revoked; call {@link revoke} first for that). */
  async removeCredential(id: string): Promise<void> {
    const rec = await this.store.get(id);
    await this.store.delete(id);
    this.#cache.delete(id);
    this.#dueAt.delete(id);
    if (rec) {
      this.#emit({ type: 'credential.removed', ...this.#base(rec) });
      this.#announce(rec);
    }
  }

  /** Compare-and-set write; on a version conflict the newer record is applied and undefined returned. */
  async #write(rec: CredentialRecord, patch: CredentialPatch): Promise<CredentialRecord | undefined> {
    const updated = await this.store.update(rec.id, rec.version, patch, this.clock.now());
    if (updated) {
      this.#apply(updated);
      return updated;
    }
    await this.refreshFromStore(rec.id);
    return undefined;
  }

  async #release(rec: CredentialRecord): Promise<void> {
    await this.store.releaseLease(rec.id, this.instanceId, this.clock.now());
  }

  // ---------------------------------------------------------------- policy arithmetic

  #backoff(failures: number): number {
    const ceiling = Math.min(
      this.policies.retryMaxMs,
      this.policies.retryBaseMs * 2 ** Math.max(0, failures - 1),
    );
    return Math.floor(ceiling * (0.5 + this.#random() / 2));
  }

  #renewAt(rec: Pick<CredentialRecord, 'kind' | 'expiresAtMs'>): number | undefined {
    const method = renewMethodOf(rec);
    if (method === 'exchange-short-lived') return this.policies.exchangeShortLived ? 0 : undefined;
    if (method === 'renew-60-day' && rec.expiresAtMs !== null) {
      return rec.expiresAtMs - this.policies.renewBeforeExpiryMs;
    }
    return undefined;
  }

  /** The status a live credential has at `now` (terminal states are kept). */
  #statusFor(
    rec: Pick<CredentialRecord, 'kind' | 'status' | 'expiresAtMs' | 'dataAccessExpiresAtMs'>,
    now: number,
  ): CredentialStatus {
    if (TERMINAL.has(rec.status)) return rec.status;
    if (rec.expiresAtMs !== null && now >= rec.expiresAtMs) return 'expired';
    const window = this.policies.expiryWarningsMs[0] ?? 0;
    const renewAt = this.#renewAt(rec);
    if (
      rec.expiresAtMs !== null &&
      rec.expiresAtMs - now <= window &&
      (renewAt === undefined || now >= renewAt)
    ) {
      return 'expiring';
    }
    if (rec.dataAccessExpiresAtMs !== null && rec.dataAccessExpiresAtMs - now <= window) return 'expiring';
    return 'active';
  }

  /** Warning boundaries (times) of a credential, with what they are about. */
  #boundaries(
    rec: Pick<CredentialRecord, 'kind' | 'expiresAtMs' | 'dataAccessExpiresAtMs'>,
  ): { at: number; which: 'token' | 'data-access'; expiresAtMs: number }[] {
    const out: { at: number; which: 'token' | 'data-access'; expiresAtMs: number }[] = [];
    const renewAt = this.#renewAt(rec);
    if (rec.expiresAtMs !== null) {
      for (const w of this.policies.expiryWarningsMs) {
        const at = rec.expiresAtMs - w;
        // A renewable token is warned about only once its renewal is overdue.
        if (renewAt === undefined || at >= renewAt)
          out.push({ at, which: 'token', expiresAtMs: rec.expiresAtMs });
      }
    }
    // Data access matters when it ends before the token does.
    const da = rec.dataAccessExpiresAtMs;
    if (da !== null && (rec.expiresAtMs === null || da < rec.expiresAtMs)) {
      for (const w of this.policies.expiryWarningsMs)
        out.push({ at: da - w, which: 'data-access', expiresAtMs: da });
    }
    return out;
  }

  /**
   * When to look at a credential next: the earliest of its health check, renewal time, warning boundaries and expiry.
   * `retryAtMs` replaces a renewal that is already due (after a failure).
   */
  #nextCheckAt(
    rec: Pick<CredentialRecord, 'kind' | 'status' | 'expiresAtMs' | 'dataAccessExpiresAtMs' | 'failures'>,
    now: number,
    retryAtMs?: number,
  ): number {
    if (TERMINAL.has(rec.status)) return NEVER_MS;
    let next = now + this.policies.healthCheckIntervalMs;
    const renewAt = this.#renewAt(rec);
    if (renewAt !== undefined) next = Math.min(next, renewAt <= now ? (retryAtMs ?? now) : renewAt);
    else if (retryAtMs !== undefined) next = Math.min(next, retryAtMs);
    if (rec.expiresAtMs !== null && rec.expiresAtMs > now) next = Math.min(next, rec.expiresAtMs);
    if (rec.dataAccessExpiresAtMs !== null && rec.dataAccessExpiresAtMs > now) {
      next = Math.min(next, rec.dataAccessExpiresAtMs);
    }
    for (const b of this.#boundaries(rec)) if (b.at > now) next = Math.min(next, b.at);
    return next;
  }

  /** Emits `credential.expiring` for boundaries in [fromMs, now]. */
  #warn(rec: CredentialRecord, fromMs: number, now: number): void {
    if (TERMINAL.has(rec.status)) return;
    const seen = new Set<string>();
    for (const b of this.#boundaries(rec)) {
      if (b.at < fromMs || b.at > now || b.expiresAtMs <= now || seen.has(b.which)) continue;
      seen.add(b.which);
      this.#emit({
        type: 'credential.expiring',
        ...this.#base(rec),
        which: b.which,
        expiresAtMs: b.expiresAtMs,
        msLeft: b.expiresAtMs - now,
        renewable: b.which === 'token' && renewMethodOf(rec) !== undefined,
      });
    }
  }

  #warnOnAdd(rec: CredentialRecord, now: number): void {
    if (renewMethodOf(rec) === 'exchange-short-lived') return;
    const window = this.policies.expiryWarningsMs[0] ?? 0;
    this.#warn(rec, now - window, now);
  }

  // ---------------------------------------------------------------- scheduler

  /** Processes every due credential once (what the scheduler does on each tick). Returns how many were claimed. */
  async runDue(): Promise<number> {
    const now = this.clock.now();
    const claimed = await this.store.claimDue(
      now,
      this.policies.batchSize,
      this.instanceId,
      this.policies.leaseMs,
    );
    let i = 0;
    const worker = async (): Promise<void> => {
      while (i < claimed.length) {
        const rec = claimed[i++] as CredentialRecord;
        try {
          await this.#process(rec);
        } catch (err) {
          this.#logger.error('token manager: processing a credential failed', { credentialId: rec.id, err });
          await this.#release(rec).catch(() => undefined);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.policies.concurrency, claimed.length) }, worker));
    return claimed.length;
  }

  async #process(rec: CredentialRecord): Promise<void> {
    this.#apply(rec);
    const scheduledAt = rec.nextCheckAtMs;
    const now = this.clock.now();
    if (TERMINAL.has(rec.status)) {
      await this.#write(rec, { nextCheckAtMs: NEVER_MS, leaseOwner: null, leaseExpiresAtMs: null });
      return;
    }
    if (rec.expiresAtMs !== null && now >= rec.expiresAtMs) {
      await this.#markTerminal(rec, 'expired', 'the token has expired', 'schedule');
      return;
    }
    const renewAt = this.#renewAt(rec);
    if (renewAt !== undefined && now >= renewAt) {
      try {
        const renewed = await this.renew(rec.id, 'schedule');
        if (renewed.version !== rec.version) return;
      } catch {
        // Recorded by the renewal (failures, back-off, event).
      }
      const after = await this.store.get(rec.id);
      if (after) this.#warn(after, scheduledAt, this.clock.now());
      return;
    }
    const after = await this.#check(rec, 'schedule');
    if (after) this.#warn(after, scheduledAt, this.clock.now());
  }

  /** Starts the scheduler loop (idempotent). It sleeps on the injected clock until the next credential is due. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    while (this.#running) {
      let claimed = 0;
      const sweep = this.runDue();
      this.#track(sweep);
      try {
        claimed = await sweep;
      } catch (err) {
        this.#logger.error('token manager sweep failed', { err });
      }
      if (!this.#running) break;
      if (claimed >= this.policies.batchSize) continue;
      const now = this.clock.now();
      let wait = Math.min(this.policies.pollIntervalMs, this.#earliestDue() - now);
      // Due work that could not be claimed (another instance holds it): do not spin.
      if (wait <= 0) wait = claimed === 0 ? Math.min(1000, this.policies.pollIntervalMs) : 0;
      const wake = new AbortController();
      this.#wake = wake;
      try {
        await this.clock.sleep(wait, wake.signal);
      } catch {
        // Woken early: something changed.
      }
      this.#wake = undefined;
    }
  }

  #earliestDue(): number {
    let min = NEVER_MS;
    for (const at of this.#dueAt.values()) if (at < min) min = at;
    return min;
  }

  /** Wakes the scheduler to recompute its next wake-up (after an add, a rotation, a store refresh). */
  #kick(): void {
    this.#wake?.abort();
  }

  #track(p: Promise<unknown>): void {
    this.#pending.add(p);
    p.then(
      () => this.#pending.delete(p),
      () => this.#pending.delete(p),
    );
  }

  /** Resolves once no sweep, renewal or inspection started so far is still running (tests, graceful shutdown). */
  async idle(): Promise<void> {
    // One macrotask first, so a scheduler woken by a clock advance has started its sweep before we look.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.#pending.size > 0) {
      await Promise.allSettled([...this.#pending]);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Stops the scheduler and waits for work in progress. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#kick();
    await this.#loop;
    this.#loop = undefined;
    await this.idle();
  }

  /** Stops and releases the auth client's pool if the manager created it. */
  async close(): Promise<void> {
    await this.stop();
    if (this.#ownsAuth) await this.auth.close();
  }
}

/** Creates a {@link TokenManager}. */
export function createTokenManager(options: TokenManagerOptions = {}): TokenManager {
  return new TokenManager(options);
}
