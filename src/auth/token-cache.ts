import { WacloudError } from '../core/errors.js';
import type { Secret } from '../core/secret.js';
import type { CredentialKind, CredentialRecord, CredentialStatus } from './credential-store.js';
import { isTerminal, NEVER_MS } from './token-policy.js';

/** A token as served: the value and the credential version it belongs to (they always travel together). */
export interface VersionedToken {
  token: Secret;
  version: number;
}

export interface TokenCacheEntry extends VersionedToken {
  id: string;
  tenantId: string;
  kind: CredentialKind;
  status: CredentialStatus;
  lastError: string | null;
  /** When this entry was read from the store (or written by us), on the manager's clock: the TTL counts from it. */
  loadedAtMs: number;
}

/**
 * The send path's memory: the latest known version of each credential this instance used, and when each is next
 * due (which the scheduler sleeps towards). Never older than what it holds: a record with a lower version is ignored.
 */
export class TokenCache {
  readonly #entries = new Map<string, TokenCacheEntry>();
  /** Next check time of every credential this instance knows: the scheduler sleeps until the earliest. */
  readonly #dueAt = new Map<string, number>();

  get(id: string): TokenCacheEntry | undefined {
    return this.#entries.get(id);
  }

  ids(): string[] {
    return [...this.#entries.keys()];
  }

  /** Puts a stored record in if it is not older than what is there. Returns true when the token value changed. */
  apply(rec: CredentialRecord, nowMs: number): boolean {
    const cur = this.#entries.get(rec.id);
    if (cur && cur.version > rec.version) return false;
    const changed = cur !== undefined && !cur.token.equals(rec.token);
    this.#entries.set(rec.id, {
      id: rec.id,
      tenantId: rec.tenantId,
      kind: rec.kind,
      version: rec.version,
      token: rec.token,
      status: rec.status,
      lastError: rec.lastError,
      loadedAtMs: nowMs,
    });
    this.#dueAt.set(rec.id, rec.nextCheckAtMs);
    return changed;
  }

  /** Counts the TTL again (after a failed re-read: keep serving, try later). */
  touch(id: string, nowMs: number): void {
    const entry = this.#entries.get(id);
    if (entry) entry.loadedAtMs = nowMs;
  }

  isStale(entry: TokenCacheEntry, nowMs: number, ttlMs: number): boolean {
    return nowMs - entry.loadedAtMs >= ttlMs;
  }

  delete(id: string): void {
    this.#entries.delete(id);
    this.#dueAt.delete(id);
  }

  /** The earliest next-check time of any known credential (NEVER_MS when none). */
  earliestDue(): number {
    let min = NEVER_MS;
    for (const at of this.#dueAt.values()) if (at < min) min = at;
    return min;
  }
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

/** The entry's token and version, or {@link CredentialUnavailableError} once it is invalid, expired or revoked. */
export function usableToken(entry: TokenCacheEntry): VersionedToken {
  if (isTerminal(entry.status)) {
    throw new CredentialUnavailableError(entry.id, entry.tenantId, entry.status, entry.lastError);
  }
  return { token: entry.token, version: entry.version };
}
