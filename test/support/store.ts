import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../../src/core/logger.js';
import { type OpenStoreOptions, openStore, type Store } from '../../src/store/open-store.js';
import { type MasterKey, masterKeyId } from '../../src/vault/crypto/master-key.js';
import { createPgSchema, type PgTestSchema } from './pg.js';

export type TestEngine = 'sqlite' | 'postgres';

export function testMasterKey(): MasterKey {
  const key = randomBytes(32);
  return { key, id: masterKeyId(key), source: 'option' };
}

/** One isolated store location: a temp data dir (SQLite) or a fresh schema (PostgreSQL). Open it as often as needed. */
export interface TestStoreHome {
  engine: TestEngine;
  dataDir: string;
  pg: PgTestSchema | undefined;
  master: MasterKey;
  open(options?: OpenStoreOptions): Promise<Store>;
  /** Closes every store opened here and removes the data. */
  cleanup(): Promise<void>;
}

export async function createTestStoreHome(engine: TestEngine, logger?: Logger): Promise<TestStoreHome> {
  const dataDir = mkdtempSync(join(tmpdir(), 'wacloud-store-'));
  const pg = engine === 'postgres' ? await createPgSchema() : undefined;
  const master = testMasterKey();
  const opened: Store[] = [];
  return {
    engine,
    dataDir,
    pg,
    master,
    async open(options = {}) {
      const store = await openStore(
        { dataDir, databaseUrl: pg?.url, masterKey: undefined },
        {
          masterKey: master,
          ...(logger ? { logger } : {}),
          ...options,
          postgres: { ...(pg ? { schema: pg.schema } : {}), ...options.postgres },
        },
      );
      opened.push(store);
      return store;
    },
    async cleanup() {
      for (const s of opened) await s.close();
      await pg?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Runs SQL straight against the test database, bypassing the store (to tamper with or inspect rows). Write `?` for
 * parameters on both engines.
 */
export async function rawQuery<R = Record<string, unknown>>(
  home: TestStoreHome,
  text: string,
  params: unknown[] = [],
): Promise<R[]> {
  if (home.pg) {
    let i = 0;
    const res = await home.pg.query(
      text.replace(/\?/g, () => `$${++i}`),
      params,
    );
    return res.rows as R[];
  }
  const { default: Sqlite } = await import('better-sqlite3');
  const db = new Sqlite(join(home.dataDir, 'wacloud.db'), { timeout: 5000 });
  try {
    const stmt = db.prepare(text);
    if (stmt.reader) return stmt.all(...params) as R[];
    stmt.run(...params);
    return [];
  } finally {
    db.close();
  }
}
