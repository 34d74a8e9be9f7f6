import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isSecretReferenceText, loadConfig } from '../../src/core/config.js';
import { Secret } from '../../src/core/secret.js';
import { loadResolvedConfig } from '../../src/vault/secret-sources/config-references.js';
import { runCliInProcess as run } from '../support/cli-process.js';
import { type FakeServer, sendJson, startFakeHttpServer } from '../support/fake-http.js';
import { type FakeVault, startFakeVault } from '../support/fake-vault-kv.js';
import { announcePgSkip, pgTestUrl } from '../support/pg.js';
import { freePort } from '../support/ports.js';
import { expectNoSecrets } from '../support/secret-scan.js';
import { createTestStoreHome, type TestStoreHome } from '../support/store.js';
import { draft } from './store-credential-contract.js';

// The broker's secret settings (WA_APP_SECRET, WA_APP_SECRET_PREVIOUS, WEBHOOK_VERIFICATION_TOKEN, DATABASE_URL,
// CLOUD_API_ACCESS_TOKEN, the key named by `keys rewrap-master --new-key-env`) as secret references, through the CLI
// in this process: files, .env files, other variables, and Vault KV v2 (test/support/fake-vault-kv.ts over a real
// loopback socket). The spawned `wacloud up` case is in secret-refs-up.test.ts.
announcePgSkip('secret-refs-cli');

const VAULT_TOKEN = 'hvs.CAESIQsecretRefsCliToken00000000000';
const APP_SECRET = 'a3f1c2e4b5d6978812345678abcdef01';
const OLD_APP_SECRET = '0fedcba98765432100112233445566aa';
const ACCESS_TOKEN = `EAAGsecretRefCli${'x'.repeat(60)}`;
const BODY = '{"object":"whatsapp_business_account","entry":[]}';
const sign = (secret: string) => `sha256=${createHmac('sha256', secret).update(BODY).digest('hex')}`;

let vault: FakeVault;
let dir: string;
let bodyFile: string;
let vaultPort: number;
const vaultRef = (field: string, port = vaultPort) =>
  `vault+http://127.0.0.1:${port}/secret/wacloud/cli#${field}`;
const secrets = [VAULT_TOKEN, APP_SECRET, OLD_APP_SECRET, ACCESS_TOKEN];

beforeAll(async () => {
  vault = await startFakeVault({ tokens: { [VAULT_TOKEN]: { read: true } } });
  vaultPort = Number(new URL(vault.url).port);
  vault.write('secret', 'wacloud/cli', { app_secret: APP_SECRET, old_app_secret: OLD_APP_SECRET, empty: '' });
  dir = mkdtempSync(join(tmpdir(), 'wacloud-secret-refs-'));
  bodyFile = join(dir, 'body.json');
  writeFileSync(bodyFile, BODY);
  writeFileSync(join(dir, 'app_secret'), `${APP_SECRET}\n`, { mode: 0o600 });
  writeFileSync(join(dir, 'empty'), '', { mode: 0o600 });
  writeFileSync(join(dir, 'keys.env'), `APP=${APP_SECRET}\n`, { mode: 0o600 });
});
afterAll(async () => {
  await vault?.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  vault.requests.length = 0;
});

describe('WA_APP_SECRET as a reference (wacloud webhook sign)', () => {
  const cases: Array<[string, () => Record<string, string>]> = [
    ['raw', () => ({ WA_APP_SECRET: APP_SECRET })],
    ['file:', () => ({ WA_APP_SECRET: `file:${join(dir, 'app_secret')}` })],
    ['file:///', () => ({ WA_APP_SECRET: `file://${join(dir, 'app_secret')}` })],
    ['dotenv:', () => ({ WA_APP_SECRET: `dotenv:${join(dir, 'keys.env')}#APP` })],
    ['env:', () => ({ WA_APP_SECRET: 'env:MY_APP_SECRET', MY_APP_SECRET: APP_SECRET })],
    ['vault+http://', () => ({ WA_APP_SECRET: vaultRef('app_secret'), VAULT_TOKEN })],
    ['M4D_APP_SECRET, vault+http://', () => ({ M4D_APP_SECRET: vaultRef('app_secret'), VAULT_TOKEN })],
  ];
  for (const [name, env] of cases) {
    it(`${name}: signs with the referenced secret`, async () => {
      const r = await run(['webhook', 'sign', '--file', bodyFile], env(), dir);
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      expect(r.out.trim()).toBe(sign(APP_SECRET));
      expectNoSecrets(r.err, secrets, 'stderr');
    });
  }

  it('a reference in ./.env is resolved too; VAULT_TOKEN may come from ./.env', async () => {
    const cwd = mkdtempSync(join(dir, 'cwd-'));
    // Quoted: an unquoted # starts a comment in a .env file.
    writeFileSync(
      join(cwd, '.env'),
      `WA_APP_SECRET="${vaultRef('app_secret')}"\nVAULT_TOKEN=${VAULT_TOKEN}\n`,
    );
    const r = await run(['webhook', 'sign', '--file', bodyFile], {}, cwd);
    expect(r.code).toBe(0);
    expect(r.out.trim()).toBe(sign(APP_SECRET));
    expect(vault.requests.filter((q) => q.path === '/v1/secret/data/wacloud/cli')).toHaveLength(1);
  });

  it('an unreachable or sealed source: exit 1 naming the variable and the source, never a secret', async () => {
    const down = await run(
      ['webhook', 'sign', '--file', bodyFile],
      { WA_APP_SECRET: vaultRef('app_secret', await freePort()), VAULT_TOKEN },
      dir,
    );
    expect(down.code).toBe(1);
    expect(down.out).toBe('');
    expect(down.err).toMatch(
      /vault\(127\.0\.0\.1:\d+\/secret\): cannot read WA_APP_SECRET \(wacloud\/cli#app_secret\): .*(refused|cannot reach)/is,
    );
    vault.sealed = true;
    try {
      const sealed = await run(
        ['webhook', 'sign', '--file', bodyFile],
        { WA_APP_SECRET: vaultRef('app_secret'), VAULT_TOKEN },
        dir,
      );
      expect(sealed.code).toBe(1);
      expect(sealed.err).toMatch(/cannot read WA_APP_SECRET .*sealed/s);
      expectNoSecrets(down.out + down.err + sealed.out + sealed.err, secrets, 'errors');
    } finally {
      vault.sealed = false;
    }
  });

  it('missing, empty or malformed: exit 3 naming the variable, never the value', async () => {
    const results = await Promise.all([
      run(['webhook', 'sign', '--file', bodyFile], { WA_APP_SECRET: vaultRef('absent'), VAULT_TOKEN }, dir),
      run(['webhook', 'sign', '--file', bodyFile], { WA_APP_SECRET: vaultRef('empty'), VAULT_TOKEN }, dir),
      run(['webhook', 'sign', '--file', bodyFile], { WA_APP_SECRET: `file:${join(dir, 'nope')}` }, dir),
      run(['webhook', 'sign', '--file', bodyFile], { WA_APP_SECRET: `file:${join(dir, 'empty')}` }, dir),
      run(['webhook', 'sign', '--file', bodyFile], { WA_APP_SECRET: vaultRef('app_secret') }, dir),
      run(['webhook', 'sign', '--file', bodyFile], { WA_APP_SECRET: 'env:not a name' }, dir),
    ]);
    for (const r of results) expect(r.code).toBe(3);
    const [absent, empty, noFile, emptyFile, noToken, bad] = results.map((r) => r.err);
    expect(absent).toMatch(/WA_APP_SECRET: points at vault\(.+\) wacloud\/cli#absent, which does not exist/);
    expect(empty).toMatch(/WA_APP_SECRET: the value at vault\(.+\) wacloud\/cli#empty is empty/);
    expect(noFile).toMatch(/WA_APP_SECRET: points at file\(.+\) nope, which does not exist/);
    expect(emptyFile).toMatch(/WA_APP_SECRET: the value at file\(.+\) empty is empty/);
    expect(noToken).toMatch(/WA_APP_SECRET: a vault:\/\/ reference needs a Vault token: set VAULT_TOKEN/);
    expect(bad).toMatch(/WA_APP_SECRET: env: needs a variable name/);
    expect(bad).not.toContain('not a name');
    expectNoSecrets(results.map((r) => r.out + r.err).join('\n'), secrets, 'errors');
  });
});

describe('WA_APP_SECRET_PREVIOUS (app-secret rotation)', () => {
  it('webhook verify accepts a body signed with a previous secret given by reference, and says which', async () => {
    const env = {
      WA_APP_SECRET: `file:${join(dir, 'app_secret')}`,
      WA_APP_SECRET_PREVIOUS: `ffffffffffffffffffffffffffffffff, ${vaultRef('old_app_secret')}`,
      VAULT_TOKEN,
    };
    const old = await run(
      ['webhook', 'verify', '--signature', sign(OLD_APP_SECRET), '--file', bodyFile, '--json'],
      env,
      dir,
    );
    expect(old.code).toBe(0);
    expect(JSON.parse(old.out)).toMatchObject({ valid: true, secret: 'WA_APP_SECRET_PREVIOUS[1]' });
    const current = await run(
      ['webhook', 'verify', '--signature', sign(APP_SECRET), '--file', bodyFile, '--json'],
      env,
      dir,
    );
    expect(JSON.parse(current.out)).toMatchObject({ valid: true, secret: 'WA_APP_SECRET' });
    const other = await run(
      ['webhook', 'verify', '--signature', sign('some other secret entirely'), '--file', bodyFile],
      env,
      dir,
    );
    expect(other.code).toBe(6);
    expectNoSecrets(old.out + old.err + current.out + current.err + other.out + other.err, secrets, 'verify');
  });

  it('a previous secret whose source is down stops the command (exit 1) naming WA_APP_SECRET_PREVIOUS', async () => {
    const r = await run(
      ['webhook', 'verify', '--signature', sign(APP_SECRET), '--file', bodyFile],
      {
        WA_APP_SECRET: APP_SECRET,
        WA_APP_SECRET_PREVIOUS: vaultRef('old_app_secret', await freePort()),
        VAULT_TOKEN,
      },
      dir,
    );
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/cannot read WA_APP_SECRET_PREVIOUS \(wacloud\/cli#old_app_secret\)/);
    expectNoSecrets(r.out + r.err, secrets, 'errors');
  });
});

describe('only the documented schemes are references', () => {
  it('raw URLs and secrets are used as they are, with no fetch', async () => {
    for (const raw of [
      'postgres://wacloud:pa:ss@db.internal:5432/wacloud',
      'postgresql://u@127.0.0.1/db?sslmode=require',
      'redis://:secret@127.0.0.1:6379/0',
      'rediss://cache.internal:6380',
      APP_SECRET,
      'FILE:/etc/passwd',
      'Vault://x/y/z',
      'https://example.com/secret',
    ]) {
      expect(isSecretReferenceText(raw), raw).toBe(false);
    }
    const config = await loadResolvedConfig(
      {},
      {
        env: {
          DATABASE_URL: 'postgres://wacloud:pa:ss@db.internal:5432/wacloud',
          REDIS_URL: 'redis://:secret@127.0.0.1:6379/0',
          WA_APP_SECRET: APP_SECRET,
          WEBHOOK_VERIFICATION_TOKEN: 'my verify token: with a colon',
        },
        envFile: false,
      },
    );
    expect(config.databaseUrl?.reveal()).toBe('postgres://wacloud:pa:ss@db.internal:5432/wacloud');
    expect(config.redisUrl?.reveal()).toBe('redis://:secret@127.0.0.1:6379/0');
    expect(config.appSecret?.reveal()).toBe(APP_SECRET);
    expect(config.webhookVerificationToken?.reveal()).toBe('my verify token: with a colon');
    expect(config.secretReferences).toEqual({});
  });

  it('the synchronous loadConfig never uses a reference as the secret: using the value throws, pointing at loadResolvedConfig', () => {
    const load = (env: Record<string, string>) => loadConfig({}, { env, envFile: false });
    // Loading succeeds (a caller may not use that setting: the token manager reads the same environment) …
    const config = load({
      WA_APP_SECRET: vaultRef('app_secret'),
      DATABASE_URL: 'file:/run/secrets/db',
      REDIS_URL: 'env:REDIS',
      WA_APP_SECRET_PREVIOUS: `${OLD_APP_SECRET},env:OLD`,
    });
    // … but the value cannot be used, and never prints the reference.
    expect(() => config.appSecret?.reveal()).toThrow(
      /WA_APP_SECRET: holds a secret reference \(vault\+http:\/\/…\), which loadConfig cannot fetch: .*loadResolvedConfig/,
    );
    expect(() => config.databaseUrl?.reveal()).toThrow(/DATABASE_URL: holds a secret reference \(file:…\)/);
    expect(() => config.redisUrl?.reveal()).toThrow(/REDIS_URL: holds a secret reference \(env:…\)/);
    expect(config.previousAppSecrets[0]?.reveal()).toBe(OLD_APP_SECRET);
    expect(() => config.previousAppSecrets[1]?.reveal()).toThrow(
      /WA_APP_SECRET_PREVIOUS: holds a secret reference/,
    );
    expect(String(config.appSecret)).toMatch(/^\[app-secret sha256:[0-9a-f]{8}\]$/);
    expect(() =>
      loadConfig({ appSecret: 'aws-sm://x#y' }, { env: {}, envFile: false }).appSecret?.reveal(),
    ).toThrow(/options\.appSecret: holds a secret reference/);
    // An explicit option wins over the variable, so the variable's reference does not matter.
    expect(
      loadConfig(
        { appSecret: APP_SECRET },
        { env: { WA_APP_SECRET: 'file:/x' }, envFile: false },
      ).appSecret?.reveal(),
    ).toBe(APP_SECRET);
    // WACLOUD_MASTER_KEY keeps passing through: resolveMasterKey fetches it.
    expect(
      loadConfig({}, { env: { WACLOUD_MASTER_KEY: 'file:/run/k' }, envFile: false }).masterKey?.reveal(),
    ).toBe('file:/run/k');
  });
});

describe('DATABASE_URL as a reference (wacloud keys)', () => {
  let sqlite: TestStoreHome;
  beforeAll(async () => {
    sqlite = await createTestStoreHome('sqlite');
    const store = await sqlite.open();
    await store.credentials.insert(draft({ id: 'r0', token: new Secret(ACCESS_TOKEN) }), 1);
    await store.close();
    writeFileSync(join(dir, 'master_key'), sqlite.master.key.toString('base64'), { mode: 0o600 });
  });
  afterAll(async () => sqlite?.cleanup());

  it('its resolved value is validated: not postgres:// is exit 3 saying where it came from, never the value', async () => {
    writeFileSync(join(dir, 'db_url'), 'mysql://root:hunter2secret@db/wacloud\n', { mode: 0o600 });
    const r = await run(
      ['keys', 'status'],
      {
        WACLOUD_DATA_DIR: sqlite.dataDir,
        WACLOUD_MASTER_KEY: `file:${join(dir, 'master_key')}`,
        DATABASE_URL: `file:${join(dir, 'db_url')}`,
      },
      dir,
    );
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/DATABASE_URL: the value at file\(.+\) db_url must be a postgres:\/\/ URL/);
    expectNoSecrets(r.out + r.err, [...secrets, 'hunter2secret', 'mysql://'], 'errors');
  });

  it('a reference in a setting the command does not use is not fetched and does not get in the way', async () => {
    const r = await run(
      ['keys', 'status', '--json'],
      {
        WACLOUD_DATA_DIR: sqlite.dataDir,
        WACLOUD_MASTER_KEY: `file:${join(dir, 'master_key')}`,
        WA_APP_SECRET: vaultRef('app_secret', await freePort()),
        REDIS_URL: 'file:/nonexistent/redis_url',
        VAULT_TOKEN,
      },
      dir,
    );
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ engine: 'sqlite', masterKeyId: sqlite.master.id });
  });
});

describe.skipIf(!pgTestUrl)('DATABASE_URL as a reference on PostgreSQL (wacloud keys)', () => {
  let home: TestStoreHome;
  beforeAll(async () => {
    home = await createTestStoreHome('postgres');
    const store = await home.open();
    await store.credentials.insert(draft({ id: 'p0', token: new Secret(ACCESS_TOKEN) }), 1);
    await store.close();
  });
  afterAll(async () => home?.cleanup());

  it('keys status opens the PostgreSQL store named by a Vault reference', async () => {
    const url = `${pgTestUrl}${pgTestUrl?.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${home.pg?.schema}`)}`;
    vault.write('secret', 'wacloud/pg', { database_url: url });
    const r = await run(
      ['keys', 'status', '--json'],
      {
        WACLOUD_DATA_DIR: home.dataDir,
        WACLOUD_MASTER_KEY: home.master.key.toString('hex'),
        DATABASE_URL: `vault+http://127.0.0.1:${vaultPort}/secret/wacloud/pg#database_url`,
        VAULT_TOKEN,
      },
      dir,
    );
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ engine: 'postgres', masterKeyId: home.master.id });
    expect(JSON.parse(r.out).keys[0]).toMatchObject({ rows: 1 });
    expectNoSecrets(r.out + r.err, [...secrets, url], 'keys status');
  });
});

describe('keys rewrap-master --new-key-env NAME holding a reference', () => {
  let home: TestStoreHome;
  beforeAll(async () => {
    home = await createTestStoreHome('sqlite');
    const store = await home.open();
    await store.credentials.insert(draft({ id: 'w0', token: new Secret(ACCESS_TOKEN) }), 1);
    await store.close();
  });
  afterAll(async () => home?.cleanup());

  it('an unreachable source changes nothing (exit 1); a file reference re-wraps; the new key then opens the store', async () => {
    const oldKey = home.master.key.toString('hex');
    const newKey = randomBytes(32);
    const newKeyFile = join(dir, 'new_master_key');
    writeFileSync(newKeyFile, `${newKey.toString('base64')}\n`, { mode: 0o600 });
    const base = { WACLOUD_DATA_DIR: home.dataDir, WACLOUD_MASTER_KEY: oldKey, VAULT_TOKEN };

    const down = await run(
      ['keys', 'rewrap-master', '--new-key-env', 'NEXT'],
      { ...base, NEXT: `vault+http://127.0.0.1:${await freePort()}/secret/wacloud/keys#next` },
      dir,
    );
    expect(down.code).toBe(1);
    expect(down.err).toMatch(/cannot read NEXT \(wacloud\/keys#next\)/);
    const notKey = await run(
      ['keys', 'rewrap-master', '--new-key-env', 'NEXT'],
      { ...base, NEXT: vaultRef('app_secret') },
      dir,
    );
    expect(notKey.code).toBe(3);
    expect(notKey.err).toMatch(
      /NEXT: the value at vault\(.+\) wacloud\/cli#app_secret must be 32 random bytes/,
    );
    const still = await run(['keys', 'status', '--json'], base, dir);
    expect(JSON.parse(still.out).masterKeyId).toBe(home.master.id);

    const r = await run(
      ['keys', 'rewrap-master', '--new-key-env', 'NEXT', '--json'],
      { ...base, NEXT: `file:${newKeyFile}` },
      dir,
    );
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ from: home.master.id, rewrapped: 1 });
    const after = await run(
      ['keys', 'status', '--json'],
      { WACLOUD_DATA_DIR: home.dataDir, WACLOUD_MASTER_KEY: `file:${newKeyFile}` },
      dir,
    );
    expect(after.code).toBe(0);
    expect(JSON.parse(after.out)).toMatchObject({ masterKeyId: JSON.parse(r.out).to });
    expectNoSecrets(
      [down, notKey, still, r, after].map((x) => x.out + x.err).join('\n'),
      [...secrets, oldKey, newKey.toString('base64'), newKey.toString('hex')],
      'rewrap',
    );
  });
});

describe('CLOUD_API_ACCESS_TOKEN as a reference (wacloud token inspect)', () => {
  let graph: FakeServer;
  beforeAll(async () => {
    // Answers debug_token for the token it is asked about (the token inspects itself without an app secret).
    graph = await startFakeHttpServer((req, res) => {
      if (req.method === 'POST' && req.path.endsWith('/123456789/messages')) {
        if (req.headers.authorization !== `Bearer ${ACCESS_TOKEN}`)
          return sendJson(res, 401, { error: { message: 'bad token', code: 190 } });
        return sendJson(res, 200, { messaging_product: 'whatsapp', messages: [{ id: 'wamid.refs1' }] });
      }
      const input = new URL(req.path, 'http://graph').searchParams.get('input_token');
      if (input !== ACCESS_TOKEN) return sendJson(res, 400, { error: { message: 'bad token', code: 190 } });
      return sendJson(res, 200, {
        data: {
          app_id: '1234',
          type: 'SYSTEM_USER',
          application: 'refs',
          is_valid: true,
          expires_at: 0,
          scopes: [],
        },
      });
    });
    vault.write('secret', 'wacloud/tokens', { access_token: ACCESS_TOKEN });
  });
  afterAll(async () => graph?.close());

  it('the referenced token is the one sent to Graph, and never printed', async () => {
    const env = {
      CLOUD_API_ACCESS_TOKEN: `vault+http://127.0.0.1:${vaultPort}/secret/wacloud/tokens#access_token`,
      VAULT_TOKEN,
      WA_GRAPH_URL: graph.url,
    };
    const r = await run(['token', 'inspect', '--json'], env, dir);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ valid: true });
    expect(graph.requests).toHaveLength(1);
    const down = await run(
      ['token', 'inspect'],
      { ...env, CLOUD_API_ACCESS_TOKEN: `vault+http://127.0.0.1:${await freePort()}/secret/x#y` },
      dir,
    );
    expect(down.code).toBe(1);
    expect(down.err).toMatch(/cannot read CLOUD_API_ACCESS_TOKEN \(x#y\)/);
    expect(graph.requests).toHaveLength(1);
    expectNoSecrets(r.out + r.err + down.out + down.err, secrets, 'token inspect');
  });

  it('wacloud send authenticates with the referenced token (file:)', async () => {
    writeFileSync(join(dir, 'access_token'), `${ACCESS_TOKEN}\n`, { mode: 0o600 });
    const before = graph.requests.length;
    const r = await run(
      ['send', '--to', '15551234567', '--text', 'hi', '--json'],
      {
        CLOUD_API_ACCESS_TOKEN: `file:${join(dir, 'access_token')}`,
        WA_PHONE_NUMBER_ID: '123456789',
        WA_GRAPH_URL: graph.url,
      },
      dir,
    );
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).messages[0].id).toBe('wamid.refs1');
    expect(graph.requests.length).toBe(before + 1);
    expectNoSecrets(r.out + r.err, secrets, 'send');
  });
});
