import { MemoryCredentialStore } from '../../src/auth/credential-store.js';
import type { Store } from '../../src/store/open-store.js';
import { announcePgSkip, pgTestUrl } from '../support/pg.js';
import { createTestStoreHome, type TestEngine, type TestStoreHome } from '../support/store.js';
import { credentialStoreContract } from './store-credential-contract.js';

announcePgSkip('store-credentials');

credentialStoreContract('MemoryCredentialStore', async () => ({
  store: new MemoryCredentialStore(),
  dispose: async () => {},
}));

/** One database per engine for the whole file (migrations once); each test starts from an empty table. */
function sqlHarness(engine: TestEngine) {
  let opened: Promise<{ home: TestStoreHome; store: Store }> | undefined;
  const get = () => {
    opened ??= createTestStoreHome(engine).then(async (home) => ({ home, store: await home.open() }));
    return opened;
  };
  return {
    create: async () => {
      const { store } = await get();
      for (const r of await store.credentials.list()) await store.credentials.delete(r.id);
      return { store: store.credentials, dispose: async () => {} };
    },
    teardown: async () => {
      if (opened) await (await opened).home.cleanup();
    },
  };
}

const sqlite = sqlHarness('sqlite');
credentialStoreContract('SQLite', sqlite.create, { teardown: sqlite.teardown });
const postgres = sqlHarness('postgres');
credentialStoreContract('PostgreSQL', postgres.create, { skip: !pgTestUrl, teardown: postgres.teardown });
