import { randomUUID } from 'node:crypto';
import { WacloudError } from '../core/errors.js';
import type { Secret } from '../core/secret.js';

/** Token kinds (design.md "Token lifecycle"). */
export type CredentialKind =
  | 'temporary'
  | 'user-short'
  | 'user-long'
  | 'system-user'
  | 'business-integration'
  | 'page'
  | 'app';

export type CredentialStatus = 'active' | 'expiring' | 'expired' | 'invalid' | 'revoked';

/** One credential as the token manager sees it. Times are ms since the epoch; null expiry means "never". */
export interface CredentialRecord {
  id: string;
  tenantId: string;
  kind: CredentialKind;
  appId: string;
  /** The user / system user the token belongs to. */
  subjectId: string | null;
  scopes: string[];
  /** Asset ids from granular scopes (WABAs, phone numbers). */
  targetIds: string[];
  token: Secret;
  /** Increments each time the token value changes; compare-and-set key. */
  version: number;
  issuedAtMs: number | null;
  expiresAtMs: number | null;
  dataAccessExpiresAtMs: number | null;
  status: CredentialStatus;
  /** When the manager should look at this credential next (renewal, health check, warning). Indexed. */
  nextCheckAtMs: number;
  leaseOwner: string | null;
  leaseExpiresAtMs: number | null;
  failures: number;
  /** A scrubbed, human-readable reason; never a token value. */
  lastError: string | null;
  createdAtMs: number;
  updatedAtMs: number;
}

/** A credential without its token: what listings, metrics and routing need (no decryption). */
export type CredentialSummary = Pick<
  CredentialRecord,
  'id' | 'tenantId' | 'kind' | 'version' | 'status' | 'expiresAtMs' | 'createdAtMs'
>;

export type NewCredential = Omit<
  CredentialRecord,
  | 'id'
  | 'version'
  | 'leaseOwner'
  | 'leaseExpiresAtMs'
  | 'failures'
  | 'lastError'
  | 'createdAtMs'
  | 'updatedAtMs'
> & { id?: string };

/** Fields an update may change. Setting `token` bumps `version`. */
export type CredentialPatch = Partial<
  Pick<
    CredentialRecord,
    | 'token'
    | 'kind'
    | 'scopes'
    | 'targetIds'
    | 'issuedAtMs'
    | 'expiresAtMs'
    | 'dataAccessExpiresAtMs'
    | 'status'
    | 'nextCheckAtMs'
    | 'leaseOwner'
    | 'leaseExpiresAtMs'
    | 'failures'
    | 'lastError'
    | 'subjectId'
  >
>;

/**
 * Where the token manager keeps credentials. In memory here; the vault's SQLite/PostgreSQL store implements the same
 * interface with encryption at rest.
 */
export interface CredentialStore {
  get(id: string): Promise<CredentialRecord | undefined>;
  listByTenant(tenantId: string): Promise<CredentialRecord[]>;
  list(): Promise<CredentialRecord[]>;
  /**
   * Optional: the same rows without tokens, oldest first, so a metrics scrape or a proxy lookup never decrypts every
   * credential. Callers fall back on {@link list} / {@link listByTenant} when a store lacks it.
   */
  listSummaries?(tenantId?: string): Promise<CredentialSummary[]>;
  insert(record: NewCredential, nowMs: number): Promise<CredentialRecord>;
  /**
   * Compare-and-set: applies `patch` only while the stored version is `expectedVersion`. Returns the updated record,
   * or undefined when another writer got there first (the caller re-reads and decides).
   */
  update(
    id: string,
    expectedVersion: number,
    patch: CredentialPatch,
    nowMs: number,
  ): Promise<CredentialRecord | undefined>;
  /**
   * Claims up to `limit` credentials with `nextCheckAtMs <= nowMs` whose lease is free or lapsed, setting the lease to
   * `owner` until `nowMs + leaseMs`. Only due rows are touched (indexed on next check time).
   */
  claimDue(nowMs: number, limit: number, owner: string, leaseMs: number): Promise<CredentialRecord[]>;
  /**
   * Optional (added with the token manager): leases one credential, whatever its next check time, when its lease is
   * free, lapsed or already `owner`'s. Returns the leased record, or undefined when another owner holds it (or it
   * does not exist). On-demand renewals use it so two instances never renew one credential at once; without it they
   * fall back on the version compare-and-set alone (a second renewal is then wasted, never harmful).
   */
  claim?(id: string, owner: string, nowMs: number, leaseMs: number): Promise<CredentialRecord | undefined>;
  /** Drops the lease if `owner` still holds it. */
  releaseLease(id: string, owner: string, nowMs: number): Promise<void>;
  delete(id: string): Promise<void>;
}

/** The token-free view of a record. */
export function toSummary(r: CredentialRecord): CredentialSummary {
  return {
    id: r.id,
    tenantId: r.tenantId,
    kind: r.kind,
    version: r.version,
    status: r.status,
    expiresAtMs: r.expiresAtMs,
    createdAtMs: r.createdAtMs,
  };
}

export class CredentialNotFoundError extends WacloudError {
  constructor(id: string) {
    super('STORE', `no credential with id ${id}`);
    this.name = 'CredentialNotFoundError';
  }
}

/** The in-memory store: tests, single-process SDK use, and the reference for the persistent ones. */
export class MemoryCredentialStore implements CredentialStore {
  readonly #rows = new Map<string, CredentialRecord>();

  async get(id: string): Promise<CredentialRecord | undefined> {
    const row = this.#rows.get(id);
    return row ? { ...row } : undefined;
  }

  async listByTenant(tenantId: string): Promise<CredentialRecord[]> {
    return [...this.#rows.values()].filter((r) => r.tenantId === tenantId).map((r) => ({ ...r }));
  }

  async list(): Promise<CredentialRecord[]> {
    return [...this.#rows.values()].map((r) => ({ ...r }));
  }

  async listSummaries(tenantId?: string): Promise<CredentialSummary[]> {
    const rows = tenantId === undefined ? await this.list() : await this.listByTenant(tenantId);
    return rows.map(toSummary);
  }

  async insert(record: NewCredential, nowMs: number): Promise<CredentialRecord> {
    const id = record.id ?? randomUUID();
    if (this.#rows.has(id)) throw new WacloudError('CONFLICT', `credential ${id} already exists`);
    const row: CredentialRecord = {
      ...record,
      id,
      version: 1,
      leaseOwner: null,
      leaseExpiresAtMs: null,
      failures: 0,
      lastError: null,
      createdAtMs: nowMs,
      updatedAtMs: nowMs,
    };
    this.#rows.set(id, row);
    return { ...row };
  }

  async update(
    id: string,
    expectedVersion: number,
    patch: CredentialPatch,
    nowMs: number,
  ): Promise<CredentialRecord | undefined> {
    const row = this.#rows.get(id);
    if (!row) throw new CredentialNotFoundError(id);
    if (row.version !== expectedVersion) return undefined;
    const next: CredentialRecord = {
      ...row,
      ...patch,
      version: patch.token && !patch.token.equals(row.token) ? row.version + 1 : row.version,
      updatedAtMs: nowMs,
    };
    this.#rows.set(id, next);
    return { ...next };
  }

  async claimDue(nowMs: number, limit: number, owner: string, leaseMs: number): Promise<CredentialRecord[]> {
    const due: CredentialRecord[] = [];
    for (const row of this.#rows.values()) {
      if (due.length >= limit) break;
      if (row.nextCheckAtMs > nowMs) continue;
      if (row.leaseOwner && row.leaseExpiresAtMs !== null && row.leaseExpiresAtMs > nowMs) continue;
      row.leaseOwner = owner;
      row.leaseExpiresAtMs = nowMs + leaseMs;
      due.push({ ...row });
    }
    return due;
  }

  async claim(
    id: string,
    owner: string,
    nowMs: number,
    leaseMs: number,
  ): Promise<CredentialRecord | undefined> {
    const row = this.#rows.get(id);
    if (!row) return undefined;
    if (
      row.leaseOwner &&
      row.leaseOwner !== owner &&
      row.leaseExpiresAtMs !== null &&
      row.leaseExpiresAtMs > nowMs
    ) {
      return undefined;
    }
    row.leaseOwner = owner;
    row.leaseExpiresAtMs = nowMs + leaseMs;
    return { ...row };
  }

  async releaseLease(id: string, owner: string, _nowMs: number): Promise<void> {
    const row = this.#rows.get(id);
    if (row && row.leaseOwner === owner) {
      row.leaseOwner = null;
      row.leaseExpiresAtMs = null;
    }
  }

  async delete(id: string): Promise<void> {
    this.#rows.delete(id);
  }
}
