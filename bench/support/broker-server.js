// The broker in its own process, as `wacloud up` builds it (store, token manager, Graph proxy, webhook inbox and its
// workers), with one tenant seeded straight into the store: a tenant API key, a connected credential (the upstream
// emulator's token) and its phone number. argv[2] is JSON:
//   { upstreamUrl, appId, appSecret, token, phoneNumberId, wabaId, databaseUrl?, schema? }
// Sends { port, apiKey, engine } to the parent over IPC (a benchmark sandbox: the key is there on purpose).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBroker } from '../../dist/broker/broker.js';
import { createBrokerLogger } from '../../dist/broker/logger.js';
import { generateApiKey } from '../../dist/broker/security/api-key.js';
import { Secret } from '../../dist/core/secret.js';
import { openStore } from '../../dist/store/open-store.js';

const o = JSON.parse(process.argv[2]);
const dataDir = mkdtempSync(join(tmpdir(), 'wacloud-bench-broker-'));
const logger = createBrokerLogger({ level: 'warn' });
const store = await openStore(
  {
    dataDir,
    databaseUrl: o.databaseUrl ? new Secret(o.databaseUrl, 'database-url') : undefined,
    masterKey: undefined,
  },
  // error level: the generated master key file's warning is expected in a throwaway data dir.
  { logger: createBrokerLogger({ level: 'error' }), postgres: o.schema ? { schema: o.schema } : undefined },
);
const now = Date.now();
const tenant = await store.tenants.create({ name: 'bench' }, now);
const key = generateApiKey();
await store.apiKeys.insert({ keyId: key.keyId, hash: key.hash, tenantId: tenant.id, label: 'bench' }, now);
const credential = await store.credentials.insert(
  {
    tenantId: tenant.id,
    kind: 'system-user',
    appId: o.appId,
    subjectId: null,
    scopes: ['whatsapp_business_messaging', 'whatsapp_business_management'],
    targetIds: [],
    token: new Secret(o.token, 'access-token'),
    issuedAtMs: now,
    expiresAtMs: null,
    dataAccessExpiresAtMs: null,
    status: 'active',
    // Checked tomorrow: no health check runs during the benchmark.
    nextCheckAtMs: now + 86_400_000,
  },
  now,
);
await store.phoneNumbers.upsert(
  {
    id: o.phoneNumberId,
    tenantId: tenant.id,
    wabaId: o.wabaId,
    displayPhoneNumber: '',
    verifiedName: null,
    credentialId: credential.id,
  },
  now,
);

const broker = createBroker({
  store: store,
  appId: o.appId,
  appSecret: new Secret(o.appSecret, 'app-secret'),
  graphUrl: o.upstreamUrl,
  dialogUrl: o.upstreamUrl,
  verifyToken: new Secret('bench-verify-token', 'verify-token'),
  sessionKey: new Secret('bench-session-key-0123456789abcdef', 'session-key'),
  logger,
  // background: false only to look at the ingest path alone while profiling (BENCH_NO_WORKERS=1).
  background: process.env.BENCH_NO_WORKERS !== '1',
});
const url = await broker.listen(0, '127.0.0.1');
process.send?.({ port: Number(new URL(url).port), apiKey: key.key.reveal(), engine: store.engine });

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await broker.close().catch(() => undefined);
  rmSync(dataDir, { recursive: true, force: true });
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('disconnect', stop);
