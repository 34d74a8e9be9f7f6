import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { type Db, openSqlite, SQLITE_STATEMENT_CACHE } from '../../src/store/engine.js';

// The SQLite connection reuses prepared statements by SQL text (engine.ts): reuse must never change an answer.
describe('SQLite prepared-statement reuse', () => {
  let db: Db | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await db?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function open(): Promise<Db> {
    dir = mkdtempSync(join(tmpdir(), 'wacloud-stmt-'));
    db = openSqlite({ dataDir: dir });
    await sql`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)`.execute(db.kysely);
    return db;
  }

  it('answers repeated and evicted statements with their own parameters', async () => {
    const d = await open();
    for (let i = 0; i < 5; i++) await sql`INSERT INTO t (v) VALUES (${`v${i}`})`.execute(d.kysely);
    // More distinct texts than the cache holds, each run twice: every run sees its own parameter.
    for (let round = 0; round < 2; round++) {
      for (let n = 0; n < SQLITE_STATEMENT_CACHE + 20; n++) {
        const r = await sql<{
          v: string;
          n: number;
        }>`SELECT v, ${sql.lit(n)} AS n FROM t WHERE id = ${(n % 5) + 1}`.execute(d.kysely);
        expect(r.rows).toEqual([{ v: `v${n % 5}`, n }]);
      }
    }
  });

  it('sees a schema change through a cached statement', async () => {
    const d = await open();
    await sql`INSERT INTO t (v) VALUES ('a')`.execute(d.kysely);
    const read = () => sql`SELECT * FROM t`.execute(d.kysely).then((r) => r.rows);
    expect(await read()).toEqual([{ id: 1, v: 'a' }]);
    await sql`ALTER TABLE t ADD COLUMN w TEXT NOT NULL DEFAULT 'x'`.execute(d.kysely);
    expect(await read()).toEqual([{ id: 1, v: 'a', w: 'x' }]);
  });
});
