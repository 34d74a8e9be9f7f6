import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { Secret } from '../../src/core/secret.js';
import { repoRoot } from '../support/cli-process.js';
import { announcePgSkip, pgTestUrl } from '../support/pg.js';
import { announceSkip } from '../support/require-all.js';
import { createTestStoreHome, type TestEngine, type TestStoreHome } from '../support/store.js';
import { draft } from './store-credential-contract.js';

// store-rotation.test.ts stops a rotation with an exception; this one kills a real process with SIGKILL in the
// middle of one (the built package in dist/, as `npm test` builds it), then resumes in another.
announcePgSkip('store-rotation-kill');

const distVault = join(repoRoot, 'dist', 'vault', 'index.js');
if (!existsSync(distVault))
  announceSkip('store-rotation-kill', 'SIGKILL tests', 'dist/ is not built (npm run build)');
const tokenOf = (i: number) => `EAAGkilledRotation${String(i).padStart(3, '0')}${'k'.repeat(24)}`;

/** Child: open the store, rotate two rows at a time, say "mid" after 9 rows and then wait to be killed. */
const CHILD = `
const { openStore, masterKeyId } = await import(process.env.VAULT_URL);
const key = Buffer.from(process.env.KEY_B64, 'base64');
const store = await openStore(
  { dataDir: process.env.DATA_DIR, databaseUrl: process.env.PG_URL ? { reveal: () => process.env.PG_URL } : undefined, masterKey: undefined },
  { masterKey: { key, id: masterKeyId(key), source: 'option' }, postgres: process.env.PG_SCHEMA ? { schema: process.env.PG_SCHEMA } : undefined },
);
let n = 0;
await store.keys.rotate({ batchSize: 2, onProgress: () => {
  if (++n === 9) { process.stdout.write('mid\\n'); return new Promise(() => {}); }
} });
process.stdout.write('finished\\n');
`;

for (const engine of ['sqlite', 'postgres'] as TestEngine[]) {
  describe.skipIf((engine === 'postgres' && !pgTestUrl) || !existsSync(distVault))(
    `key rotation killed with SIGKILL (${engine})`,
    () => {
      let home: TestStoreHome | undefined;
      afterEach(async () => {
        await home?.cleanup();
        home = undefined;
      });

      it('loses nothing, and the next run resumes it without adding a key', async () => {
        home = await createTestStoreHome(engine);
        const store = await home.open();
        for (let i = 0; i < 20; i++)
          await store.credentials.insert(draft({ id: `k${i}`, token: new Secret(tokenOf(i)) }), 1);
        const oldKey = (await store.keys.status()).activeKeyId;
        await store.close();

        const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], {
          cwd: repoRoot,
          env: {
            PATH: process.env.PATH,
            VAULT_URL: pathToFileURL(distVault).href,
            KEY_B64: home.master.key.toString('base64'),
            DATA_DIR: home.dataDir,
            PG_URL: home.pg ? home.pg.url.reveal() : '',
            PG_SCHEMA: home.pg?.schema ?? '',
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        child.stderr.on('data', (d: Buffer) => {
          out += d.toString();
        });
        const exited = new Promise<NodeJS.Signals | null>((r) => child.on('exit', (_c, sig) => r(sig)));
        await new Promise<void>((resolve, reject) => {
          child.stdout.on('data', (d: Buffer) => {
            out += d.toString();
            if (out.includes('mid')) resolve();
          });
          void exited.then(() => reject(new Error(`the rotating process exited early: ${out}`)));
        });
        child.kill('SIGKILL');
        expect(await exited).toBe('SIGKILL');
        expect(out).not.toContain('finished');

        const clock = new ManualClock(Date.now());
        const reopened = await home.open({ clock });
        const mid = await reopened.keys.status();
        const newKey = mid.activeKeyId;
        expect(newKey).not.toBe(oldKey);
        expect(mid.keys.find((k) => k.keyId === oldKey)?.state).toBe('retiring');
        const on = (id: string | undefined) => mid.keys.find((k) => k.keyId === id)?.rows ?? 0;
        expect(on(newKey)).toBe(9);
        expect(on(oldKey)).toBe(11);
        for (let i = 0; i < 20; i++)
          expect((await reopened.credentials.get(`k${i}`))?.token.reveal()).toBe(tokenOf(i));

        // Within the grace period (2 x the 60 s keyring refresh) the resumed run moves every row, keeps the key...
        const report = await reopened.keys.rotate();
        expect(report).toMatchObject({
          resumed: true,
          activeKeyId: newKey,
          reencrypted: 11,
          remaining: 0,
          retired: [],
          retiring: [oldKey],
        });
        // ...and once it has passed, the next run retires it.
        await clock.advance(120_000);
        expect(await reopened.keys.rotate()).toMatchObject({
          resumed: true,
          reencrypted: 0,
          retired: [oldKey],
        });
        for (let i = 0; i < 20; i++)
          expect((await reopened.credentials.get(`k${i}`))?.token.reveal()).toBe(tokenOf(i));
      });
    },
  );
}
