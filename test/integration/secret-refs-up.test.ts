import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, spawnCli } from '../support/cli-process.js';
import { type FakeVault, startFakeVault } from '../support/fake-vault-kv.js';
import { announcePgSkip, createPgSchema, type PgTestSchema, pgTestUrl } from '../support/pg.js';
import { freePort } from '../support/ports.js';
import { expectNoSecrets } from '../support/secret-scan.js';

// A real `wacloud up` process (the built CLI: run `npm run build` first) whose secrets are all secret references:
// WA_APP_SECRET and the master key in Vault KV v2 (test/support/fake-vault-kv.ts, real HTTP on loopback),
// WEBHOOK_VERIFICATION_TOKEN, WA_APP_SECRET_PREVIOUS and (on PostgreSQL, when WACLOUD_TEST_DATABASE_URL is set)
// DATABASE_URL in files. SQLite needs no URL.
announcePgSkip('secret-refs-up');

const VAULT_TOKEN = 'hvs.CAESIQsecretRefsUpToken0000000000000';
const APP_SECRET = 'c0ffee00c0ffee00c0ffee00c0ffee00';
const OLD_APP_SECRET = 'dec0de00dec0de00dec0de00dec0de00';
const VERIFY_TOKEN = 'verify-token-from-a-file-7f3a9c2e51';
const MASTER_KEY = randomBytes(32).toString('base64');
const SECRETS = [VAULT_TOKEN, APP_SECRET, OLD_APP_SECRET, VERIFY_TOKEN, MASTER_KEY];

const BODY = JSON.stringify({
  object: 'whatsapp_business_account',
  entry: [
    { id: '102290129340398', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp' } }] },
  ],
});
const sign = (secret: string) => `sha256=${createHmac('sha256', secret).update(BODY).digest('hex')}`;

let vault: FakeVault;
let dir: string;
let pgSchema: PgTestSchema | undefined;
let dbUrl: string | undefined;

beforeAll(async () => {
  vault = await startFakeVault({ tokens: { [VAULT_TOKEN]: { read: true } } });
  vault.write('secret', 'wacloud/up', { app_secret: APP_SECRET, master_key: MASTER_KEY });
  dir = mkdtempSync(join(tmpdir(), 'wacloud-refs-up-'));
  writeFileSync(join(dir, 'verify_token'), `${VERIFY_TOKEN}\n`, { mode: 0o600 });
  writeFileSync(join(dir, 'old_app_secret'), OLD_APP_SECRET, { mode: 0o600 });
  if (pgTestUrl) {
    pgSchema = await createPgSchema();
    dbUrl = `${pgTestUrl}${pgTestUrl.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${pgSchema.schema}`)}`;
    writeFileSync(join(dir, 'database_url'), `${dbUrl}\n`, { mode: 0o600 });
  }
});
afterAll(async () => {
  await vault?.close();
  await pgSchema?.drop();
  rmSync(dir, { recursive: true, force: true });
});

function envFor(dataDir: string, vaultPort: number): Record<string, string | undefined> {
  const ref = (field: string) => `vault+http://127.0.0.1:${vaultPort}/secret/wacloud/up#${field}`;
  return {
    WACLOUD_DATA_DIR: dataDir,
    VAULT_TOKEN,
    WA_APP_ID: '1234567890',
    WA_APP_SECRET: ref('app_secret'),
    WA_APP_SECRET_PREVIOUS: `file:${join(dir, 'old_app_secret')}`,
    WEBHOOK_VERIFICATION_TOKEN: `file:${join(dir, 'verify_token')}`,
    WACLOUD_MASTER_KEY: ref('master_key'),
    DATABASE_URL: dbUrl ? `file:${join(dir, 'database_url')}` : undefined,
    // A Meta app is configured (no sandbox); nothing here calls Graph, and if it did it would fail fast.
    WA_GRAPH_URL: 'http://127.0.0.1:9',
  };
}

describe(`wacloud up with its secrets as references (${pgTestUrl ? 'PostgreSQL' : 'SQLite'})`, () => {
  it('comes up; the referenced app secret verifies webhooks and the referenced verify token answers the handshake', async () => {
    const dataDir = join(dir, 'data');
    const proc = spawnCli(['up', '--port', '0', '--log-level', 'debug'], {
      env: envFor(dataDir, Number(new URL(vault.url).port)),
      cwd: dir,
    });
    try {
      const [, base] = await proc.waitFor(/wacloud broker listening on (http:\/\/127\.0\.0\.1:\d+)/, 60_000);
      expect(proc.output()).not.toMatch(/embedded emulator/);
      expect(proc.output()).toMatch(pgTestUrl ? /store\s+PostgreSQL/ : /store\s+SQLite/);
      // Fetched from Vault: one read of the one secret for WA_APP_SECRET and the master key each.
      expect(vault.requests.filter((r) => r.path === '/v1/secret/data/wacloud/up').length).toBeGreaterThan(0);

      const hook = `${base}/webhook`;
      const challenge = '1158201444';
      const ok = await fetch(
        `${hook}?hub.mode=subscribe&hub.verify_token=${encodeURIComponent(VERIFY_TOKEN)}&hub.challenge=${challenge}`,
      );
      expect(ok.status).toBe(200);
      expect(await ok.text()).toBe(challenge);
      const wrongToken = await fetch(
        `${hook}?hub.mode=subscribe&hub.verify_token=file%3A${encodeURIComponent(join(dir, 'verify_token'))}&hub.challenge=1`,
      );
      expect(wrongToken.status).toBe(403);

      const post = (signature: string) =>
        fetch(hook, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature },
          body: BODY,
        });
      expect((await post(sign(APP_SECRET))).status).toBe(200);
      // The previous app secret (rotation), from its file reference.
      expect((await post(sign(OLD_APP_SECRET))).status).toBe(200);
      // Neither the reference's text nor any other secret signs.
      const asText = await post(
        sign(`vault+http://127.0.0.1:${new URL(vault.url).port}/secret/wacloud/up#app_secret`),
      );
      expect(asText.status).toBeGreaterThanOrEqual(400);
      expect((await post(sign('not the app secret at all'))).status).toBeGreaterThanOrEqual(400);
      if (pgSchema) {
        const inbox = await pgSchema.query('SELECT count(*)::int AS n FROM webhook_inbox');
        expect(inbox.rows[0]?.n).toBe(1); // the same body twice is one row (de-duplicated)
      }
    } finally {
      await proc.stop();
    }
    expectNoSecrets(proc.output(), [...SECRETS, ...(dbUrl ? [dbUrl] : [])], 'wacloud up output');
  });

  it('an unreachable source stops the start with a clear error and creates nothing', async () => {
    const dataDir = join(dir, 'data-unreachable');
    // On PostgreSQL, an empty schema of its own: it must still be empty afterwards.
    const empty = pgTestUrl ? await createPgSchema() : undefined;
    const env = envFor(dataDir, await freePort());
    if (empty) {
      const url = `${pgTestUrl}${pgTestUrl?.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${empty.schema}`)}`;
      writeFileSync(join(dir, 'database_url_empty'), url, { mode: 0o600 });
      env.DATABASE_URL = `file:${join(dir, 'database_url_empty')}`;
    }
    const r = await runCli(['up', '--port', '0'], { env, cwd: dir, timeoutMs: 60_000 });
    expect(r.code).toBe(1);
    expect(r.output).toMatch(
      /vault\(127\.0\.0\.1:\d+\/secret\): cannot read WA_APP_SECRET \(wacloud\/up#app_secret\): .*(refused|cannot reach)/is,
    );
    expect(r.output).not.toMatch(/listening/);
    // Nothing created: not the data dir (so no database and no generated master key), no tables in PostgreSQL.
    expect(existsSync(dataDir)).toBe(false);
    if (empty) {
      try {
        const tables = await empty.query(
          'SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1',
          [empty.schema],
        );
        expect(tables.rows[0]?.n).toBe(0);
      } finally {
        await empty.drop();
      }
    }
    expectNoSecrets(r.output, [...SECRETS, ...(dbUrl ? [dbUrl] : [])], 'wacloud up errors');
  });
});
