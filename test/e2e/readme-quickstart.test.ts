import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
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

  it('`npm start` runs the main job, whose printed curl sends a message', async () => {
    // `npm install` already ran (CI's npm ci, or the developer's); running it again here would only repeat it.
    const [first] = quickStartCommands();
    const startCommand = first!.split('&&')[1]!.trim().split(/\s+/);
    expect(startCommand).toEqual(['npm', 'start']);
    main = spawnCli([], { command: startCommand, env: { npm_config_update_notifier: 'false' } });
    await main.waitFor(/curl -i -X POST[\s\S]*?-d '.*'/, 30_000);
    const out = main.output();
    const url = /(http:\/\/127\.0\.0\.1:\d+\/v\d+\.\d+\/\d+\/messages)/.exec(out)?.[1];
    const auth = /-H '(Authorization: Bearer [^']+)'/.exec(out)?.[1];
    const data = /-d '(.*)'/.exec(out)?.[1];
    expect(url && auth && data).toBeTruthy();
    const ok = await run('curl', [
      '-s',
      '-i',
      '-X',
      'POST',
      url!,
      '-H',
      auth!,
      '-H',
      'Content-Type: application/json',
      '-d',
      data!,
    ]);
    expect(ok.stdout).toMatch(/^HTTP\/1\.1 200/);
    expect(ok.stdout).toMatch(/"id":"wamid\.[^"]+"/);
    const denied = await run('curl', [
      '-s',
      '-i',
      '-X',
      'POST',
      url!,
      '-H',
      'Content-Type: application/json',
      '-d',
      data!,
    ]);
    expect(denied.stdout).toMatch(/^HTTP\/1\.1 401/);
    expect(denied.stdout).toMatch(/"code":104/);
  });
});
