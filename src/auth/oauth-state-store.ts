import type { Secret } from '../core/secret.js';

/** A login in progress, kept between the dialog URL and the callback. Keyed by the SHA-256 of its `state`. */
export interface OAuthStateRecord {
  /** SHA-256 (hex) of the state value; the value itself is never stored. */
  stateHash: string;
  redirectUri: string;
  codeVerifier: Secret | undefined;
  scopes: string[];
  configId: string | undefined;
  /** Who the resulting credential is for (the broker's tenant), when known. */
  tenantId: string | undefined;
  createdAtMs: number;
  expiresAtMs: number;
}

/** What {@link OAuthStateStore.consume} found. */
export type ConsumeStateResult =
  | { status: 'ok'; record: OAuthStateRecord }
  | { status: 'unknown' }
  | { status: 'used' }
  | { status: 'expired' };

/**
 * Single-use storage for pending logins. `consume` must be atomic: of two callbacks carrying the same state, exactly
 * one gets `ok`. The vault's SQLite/PostgreSQL store can implement this same interface ("OAuth states" table).
 */
export interface OAuthStateStore {
  save(record: OAuthStateRecord): Promise<void>;
  consume(stateHash: string, nowMs: number): Promise<ConsumeStateResult>;
}

/**
 * In-memory state store. Used states are remembered for a while so a replay is reported as a replay rather than as a
 * forgery; entries are purged an hour after they expire.
 */
export class MemoryOAuthStateStore implements OAuthStateStore {
  readonly #rows = new Map<string, { record: OAuthStateRecord; used: boolean }>();

  async save(record: OAuthStateRecord): Promise<void> {
    this.#purge(record.createdAtMs);
    this.#rows.set(record.stateHash, { record, used: false });
  }

  async consume(stateHash: string, nowMs: number): Promise<ConsumeStateResult> {
    const row = this.#rows.get(stateHash);
    this.#purge(nowMs);
    if (!row) return { status: 'unknown' };
    if (row.used) return { status: 'used' };
    row.used = true;
    if (nowMs >= row.record.expiresAtMs) return { status: 'expired' };
    return { status: 'ok', record: row.record };
  }

  /** Pending (unused, unexpired) logins; for tests and diagnostics. */
  pending(nowMs: number): number {
    let n = 0;
    for (const row of this.#rows.values()) if (!row.used && row.record.expiresAtMs > nowMs) n++;
    return n;
  }

  #purge(nowMs: number): void {
    // Expired rows linger an hour so a late callback is told "expired", not "unknown".
    for (const [key, row] of this.#rows) {
      if (row.record.expiresAtMs + 3_600_000 <= nowMs) this.#rows.delete(key);
    }
  }
}
