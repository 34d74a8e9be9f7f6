import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql, type Transaction } from 'kysely';
import pg from 'pg';
import { WacloudError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Secret } from '../core/secret.js';
import type { Database } from './schema.js';
import { StoreError } from './store-error.js';

/** Which database holds the data. */
export type StoreEngine = 'sqlite' | 'postgres';

/** SQLite file name in the data dir. */
export const SQLITE_FILE = 'wacloud.db';

/**
 * "Never" as stored in next-check columns (the token manager's NEVER_MS). Partial indexes leave these rows out, and
 * due-row queries repeat the predicate so the planner can use them.
 */
export const NEVER_MS = 8_640_000_000_000_000;

/** An open database: the Kysely handle, its engine, and the helpers every repository uses. */
export interface Db {
  readonly kysely: Kysely<Database>;
  readonly engine: StoreEngine;
  /** Runs `fn`, turning driver errors into a {@link StoreError} that says what failed (`op`) and why. */
  run<T>(op: string, fn: () => Promise<T>): Promise<T>;
  /**
   * Runs `fn` in a transaction that holds the store-wide write lock (PostgreSQL advisory lock; SQLite
   * `BEGIN IMMEDIATE`): migrations, key creation and rotation bookkeeping, so two processes never do them at once.
   */
  exclusive<T>(op: string, fn: (trx: Kysely<Database> | Transaction<Database>) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface SqliteOpenOptions {
  dataDir: string;
  /** Busy timeout in ms while another process holds the write lock. Default 5000. */
  busyTimeoutMs?: number;
  /** Upper bound on the file size in pages (`PRAGMA max_page_count`), applied after migrations. */
  maxPageCount?: number;
  /** Open `:memory:` instead of a file (tests). */
  memory?: boolean;
}

export interface PostgresOpenOptions {
  url: Secret;
  /** Schema to use (sets `search_path` on every pooled connection). Default: the server's default. */
  schema?: string;
  /** Pool size. Default 10. */
  poolSize?: number;
  /** How long to wait for a connection before failing. Default 5000 ms. */
  connectTimeoutMs?: number;
  logger?: Logger;
}

const ADVISORY_LOCK_KEY = 0x7761636c; // "wacl"

/** Turns a driver error into a StoreError (or CONFLICT for a unique violation), never echoing SQL parameters. */
export function toStoreError(err: unknown, op: string, engine: StoreEngine): WacloudError {
  if (err instanceof WacloudError) return err;
  const e = err as { code?: string; message?: string; errno?: number };
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const where = engine === 'postgres' ? 'PostgreSQL' : 'SQLite';
  switch (code) {
    case 'SQLITE_FULL':
      return new StoreError(
        `${op}: the database is full (SQLITE_FULL: disk full or size limit reached); nothing was written`,
        { cause: err },
      );
    case '53100': // disk_full: the statement (and its transaction) is rolled back
      return new StoreError(
        `${op}: the database is full (PostgreSQL 53100 disk_full: no space left for the database); nothing was written`,
        { cause: err },
      );
    case 'SQLITE_BUSY':
    case 'SQLITE_LOCKED':
      return new StoreError(`${op}: the database is locked by another process (${code}); try again`, {
        cause: err,
      });
    case 'SQLITE_CORRUPT':
    case 'SQLITE_NOTADB':
      return new StoreError(`${op}: the SQLite file is corrupt or not a database (${code})`, { cause: err });
    case 'SQLITE_READONLY':
    case 'SQLITE_CANTOPEN':
    case 'SQLITE_IOERR':
      return new StoreError(`${op}: cannot write the SQLite file (${code})`, { cause: err });
    case 'SQLITE_CONSTRAINT_UNIQUE':
    case 'SQLITE_CONSTRAINT_PRIMARYKEY':
    case '23505':
      return new WacloudError('CONFLICT', `${op}: a row with that key already exists`, { cause: err });
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EHOSTUNREACH':
    case 'ECONNRESET':
    case 'ETIMEDOUT':
    case 'EAI_AGAIN':
      return new StoreError(`${op}: cannot reach ${where} (${code})`, { cause: err });
    case '28P01':
    case '28000':
      return new StoreError(`${op}: ${where} refused the login (${code}); check DATABASE_URL`, {
        cause: err,
      });
    case '3D000':
      return new StoreError(`${op}: the database named in DATABASE_URL does not exist (${code})`, {
        cause: err,
      });
    default: {
      const msg = e?.message ?? String(err);
      if (/timeout/i.test(msg) && /connect/i.test(msg)) {
        return new StoreError(`${op}: cannot reach ${where} (connection timeout)`, { cause: err });
      }
      return new StoreError(`${op} failed on ${where}${code ? ` (${code})` : ''}: ${msg}`, { cause: err });
    }
  }
}

function makeRun(engine: StoreEngine): Db['run'] {
  return async (op, fn) => {
    try {
      return await fn();
    } catch (err) {
      throw toStoreError(err, op, engine);
    }
  };
}

/**
 * SQLite handles open in this process, by file. better-sqlite3 is synchronous: a second connection to the same file
 * waiting on the busy timeout would block the event loop while the first one's transaction (awaiting between
 * statements) can never finish. So stores in one process share one connection, and Kysely's connection mutex
 * serialises their transactions; other processes are kept out by SQLite's file locks and the busy timeout.
 */
const sharedSqlite = new Map<string, { db: Db; refs: number }>();

/** Opens the embedded SQLite database in WAL mode with a busy timeout; the file gets mode 0600. */
export function openSqlite(options: SqliteOpenOptions): Db {
  const path = options.memory ? ':memory:' : join(options.dataDir, SQLITE_FILE);
  const shared = options.memory ? undefined : sharedSqlite.get(path);
  if (shared) {
    shared.refs++;
    return handle(shared.db, path);
  }
  const db = openSqliteConnection(path, options);
  if (options.memory) return db;
  sharedSqlite.set(path, { db, refs: 1 });
  return handle(db, path);
}

/** A per-opener view of a shared connection: closing it releases one reference; the last one closes the file. */
function handle(db: Db, path: string): Db {
  let closed = false;
  return {
    ...db,
    close: async () => {
      if (closed) return;
      closed = true;
      const entry = sharedSqlite.get(path);
      if (!entry) return;
      entry.refs--;
      if (entry.refs === 0) {
        sharedSqlite.delete(path);
        await entry.db.close();
      }
    },
  };
}

function openSqliteConnection(path: string, options: SqliteOpenOptions): Db {
  let database: BetterSqlite3.Database;
  try {
    if (!options.memory && !existsSync(options.dataDir)) {
      mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
    }
    database = new BetterSqlite3(path, { timeout: options.busyTimeoutMs ?? 5000 });
    database.pragma('journal_mode = WAL');
    // WAL + NORMAL: a commit survives the process being killed, not a power loss (docs/ARCHITECTURE.md, durability).
    database.pragma('synchronous = NORMAL');
    database.pragma('foreign_keys = ON');
    if (!options.memory) {
      for (const p of [path, `${path}-wal`, `${path}-shm`]) {
        try {
          chmodSync(p, 0o600);
        } catch {
          // -wal/-shm appear on first write; SQLite creates them with the main file's mode.
        }
      }
    }
  } catch (err) {
    throw toStoreError(err, `opening ${path}`, 'sqlite');
  }
  const kysely = new Kysely<Database>({
    dialect: new SqliteDialect({ database: cachingStatements(database) }),
  });
  const run = makeRun('sqlite');
  return {
    kysely,
    engine: 'sqlite',
    run,
    exclusive: (op, fn) =>
      run(op, () =>
        kysely.connection().execute(async (conn) => {
          // IMMEDIATE takes the write lock up front: a deferred transaction that reads first would fail with
          // SQLITE_BUSY_SNAPSHOT (no busy wait) when another process committed meanwhile.
          await sql`BEGIN IMMEDIATE`.execute(conn);
          try {
            const out = await fn(conn);
            await sql`COMMIT`.execute(conn);
            return out;
          } catch (err) {
            await sql`ROLLBACK`.execute(conn).catch(() => {});
            throw err;
          }
        }),
      ),
    close: async () => {
      await kysely.destroy();
    },
  };
}

/** Prepared statements kept per connection, by SQL text (least recently used dropped first). */
export const SQLITE_STATEMENT_CACHE = 256;

/**
 * The connection as Kysely sees it, with prepared statements reused by SQL text: Kysely prepares every query anew,
 * and preparing was ~6% of the broker's CPU under webhook load (bench/results/profiling.md). A cached statement that
 * is mid-iteration (`busy`: a stream) is not handed out again (defensive: Kysely holds the connection while it
 * streams); SQLite re-prepares a cached statement itself after a schema change.
 */
function cachingStatements(database: BetterSqlite3.Database) {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => database.close(),
    prepare(sqlText: string): BetterSqlite3.Statement {
      const hit = cache.get(sqlText);
      if (hit && !hit.busy) {
        cache.delete(sqlText); // re-insert: most recently used last
        cache.set(sqlText, hit);
        return hit;
      }
      const stmt = database.prepare(sqlText);
      if (!hit) {
        cache.set(sqlText, stmt);
        if (cache.size > SQLITE_STATEMENT_CACHE) cache.delete(cache.keys().next().value as string);
      }
      return stmt;
    },
  };
}

/** Applies the size cap after migrations (a cap below the current size would be ignored by SQLite). */
export async function applySqliteLimits(db: Db, options: SqliteOpenOptions): Promise<void> {
  if (db.engine === 'sqlite' && options.maxPageCount !== undefined) {
    await db.run('setting max_page_count', () =>
      sql.raw(`PRAGMA max_page_count = ${Math.floor(options.maxPageCount as number)}`).execute(db.kysely),
    );
  }
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Opens a PostgreSQL pool. BIGINT columns come back as numbers (ms timestamps fit in 2^53). */
export function openPostgres(options: PostgresOpenOptions): Db {
  if (options.schema !== undefined && !SCHEMA_NAME.test(options.schema)) {
    throw new StoreError(`schema name "${options.schema}" is not a plain lower-case identifier`);
  }
  const pool = new pg.Pool({
    connectionString: options.url.reveal(),
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    options: options.schema ? `-c search_path=${options.schema}` : undefined,
    types: {
      getTypeParser: ((oid: number, format?: string) =>
        oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as never,
    },
  });
  // An idle client dying (server restart) must not crash the process; the next query reconnects.
  pool.on('error', (err) => {
    options.logger?.warn('PostgreSQL connection lost', { code: (err as { code?: string }).code });
  });
  // Nor a checked-out one: pg emits the socket error on the client too (its query fails with it, and the pool drops
  // the client on release), and the pool listens only while the client is idle. Without this, a PostgreSQL restart
  // during a query ended the process ("Unhandled 'error' event", 57P01).
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
  });
  const kysely = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const run = makeRun('postgres');
  return {
    kysely,
    engine: 'postgres',
    run,
    exclusive: (op, fn) =>
      run(op, () =>
        kysely.transaction().execute(async (trx) => {
          await sql`SELECT pg_advisory_xact_lock(${ADVISORY_LOCK_KEY})`.execute(trx);
          return fn(trx);
        }),
      ),
    close: async () => {
      await kysely.destroy();
    },
  };
}
