import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { scrubText } from '../core/secret.js';
import {
  CredentialNotFoundError,
  type CredentialPatch,
  type CredentialRecord,
  type CredentialStore,
} from './credential-store.js';
import { TokenCache, type TokenCacheEntry } from './token-cache.js';
import type { TokenEvent, TokenEventHub, TokenEventTrigger } from './token-events.js';
import { describeTokenSubcode, type TokenInspection } from './token-inspection.js';
import {
  afterFailure,
  dueWarnings,
  NEVER_MS,
  renewMethodOf,
  type TokenPolicies,
  type WarningBoundary,
} from './token-policy.js';

export interface TokenStoreSyncOptions {
  store: CredentialStore;
  clock: Clock;
  logger: Logger;
  policies: Readonly<TokenPolicies>;
  instanceId: string;
  random: () => number;
  events: TokenEventHub;
  /** Wakes the scheduler (its next due time may have moved). */
  kick(): void;
  onRotated?: ((info: { credentialId: string; tenantId: string; version: number }) => void) | undefined;
}

export type TokenEventBody<T extends TokenEvent['type']> = Omit<
  Extract<TokenEvent, { type: T }>,
  'type' | 'credentialId' | 'tenantId' | 'kind' | 'status' | 'version' | 'atMs'
>;

/** A scrubbed, bounded error text for `lastError` and events (never a token value). */
export function errorText(err: unknown): string {
  return scrubText(err instanceof Error ? err.message : String(err)).slice(0, 500);
}

/**
 * Store coordination for the token manager: every write is a version compare-and-set whose result (or, on a
 * conflict, the newer stored record) lands in the cache; leases are released here; the events and the cross-instance
 * announcement of a change go out from here; and the failure bookkeeping of renewals and checks lives here, once.
 */
export class TokenStoreSync {
  readonly cache = new TokenCache();
  readonly store: CredentialStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly policies: Readonly<TokenPolicies>;
  readonly instanceId: string;
  readonly #o: TokenStoreSyncOptions;

  constructor(options: TokenStoreSyncOptions) {
    this.#o = options;
    this.store = options.store;
    this.clock = options.clock;
    this.logger = options.logger;
    this.policies = options.policies;
    this.instanceId = options.instanceId;
  }

  // ---------------------------------------------------------------- events

  /** Logs the event (warnings for failures) and hands it to the listeners, with the credential's common fields. */
  emit<T extends TokenEvent['type']>(type: T, rec: CredentialRecord, body: TokenEventBody<T>): void {
    const event = {
      type,
      credentialId: rec.id,
      tenantId: rec.tenantId,
      kind: rec.kind,
      status: rec.status,
      version: rec.version,
      atMs: this.clock.now(),
      ...body,
    } as TokenEvent;
    const level = type === 'credential.invalid' || type.endsWith('_failed') ? 'warn' : 'info';
    this.logger[level](type, { ...event });
    this.#o.events.emit(event);
  }

  /** Tells the other instances (through the onRotated hook) to re-read this credential. */
  announce(rec: CredentialRecord): void {
    try {
      this.#o.onRotated?.({ credentialId: rec.id, tenantId: rec.tenantId, version: rec.version });
    } catch (err) {
      this.logger.error('onRotated hook failed', { credentialId: rec.id, err });
    }
  }

  /** A new token version this instance stored: event, then announcement. */
  rotated(rec: CredentialRecord, previousVersion: number, source: 'renewal' | 'replace'): void {
    this.emit('credential.rotated', rec, { previousVersion, source });
    this.announce(rec);
  }

  /** Emits `credential.expiring` for warning boundaries crossed in [fromMs, now]. */
  warn(rec: CredentialRecord, fromMs: number, now: number): void {
    this.emitWarnings(rec, dueWarnings(this.policies, rec, fromMs, now), now);
  }

  emitWarnings(rec: CredentialRecord, due: readonly WarningBoundary[], now: number): void {
    for (const b of due) {
      this.emit('credential.expiring', rec, {
        which: b.which,
        expiresAtMs: b.expiresAtMs,
        msLeft: b.expiresAtMs - now,
        renewable: b.which === 'token' && renewMethodOf(rec) !== undefined,
      });
    }
  }

  kick(): void {
    this.#o.kick();
  }

  // ---------------------------------------------------------------- reads

  /** Puts a record into the cache (ignored when older). Returns true when the token value changed. */
  apply(rec: CredentialRecord): boolean {
    return this.cache.apply(rec, this.clock.now());
  }

  async load(id: string): Promise<TokenCacheEntry> {
    const rec = await this.store.get(id);
    if (!rec) throw new CredentialNotFoundError(id);
    this.apply(rec);
    return this.cache.get(id) as TokenCacheEntry;
  }

  /** Re-reads a credential; emits `credential.rotated` (source `store`) when another writer changed its token. */
  async refresh(id: string): Promise<CredentialRecord | undefined> {
    const rec = await this.store.get(id);
    if (!rec) {
      this.cache.delete(id);
      return undefined;
    }
    const previous = this.cache.get(id);
    if (this.apply(rec) && previous) {
      this.emit('credential.rotated', rec, { previousVersion: previous.version, source: 'store' });
    }
    this.kick();
    return rec;
  }

  // ---------------------------------------------------------------- writes

  /** Compare-and-set write; on a version conflict the newer record is applied and undefined returned. */
  async write(rec: CredentialRecord, patch: CredentialPatch): Promise<CredentialRecord | undefined> {
    const updated = await this.store.update(rec.id, rec.version, patch, this.clock.now());
    if (updated) {
      this.apply(updated);
      return updated;
    }
    await this.refresh(rec.id);
    return undefined;
  }

  async release(rec: CredentialRecord): Promise<void> {
    await this.store.releaseLease(rec.id, this.instanceId, this.clock.now());
  }

  /**
   * The one place a failed renewal or health check is recorded: one more failure, a backed-off next attempt, the
   * lease released, then `credential.renewal_failed` / `credential.check_failed`.
   */
  async recordFailure(
    rec: CredentialRecord,
    err: unknown,
    type: 'credential.renewal_failed' | 'credential.check_failed',
    trigger: TokenEventTrigger,
  ): Promise<CredentialRecord | undefined> {
    const { failures, status, nextCheckAtMs } = afterFailure(
      this.policies,
      rec,
      this.clock.now(),
      this.#o.random(),
    );
    const error = errorText(err);
    const updated = await this.write(rec, {
      failures,
      lastError: error,
      status,
      nextCheckAtMs,
      leaseOwner: null,
      leaseExpiresAtMs: null,
    });
    if (updated) this.emit(type, updated, { failures, nextAttemptAtMs: nextCheckAtMs, error, trigger });
    return updated;
  }

  /** Marks a credential from an inspection that found its token dead: expired (463, or past expiry) or invalid. */
  async markFromInspection(
    rec: CredentialRecord,
    inspection: TokenInspection,
    trigger: TokenEventTrigger,
  ): Promise<CredentialRecord | undefined> {
    const sub = inspection.error?.subcode;
    const now = this.clock.now();
    const expired = sub === 463 || (sub === undefined && rec.expiresAtMs !== null && now >= rec.expiresAtMs);
    return this.markTerminal(
      rec,
      expired ? 'expired' : 'invalid',
      expired ? 'the token has expired' : describeTokenSubcode(sub),
      trigger,
      inspection.error?.code,
      sub,
    );
  }

  async markTerminal(
    rec: CredentialRecord,
    status: 'expired' | 'invalid',
    reason: string,
    trigger: TokenEventTrigger,
    graphCode?: number,
    graphSubcode?: number,
  ): Promise<CredentialRecord | undefined> {
    const updated = await this.write(rec, {
      status,
      lastError: reason,
      nextCheckAtMs: NEVER_MS,
      leaseOwner: null,
      leaseExpiresAtMs: null,
    });
    if (!updated) return undefined;
    if (status === 'expired') {
      this.emit('credential.expired', updated, { expiresAtMs: updated.expiresAtMs, trigger });
    } else {
      this.emit('credential.invalid', updated, { reason, graphCode, graphSubcode, trigger });
    }
    this.announce(updated);
    return updated;
  }
}
