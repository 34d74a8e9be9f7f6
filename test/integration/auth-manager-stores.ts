import { type CredentialStore, MemoryCredentialStore } from '../../src/auth/credential-store.js';
import { pgTestUrl } from '../support/pg.js';
import { createTestStoreHome, rawQuery, type TestStoreHome } from '../support/store.js';

/** One engine's stores for one test: a fresh, empty database (or memory), and more handles on the same data. */
export interface ManagerStores {
  /** The store the test starts with. */
  store: CredentialStore;
  /**
   * Another handle on the same data, as a second broker instance (or a restarted one) would open it: a new
   * `openStore` with its own keyring and, on PostgreSQL, its own pool. The memory engine has only the one object.
   */
  another(): Promise<CredentialStore>;
  /** True when the data outlives the process (a restart can be simulated by opening `another()`). */
  persistent: boolean;
  /** Error lines the store logged, with their fields. */
  errors: { msg: string; fields: Record<string, unknown> | undefined }[];
  /** SQL straight against the database, bypassing the store (`?` placeholders); undefined for the memory engine. */
  sql: ((text: string, params?: unknown[]) => Promise<Record<string, unknown>[]>) | undefined;
  /**
   * Makes every write of a new token fail from now on, the way the engine fails: the memory store throws, SQLite and
   * PostgreSQL refuse the UPDATE in the database itself (a trigger; PostgreSQL with SQLSTATE 53100, disk full).
   */
  refuseTokenWrites(): Promise<void>;
  /** Closes every handle and removes the data. Call after the managers have stopped. */
  close(): Promise<void>;
}

export interface ManagerStoreEngine {
  name: 'memory' | 'sqlite' | 'postgres';
  /** PostgreSQL without WACLOUD_TEST_DATABASE_URL. */
  skip: boolean;
  open(): Promise<ManagerStores>;
}

async function sqlStores(engine: 'sqlite' | 'postgres'): Promise<ManagerStores> {
  const errors: ManagerStores['errors'] = [];
  const logger = {
    debug() {},
    info() {},
    warn() {},
    error: (msg: string, fields?: Record<string, unknown>) => errors.push({ msg, fields }),
  };
  const home: TestStoreHome = await createTestStoreHome(engine, logger);
  const first = await home.open();
  return {
    store: first.credentials,
    another: async () => (await home.open()).credentials,
    persistent: true,
    errors,
    sql: (text, params) => rawQuery(home, text, params),
    async refuseTokenWrites() {
      if (engine === 'sqlite') {
        await rawQuery(
          home,
          `CREATE TRIGGER refuse_token_writes BEFORE UPDATE OF token_ct ON credentials
           BEGIN SELECT RAISE(ABORT, 'database or disk is full (test trigger)'); END`,
        );
        return;
      }
      await rawQuery(
        home,
        `CREATE FUNCTION refuse_token_writes() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = '53100'; END $$`,
      );
      await rawQuery(
        home,
        `CREATE TRIGGER refuse_token_writes BEFORE UPDATE OF token_ct ON credentials
         FOR EACH ROW EXECUTE FUNCTION refuse_token_writes()`,
      );
    },
    close: () => home.cleanup(),
  };
}

/**
 * The engines the token manager's lifecycle tests run on: the in-memory reference store, SQLite in a temp data dir,
 * and PostgreSQL in a fresh schema (skipped without WACLOUD_TEST_DATABASE_URL). Use with `describe.each`.
 */
export const managerStoreEngines: ManagerStoreEngine[] = [
  {
    name: 'memory',
    skip: false,
    async open() {
      const store = new MemoryCredentialStore();
      return {
        store,
        another: async () => store,
        persistent: false,
        errors: [],
        sql: undefined,
        async refuseTokenWrites() {
          const original = store.update.bind(store);
          store.update = async (id, version, patch, now) => {
            if (patch.token) throw new Error('database or disk is full');
            return original(id, version, patch, now);
          };
        },
        close: async () => {},
      };
    },
  },
  { name: 'sqlite', skip: false, open: () => sqlStores('sqlite') },
  { name: 'postgres', skip: !pgTestUrl, open: () => sqlStores('postgres') },
];
