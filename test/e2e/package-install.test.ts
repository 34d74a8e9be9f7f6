// Issue 15: a production install. `npm pack` (which builds through `prepack`), then the tarball installed with
// `npm install --omit=dev` into an empty folder, as a user would: `npx wacloud --help`, `npx wacloud up` until
// /readyz answers, and a TypeScript consumer of 'wacloud' and 'wacloud/webhooks' under NodeNext and Bundler.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, spawnCli } from '../support/cli-process.js';
import { freePort } from '../support/ports.js';

const run = promisify(execFile);
const scratch = mkdtempSync(join(tmpdir(), 'wacloud-pack-'));
const app = join(scratch, 'app');
const env = {
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  npm_config_update_notifier: 'false',
  NO_COLOR: '1',
};
let files: string[] = [];
let installOutput = '';

beforeAll(async () => {
  const packed = await run('npm', ['pack', '--json', '--pack-destination', scratch], {
    cwd: repoRoot,
    env,
    maxBuffer: 64 * 1024 * 1024,
  });
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as {
    filename: string;
    files: { path: string }[];
  }[];
  files = info!.files.map((f) => f.path);
  mkdirSync(app);
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
  );
  // The npm cache is warm (offline-friendly); better-sqlite3 builds from source when no prebuilt binary can be
  // fetched (no network here), which is what takes the time: minutes on a loaded machine.
  const installed = await run(
    'npm',
    ['install', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund', join(scratch, info!.filename)],
    { cwd: app, env, maxBuffer: 64 * 1024 * 1024 },
  );
  installOutput = installed.stdout + installed.stderr;
}, 900_000);

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the npm package, installed for production', () => {
  it('holds dist (code and types), bin, README, LICENSE, package.json and nothing else; no source maps', () => {
    const outside = files.filter((f) => !f.startsWith('dist/'));
    expect(outside.sort()).toEqual(['LICENSE', 'README.md', 'bin/wacloud.js', 'package.json']);
    expect(files).toContain('dist/index.d.ts');
    expect(files).toContain('dist/webhooks/index.d.ts');
    expect(files).toContain('dist/emulator/spec/schemas.json');
    expect(files.filter((f) => f.endsWith('.map') || f.endsWith('.test.js'))).toEqual([]);
  });

  it('installs without warnings from what production pulls in', () => {
    // npm >= 11 names every package with an install script until the project approves it (better-sqlite3's
    // native build): that notice is about the consumer's npm policy, not a problem of a dependency.
    const warnings = installOutput
      .split('\n')
      .filter((l) => /\bwarn\b/i.test(l) && !/install-scripts/.test(l));
    expect(warnings).toEqual([]);
  });

  it('`npx wacloud --help` works', async () => {
    const { stdout } = await run('npx', ['--no-install', 'wacloud', '--help'], { cwd: app, env });
    expect(stdout).toMatch(/Usage: wacloud <command>/);
  });

  it('`npx wacloud up` starts the sandbox and answers /readyz', async () => {
    const port = await freePort();
    const up = spawnCli(['--no-install', 'wacloud', 'up'], {
      command: ['npx'],
      cwd: app,
      env: { ...env, PORT: String(port), WACLOUD_DATA_DIR: join(app, 'data') },
    });
    try {
      await up.waitFor(/listening on http/, 90_000);
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    } finally {
      await up.stop();
    }
  }, 120_000);

  for (const [name, options] of [
    ['NodeNext', { module: 'NodeNext', moduleResolution: 'NodeNext' }],
    ['Bundler', { module: 'ESNext', moduleResolution: 'Bundler' }],
  ] as const) {
    it(`a TypeScript consumer type-checks under moduleResolution ${name}`, async () => {
      const dir = join(app, `ts-${name}`);
      mkdirSync(dir);
      writeFileSync(
        join(dir, 'consumer.ts'),
        [
          "import { WhatsApp } from 'wacloud';",
          "import { verifySignature } from 'wacloud/webhooks';",
          "const wa: WhatsApp = new WhatsApp({ accessToken: 'token', phoneNumberId: '1' });",
          "const check = verifySignature(Buffer.from('{}'), 'sha256=00', ['secret']);",
          'export const ok: boolean = check.valid && wa.messages !== undefined;',
          '// Real types, not `any`: a wrong argument must be an error.',
          '// @ts-expect-error the body is a Buffer or string, not a number',
          "verifySignature(42, 'sha256=00', ['secret']);",
          '',
        ].join('\n'),
      );
      writeFileSync(
        join(dir, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            ...options,
            target: 'ES2022',
            strict: true,
            noEmit: true,
            skipLibCheck: true,
            types: ['node'],
            typeRoots: [join(repoRoot, 'node_modules/@types')],
          },
          files: ['consumer.ts'],
        }),
      );
      const tsc = join(repoRoot, 'node_modules/typescript/bin/tsc');
      const result = await run(process.execPath, [tsc, '-p', dir], { cwd: dir, env }).catch(
        (e: { stdout: string }) => e,
      );
      expect(result.stdout).toBe('');
    });
  }
});
