import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { Secret } from '../../src/core/secret.js';
import { runCliInProcess as run } from '../support/cli-process.js';
import { announcePgSkip, pgTestUrl } from '../support/pg.js';
import { until } from '../support/poll.js';
import { expectNoSecrets } from '../support/secret-scan.js';
import { createTestStoreHome, type TestEngine, type TestStoreHome } from '../support/store.js';
import { draft } from './store-credential-contract.js';

announcePgSkip('store-keys-cli');

const TOKENS = Array.from({ length: 5 }, (_, i) => `EAAGcliToken${i}${'k'.repeat(30)}`);

for (const engine of ['sqlite', 'postgres'] as TestEngine[]) {
  describe.skipIf(engine === 'postgres' && !pgTestUrl)(`wacloud keys (${engine})`, () => {
    let home: TestStoreHome;
    let env: Record<string, string | undefined>;
    let secrets: string[];
    beforeAll(async () => {
      home = await createTestStoreHome(engine);
      const store = await home.open();
      for (const [i, t] of TOKENS.entries())
        await store.credentials.insert(draft({ id: `cli${i}`, token: new Secret(t) }), 1);
      await store.close();
      env = {
        WACLOUD_DATA_DIR: home.dataDir,
        WACLOUD_MASTER_KEY: home.master.key.toString('base64'),
        DATABASE_URL: home.pg
          ? `${pgTestUrl}${pgTestUrl?.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${home.pg.schema}`)}`
          : undefined,
      };
      secrets = [...TOKENS, home.master.key.toString('base64'), home.master.key.toString('hex')];
    });
    afterAll(async () => home?.cleanup());

    it('status --json lists the key and its row counts', async () => {
      const r = await run(['keys', 'status', '--json'], env, home.dataDir);
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      const s = JSON.parse(r.out);
      expect(s.engine).toBe(engine);
      expect(s.masterKeyId).toBe(home.master.id);
      expect(s.masterKeySource).toBe('env');
      expect(s.keys).toHaveLength(1);
      expect(s.keys[0]).toMatchObject({
        keyId: s.activeKeyId,
        state: 'active',
        rows: 5,
        rowsByTable: { credentials: 5 },
      });
      expectNoSecrets(r.out, secrets, 'keys status');
    });

    it('rotate re-encrypts everything and keeps the old key retiring through the grace; --wait retires it', async () => {
      const clock = new ManualClock(Date.now());
      const signal = new AbortController().signal;
      const before = JSON.parse((await run(['keys', 'status', '--json'], env, home.dataDir)).out);
      const r = await run(['keys', 'rotate'], env, home.dataDir, signal, clock);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/added key dk_[0-9a-f]{12}; it is now active/);
      expect(r.out).toMatch(/re-encrypted 5 rows/);
      expect(r.out).toContain('retired: none');
      const until2min = new Date(clock.now() + 120_000).toISOString().slice(11, 19);
      expect(r.out).toContain(
        `${before.activeKeyId} stays retiring until ${until2min} UTC (instances re-read the keyring every 60 s); run \`wacloud keys rotate\` again after that`,
      );
      expect(r.out).toContain('every row is on the active key');
      const pending = await run(['keys', 'status'], env, home.dataDir, signal, clock);
      expect(pending.out).toMatch(new RegExp(`${before.activeKeyId}\\s+retiring`));
      expect(pending.out).toContain(`${before.activeKeyId} is retiring: it can be retired after `);
      const pendingJson = JSON.parse(
        (await run(['keys', 'status', '--json'], env, home.dataDir, signal, clock)).out,
      );
      expect(pendingJson.keys.find((k: { keyId: string }) => k.keyId === before.activeKeyId)).toMatchObject({
        state: 'retiring',
        rows: 0,
        retireAfterMs: clock.now() + 120_000,
      });

      // --wait sleeps on the clock until the grace period is over, then retires.
      let done = false;
      const waiting = run(['keys', 'rotate', '--wait'], env, home.dataDir, signal, clock).finally(() => {
        done = true;
      });
      await until('keys rotate --wait to sleep', async () => (clock.pendingSleepers > 0 ? true : undefined));
      expect(done).toBe(false);
      await clock.advance(120_000);
      const w = await waiting;
      expect(w.code).toBe(0);
      expect(w.err).toContain(`waiting until ${until2min} UTC`);
      expect(w.out).toContain(`retired: ${before.activeKeyId}`);
      const human = await run(['keys', 'status'], env, home.dataDir, signal, clock);
      expect(human.code).toBe(0);
      expect(human.out).toMatch(new RegExp(`${before.activeKeyId}\\s+retired`));
      expect(human.out).toMatch(/active\s+\S+\s+-\s+5 \(credentials 5\)/);
      const json = run(
        ['keys', 'rotate', '--json', '--wait', '--batch-size', '2'],
        env,
        home.dataDir,
        signal,
        clock,
      );
      await until('keys rotate --json --wait to sleep', async () =>
        clock.pendingSleepers > 0 ? true : undefined,
      );
      await clock.advance(120_000);
      const jr = await json;
      expect(JSON.parse(jr.out)).toMatchObject({
        resumed: false,
        reencrypted: 5,
        remaining: 0,
        retiring: [],
      });
      expect(JSON.parse(jr.out).retired).toHaveLength(1);
      expectNoSecrets(r.out + pending.out + w.out + w.err + human.out + jr.out, secrets, 'keys output');
      const store = await home.open();
      for (const [i, t] of TOKENS.entries())
        expect((await store.credentials.get(`cli${i}`))?.token.reveal()).toBe(t);
      await store.close();
    });

    it('usage errors exit 2', async () => {
      expect((await run(['keys'], env, home.dataDir)).code).toBe(2);
      expect((await run(['keys', 'spin'], env, home.dataDir)).code).toBe(2);
      expect((await run(['keys', 'rotate', '--batch-size', '0'], env, home.dataDir)).code).toBe(2);
      expect((await run(['keys', 'status', '--bogus'], env, home.dataDir)).code).toBe(2);
      expect((await run(['keys', 'rewrap-master'], env, home.dataDir)).code).toBe(2);
    });

    it('a malformed WACLOUD_MASTER_KEY exits 3 naming it; a wrong one exits 1 saying so', async () => {
      const bad = await run(['keys', 'status'], { ...env, WACLOUD_MASTER_KEY: 'hunter2' }, home.dataDir);
      expect(bad.code).toBe(3);
      expect(bad.err).toMatch(/WACLOUD_MASTER_KEY: must be 32 random bytes/);
      const wrong = await run(
        ['keys', 'status'],
        { ...env, WACLOUD_MASTER_KEY: randomBytes(32).toString('hex') },
        home.dataDir,
      );
      expect(wrong.code).toBe(1);
      expect(wrong.err).toMatch(/WACLOUD_MASTER_KEY is wrong/);
      expectNoSecrets(bad.err + wrong.err, secrets, 'errors');
    });

    it('rewrap-master moves the data keys to a new master key', async () => {
      const next = randomBytes(32).toString('base64');
      const r = await run(
        ['keys', 'rewrap-master', '--new-key-env', 'NEW_MASTER'],
        { ...env, NEW_MASTER: next },
        home.dataDir,
      );
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/re-wrapped 3 data keys/);
      expectNoSecrets(r.out + r.err, [...secrets, next], 'rewrap output');
      const old = await run(['keys', 'status'], env, home.dataDir);
      expect(old.code).toBe(1);
      const ok = await run(['keys', 'status', '--json'], { ...env, WACLOUD_MASTER_KEY: next }, home.dataDir);
      expect(ok.code).toBe(0);
      expect(
        JSON.parse(ok.out).keys.every(
          (k: { masterKeyId: string }) => k.masterKeyId === JSON.parse(ok.out).masterKeyId,
        ),
      ).toBe(true);
      const same = await run(
        ['keys', 'rewrap-master', '--new-key-env', 'NEW_MASTER'],
        { ...env, WACLOUD_MASTER_KEY: next, NEW_MASTER: next },
        home.dataDir,
      );
      expect(same.code).toBe(2);
      env.WACLOUD_MASTER_KEY = next;
    });
  });
}

describe('wacloud keys without a store', () => {
  it('with no master key anywhere it fails clearly and creates nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wacloud-nokey-'));
    try {
      const r = await run(['keys', 'status'], { WACLOUD_DATA_DIR: join(dir, 'data') }, dir);
      expect(r.code).toBe(3); // a missing setting (README exit codes)
      expect(r.err).toMatch(/no master key: WACLOUD_MASTER_KEY is not set/);
      expect(existsSync(join(dir, 'data')) ? readdirSync(join(dir, 'data')) : []).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
