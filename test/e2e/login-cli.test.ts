// `wacloud login` and `wacloud token …` as users run them (node bin/wacloud.js, built by `npm test`) against the
// emulator over loopback: the test reads the printed dialog URL, submits the consent page, follows the redirect to
// the CLI's callback server, and checks the 0600 .env and the masked summary.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Emulator, startEmulator } from '../../src/emulator/index.js';
import { runCli, spawnCli } from '../support/cli-process.js';
import { announcePgSkip, createPgSchema, type PgTestSchema, pgTestUrl } from '../support/pg.js';
import { freePort } from '../support/ports.js';
import { expectNoSecrets } from '../support/secret-scan.js';
import { testMasterKey } from '../support/store.js';

announcePgSkip('login-cli');

let emu: Emulator;
let url: string;
let dir: string;
let close: () => Promise<void>;

beforeAll(async () => {
  // Real time: the CLI reports expiries against the wall clock, as it would against Meta.
  const started = await startEmulator({});
  emu = started.emulator;
  url = started.url;
  close = started.close;
});
afterAll(async () => {
  await close();
});
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'wacloud-login-'));
  return () => rmSync(dir, { recursive: true, force: true });
});

const env = () => ({
  WA_GRAPH_URL: url,
  WA_DIALOG_URL: url,
  WA_APP_ID: emu.seed?.appId,
  WA_APP_SECRET: emu.seed?.appSecret,
});

/** What a browser does: open the dialog URL, press a button, follow the redirect to the callback. */
async function browse(dialogUrl: string, decision: 'continue' | 'cancel'): Promise<Response> {
  const pageRes = await fetch(dialogUrl);
  const html = await pageRes.text();
  expect(pageRes.status, html.slice(0, 200)).toBe(200);
  const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1] as string;
  const requestId = /name="request_id" value="([^"]+)"/.exec(html)?.[1] as string;
  const res = await fetch(new URL(action.replace(/&amp;/g, '&'), dialogUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ request_id: requestId, decision }).toString(),
    redirect: 'manual',
  });
  expect(res.status).toBe(302);
  return fetch(res.headers.get('location') as string);
}

async function startLogin(extra: string[] = [], extraEnv: Record<string, string> = {}) {
  const port = await freePort();
  const redirect = `http://127.0.0.1:${port}/callback`;
  emu.world.app(emu.seed?.appId as string).redirectUris.push(redirect);
  const cli = spawnCli(['login', '--port', String(port), '--no-open', ...extra], {
    env: { ...env(), ...extraEnv },
    cwd: dir,
  });
  const m = await cli.waitFor(/^\s+(http:\/\/127\.0\.0\.1:\d+\/v\d+\.\d+\/dialog\/oauth\?\S+)$/m);
  return { cli, dialogUrl: m[1] as string, redirect };
}

describe('wacloud login', () => {
  it('logs in through the consent page, writes a 0600 .env and prints a masked summary', async () => {
    writeFileSync(join(dir, '.env'), '# mine\nWA_PHONE_NUMBER_ID=123\nCLOUD_API_ACCESS_TOKEN=old-token\n', {
      mode: 0o644,
    });
    const { cli, dialogUrl, redirect } = await startLogin();
    expect(cli.output()).toContain(redirect);
    const page = await browse(dialogUrl, 'continue');
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Logged in');
    expect(await cli.exited).toBe(0);

    const file = join(dir, '.env');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const saved = parseEnv(readFileSync(file, 'utf8'));
    expect(saved.WA_PHONE_NUMBER_ID).toBe('123');
    expect(readFileSync(file, 'utf8')).toContain('# mine');
    const token = saved.CLOUD_API_ACCESS_TOKEN as string;
    expect(token).not.toBe('old-token');
    const out = cli.output();
    expect(out).toMatch(/long-lived user token/);
    expect(out).toMatch(/expires\s+\S+ \(in 60 days\)/);
    expect(out).toMatch(/whatsapp_business_messaging/);
    expect(out).toContain(`Saved CLOUD_API_ACCESS_TOKEN to ${file} (mode 0600)`);
    expectNoSecrets(out, [token, emu.seed?.appSecret as string], 'the login output');
    // The saved token works.
    const inspect = await runCli(['token', 'inspect', '--json'], { env: env(), cwd: dir });
    expect(inspect.code).toBe(0);
    const json = JSON.parse(inspect.output) as { valid: boolean; kind: string };
    expect(json).toMatchObject({ valid: true, kind: 'user-long' });
    expectNoSecrets(inspect.output, [token], 'token inspect');
  });

  it('a denied consent ends with a typed error and saves nothing; a forged callback is ignored', async () => {
    const { cli, dialogUrl, redirect } = await startLogin(['--json']);
    const forged = await fetch(`${redirect}?code=abc&state=not-the-state-of-this-login`);
    expect(forged.status).toBe(400);
    const page = await browse(dialogUrl, 'cancel');
    expect(await page.text()).toContain('declined');
    expect(await cli.exited).toBe(4);
    expect(cli.output()).toMatch(/declined the login dialog/);
    expect(() => statSync(join(dir, '.env'))).toThrow();
  });

  it('needs the app id and secret, and refuses bad flags', async () => {
    const missing = await runCli(['login', '--no-open'], { env: { WA_GRAPH_URL: url }, cwd: dir });
    expect(missing.code).toBe(3);
    expect(missing.output).toMatch(/WA_APP_ID: is not set/);
    const bad = await runCli(['login', '--host', '0.0.0.0'], { env: env(), cwd: dir });
    expect(bad.code).toBe(2);
    const save = await runCli(['login', '--save', 'somewhere'], { env: env(), cwd: dir });
    expect(save.code).toBe(2);
    expect(save.output).toMatch(/--save must be env, store, none or stdout/);
  });

  it('--save store keeps the token encrypted in the store under a tenant; a second login replaces it in place', async () => {
    const first = await startLogin(['--save', 'store', '--tenant', 'acme']);
    await browse(first.dialogUrl, 'continue');
    expect(await first.cli.exited).toBe(0);
    expect(first.cli.output()).toMatch(
      /Stored encrypted in the SQLite store: tenant "acme", credential \S+ v1\./,
    );
    expect(() => statSync(join(dir, '.env'))).toThrow();

    const second = await startLogin(['--save', 'store', '--tenant', 'acme', '--json']);
    await browse(second.dialogUrl, 'continue');
    expect(await second.cli.exited).toBe(0);
    const out = JSON.parse(second.cli.output().slice(second.cli.output().indexOf('{'))) as {
      store: { tenantName: string; version: number; replaced: boolean };
    };
    expect(out.store).toMatchObject({ tenantName: 'acme', version: 2, replaced: true });

    const { openStore } = await import('../../src/store/open-store.js');
    const { loadConfig } = await import('../../src/core/config.js');
    const store = await openStore(
      loadConfig({}, { env: { WACLOUD_DATA_DIR: join(dir, '.wacloud') }, envFile: false }),
    );
    try {
      const [tenant] = await store.tenants.list();
      expect(tenant?.name).toBe('acme');
      const creds = await store.credentials.listByTenant(tenant?.id as string);
      expect(creds).toHaveLength(1);
      expect(creds[0]).toMatchObject({ kind: 'user-long', status: 'active', version: 2 });
      const token = creds[0]?.token.reveal() as string;
      expectNoSecrets(first.cli.output() + second.cli.output(), [token], 'login --save store output');
      const files = ['wacloud.db', 'wacloud.db-wal']
        .map((f) => join(dir, '.wacloud', f))
        .filter((f) => existsSync(f));
      expect(files.length).toBeGreaterThan(0);
      for (const f of files) expect(readFileSync(f).includes(Buffer.from(token))).toBe(false);
    } finally {
      await store.close();
    }
  });
});

describe.skipIf(!pgTestUrl)('--save store on PostgreSQL', () => {
  let schema: PgTestSchema;
  let storeEnv: Record<string, string>;
  const master = testMasterKey();
  beforeAll(async () => {
    schema = await createPgSchema();
    storeEnv = {
      // A fresh schema: the CLI migrates it on first use, as on a new deployment.
      DATABASE_URL: `${pgTestUrl}${pgTestUrl?.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema.schema}`)}`,
      WACLOUD_MASTER_KEY: master.key.toString('base64'),
    };
  });
  afterAll(async () => schema?.drop());

  const mint = async (kind: string) => {
    const res = await fetch(`${url}/_emulator/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ kind }),
    });
    return ((await res.json()) as { access_token: string }).access_token;
  };

  it('login and token exchange store the token encrypted in PostgreSQL; a second login replaces it in place', async () => {
    const first = await startLogin(['--save', 'store', '--tenant', 'acme'], storeEnv);
    await browse(first.dialogUrl, 'continue');
    expect(await first.cli.exited).toBe(0);
    expect(first.cli.output()).toMatch(
      /Stored encrypted in the PostgreSQL store: tenant "acme", credential \S+ v1\./,
    );
    const second = await startLogin(['--save', 'store', '--tenant', 'acme', '--json'], storeEnv);
    await browse(second.dialogUrl, 'continue');
    expect(await second.cli.exited).toBe(0);
    const out = JSON.parse(second.cli.output().slice(second.cli.output().indexOf('{'))) as {
      store: { tenantName: string; version: number; replaced: boolean; engine: string };
    };
    expect(out.store).toMatchObject({ tenantName: 'acme', version: 2, replaced: true, engine: 'postgres' });

    const short = await mint('user');
    const ex = await runCli(['token', 'exchange', '--stdin', '--save', 'store', '--tenant', 'ops'], {
      env: { ...env(), ...storeEnv },
      cwd: dir,
      stdin: short,
    });
    expect(ex.code, ex.output).toBe(0);
    expect(ex.output).toMatch(/Stored encrypted: tenant "ops", credential \S+ v1\./);
    // Nothing went to the local data dir: no SQLite file, no generated master key.
    expect(existsSync(join(dir, '.wacloud', 'wacloud.db'))).toBe(false);
    expect(existsSync(join(dir, '.wacloud', 'master-key.json'))).toBe(false);

    const { openStore } = await import('../../src/store/open-store.js');
    const { loadConfig } = await import('../../src/core/config.js');
    const store = await openStore(
      loadConfig({}, { env: { WACLOUD_DATA_DIR: join(dir, '.wacloud'), ...storeEnv }, envFile: false }),
    );
    try {
      expect(store.engine).toBe('postgres');
      const tenants = await store.tenants.list();
      expect(tenants.map((t) => t.name).sort()).toEqual(['acme', 'ops']);
      const tokens: string[] = [];
      for (const t of tenants) {
        const creds = await store.credentials.listByTenant(t.id);
        expect(creds).toHaveLength(1);
        expect(creds[0]).toMatchObject({
          kind: 'user-long',
          status: 'active',
          version: t.name === 'acme' ? 2 : 1,
        });
        tokens.push(creds[0]?.token.reveal() as string);
      }
      expectNoSecrets(first.cli.output() + second.cli.output() + ex.output, [...tokens, short], 'CLI output');
      // The rows hold ciphertext only.
      const rows = await schema.query<{ token_ct: Buffer }>('SELECT token_ct FROM credentials');
      expect(rows.rows).toHaveLength(2);
      for (const r of rows.rows)
        for (const t of tokens) expect(r.token_ct.includes(Buffer.from(t))).toBe(false);
    } finally {
      await store.close();
    }
  });
});

describe('wacloud token', () => {
  const mint = async (kind: string) => {
    const res = await fetch(`${url}/_emulator/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ kind }),
    });
    return ((await res.json()) as { access_token: string }).access_token;
  };

  it('inspect reads stdin or an env var, never argv, and never echoes the token', async () => {
    const token = await mint('system_user');
    const viaStdin = await runCli(['token', 'inspect', '--stdin'], {
      env: env(),
      cwd: dir,
      stdin: `${token}\n`,
    });
    expect(viaStdin.code).toBe(0);
    expect(viaStdin.output).toMatch(/system-user token/);
    expect(viaStdin.output).toMatch(/expires\s+never/);
    expectNoSecrets(viaStdin.output, [token], 'inspect output');
    const viaEnv = await runCli(['token', 'inspect', '--from-env', 'MY_TOKEN', '--json'], {
      env: { ...env(), MY_TOKEN: token },
      cwd: dir,
    });
    expect(JSON.parse(viaEnv.output)).toMatchObject({ valid: true, type: 'SYSTEM_USER' });
    // Without the app secret the token inspects itself.
    const self = await runCli(['token', 'inspect', '--stdin'], {
      env: { WA_GRAPH_URL: url },
      cwd: dir,
      stdin: token,
    });
    expect(self.code).toBe(0);
    const argv = await runCli(['token', 'inspect', token], { env: env(), cwd: dir });
    expect(argv.code).toBe(2);
    expect(argv.output).toMatch(/not accepted as arguments/);
    expectNoSecrets(argv.output, [token], 'the argv refusal');
  });

  it('exchange saves a long-lived token to .env; refresh renews a 60-day token; revoke needs --yes', async () => {
    const short = await mint('user');
    const ex = await runCli(['token', 'exchange', '--stdin'], { env: env(), cwd: dir, stdin: short });
    expect(ex.code).toBe(0);
    expect(ex.output).toMatch(/long-lived user token/);
    const saved = parseEnv(readFileSync(join(dir, '.env'), 'utf8')).CLOUD_API_ACCESS_TOKEN as string;
    expect(saved).not.toBe(short);
    expectNoSecrets(ex.output, [short, saved], 'exchange output');

    const toStore = await runCli(['token', 'exchange', '--stdin', '--save', 'store', '--tenant', 'ops'], {
      env: env(),
      cwd: dir,
      stdin: await mint('user'),
    });
    expect(toStore.code).toBe(0);
    expect(toStore.output).toMatch(/Stored encrypted: tenant "ops", credential \S+ v1\./);

    const sixty = await mint('system_user_60d');
    const rf = await runCli(['token', 'refresh', '--stdin', '--save', 'stdout'], {
      env: env(),
      cwd: dir,
      stdin: sixty,
    });
    expect(rf.code).toBe(0);
    // stdout has the token alone on its line; the progress and summary lines (stderr) are mixed in here.
    const fresh = rf.output.split('\n').find((l) => /^[A-Za-z0-9_-]{20,}$/.test(l)) as string;
    expect(fresh).not.toBe(sixty);
    expect(fresh.length).toBeGreaterThan(20);

    const no = await runCli(['token', 'revoke', '--stdin'], { env: env(), cwd: dir, stdin: fresh });
    expect(no.code).toBe(2);
    expect(no.output).toMatch(/--yes/);
    const yes = await runCli(['token', 'revoke', '--stdin', '--yes'], { env: env(), cwd: dir, stdin: fresh });
    expect(yes.code).toBe(0);
    const after = await runCli(['token', 'inspect', '--stdin', '--json'], {
      env: env(),
      cwd: dir,
      stdin: fresh,
    });
    expect(after.code).toBe(6);
    expect(JSON.parse(after.output)).toMatchObject({ valid: false, error: { code: 190, subcode: 467 } });

    const expired = await runCli(['token', 'exchange', '--stdin', '--save', 'none'], {
      env: env(),
      cwd: dir,
      stdin: `EAA${'q'.repeat(40)}`,
    });
    expect(expired.code).toBe(4);
    expect(expired.output).toMatch(/rejected the token/);
  });

  it('app prints a masked app token, or the token itself with --reveal', async () => {
    const app = await runCli(['token', 'app'], { env: env(), cwd: dir });
    expect(app.code).toBe(0);
    expect(app.output).toMatch(/app token/);
    expect(app.output).not.toContain(`${emu.seed?.appId}|`);
    const reveal = await runCli(['token', 'app', '--reveal'], { env: env(), cwd: dir });
    expect(reveal.output.trim().startsWith(`${emu.seed?.appId}|`)).toBe(true);
  });
});
