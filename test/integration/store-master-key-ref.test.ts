import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Secret } from '../../src/core/secret.js';
import { type OpenStoreOptions, openStore, type Store } from '../../src/store/open-store.js';
import { loadMasterKey } from '../../src/vault/crypto/master-key.js';
import { runCliInProcess as run, runCli } from '../support/cli-process.js';
import { type FakeAws, startFakeAwsSecretsManager } from '../support/fake-aws-secrets-manager.js';
import { type FakeGcp, startFakeGcpSecretManager } from '../support/fake-gcp-secret-manager.js';
import { type FakeVault, startFakeVault } from '../support/fake-vault-kv.js';
import { announcePgSkip, pgTestUrl } from '../support/pg.js';
import { freePort } from '../support/ports.js';
import { expectNoSecrets } from '../support/secret-scan.js';
import { createTestStoreHome, rawQuery, type TestEngine, type TestStoreHome } from '../support/store.js';
import { draft } from './store-credential-contract.js';

// WACLOUD_MASTER_KEY as a secret reference, resolved at start by `wacloud keys` (and `wacloud up`, openStore): from
// a local file, from Vault KV v2, AWS Secrets Manager and GCP Secret Manager (test/support/fake-*.ts over a real
// loopback socket; no Vault server ships with Debian or npm, and there is no AWS or GCP here).
announcePgSkip('store-master-key-ref');

const VAULT_TOKEN = 'hvs.CAESIQx7vT2kLp9ZrW4mN8bYcJ5dF3gH6sK1aE0uR';
const NOT_A_KEY = 'correct horse battery staple, not a key at all';
const TOKENS = ['EAAGmasterRefToken0', 'EAAGmasterRefToken1'].map((t) => `${t}${'m'.repeat(30)}`);

let vault: FakeVault;
let keyDir: string;
beforeAll(async () => {
  vault = await startFakeVault({
    tokens: { [VAULT_TOKEN]: { read: true, write: true }, 'hvs.noAccessToken000000000000000': {} },
  });
  keyDir = mkdtempSync(join(tmpdir(), 'wacloud-keyref-'));
});
afterAll(async () => {
  await vault?.close();
  rmSync(keyDir, { recursive: true, force: true });
});

for (const engine of ['sqlite', 'postgres'] as TestEngine[]) {
  describe.skipIf(engine === 'postgres' && !pgTestUrl)(
    `WACLOUD_MASTER_KEY as a reference (${engine})`,
    () => {
      let home: TestStoreHome;
      let base: Record<string, string | undefined>;
      let secrets: string[];
      let keyFile: string;
      const vaultRef = (field: string, port = Number(new URL(vault.url).port)) =>
        `vault+http://127.0.0.1:${port}/secret/wacloud/${engine}#${field}`;

      beforeAll(async () => {
        home = await createTestStoreHome(engine);
        const store = await home.open();
        for (const [i, t] of TOKENS.entries())
          await store.credentials.insert(draft({ id: `ref${i}`, token: new Secret(t) }), 1);
        await store.close();
        keyFile = join(keyDir, `wacloud_master_key_${engine}`);
        // As `openssl rand -hex 32 > file` writes it: hex, one trailing newline; mode 0600.
        writeFileSync(keyFile, `${home.master.key.toString('hex')}\n`, { mode: 0o600 });
        vault.write('secret', `wacloud/${engine}`, {
          master_key: home.master.key.toString('base64'),
          not_a_key: NOT_A_KEY,
          other_key: randomBytes(32).toString('base64'),
        });
        base = {
          WACLOUD_DATA_DIR: home.dataDir,
          VAULT_TOKEN,
          DATABASE_URL: home.pg
            ? `${pgTestUrl}${pgTestUrl?.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${home.pg.schema}`)}`
            : undefined,
        };
        secrets = [
          ...TOKENS,
          home.master.key.toString('base64'),
          home.master.key.toString('hex'),
          VAULT_TOKEN,
          NOT_A_KEY,
        ];
      });
      afterAll(async () => home?.cleanup());
      beforeEach(() => {
        vault.sealed = false;
        vault.requests.length = 0;
      });

      it('file: a key file (e.g. a Docker or Kubernetes secret) opens the store', async () => {
        const env = { ...base, WACLOUD_MASTER_KEY: `file:${keyFile}` };
        const json = await run(['keys', 'status', '--json'], env, home.dataDir);
        expect(json.err).toBe('');
        expect(json.code).toBe(0);
        const s = JSON.parse(json.out);
        expect(s).toMatchObject({ masterKeyId: home.master.id, masterKeySource: 'reference' });
        expect(s.masterKeyReference).toContain(`wacloud_master_key_${engine}`);
        expect(s.keys[0]).toMatchObject({ rows: 2 });
        const human = await run(['keys', 'status'], env, home.dataDir);
        expect(human.code).toBe(0);
        expect(human.out).toMatch(
          new RegExp(`master key:\\s+${home.master.id} \\(WACLOUD_MASTER_KEY -> file\\(`),
        );
        expectNoSecrets(json.out + json.err + human.out + human.err, secrets, 'keys status');
      });

      it('vault+http://: read from Vault KV v2 over HTTP with VAULT_TOKEN; rotate works through it too', async () => {
        const env = { ...base, WACLOUD_MASTER_KEY: vaultRef('master_key') };
        const r = await run(['keys', 'status', '--json'], env, home.dataDir);
        expect(r.err).toBe('');
        expect(r.code).toBe(0);
        expect(JSON.parse(r.out)).toMatchObject({
          masterKeyId: home.master.id,
          masterKeySource: 'reference',
        });
        expect(JSON.parse(r.out).masterKeyReference).toMatch(/^vault\(.+\) wacloud\/.+#master_key$/);
        const get = vault.requests.find((q) => q.path === `/v1/secret/data/wacloud/${engine}`);
        expect(get?.method).toBe('GET');
        expect(get?.headers['x-vault-token']).toBe(VAULT_TOKEN);
        const rotated = await run(['keys', 'rotate', '--json'], env, home.dataDir);
        expect(rotated.code).toBe(0);
        expect(JSON.parse(rotated.out)).toMatchObject({ reencrypted: 2, remaining: 0 });
        const store = await home.open();
        for (const [i, t] of TOKENS.entries())
          expect((await store.credentials.get(`ref${i}`))?.token.reveal()).toBe(t);
        await store.close();
        expectNoSecrets(r.out + r.err + rotated.out + rotated.err, secrets, 'keys output');
      });

      it('an unreachable source: exit 1 naming the variable and the source, nothing else done', async () => {
        const keysNow = async () =>
          JSON.parse(
            (
              await run(
                ['keys', 'status', '--json'],
                { ...base, WACLOUD_MASTER_KEY: `file:${keyFile}` },
                home.dataDir,
              )
            ).out,
          ).keys.map((k: { keyId: string; state: string }) => `${k.keyId} ${k.state}`);
        const keysBefore = await keysNow();
        const env = { ...base, WACLOUD_MASTER_KEY: vaultRef('master_key', await freePort()) };
        const r = await run(['keys', 'rotate'], env, home.dataDir);
        expect(r.code).toBe(1);
        expect(r.err).toMatch(
          /vault\(127\.0\.0\.1:\d+\/secret\): cannot read WACLOUD_MASTER_KEY \(wacloud\/\w+#master_key\)/,
        );
        expect(r.err).toMatch(/refused|unreachable|cannot reach/i);
        // A sealed Vault is unreachable too, and says so.
        vault.sealed = true;
        const sealed = await run(
          ['keys', 'status'],
          { ...base, WACLOUD_MASTER_KEY: vaultRef('master_key') },
          home.dataDir,
        );
        expect(sealed.code).toBe(1);
        expect(sealed.err).toMatch(/cannot read WACLOUD_MASTER_KEY .*sealed/s);
        vault.sealed = false;
        // Nothing was rotated.
        const s = JSON.parse(
          (
            await run(
              ['keys', 'status', '--json'],
              { ...base, WACLOUD_MASTER_KEY: `file:${keyFile}` },
              home.dataDir,
            )
          ).out,
        );
        expect(s.keys.filter((k: { state: string }) => k.state === 'active')).toHaveLength(1);
        // (An earlier test's rotation may have left its old key retiring through the grace period.)
        expect(await keysNow()).toEqual(keysBefore);
        expectNoSecrets(r.err + sealed.err, secrets, 'errors');
      });

      it('a refused Vault token: exit 1, says what to check, without the token', async () => {
        const env = {
          ...base,
          VAULT_TOKEN: 'hvs.noAccessToken000000000000000',
          WACLOUD_MASTER_KEY: vaultRef('master_key'),
        };
        const r = await run(['keys', 'status'], env, home.dataDir);
        expect(r.code).toBe(1);
        expect(r.err).toMatch(
          /cannot read WACLOUD_MASTER_KEY .*check the token and that its policy allows read/s,
        );
        expectNoSecrets(r.err, [...secrets, 'hvs.noAccessToken000000000000000'], 'errors');
      });

      it('a value that is not a key, or no value at all: exit 3 naming WACLOUD_MASTER_KEY, never the value', async () => {
        const notKey = await run(
          ['keys', 'status'],
          { ...base, WACLOUD_MASTER_KEY: vaultRef('not_a_key') },
          home.dataDir,
        );
        expect(notKey.code).toBe(3);
        expect(notKey.err).toMatch(
          /WACLOUD_MASTER_KEY: the value at vault\(.+\) wacloud\/\w+#not_a_key must be 32 random bytes/,
        );
        const missing = await run(
          ['keys', 'status'],
          { ...base, WACLOUD_MASTER_KEY: vaultRef('absent') },
          home.dataDir,
        );
        expect(missing.code).toBe(3);
        expect(missing.err).toMatch(
          /WACLOUD_MASTER_KEY: points at vault\(.+\) wacloud\/\w+#absent, which does not exist/,
        );
        const noFile = await run(
          ['keys', 'status'],
          { ...base, WACLOUD_MASTER_KEY: `file:${keyFile}.gone` },
          home.dataDir,
        );
        expect(noFile.code).toBe(3);
        expect(noFile.err).toMatch(/WACLOUD_MASTER_KEY: points at file\(.+\) \S+, which does not exist/);
        const noToken = await run(
          ['keys', 'status'],
          { ...base, VAULT_TOKEN: undefined, WACLOUD_MASTER_KEY: vaultRef('master_key') },
          home.dataDir,
        );
        expect(noToken.code).toBe(3);
        expect(noToken.err).toMatch(
          /WACLOUD_MASTER_KEY: a vault:\/\/ reference needs a Vault token: set VAULT_TOKEN/,
        );
        expectNoSecrets(notKey.err + missing.err + noFile.err + noToken.err, secrets, 'errors');
      });

      it('a reference to another valid key is the wrong master key, reported as such', async () => {
        const r = await run(
          ['keys', 'status'],
          { ...base, WACLOUD_MASTER_KEY: vaultRef('other_key') },
          home.dataDir,
        );
        expect(r.code).toBe(1);
        expect(r.err).toMatch(/WACLOUD_MASTER_KEY is wrong/);
        expectNoSecrets(r.err, secrets, 'errors');
      });
    },
  );
}

// aws-sm:// through the real AWS SDK (SigV4 checked by test/support/fake-aws-secrets-manager.ts) and gcp-sm:// over
// GCP's REST API (test/support/fake-gcp-secret-manager.ts): no AWS or GCP here, so small servers speaking their
// documented protocols on a loopback socket.
const AWS_KEY_ID = 'AKIAFAKEMASTERREF001';
const AWS_SECRET_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYMASTERREF01';
const AWS_DENIED_ID = 'AKIAFAKEMASTERDENY01';
const GCP_TOKEN = 'ya29.fakeMasterRefAccessToken0000000000000000';
let aws: FakeAws;
let gcp: FakeGcp;
beforeAll(async () => {
  aws = await startFakeAwsSecretsManager({
    credentials: {
      [AWS_KEY_ID]: AWS_SECRET_KEY,
      [AWS_DENIED_ID]: 'deniedMasterRefSecretKey00000000000000001',
    },
    denied: [AWS_DENIED_ID],
  });
  gcp = await startFakeGcpSecretManager({ project: 'wacloud-keys', tokens: [GCP_TOKEN] });
});
afterAll(async () => {
  await aws?.close();
  await gcp?.close();
});

for (const engine of ['sqlite', 'postgres'] as TestEngine[]) {
  describe.skipIf(engine === 'postgres' && !pgTestUrl)(
    `WACLOUD_MASTER_KEY as an aws-sm:// or gcp-sm:// reference (${engine})`,
    () => {
      let home: TestStoreHome;
      let secrets: string[];
      const opened: Store[] = [];
      beforeAll(async () => {
        home = await createTestStoreHome(engine);
        const store = await home.open();
        for (const [i, t] of TOKENS.entries())
          await store.credentials.insert(draft({ id: `ref${i}`, token: new Secret(t) }), 1);
        await store.close();
        aws.create(`wacloud/${engine}`, {
          string: JSON.stringify({
            master_key: home.master.key.toString('base64'),
            other_key: randomBytes(32).toString('hex'),
          }),
        });
        gcp.addVersion(`wacloud-master-key-${engine}`, home.master.key.toString('hex'));
        secrets = [
          ...TOKENS,
          home.master.key.toString('base64'),
          home.master.key.toString('hex'),
          AWS_SECRET_KEY,
          GCP_TOKEN,
        ];
      });
      afterAll(async () => {
        for (const s of opened) await s.close();
        await home?.cleanup();
      });

      /** Opens the store as `wacloud up` does: the master key resolved from the reference, nothing given directly. */
      const openWith = async (ref: string, sources: OpenStoreOptions['secretSources']) => {
        const store = await openStore(
          { dataDir: home.dataDir, databaseUrl: home.pg?.url, masterKey: new Secret(ref) },
          { secretSources: sources, postgres: home.pg ? { schema: home.pg.schema } : {} },
        );
        opened.push(store);
        return store;
      };
      const awsSources = (accessKeyId = AWS_KEY_ID, secret = AWS_SECRET_KEY) => ({
        aws: { endpoint: aws.url, credentials: { accessKeyId, secretAccessKey: new Secret(secret) } },
        timeoutMs: 3_000,
      });
      const gcpSources = (token = GCP_TOKEN) => ({
        gcpEndpoint: gcp.url,
        gcpAccessToken: async () => new Secret(token),
        timeoutMs: 3_000,
      });
      const expectKeptTokens = async (store: Store) => {
        for (const [i, t] of TOKENS.entries())
          expect((await store.credentials.get(`ref${i}`))?.token.reveal()).toBe(t);
      };

      it('aws-sm://: the key is read with a signed GetSecretValue; the store opens, decrypts and rotates', async () => {
        aws.requests.length = 0;
        const store = await openWith(`aws-sm://wacloud/${engine}?region=us-east-1#master_key`, awsSources());
        const status = await store.keys.status();
        expect(status).toMatchObject({ masterKeyId: home.master.id, masterKeySource: 'reference' });
        expect(status.masterKeyReference).toMatch(/^aws-sm\(127\.0\.0\.1:\d+\) wacloud\/\w+#master_key$/);
        const get = aws.requests.find((r) => r.headers['x-amz-target'] === 'secretsmanager.GetSecretValue');
        expect(get?.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIAFAKEMASTERREF001\//);
        await expectKeptTokens(store);
        expect(await store.keys.rotate()).toMatchObject({ reencrypted: 2, remaining: 0 });
        await expectKeptTokens(store);
        expectNoSecrets(JSON.stringify(status), secrets, 'keys status');
      });

      it('aws-sm:// from the CLI as deployed: AWS_* variables, the SDK finds the endpoint and credentials itself', async () => {
        const r = await runCli(['keys', 'status', '--json'], {
          env: {
            WACLOUD_DATA_DIR: home.dataDir,
            DATABASE_URL: home.pg
              ? `${pgTestUrl}${pgTestUrl?.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${home.pg.schema}`)}`
              : undefined,
            WACLOUD_MASTER_KEY: `aws-sm://wacloud/${engine}#master_key`,
            AWS_REGION: 'us-east-1',
            AWS_ACCESS_KEY_ID: AWS_KEY_ID,
            AWS_SECRET_ACCESS_KEY: AWS_SECRET_KEY,
            AWS_ENDPOINT_URL_SECRETS_MANAGER: aws.url,
            AWS_EC2_METADATA_DISABLED: 'true',
          },
        });
        expect(r.code, r.output).toBe(0);
        const json = JSON.parse(r.output.slice(r.output.indexOf('{')));
        expect(json).toMatchObject({ masterKeyId: home.master.id, masterKeySource: 'reference' });
        expect(json.keys.find((k: { state: string }) => k.state === 'active')).toMatchObject({ rows: 2 });
        expectNoSecrets(r.output, secrets, 'keys status output');
      });

      it('gcp-sm://: the key is read over the REST API with a bearer token; the store opens and decrypts', async () => {
        gcp.requests.length = 0;
        const store = await openWith(`gcp-sm://wacloud-keys/wacloud-master-key-${engine}`, gcpSources());
        const status = await store.keys.status();
        expect(status).toMatchObject({ masterKeyId: home.master.id, masterKeySource: 'reference' });
        expect(status.masterKeyReference).toMatch(/^gcp-sm\(.+\) wacloud-master-key-\w+$/);
        const access = gcp.requests.find((r) => r.path.endsWith(':access'));
        expect(access?.headers.authorization).toBe(`Bearer ${GCP_TOKEN}`);
        await expectKeptTokens(store);
        expectNoSecrets(JSON.stringify(status), secrets, 'keys status');
      });

      it('a refused credential, a missing secret or another valid key: the store does not open, and says why', async () => {
        const keysBefore = await rawQuery(home, 'SELECT key_id, state FROM data_keys ORDER BY key_id');
        const errors: string[] = [];
        const fails = async (p: Promise<unknown>, pattern: RegExp) => {
          const err = await p.then(
            () => undefined,
            (e: Error) => e,
          );
          expect(err, 'the store opened').toBeInstanceOf(Error);
          expect((err as Error).message).toMatch(pattern);
          errors.push((err as Error).message, String((err as Error).stack));
        };
        await fails(
          openWith(
            `aws-sm://wacloud/${engine}?region=us-east-1#master_key`,
            awsSources(AWS_DENIED_ID, 'deniedMasterRefSecretKey00000000000000001'),
          ),
          /cannot read WACLOUD_MASTER_KEY .*AccessDeniedException.*check the credentials and the IAM policy/,
        );
        await fails(
          openWith(
            `aws-sm://wacloud/${engine}?region=us-east-1#master_key`,
            awsSources(AWS_KEY_ID, 'wrongSecretKeyWrongSecretKey0000000000001'),
          ),
          /cannot read WACLOUD_MASTER_KEY .*InvalidSignatureException/,
        );
        await fails(
          openWith(`gcp-sm://wacloud-keys/no-such-secret-${engine}`, gcpSources()),
          /WACLOUD_MASTER_KEY: points at gcp-sm\(.+\) no-such-secret-\w+, which does not exist/,
        );
        await fails(
          openWith(`gcp-sm://wacloud-keys/wacloud-master-key-${engine}`, gcpSources('ya29.notATokenItKnows')),
          /gcp-sm\(wacloud-keys\): cannot read WACLOUD_MASTER_KEY .*UNAUTHENTICATED.*check the access token/,
        );
        await fails(
          openWith(`aws-sm://wacloud/${engine}?region=us-east-1#other_key`, awsSources()),
          /WACLOUD_MASTER_KEY is wrong/,
        );
        // Nothing changed: same data keys, same states.
        expect(await rawQuery(home, 'SELECT key_id, state FROM data_keys ORDER BY key_id')).toEqual(
          keysBefore,
        );
        expectNoSecrets(
          errors.join('\n'),
          [...secrets, 'deniedMasterRefSecretKey00000000000000001'],
          'errors',
        );
      });
    },
  );
}

describe('the synchronous loadMasterKey', () => {
  it('refuses a reference instead of parsing it as a key, pointing at resolveMasterKey', () => {
    expect(() =>
      loadMasterKey({
        masterKey: new Secret('vault://vault.internal:8200/secret/wacloud#k'),
        dataDir: keyDir,
      }),
    ).toThrow(/WACLOUD_MASTER_KEY: holds a secret reference.*resolveMasterKey/);
  });
});

describe('wacloud up with WACLOUD_MASTER_KEY as a reference', () => {
  it('starts with the key from a file reference, and refuses to start when the source is unreachable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wacloud-upref-'));
    try {
      const key = randomBytes(32).toString('base64');
      writeFileSync(join(dir, 'master.key'), key, { mode: 0o600 });
      const env = {
        WACLOUD_DATA_DIR: join(dir, 'data'),
        WACLOUD_MASTER_KEY: `file:${join(dir, 'master.key')}`,
      };
      const stop = new AbortController();
      let out = '';
      const running = run(['up', '--port', '0'], env, dir, stop.signal);
      const started = Date.now();
      // Poll the data dir until the broker has opened its store (no timing is asserted).
      while (!existsSync(join(dir, 'data', 'wacloud.db')) && Date.now() - started < 20_000) {
        await new Promise((r) => setTimeout(r, 50));
      }
      stop.abort();
      const result = await running;
      out = result.out + result.err;
      expect(result.code).toBe(0);
      expect(out).toMatch(/wacloud broker listening on http:\/\/127\.0\.0\.1:\d+/);
      // The key came from the file: no key file was generated next to the data.
      expect(readdirSync(join(dir, 'data'))).not.toContain('master-key.json');
      expectNoSecrets(out, [key], 'up output');

      const unreachable = await run(
        ['up', '--port', '0'],
        {
          WACLOUD_DATA_DIR: join(dir, 'data2'),
          VAULT_TOKEN,
          WACLOUD_MASTER_KEY: `vault+http://127.0.0.1:${await freePort()}/secret/wacloud/prod#master_key`,
        },
        dir,
      );
      expect(unreachable.code).toBe(1);
      expect(unreachable.err).toMatch(/cannot read WACLOUD_MASTER_KEY/);
      // Nothing was created: no database, no generated key file.
      expect(existsSync(join(dir, 'data2', 'wacloud.db'))).toBe(false);
      expect(existsSync(join(dir, 'data2', 'master-key.json'))).toBe(false);
      expectNoSecrets(unreachable.out + unreachable.err, [VAULT_TOKEN], 'up errors');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
