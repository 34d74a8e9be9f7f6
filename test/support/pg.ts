import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Secret } from '../../src/core/secret.js';
import { announceSkip, requireAll } from './require-all.js';

/** The PostgreSQL the store's tests use (`.ci/run` sets it); unset means the PostgreSQL half is skipped. */
export const pgTestUrl: string | undefined = process.env.WACLOUD_TEST_DATABASE_URL?.trim() || undefined;

// Under WACLOUD_TEST_REQUIRE_ALL=1 (CI) every file using PostgreSQL fails at once without it, announced or not.
if (requireAll && !pgTestUrl)
  announceSkip('test/support/pg.ts', 'PostgreSQL tests', 'WACLOUD_TEST_DATABASE_URL is not set');

/**
 * Prints one line per test file when the PostgreSQL half is skipped, so a green run says what it did not test
 * (a failure under WACLOUD_TEST_REQUIRE_ALL=1).
 */
export function announcePgSkip(file: string): void {
  if (pgTestUrl) return;
  announceSkip(file, 'PostgreSQL tests', 'WACLOUD_TEST_DATABASE_URL is not set');
}

/** A fresh schema for one test file; `drop()` removes it and everything in it. */
export interface PgTestSchema {
  schema: string;
  url: Secret;
  /** Runs SQL inside the schema (for tests that inspect or corrupt rows). */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>>;
  drop(): Promise<void>;
}

/** Creates `wacloud_t_<random>`; the store is then opened with `{ postgres: { schema } }`. */
export async function createPgSchema(): Promise<PgTestSchema> {
  if (!pgTestUrl) throw new Error('WACLOUD_TEST_DATABASE_URL is not set');
  const schema = `wacloud_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: pgTestUrl });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.query(`SET search_path = ${schema}`);
  return {
    schema,
    url: new Secret(pgTestUrl, 'database-url'),
    query: (text, values) => admin.query(text, values as unknown[]),
    async drop() {
      try {
        await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await admin.end();
      }
    },
  };
}
