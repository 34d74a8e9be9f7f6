import { type Kysely, sql } from 'kysely';
import type { Clock } from '../core/clock.js';
import type { Db, StoreEngine } from './engine.js';
import { NEVER_MS } from './engine.js';
import { flowKeysMigration } from './flow-keys.js';
import type { Database } from './schema.js';
import { StoreError } from './store-error.js';

/** One schema change. `statements` get the engine so column types can differ (BIGINT vs INTEGER, BYTEA vs BLOB). */
export interface Migration {
  version: number;
  name: string;
  statements(engine: StoreEngine): string[];
}

function types(engine: StoreEngine) {
  return engine === 'postgres'
    ? {
        ms: 'BIGINT',
        bytes: 'BYTEA',
        serial: 'BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY',
        int: 'INTEGER',
      }
    : { ms: 'INTEGER', bytes: 'BLOB', serial: 'INTEGER PRIMARY KEY AUTOINCREMENT', int: 'INTEGER' };
}

/** The versioned migrations, oldest first. Never edit a released one: add the next. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    statements(engine) {
      const t = types(engine);
      return [
        `CREATE TABLE data_keys (
          key_id TEXT PRIMARY KEY,
          wrapped_key ${t.bytes} NOT NULL,
          master_key_id TEXT NOT NULL,
          state TEXT NOT NULL CHECK (state IN ('active', 'retiring', 'retired')),
          created_at_ms ${t.ms} NOT NULL,
          retired_at_ms ${t.ms}
        )`,
        // At most one active data key, enforced by the database.
        `CREATE UNIQUE INDEX data_keys_one_active ON data_keys (state) WHERE state = 'active'`,
        `CREATE TABLE tenants (
          id TEXT PRIMARY KEY,
          name TEXT NOT NULL,
          status TEXT NOT NULL DEFAULT 'active',
          metadata TEXT NOT NULL DEFAULT '{}',
          created_at_ms ${t.ms} NOT NULL,
          updated_at_ms ${t.ms} NOT NULL
        )`,
        `CREATE TABLE credentials (
          id TEXT PRIMARY KEY,
          tenant_id TEXT NOT NULL,
          kind TEXT NOT NULL,
          app_id TEXT NOT NULL,
          subject_id TEXT,
          scopes TEXT NOT NULL,
          target_ids TEXT NOT NULL,
          token_ct ${t.bytes} NOT NULL,
          key_id TEXT NOT NULL,
          version ${t.int} NOT NULL,
          issued_at_ms ${t.ms},
          expires_at_ms ${t.ms},
          data_access_expires_at_ms ${t.ms},
          status TEXT NOT NULL,
          next_check_at_ms ${t.ms} NOT NULL,
          lease_owner TEXT,
          lease_expires_at_ms ${t.ms},
          failures ${t.int} NOT NULL DEFAULT 0,
          last_error TEXT,
          created_at_ms ${t.ms} NOT NULL,
          updated_at_ms ${t.ms} NOT NULL
        )`,
        `CREATE INDEX credentials_tenant ON credentials (tenant_id)`,
        `CREATE INDEX credentials_key_id ON credentials (key_id)`,
        // The renewal sweep reads only due rows; credentials that never need a check stay out of the index.
        `CREATE INDEX credentials_next_check ON credentials (next_check_at_ms) WHERE next_check_at_ms < ${NEVER_MS}`,
        `CREATE TABLE phone_numbers (
          id TEXT PRIMARY KEY,
          tenant_id TEXT NOT NULL,
          waba_id TEXT NOT NULL,
          display_phone_number TEXT NOT NULL,
          verified_name TEXT,
          credential_id TEXT,
          created_at_ms ${t.ms} NOT NULL,
          updated_at_ms ${t.ms} NOT NULL
        )`,
        `CREATE INDEX phone_numbers_tenant ON phone_numbers (tenant_id)`,
        `CREATE TABLE oauth_states (
          state_hash TEXT PRIMARY KEY,
          flow TEXT NOT NULL,
          tenant_id TEXT,
          redirect_uri TEXT NOT NULL,
          scopes TEXT NOT NULL,
          config_id TEXT,
          verifier_ct ${t.bytes},
          key_id TEXT,
          created_at_ms ${t.ms} NOT NULL,
          expires_at_ms ${t.ms} NOT NULL,
          used_at_ms ${t.ms}
        )`,
        `CREATE INDEX oauth_states_expires ON oauth_states (expires_at_ms)`,
        `CREATE INDEX oauth_states_key_id ON oauth_states (key_id) WHERE key_id IS NOT NULL`,
        `CREATE TABLE api_keys (
          key_id TEXT PRIMARY KEY,
          key_hash TEXT NOT NULL UNIQUE,
          tenant_id TEXT,
          label TEXT NOT NULL,
          created_at_ms ${t.ms} NOT NULL,
          last_used_at_ms ${t.ms},
          revoked_at_ms ${t.ms}
        )`,
        `CREATE INDEX api_keys_tenant ON api_keys (tenant_id)`,
        `CREATE TABLE webhook_inbox (
          id ${t.serial},
          body ${t.bytes} NOT NULL,
          signature_valid ${t.int} NOT NULL,
          dedupe_key TEXT NOT NULL UNIQUE,
          status TEXT NOT NULL,
          attempts ${t.int} NOT NULL DEFAULT 0,
          received_at_ms ${t.ms} NOT NULL,
          available_at_ms ${t.ms} NOT NULL,
          tenant_id TEXT,
          lease_owner TEXT,
          lease_expires_at_ms ${t.ms},
          last_error TEXT,
          processed_at_ms ${t.ms}
        )`,
        `CREATE INDEX webhook_inbox_pending ON webhook_inbox (available_at_ms) WHERE status IN ('pending', 'processing')`,
        `CREATE TABLE subscriptions (
          id TEXT PRIMARY KEY,
          tenant_id TEXT NOT NULL,
          url TEXT NOT NULL,
          secret_ct ${t.bytes} NOT NULL,
          key_id TEXT NOT NULL,
          events TEXT NOT NULL,
          active ${t.int} NOT NULL DEFAULT 1,
          created_at_ms ${t.ms} NOT NULL,
          updated_at_ms ${t.ms} NOT NULL
        )`,
        `CREATE INDEX subscriptions_tenant ON subscriptions (tenant_id)`,
        `CREATE INDEX subscriptions_key_id ON subscriptions (key_id)`,
        `CREATE TABLE deliveries (
          id ${t.serial},
          subscription_id TEXT NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
          tenant_id TEXT NOT NULL,
          inbox_id ${t.ms},
          event_id TEXT NOT NULL,
          event_type TEXT NOT NULL,
          payload TEXT NOT NULL,
          status TEXT NOT NULL,
          attempts ${t.int} NOT NULL DEFAULT 0,
          next_attempt_at_ms ${t.ms} NOT NULL,
          lease_owner TEXT,
          lease_expires_at_ms ${t.ms},
          last_error TEXT,
          created_at_ms ${t.ms} NOT NULL,
          delivered_at_ms ${t.ms},
          UNIQUE (subscription_id, event_id)
        )`,
        `CREATE INDEX deliveries_tenant ON deliveries (tenant_id, id)`,
        `CREATE INDEX deliveries_due ON deliveries (next_attempt_at_ms) WHERE status = 'pending'`,
        `CREATE TABLE audit_log (
          id ${t.serial},
          tenant_id TEXT,
          credential_id TEXT,
          event TEXT NOT NULL,
          detail TEXT NOT NULL,
          at_ms ${t.ms} NOT NULL
        )`,
        `CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id)`,
        `CREATE INDEX audit_log_credential ON audit_log (credential_id, id)`,
      ];
    },
  },
  {
    version: 2,
    name: 'tenant objects',
    statements(engine) {
      const t = types(engine);
      // Graph objects a tenant created through the proxy (media, templates, flows) or received (media ids in its
      // webhooks): one owner each, never moved, shared by every broker instance.
      return [
        `CREATE TABLE tenant_objects (
          object_id TEXT PRIMARY KEY,
          tenant_id TEXT NOT NULL,
          kind TEXT NOT NULL,
          origin TEXT NOT NULL,
          created_at_ms ${t.ms} NOT NULL
        )`,
        `CREATE INDEX tenant_objects_tenant ON tenant_objects (tenant_id, created_at_ms)`,
      ];
    },
  },
  {
    version: 3,
    name: 'customer content encrypted at rest',
    statements(engine) {
      const t = types(engine);
      // Webhook bodies and delivery payloads are sealed with the data keys (key_id NULL: a row written before this
      // version, plaintext until the retention sweep deletes it); times indexed for the sweep.
      return [
        `ALTER TABLE webhook_inbox ADD COLUMN key_id TEXT`,
        `CREATE INDEX webhook_inbox_key_id ON webhook_inbox (key_id) WHERE key_id IS NOT NULL`,
        `CREATE INDEX webhook_inbox_received ON webhook_inbox (received_at_ms)`,
        `ALTER TABLE deliveries ADD COLUMN payload_ct ${t.bytes}`,
        `ALTER TABLE deliveries ADD COLUMN key_id TEXT`,
        `CREATE INDEX deliveries_key_id ON deliveries (key_id) WHERE key_id IS NOT NULL`,
        `CREATE INDEX deliveries_created ON deliveries (created_at_ms)`,
      ];
    },
  },
  // The WhatsApp Flows key pairs (src/store/flow-keys.ts).
  flowKeysMigration(4),
  {
    version: 5,
    name: 'revoked dashboard sessions',
    statements(engine) {
      const t = types(engine);
      return [
        `CREATE TABLE revoked_sessions (
          session_id_hash TEXT PRIMARY KEY,
          expires_at_ms ${t.ms} NOT NULL,
          revoked_at_ms ${t.ms} NOT NULL
        )`,
        `CREATE INDEX revoked_sessions_expires ON revoked_sessions (expires_at_ms)`,
      ];
    },
  },
  {
    version: 6,
    name: 'webhooks listed under every tenant they carry events for',
    statements(engine) {
      // The inbox id's own type (BIGINT identity on PostgreSQL).
      const id = engine === 'postgres' ? 'BIGINT' : 'INTEGER';
      return [
        `CREATE TABLE webhook_inbox_tenants (
          inbox_id ${id} NOT NULL,
          tenant_id TEXT NOT NULL,
          PRIMARY KEY (inbox_id, tenant_id)
        )`,
        `CREATE INDEX webhook_inbox_tenants_tenant ON webhook_inbox_tenants (tenant_id, inbox_id)`,
      ];
    },
  },
];

async function ensureMigrationsTable(db: Kysely<Database>, engine: StoreEngine): Promise<void> {
  const ms = engine === 'postgres' ? 'BIGINT' : 'INTEGER';
  await sql
    .raw(
      `CREATE TABLE IF NOT EXISTS wacloud_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms ${ms} NOT NULL)`,
    )
    .execute(db);
}

/**
 * Brings the schema up to date: each pending migration runs in its own transaction (with its row in
 * `wacloud_migrations`) under the store-wide lock, so two processes starting together apply it once. A database
 * newer than this code is refused rather than guessed at.
 */
export async function migrate(
  db: Db,
  clock: Clock,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<number[]> {
  const applied: number[] = [];
  for (const m of migrations) {
    const ran = await db.exclusive(`migration ${m.version} (${m.name})`, async (trx) => {
      await ensureMigrationsTable(trx, db.engine);
      const done = await trx.selectFrom('wacloud_migrations').select('version').execute();
      const versions = new Set(done.map((r) => Number(r.version)));
      const newest = Math.max(0, ...versions);
      const known = migrations[migrations.length - 1]?.version ?? 0;
      if (newest > known) {
        throw new StoreError(
          `the database schema is version ${newest}, newer than this wacloud knows (${known}); upgrade wacloud`,
        );
      }
      if (versions.has(m.version)) return false;
      for (const statement of m.statements(db.engine)) await sql.raw(statement).execute(trx);
      await trx
        .insertInto('wacloud_migrations')
        .values({ version: m.version, name: m.name, applied_at_ms: clock.now() })
        .execute();
      return true;
    });
    if (ran) applied.push(m.version);
  }
  return applied;
}
