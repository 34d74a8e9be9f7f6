import { type Kysely, sql, type Transaction } from 'kysely';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { CryptoError } from '../vault/crypto/crypto-error.js';
import { createDataKey, type DataKeyState, rewrapDataKey } from '../vault/crypto/keyring.js';
import type { MasterKey } from '../vault/crypto/master-key.js';
import type { AuditLog } from './audit.js';
import { credentialContext } from './credentials.js';
import type { Db } from './engine.js';
import { flowKeyContext } from './flow-keys.js';
import { inboxContext } from './inbox.js';
import type { KeyStore } from './key-store.js';
import { readDataKeys } from './key-store.js';
import { oauthStateContext } from './oauth-states.js';
import type { Database } from './schema.js';
import { deliveryContext, subscriptionContext } from './subscriptions.js';

/** A column holding ciphertext, with the key id beside it and how to rebuild its additional data. */
interface EncryptedColumn {
  table: 'credentials' | 'oauth_states' | 'subscriptions' | 'flow_keys' | 'webhook_inbox' | 'deliveries';
  /** The unique column rows are paged and updated by. */
  id: string;
  /** `id` is an integer (a serial): paging starts below every id, not at ''. */
  numericId?: boolean;
  /** SQL for what the context names, when that is not `id` (deliveries: the subscription and event). */
  contextKey?: string;
  ct: string;
  /** Extra column the context needs (credentials: version). */
  version?: string;
  context(id: string, version: number): string;
}

/** Every encrypted column in the schema: rotation re-encrypts these, `status` counts them. */
export const ENCRYPTED_COLUMNS: readonly EncryptedColumn[] = [
  { table: 'credentials', id: 'id', ct: 'token_ct', version: 'version', context: credentialContext },
  { table: 'oauth_states', id: 'state_hash', ct: 'verifier_ct', context: (id) => oauthStateContext(id) },
  { table: 'subscriptions', id: 'id', ct: 'secret_ct', context: (id) => subscriptionContext(id) },
  { table: 'flow_keys', id: 'id', ct: 'private_ct', context: (id) => flowKeyContext(id) },
  { table: 'webhook_inbox', id: 'dedupe_key', ct: 'body', context: (key) => inboxContext(key) },
  {
    table: 'deliveries',
    id: 'id',
    numericId: true,
    contextKey: `subscription_id || '/' || event_id`,
    ct: 'payload_ct',
    context: (key) => deliveryContext(key),
  },
];

/** One data key as `keys status` shows it. */
export interface KeyStatus {
  keyId: string;
  state: DataKeyState;
  createdAtMs: number;
  retiredAtMs: number | null;
  /**
   * A `retiring` key: the earliest time a rotation may retire it (the active key's creation plus the grace period),
   * provided no row uses it by then. Null for other keys.
   */
  retireAfterMs: number | null;
  /** Fingerprint of the master key that wraps it. */
  masterKeyId: string;
  /** Rows encrypted with this key, in total and per table. */
  rows: number;
  rowsByTable: Record<string, number>;
}

export interface KeyringStatus {
  activeKeyId: string | undefined;
  masterKeyId: string;
  masterKeySource: MasterKey['source'];
  /** The secret source and key the master key was read from, when `masterKeySource` is `reference`. */
  masterKeyReference?: string;
  keys: KeyStatus[];
  /** How long a replaced key stays `retiring` after its successor became active: 2 × the keyring refresh interval. */
  retirementGraceMs: number;
  /** Rows under a key id the keyring does not have (should be 0; non-zero means data that cannot be decrypted). */
  orphanRows: Record<string, number>;
}

/** Progress of a rotation, after each re-encrypted row. */
export interface RotationProgress {
  table: string;
  id: string;
  fromKeyId: string;
  toKeyId: string;
  /** Rows re-encrypted so far in this run. */
  done: number;
}

export interface RotateOptions {
  /** Rows read per batch. Default 200. */
  batchSize?: number;
  /** Called after each row; throwing stops the rotation (a later run resumes it). */
  onProgress?: (progress: RotationProgress) => void | Promise<void>;
  /**
   * When a `retiring` key cannot be retired yet because the grace period has not passed, sleep (on the store's clock)
   * until it has, re-encrypt whatever instances with an old keyring wrote meanwhile, and retire then.
   */
  wait?: boolean;
  /** Called before such a wait with the time it waits until. */
  onWait?: (untilMs: number) => void | Promise<void>;
  /** Stops a wait (the rotation then rejects; the keys stay `retiring` and a later run finishes). */
  signal?: AbortSignal;
}

export interface RotationReport {
  /** The key added by this run, or undefined when it resumed an unfinished rotation. */
  addedKeyId: string | undefined;
  activeKeyId: string;
  resumed: boolean;
  /** Rows re-encrypted by this run. */
  reencrypted: number;
  /** Rows skipped because another writer changed them meanwhile (they were written with a current key). */
  conflicts: number;
  /** Keys that no row uses any more and became `retired`. */
  retired: string[];
  /** Keys left `retiring` (rows still use them, or the grace period has not passed). */
  retiring: string[];
  /**
   * When the keys left `retiring` may be retired, if the grace period is what holds them: run again after this
   * (or rotate with `wait`). Null when the grace period has passed.
   */
  retireAfterMs: number | null;
  /** The grace period: 2 × the keyring refresh interval. */
  retirementGraceMs: number;
  /** Rows still on a non-active key after the run (a later run picks them up). */
  remaining: number;
}

/** Keyring operations exposed as `store.keys`. */
export interface KeyOps {
  /** Keys, their states, and how many rows each encrypts. */
  status(): Promise<KeyringStatus>;
  /**
   * Adds a data key, makes it active, re-encrypts every row with it (compare-and-set per row) and retires keys no
   * row uses once the new key has been active for the grace period (see {@link retirementGraceMs}). Resumable: when an earlier run stopped (crash, error), the next run adds no key and finishes the job.
   */
  rotate(options?: RotateOptions): Promise<RotationReport>;
  /** Re-wraps every data key under `newMaster` (master key rotation); rows are not touched. */
  rewrapMaster(newMaster: MasterKey): Promise<{ rewrapped: number }>;
  /** Re-reads the keyring from the database (after another process rotated). */
  reload(): Promise<void>;
}

/**
 * How long a replaced data key must wait before it can be retired: twice the keyring refresh interval. Every instance
 * re-reads the keyring at least every `refreshMs` (the same setting on every instance), so once the new key has been
 * active this long no instance still encrypts with the old one; the second interval covers a write encrypted just
 * before the refresh and committed after, and clock skew between the hosts.
 */
export function retirementGraceMs(refreshMs: number): number {
  return 2 * refreshMs;
}

export function createKeyOps(
  db: Db,
  keys: KeyStore,
  deps: { clock: Clock; logger: Logger; audit: AuditLog },
): KeyOps {
  const k = db.kysely;
  const graceMs = retirementGraceMs(keys.refreshMs);

  async function countsByKey(): Promise<Map<string, Record<string, number>>> {
    const out = new Map<string, Record<string, number>>();
    for (const col of ENCRYPTED_COLUMNS) {
      const r = await db.run(`counting rows in ${col.table}`, () =>
        sql<{ key_id: string; n: number }>`
          SELECT key_id, COUNT(*) AS n FROM ${sql.table(col.table)} WHERE key_id IS NOT NULL GROUP BY key_id`.execute(
          k,
        ),
      );
      for (const row of r.rows) {
        const per = out.get(row.key_id) ?? {};
        per[col.table] = Number(row.n);
        out.set(row.key_id, per);
      }
    }
    return out;
  }

  /** Whether any encrypted column has a row under `keyId` (an index lookup per table). */
  async function keyInUse(trx: Kysely<Database> | Transaction<Database>, keyId: string): Promise<boolean> {
    for (const col of ENCRYPTED_COLUMNS) {
      const r = await sql`SELECT 1 FROM ${sql.table(col.table)} WHERE key_id = ${keyId} LIMIT 1`.execute(trx);
      if (r.rows.length > 0) return true;
    }
    return false;
  }

  async function reencryptColumn(
    col: EncryptedColumn,
    active: string,
    batchSize: number,
    state: { done: number; conflicts: number },
    onProgress: RotateOptions['onProgress'],
  ): Promise<void> {
    let after: string | number = col.numericId ? -1 : '';
    for (;;) {
      const batch = await db.run(`reading ${col.table} for re-encryption`, () =>
        sql<{ id: string; ctx: string; ct: Buffer; key_id: string; version: number | null }>`
          SELECT ${sql.ref(col.id)} AS id, ${col.contextKey ? sql.raw(col.contextKey) : sql.ref(col.id)} AS ctx,
                 ${sql.ref(col.ct)} AS ct, key_id,
                 ${col.version ? sql.ref(col.version) : sql`NULL`} AS version
          FROM ${sql.table(col.table)}
          WHERE key_id IS NOT NULL AND key_id <> ${active} AND ${sql.ref(col.id)} > ${after}
          ORDER BY ${sql.ref(col.id)}
          LIMIT ${batchSize}`.execute(k),
      );
      if (batch.rows.length === 0) return;
      for (const row of batch.rows) {
        after = col.numericId ? Number(row.id) : row.id;
        const context = col.context(String(row.ctx), Number(row.version ?? 0));
        const old = Buffer.from(row.ct);
        const plain = await keys.decrypt(row.key_id, old, context);
        const sealed = keys.keyring.encrypt(plain, context);
        plain.fill(0);
        // Compare-and-set on the old ciphertext: a concurrent token change (new version, new ciphertext) wins.
        const r = await db.run(`re-encrypting ${col.table} ${row.id}`, () =>
          sql`
            UPDATE ${sql.table(col.table)} SET ${sql.ref(col.ct)} = ${sealed.ciphertext}, key_id = ${sealed.keyId}
            WHERE ${sql.ref(col.id)} = ${row.id} AND key_id = ${row.key_id} AND ${sql.ref(col.ct)} = ${old}`.execute(
            k,
          ),
        );
        if (Number(r.numAffectedRows ?? 0n) === 1) {
          state.done++;
          await onProgress?.({
            table: col.table,
            id: row.id,
            fromKeyId: row.key_id,
            toKeyId: active,
            done: state.done,
          });
        } else {
          state.conflicts++;
        }
      }
    }
  }

  /**
   * Re-encrypts every row not on `active`, then retires the `retiring` keys no row uses, if the active key has been
   * active for the grace period. The check and the retirement are one transaction under the store-wide lock that also
   * keeps every writer of an encrypted column out: an instance whose keyring is stale may still write under the
   * retiring key, and a write committed after a check made outside it would leave rows under a retired key. SQLite:
   * BEGIN IMMEDIATE is the single write lock. PostgreSQL: SHARE locks on the encrypted tables wait for writers in
   * flight to commit (their rows are then seen) and hold new ones off until the commit. The grace period covers the
   * writes that would come after the commit: an instance encrypts with the key it saw at its last keyring read, at
   * most `refreshMs` old, so the old key can be in use until `refreshMs` after its successor became active.
   */
  async function reencryptAndRetire(
    active: string,
    batchSize: number,
    progress: { done: number; conflicts: number },
    onProgress: RotateOptions['onProgress'],
  ): Promise<{ retired: string[]; retiring: string[]; retireAfterMs: number | null }> {
    for (const col of ENCRYPTED_COLUMNS) {
      await reencryptColumn(col, active, batchSize, progress, onProgress);
    }
    return db.exclusive('retiring data keys', async (trx) => {
      if (db.engine === 'postgres') {
        await sql`LOCK TABLE ${sql.join(ENCRYPTED_COLUMNS.map((c) => sql.table(c.table)))} IN SHARE MODE`.execute(
          trx,
        );
      }
      const rows = await trx.selectFrom('data_keys').select(['key_id', 'state', 'created_at_ms']).execute();
      const activeRow = rows.find((r) => r.state === 'active');
      // Normally `active`; another run may have rotated further meanwhile (then its key's age is what counts).
      if (!activeRow) throw new CryptoError('the keyring has no active data key');
      const now = deps.clock.now();
      const retireAfterMs = Number(activeRow.created_at_ms) + graceMs;
      const graceOver = now >= retireAfterMs;
      const retired: string[] = [];
      const retiring: string[] = [];
      for (const r of rows) {
        if (r.state !== 'retiring') continue;
        if (!graceOver || (await keyInUse(trx, r.key_id))) {
          retiring.push(r.key_id);
          continue;
        }
        await trx
          .updateTable('data_keys')
          .set({ state: 'retired', retired_at_ms: now })
          .where('key_id', '=', r.key_id)
          .execute();
        retired.push(r.key_id);
      }
      return { retired, retiring, retireAfterMs: graceOver ? null : retireAfterMs };
    });
  }

  return {
    async status() {
      await keys.reload();
      const records = await readDataKeys(db);
      const counts = await countsByKey();
      const known = new Set(records.map((r) => r.keyId));
      const orphanRows: Record<string, number> = {};
      for (const [keyId, per] of counts) {
        if (!known.has(keyId)) orphanRows[keyId] = Object.values(per).reduce((a, b) => a + b, 0);
      }
      const active = records.find((r) => r.state === 'active');
      const retireAfterMs = active ? active.createdAtMs + graceMs : null;
      return {
        activeKeyId: keys.keyring.activeKeyId,
        masterKeyId: keys.master.id,
        masterKeySource: keys.master.source,
        ...(keys.master.reference ? { masterKeyReference: keys.master.reference } : {}),
        orphanRows,
        retirementGraceMs: graceMs,
        keys: records.map((r) => {
          const per = counts.get(r.keyId) ?? {};
          return {
            keyId: r.keyId,
            state: r.state,
            createdAtMs: r.createdAtMs,
            retiredAtMs: r.retiredAtMs,
            retireAfterMs: r.state === 'retiring' ? retireAfterMs : null,
            masterKeyId: r.masterKeyId,
            rows: Object.values(per).reduce((a, b) => a + b, 0),
            rowsByTable: per,
          };
        }),
      };
    },

    async rotate(options = {}) {
      const batchSize = Math.max(1, options.batchSize ?? 200);
      // Step 1, atomically: add the new active key and demote the old one, unless an earlier run left work.
      const begun = await db.exclusive('starting a key rotation', async (trx) => {
        const rows = await trx.selectFrom('data_keys').select(['key_id', 'state']).execute();
        if (rows.some((r) => r.state === 'retiring')) return { added: undefined as string | undefined };
        // Its creation time starts the grace period, so it is read under the lock, just before the key goes live.
        const { record } = createDataKey(keys.master, deps.clock.now());
        await trx.updateTable('data_keys').set({ state: 'retiring' }).where('state', '=', 'active').execute();
        await trx
          .insertInto('data_keys')
          .values({
            key_id: record.keyId,
            wrapped_key: record.wrappedKey,
            master_key_id: record.masterKeyId,
            state: 'active',
            created_at_ms: record.createdAtMs,
            retired_at_ms: null,
          })
          .execute();
        return { added: record.keyId };
      });
      await keys.reload();
      const active = keys.keyring.activeKeyId;
      if (!active) throw new CryptoError('the keyring has no active data key after rotation started');
      deps.logger.info(begun.added ? 'key rotation started' : 'resuming an unfinished key rotation', {
        activeKeyId: active,
      });

      // Step 2: re-encrypt row by row. Each row is its own compare-and-set, so a crash loses nothing.
      // Step 3: retire what no row uses, once the grace period has passed. With `wait`, sleep out the grace period
      // and repeat both steps (rows written meanwhile by instances with an old keyring are moved, then the key goes).
      const progress = { done: 0, conflicts: 0 };
      const retired: string[] = [];
      let left = await reencryptAndRetire(active, batchSize, progress, options.onProgress);
      retired.push(...left.retired);
      for (let pass = 0; options.wait && left.retiring.length > 0 && pass < 3; pass++) {
        if (left.retireAfterMs !== null) {
          deps.logger.info('waiting out the key retirement grace period', {
            retiring: left.retiring,
            untilMs: left.retireAfterMs,
          });
          await options.onWait?.(left.retireAfterMs);
          await deps.clock.sleep(left.retireAfterMs - deps.clock.now(), options.signal);
        }
        left = await reencryptAndRetire(active, batchSize, progress, options.onProgress);
        retired.push(...left.retired);
      }
      const counts = await countsByKey();
      await keys.reload();
      let remaining = 0;
      for (const [keyId, per] of counts) {
        if (keyId !== active) remaining += Object.values(per).reduce((a, b) => a + b, 0);
      }
      const report: RotationReport = {
        addedKeyId: begun.added,
        activeKeyId: active,
        resumed: begun.added === undefined,
        reencrypted: progress.done,
        conflicts: progress.conflicts,
        retired,
        retiring: left.retiring,
        retireAfterMs: left.retiring.length ? left.retireAfterMs : null,
        retirementGraceMs: graceMs,
        remaining,
      };
      await deps.audit.append({ event: 'keys.rotated', detail: { ...report } }, deps.clock.now());
      deps.logger.info('key rotation finished', { ...report });
      return report;
    },

    async rewrapMaster(newMaster) {
      const n = await db.exclusive('re-wrapping data keys', async (trx) => {
        const rows = await trx.selectFrom('data_keys').selectAll().execute();
        for (const r of rows) {
          const record = rewrapDataKey(keys.master, newMaster, {
            keyId: r.key_id,
            wrappedKey: Buffer.from(r.wrapped_key),
            masterKeyId: r.master_key_id,
            state: r.state as DataKeyState,
            createdAtMs: Number(r.created_at_ms),
            retiredAtMs: r.retired_at_ms === null ? null : Number(r.retired_at_ms),
          });
          await trx
            .updateTable('data_keys')
            .set({ wrapped_key: record.wrappedKey, master_key_id: record.masterKeyId })
            .where('key_id', '=', r.key_id)
            .execute();
        }
        return rows.length;
      });
      await deps.audit.append(
        { event: 'keys.master-rewrapped', detail: { from: keys.master.id, to: newMaster.id, keys: n } },
        deps.clock.now(),
      );
      return { rewrapped: n };
    },

    reload: () => keys.reload(),
  };
}
