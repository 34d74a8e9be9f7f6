// Issue 15: operator commands and honest exit codes, through the built CLI as operators run it (`npm run build`
// first): `wacloud admin-key create`, the README's exit-code table, sentences instead of raw system and parser text,
// `token inspect` reading a piped token, and a failed `up` leaving no half-made data dir.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, spawnCli } from '../support/cli-process.js';
import { freePort } from '../support/ports.js';

const scratch = mkdtempSync(join(tmpdir(), 'wacloud-operator-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let n = 0;
/** A data dir path that does not exist yet. */
const freshDir = (): string => join(scratch, `data-${++n}`);

/** Starts `wacloud up` on a fresh data dir until it listens; returns its URL, first admin key and a stop. */
async function up(dataDir: string) {
  const p = spawnCli(['up'], { env: { PORT: '0', WACLOUD_DATA_DIR: dataDir } });
  const [, url, key] = (await p.waitFor(
    /listening on (http:\/\/\S+)[\s\S]*?(?:Admin key[^\n]*\n\s+(wck_\S+)|$)/,
    60_000,
  )) as RegExpMatchArray;
  return { url: url as string, key, stop: () => p.stop() };
}

describe('wacloud admin-key create', () => {
  it('prints a new admin key once, which works on the broker, and records it in the audit log', async () => {
    const dataDir = freshDir();
    const first = await up(dataDir);
    await first.stop();
    const made = await runCli(['admin-key', 'create', '--json', '--label', 'recovered'], {
      env: { WACLOUD_DATA_DIR: dataDir },
    });
    expect(made.code, made.output).toBe(0);
    const { key, keyId } = JSON.parse(made.output) as { key: string; keyId: string };
    expect(key).toMatch(/^wck_/);
    const again = spawnCli(['up'], { env: { PORT: '0', WACLOUD_DATA_DIR: dataDir } });
    try {
      const [, url] = (await again.waitFor(/listening on (http:\/\/\S+)/, 60_000)) as RegExpMatchArray;
      expect(again.output()).not.toMatch(/Admin key/); // keys exist: none is made at start
      const audit = await fetch(`${url}/api/v1/audit`, { headers: { authorization: `Bearer ${key}` } });
      expect(audit.status).toBe(200);
      const { data } = (await audit.json()) as { data: { event: string; detail: unknown }[] };
      expect(data.find((e) => e.event === 'api_key.created')?.detail).toMatchObject({
        keyId,
        admin: true,
        by: 'cli',
      });
      expect(JSON.stringify(data)).not.toContain(key);
    } finally {
      await again.stop();
    }
  }, 180_000);

  it('without a store there yet: exit 3 (no master key) with what to do, and nothing is created', async () => {
    const dataDir = freshDir();
    const r = await runCli(['admin-key', 'create'], { env: { WACLOUD_DATA_DIR: dataDir } });
    expect(r.code, r.output).toBe(3);
    expect(r.output).toMatch(/wacloud admin-key: WACLOUD_MASTER_KEY: no master key/);
    expect(existsSync(dataDir)).toBe(false);
  });
});

describe('exit codes and messages (README table)', () => {
  it('an unknown or incomplete option is a usage error (2) said as a sentence, not Node parser text', async () => {
    const unknown = await runCli(['up', '--prot', '8080'], { env: {} });
    expect(unknown.code).toBe(2);
    expect(unknown.output).toContain('--prot is not an option of this command (see --help)');
    expect(unknown.output).not.toMatch(/positional argument|Unknown option/);
    const missing = await runCli(['up', '--port'], { env: {} });
    expect(missing.code).toBe(2);
    expect(missing.output).toContain('--port needs a value: write --port <value>');
  });

  it('a missing setting is 3 and names the variable', async () => {
    const r = await runCli(['token', 'inspect'], { env: {}, cwd: scratch });
    expect(r.code).toBe(3);
    expect(r.output).toMatch(/CLOUD_API_ACCESS_TOKEN is not set/);
  });

  it('an unreachable database is 7, and `up` leaves no data dir behind', async () => {
    const dataDir = freshDir();
    const port = await freePort(); // nothing listens there
    const r = await runCli(['up'], {
      env: {
        PORT: '0',
        WACLOUD_DATA_DIR: dataDir,
        DATABASE_URL: `postgres://wacloud@127.0.0.1:${port}/wacloud`,
      },
      timeoutMs: 60_000,
    });
    expect(r.code, r.output).toBe(7);
    expect(existsSync(dataDir)).toBe(false);
    const keys = await runCli(['keys', 'status'], {
      env: {
        WACLOUD_DATA_DIR: dataDir,
        WACLOUD_MASTER_KEY: 'ab'.repeat(32),
        DATABASE_URL: `postgres://wacloud@127.0.0.1:${port}/wacloud`,
      },
    });
    expect(keys.code, keys.output).toBe(7);
  }, 90_000);

  it('a data dir that is a file: 3 with a sentence, not EEXIST', async () => {
    const file = join(scratch, 'not-a-folder');
    writeFileSync(file, 'x');
    const r = await runCli(['up'], { env: { PORT: '0', WACLOUD_DATA_DIR: file } });
    expect(r.code).toBe(3);
    expect(r.output).toContain(`${file} (or a folder on its way) is a file where a folder is needed`);
    expect(r.output).not.toMatch(/EEXIST|ENOTDIR/);
  });

  it('a port in use: 3, and the fresh data dir is gone again (no key file, no database)', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    const dataDir = freshDir();
    try {
      const r = await runCli(['up'], {
        env: { PORT: String(port), WACLOUD_DATA_DIR: dataDir },
        timeoutMs: 60_000,
      });
      expect(r.code, r.output).toBe(3);
      expect(r.output).toContain(`port ${port} is already in use`);
      expect(existsSync(dataDir)).toBe(false);
    } finally {
      blocker.close();
    }
  }, 90_000);
});

describe('wacloud token inspect', () => {
  it('reads the token from standard input when it is piped, without --stdin', async () => {
    // Two words cannot be a token: the answer shows standard input was read (no Graph call is made).
    const r = await runCli(['token', 'inspect'], { env: {}, cwd: scratch, stdin: 'not one-token\n' });
    expect(r.code).toBe(2);
    expect(r.output).toContain('standard input: expected one token');
    // An empty pipe falls back to the variable, as before.
    const empty = await runCli(['token', 'inspect'], { env: {}, cwd: scratch, stdin: '' });
    expect(empty.code).toBe(3);
  });
});
