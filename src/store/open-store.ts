import { rmSync } from 'node:fs';
import { type Clock, systemClock } from '../core/clock.js';
import type { WacloudConfig } from '../core/config.js';
import { type Logger, silentLogger } from '../core/logger.js';
import { CryptoError } from '../vault/crypto/crypto-error.js';
import {
  type MasterKey,
  type ResolveMasterKeyOptions,
  resolveMasterKey,
} from '../vault/crypto/master-key.js';
import { type ApiKeyRepository, createApiKeyRepository } from './api-keys.js';
import { type AuditLog, createAuditLog } from './audit.js';
import { SqlCredentialStore } from './credentials.js';
import { applySqliteLimits, type Db, openPostgres, openSqlite, type StoreEngine } from './engine.js';
import { createFlowKeyRepository, type FlowKeyRepository } from './flow-keys.js';
import { createInboxRepository, type InboxRepository } from './inbox.js';
import { createKeyOps, type KeyOps } from './key-ops.js';
import { KeyStore } from './key-store.js';
import { migrate } from './migrations.js';
import { createOAuthStateRepository, type OAuthStateRepository } from './oauth-states.js';
import { createPhoneNumberRepository, type PhoneNumberRepository } from './phone-numbers.js';
import { createRetention, type Retention } from './retention.js';
import { createRevokedSessionRepository, type RevokedSessionRepository } from './revoked-sessions.js';
import {
  createDeliveryRepository,
  createSubscriptionRepository,
  type DeliveryRepository,
  type SubscriptionRepository,
} from './subscriptions.js';
import { createTenantObjectRepository, type TenantObjectRepository } from './tenant-objects.js';
import { createTenantRepository, type TenantRepository } from './tenants.js';

/** The open store: one object per repository, all on the same database and keyring. */
export interface Store {
  tenants: TenantRepository;
  /** Implements the auth part's `CredentialStore` (with `claim`), tokens encrypted at rest. */
  credentials: SqlCredentialStore;
  phoneNumbers: PhoneNumberRepository;
  /** Implements the auth part's `OAuthStateStore`. */
  oauthStates: OAuthStateRepository;
  apiKeys: ApiKeyRepository;
  /** Dashboard sessions ended by logout. */
  revokedSessions: RevokedSessionRepository;
  inbox: InboxRepository;
  subscriptions: SubscriptionRepository;
  /** WhatsApp Flows key pairs, private keys encrypted at rest. */
  flowKeys: FlowKeyRepository;
  deliveries: DeliveryRepository;
  /** Who owns each Graph object a tenant created or received (media, templates, flows). */
  objects: TenantObjectRepository;
  /** Deletes customer content past its retention. */
  retention: Retention;
  audit: AuditLog;
  /** Keyring operations: status, rotate, master key re-wrap. */
  keys: KeyOps;
  /** Resolves when the database answers; rejects with a StoreError otherwise. */
  ping(): Promise<void>;
  /** Closes the database (pool or file). Idempotent. */
  close(): Promise<void>;
  engine: StoreEngine;
}

/** Config fields the store reads. */
export type StoreConfig = Pick<WacloudConfig, 'dataDir' | 'databaseUrl' | 'masterKey'>;

export interface OpenStoreOptions {
  logger?: Logger;
  clock?: Clock;
  /** Use this master key instead of resolving one from config (tests, key ceremonies). */
  masterKey?: MasterKey;
  /** How to reach the secret source when `WACLOUD_MASTER_KEY` is a reference (`vault://…`, `file:…`, …). */
  secretSources?: ResolveMasterKeyOptions['secretSources'];
  /** Don't generate a master key file when none exists (read-only tools). Default: generate. */
  createMasterKey?: boolean;
  /** PostgreSQL: schema to use (search_path of every pooled connection), pool size, connect timeout. */
  postgres?: { schema?: string; poolSize?: number; connectTimeoutMs?: number };
  /** SQLite: busy timeout, a size cap in pages (`PRAGMA max_page_count`), or an in-memory database. */
  sqlite?: { busyTimeoutMs?: number; maxPageCount?: number; memory?: boolean };
  /** How often a process re-reads the keyring to pick up rotations made elsewhere. Default 60 s. */
  keyringRefreshMs?: number;
}

/**
 * Opens the store: PostgreSQL when `config.databaseUrl` is set, else SQLite in `config.dataDir`. Runs pending
 * migrations, resolves the master key (`WACLOUD_MASTER_KEY`, the key or a secret reference to it, else a generated
 * key file) and loads the keyring, creating the first data key in a new store.
 *
 * @example
 * const store = await openStore(loadConfig(), { logger });
 * const manager = new TokenManager({ store: store.credentials, ... });
 */
export async function openStore(config: StoreConfig, options: OpenStoreOptions = {}): Promise<Store> {
  const logger = options.logger ?? silentLogger;
  const clock = options.clock ?? systemClock;
  // Resolve the key before touching the database: a bad WACLOUD_MASTER_KEY, or a reference to a secret source that
  // cannot be read, fails fast and changes nothing.
  const master =
    options.masterKey ??
    (await resolveMasterKey({
      masterKey: config.masterKey,
      dataDir: config.dataDir,
      logger,
      createIfMissing: options.createMasterKey !== false,
      ...(options.secretSources ? { secretSources: options.secretSources } : {}),
    }));
  if (config.databaseUrl && master.source === 'file') {
    // Each host would generate its own file; the second broker instance could not read the first one's tokens.
    logger.warn(
      'PostgreSQL with a master key file in the local data dir: every broker instance needs the same master key. Set WACLOUD_MASTER_KEY from a secret manager.',
      { masterKeyId: master.id },
    );
  }
  const sqliteOptions = { dataDir: config.dataDir, ...options.sqlite };
  const db: Db = config.databaseUrl
    ? openPostgres({ url: config.databaseUrl, ...options.postgres, logger })
    : openSqlite(sqliteOptions);
  try {
    await db.run('connecting to the database', () =>
      db.kysely
        .selectFrom('wacloud_migrations' as never)
        .selectAll()
        .limit(0)
        .execute()
        .catch((err: { code?: string; message?: string }) => {
          // A missing migrations table is fine here (new database); anything else (unreachable, auth) is not.
          if (err.code === '42P01' || /no such table/.test(err.message ?? '')) return [];
          throw err;
        }),
    );
    const applied = await migrate(db, clock);
    if (applied.length) logger.info('store migrated', { engine: db.engine, versions: applied });
    await applySqliteLimits(db, sqliteOptions);
    if (master.generated) await refuseForeignKeyring(db, master);
    const keyStore = new KeyStore(db, master, clock, options.keyringRefreshMs);
    await keyStore.init();
    const audit = createAuditLog(db);
    let closed = false;
    return {
      engine: db.engine,
      tenants: createTenantRepository(db),
      credentials: new SqlCredentialStore(db, keyStore, logger),
      phoneNumbers: createPhoneNumberRepository(db),
      oauthStates: createOAuthStateRepository(db, keyStore),
      apiKeys: createApiKeyRepository(db),
      revokedSessions: createRevokedSessionRepository(db),
      inbox: createInboxRepository(db, keyStore),
      subscriptions: createSubscriptionRepository(db, keyStore),
      flowKeys: createFlowKeyRepository(db, keyStore),
      deliveries: createDeliveryRepository(db, keyStore),
      objects: createTenantObjectRepository(db),
      retention: createRetention(db),
      audit,
      keys: createKeyOps(db, keyStore, { clock, logger, audit }),
      async ping() {
        await db.run('ping', () => db.kysely.selectFrom('data_keys').select('key_id').limit(1).execute());
      },
      async close() {
        if (closed) return;
        closed = true;
        await db.close();
      },
    };
  } catch (err) {
    await db.close().catch(() => {});
    throw err;
  }
}

/**
 * A key file generated by this start, for a database whose data keys another master key wrapped (the key is missing
 * on this host, or the file was deleted): the new file would only stand in the way of the right one, so it is removed
 * and the start fails saying what is missing. A database with a data key under this very key is fine: another first
 * run read the file this one wrote.
 */
async function refuseForeignKeyring(db: Db, master: MasterKey): Promise<void> {
  const keys = await db.run('reading the keyring', () =>
    db.kysely.selectFrom('data_keys').select(['master_key_id']).execute(),
  );
  if (keys.length === 0 || keys.some((k) => k.master_key_id === master.id)) return;
  if (master.path) rmSync(master.path, { force: true });
  const ids = [...new Set(keys.map((k) => k.master_key_id))].join(', ');
  throw new CryptoError(
    `no master key: WACLOUD_MASTER_KEY is not set and ${master.path} did not exist, but this database already holds data keys wrapped by master key ${ids}; set WACLOUD_MASTER_KEY (or restore the key file from backup). Nothing was changed.`,
  );
}
