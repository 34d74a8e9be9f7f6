import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { type CliProcess, repoRoot, spawnCli } from '../support/cli-process.js';

const run = promisify(execFile);

/** The README's quick start: exactly two commands, one runs the main job and one the tests. */
function quickStartCommands(): string[] {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const section = readme.split(/^## Quick start$/m)[1]?.split(/^## /m)[0] ?? '';
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  return block
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}

describe('README quick start, as written', () => {
  let main: CliProcess | undefined;
  afterAll(async () => {
    await main?.stop();
  });

  it('is two commands: install + start, and the tests', () => {
    expect(quickStartCommands()).toEqual(['npm install && npm start', 'npm test']);
  });

  it('`npm start` runs the main job: the broker on its embedded defaults, ready, with a working admin key', async () => {
    // `npm install` already ran (CI's npm ci, or the developer's); running it again here would only repeat it.
    const [first] = quickStartCommands();
    const startCommand = first!.split('&&')[1]!.trim().split(/\s+/);
    expect(startCommand).toEqual(['npm', 'start']);
    const dataDir = mkdtempSync(join(tmpdir(), 'wacloud-quickstart-'));
    try {
      // PORT=0 and a temporary data dir keep the test off the default port and out of the working tree.
      main = spawnCli([], {
        command: startCommand,
        cwd: repoRoot,
        env: { PORT: '0', WACLOUD_DATA_DIR: dataDir, npm_config_update_notifier: 'false' },
      });
      const [, url, adminKey] = (await main.waitFor(
        /listening on (http:\/\/\S+)[\s\S]*Admin key[^\n]*\n\s+(wck_\S+)/,
        60_000,
      )) as RegExpMatchArray;
      expect(main.output()).toContain('sandbox');
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
      const dashboard = await fetch(`${url}/`, { redirect: 'manual' });
      expect(dashboard.headers.get('location')).toBe('/login');
      const login = await fetch(`${url}/login`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ key: adminKey as string }).toString(),
      });
      expect(login.status).toBe(303);
      expect(login.headers.get('set-cookie')).toMatch(/HttpOnly/);
      // The embedded emulator answers Meta's getting-started curl, so the sandbox is real.
      const emulator = /embedded emulator at (http:\/\/\S+)/.exec(main.output())?.[1];
      const denied = await run('curl', [
        '-s',
        '-i',
        '-X',
        'POST',
        `${emulator}/v26.0/1/messages`,
        '-H',
        'Content-Type: application/json',
        '-d',
        '{}',
      ]);
      expect(denied.stdout).toMatch(/^HTTP\/1\.1 401/);
    } finally {
      await main?.stop();
      main = undefined;
      // npm can exit before the broker under it has finished its shutdown writes: retry while the dir empties.
      rmSync(dataDir, { recursive: true, force: true, maxRetries: 50, retryDelay: 100 });
    }
  });
});
