import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CredentialNotFoundError,
  CredentialUnavailableError,
  createTokenManager,
  type TokenManager,
  type TokenPolicies,
} from '../../src/auth/index.js';
import { type Broker, createBroker } from '../../src/broker/broker.js';
import { ManualClock } from '../../src/core/clock.js';
import type { Logger } from '../../src/core/logger.js';
import { Secret } from '../../src/core/secret.js';
import {
  createStoreRotationBus,
  parseRotationNotice,
  type RotationBus,
  rotationChannel,
} from '../../src/scale/rotation-bus.js';
import { createLocalSendLimiter } from '../../src/scale/send-limiter.js';
import type { Store } from '../../src/store/open-store.js';
import { announcePgSkip, pgTestUrl } from '../support/pg.js';
import { waitFor } from '../support/poll.js';
import { expectNoSecrets } from '../support/secret-scan.js';
import { createTestStoreHome, type TestStoreHome } from '../support/store.js';
import { type AuthWorld, createAuthWorld, IN_PROCESS_URL } from './auth-support.js';

const DAY = 86_400_000;
const EXCHANGE = 'GET /oauth/access_token grant_type=fb_exchange_token';

announcePgSkip('scale-rotation.test.ts');

function recordingLogger(lines: string[]): Logger {
  const rec = (level: string) => (msg: string, fields?: Record<string, unknown>) =>
    lines.push(JSON.stringify({ level, msg, ...fields }));
  return { debug: rec('debug'), info: rec('info'), warn: rec('warn'), error: rec('error') };
}

describe('rotation notices (unit)', () => {
  it('channel names are plain identifiers, one per schema', () => {
    expect(rotationChannel('public')).toBe('wacloud_rotation_public');
    expect(rotationChannel('wacloud_t_ab12')).toBe('wacloud_rotation_wacloud_t_ab12');
    const odd = rotationChannel('Tenant-Schema"; DROP');
    expect(odd).toMatch(/^[a-z_][a-z0-9_]{0,62}$/);
    expect(odd).not.toBe(rotationChannel('tenant_schema___drop'));
    expect(rotationChannel('x'.repeat(63))).toMatch(/^[a-z_][a-z0-9_]{0,62}$/);
  });

  it('only {id, version} payloads are accepted', () => {
    expect(parseRotationNotice('{"id":"c1","version":3}')).toEqual({ id: 'c1', version: 3 });
    for (const bad of [
      undefined,
      '',
      'nope',
      '{"id":"c1"}',
      '{"id":"c1","version":0}',
      '{"id":"c1","version":1.5}',
      '{"id":"","version":2}',
      '{"id":7,"version":2}',
      `{"id":"${'x'.repeat(600)}","version":2}`,
    ]) {
      expect(parseRotationNotice(bad)).toBeUndefined();
    }
  });
});

describe.skipIf(!pgTestUrl)('scale-out on PostgreSQL: renewal once, rotation everywhere', () => {
  let w: AuthWorld;
  let home: TestStoreHome;
  let managers: TokenManager[];
  let buses: RotationBus[];
  let logLines: string[];

  beforeEach(async () => {
    w = await createAuthWorld();
    home = await createTestStoreHome('postgres');
    managers = [];
    buses = [];
    logLines = [];
  });
  afterEach(async () => {
    for (const b of buses) await b.close();
    for (const m of managers) await m.stop();
    await home.cleanup();
    await w.close();
  });

  async function instance(
    name: string,
    policies: Partial<TokenPolicies> = {},
    bus?: { clock?: ManualClock },
  ): Promise<{ store: Store; manager: TokenManager; bus: RotationBus | undefined }> {
    const store = await home.open();
    let rotationBus: RotationBus | undefined;
    if (bus) {
      rotationBus = await createStoreRotationBus(store.credentials.db, {
        listenUrl: home.pg?.url as Secret,
        logger: recordingLogger(logLines),
        clock: bus.clock,
        backoff: { baseMs: 50, maxMs: 200 },
      });
      buses.push(rotationBus);
    }
    const manager = createTokenManager({
      auth: w.auth,
      store: store.credentials,
      clock: w.emu.clock,
      policies: { pollIntervalMs: 6 * 3_600_000, ...policies },
      instanceId: name,
      random: () => 0.5,
      onRotated: rotationBus ? (i) => void rotationBus?.publish(i.credentialId, i.version) : undefined,
    });
    managers.push(manager);
    rotationBus?.start({
      onRotation: (id, version) => manager.reload(id, version),
      onResync: () => manager.resyncAll(),
    });
    return { store, manager, bus: rotationBus };
  }

  it('two managers sweeping the same due set renew each credential exactly once', async () => {
    const a = await instance('sweeper-a', { batchSize: 7 });
    const b = await instance('sweeper-b', { batchSize: 7 });
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) {
      const cred = await a.manager.addCredential({
        tenantId: `t${i}`,
        token: await w.mint('system_user_60d'),
      });
      ids.push(cred.id);
    }
    // 50 days on: every 60-day token is inside its renewal window.
    await w.emu.clock.advance(50 * DAY);
    w.emu.injectFault({ kind: 'latency', latencyMs: 10, path: '*oauth/access_token*' });
    const claimed = { a: 0, b: 0 };
    const sweep = async (who: 'a' | 'b', m: TokenManager) => {
      for (;;) {
        const n = await m.runDue();
        claimed[who] += n;
        if (n === 0) return;
      }
    };
    await Promise.all([sweep('a', a.manager), sweep('b', b.manager)]);
    expect(w.count(EXCHANGE)).toBe(ids.length);
    expect(claimed.a + claimed.b).toBe(ids.length);
    expect(claimed.a).toBeGreaterThan(0);
    expect(claimed.b).toBeGreaterThan(0);
    for (const id of ids) expect((await a.manager.getCredential(id))?.version).toBe(2);
    // Nothing is due any more on either side.
    expect(await a.manager.runDue()).toBe(0);
    expect(await b.manager.runDue()).toBe(0);
    expect(w.count(EXCHANGE)).toBe(ids.length);
  });

  it("a crashed instance's lease lapses and another instance renews what it held, once", async () => {
    const b = await instance('survivor', { leaseMs: 60_000 });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(
        (await b.manager.addCredential({ tenantId: `t${i}`, token: await w.mint('system_user_60d') })).id,
      );
    }
    await w.emu.clock.advance(50 * DAY);
    // "crashed" claims the due set and dies before renewing anything.
    const held = await b.store.credentials.claimDue(w.emu.clock.now(), 100, 'crashed', 60_000);
    expect(held.map((c) => c.id).sort()).toEqual([...ids].sort());
    expect(await b.manager.runDue()).toBe(0);
    expect(w.count(EXCHANGE)).toBe(0);
    await w.emu.clock.advance(60_001);
    expect(await b.manager.runDue()).toBe(ids.length);
    expect(w.count(EXCHANGE)).toBe(ids.length);
    for (const id of ids) expect((await b.manager.getCredential(id))?.version).toBe(2);
  });

  it('a rotation on A reaches B through LISTEN/NOTIFY; payloads carry no token', async () => {
    const a = await instance('a', {}, {});
    const b = await instance('b', {}, {});
    const seen: string[] = [];
    const raw = new pg.Client({ connectionString: home.pg?.url.reveal() });
    await raw.connect();
    raw.on('notification', (m) => seen.push(String(m.payload)));
    await raw.query(`LISTEN ${a.bus?.channel}`);
    try {
      await waitFor(
        'listening',
        () => a.bus?.state() === 'listening' && b.bus?.state() === 'listening',
        20_000,
        20,
      );
      const cred = await a.manager.addCredential({
        tenantId: 'acme',
        token: await w.mint('system_user_60d'),
      });
      const v1 = await b.manager.getToken(cred.id);
      const renewed = await a.manager.renew(cred.id);
      expect(renewed.version).toBe(2);
      await waitFor(
        'B sees v2',
        async () => (await b.manager.getToken(cred.id)).equals(renewed.token),
        20_000,
        20,
      );
      expect(b.manager.cachedVersion(cred.id)).toBe(2);
      expect(v1.equals(renewed.token)).toBe(false);
      await waitFor('the notice on the wire', () => seen.length > 0, 20_000, 20);
      expect(JSON.parse(seen[0] as string)).toEqual({ id: cred.id, version: 2 });
      expectNoSecrets(seen.join('\n'), [renewed.token.reveal(), v1.reveal()]);
    } finally {
      await raw.end();
    }
  });

  it('a revocation or removal on A stops B serving the token at once (same version, status notice)', async () => {
    const a = await instance('a', {}, {});
    const b = await instance('b', {}, {});
    await waitFor(
      'listening',
      () => a.bus?.state() === 'listening' && b.bus?.state() === 'listening',
      20_000,
      20,
    );
    const revoked = await a.manager.addCredential({
      tenantId: 'acme',
      token: await w.mint('system_user_60d'),
    });
    const removed = await a.manager.addCredential({
      tenantId: 'acme',
      token: await w.mint('system_user_60d'),
    });
    await b.manager.getToken(revoked.id);
    await b.manager.getToken(removed.id);
    await a.manager.revoke(revoked.id);
    await a.manager.removeCredential(removed.id);
    // B's cache TTL (5 min) has not lapsed: only the notice can make it refuse.
    const refuses = async (id: string) => {
      try {
        await b.manager.getToken(id);
        return false;
      } catch (err) {
        return err instanceof CredentialUnavailableError || err instanceof CredentialNotFoundError;
      }
    };
    await waitFor('B refuses the revoked credential', () => refuses(revoked.id), 20_000, 20);
    await waitFor('B refuses the removed credential', () => refuses(removed.id), 20_000, 20);
    expect(b.manager.cachedVersion(removed.id)).toBeUndefined();
  });

  it('listener killed (pg_terminate_backend) → reconnects, resyncs, and picks up a rotation made meanwhile', async () => {
    const busClock = new ManualClock();
    const a = await instance('a', {}, {});
    const b = await instance('b', {}, { clock: busClock });
    await waitFor(
      'listening',
      () => a.bus?.state() === 'listening' && b.bus?.state() === 'listening',
      20_000,
      20,
    );
    const cred = await a.manager.addCredential({ tenantId: 'acme', token: await w.mint('system_user_60d') });
    await b.manager.getToken(cred.id);
    const pid = b.bus?.backendPid();
    expect(pid).toBeGreaterThan(0);
    await home.pg?.query('SELECT pg_terminate_backend($1)', [pid]);
    // B's back-off sleeps on a manual clock: it stays down until the clock moves.
    await waitFor('B notices the loss', () => b.bus?.state() === 'reconnecting', 20_000, 20);
    const renewed = await a.manager.renew(cred.id);
    expect(renewed.version).toBe(2);
    // The notice went out while B was not listening: B still holds version 1.
    await new Promise((r) => setTimeout(r, 100));
    expect(b.manager.cachedVersion(cred.id)).toBe(1);
    await busClock.advance(1_000);
    await waitFor('B listens again', () => b.bus?.state() === 'listening', 20_000, 20);
    expect(b.bus?.backendPid()).not.toBe(pid);
    await waitFor(
      'B resynced to v2',
      async () => (await b.manager.getToken(cred.id)).equals(renewed.token),
      20_000,
      20,
    );
    // Notices flow again after the reconnect.
    const again = await a.manager.renew(cred.id);
    expect(again.version).toBe(3);
    await waitFor('B sees v3', () => b.manager.cachedVersion(cred.id) === 3, 20_000, 20);
    const log = logLines.join('\n');
    expect(log).toContain('connection lost');
    expect(log).toContain('connected again');
    expectNoSecrets(log, [renewed.token.reveal(), again.token.reveal(), home.pg?.url.reveal() as string]);
  });

  it('listener cannot connect at all → the instance still works and catches up on the cache TTL', async () => {
    const a = await instance('a', {}, {});
    const storeB = await home.open();
    const deadBus = await createStoreRotationBus(storeB.credentials.db, {
      listenUrl: new Secret('postgres://postgres@127.0.0.1:1/test', 'database-url'),
      logger: recordingLogger(logLines),
      backoff: { baseMs: 20, maxMs: 50 },
    });
    buses.push(deadBus);
    const b = createTokenManager({
      auth: w.auth,
      store: storeB.credentials,
      clock: w.emu.clock,
      policies: { pollIntervalMs: 6 * 3_600_000, cacheTtlMs: 60_000 },
      instanceId: 'b',
    });
    managers.push(b);
    deadBus.start({ onRotation: (id, v) => b.reload(id, v), onResync: () => b.resyncAll() });
    await waitFor('A listening', () => a.bus?.state() === 'listening', 20_000, 20);
    const cred = await a.manager.addCredential({ tenantId: 'acme', token: await w.mint('system_user_60d') });
    const v1 = await b.getToken(cred.id);
    const renewed = await a.manager.renew(cred.id);
    await new Promise((r) => setTimeout(r, 100));
    expect(deadBus.state()).toBe('reconnecting');
    expect((await b.getToken(cred.id)).equals(v1)).toBe(true);
    // Past the TTL: the next use is still served from memory, and re-reads in the background.
    await w.emu.clock.advance(60_000);
    expect((await b.getToken(cred.id)).equals(v1)).toBe(true);
    await waitFor(
      'B re-read on TTL',
      async () => (await b.getToken(cred.id)).equals(renewed.token),
      20_000,
      20,
    );
    expect(logLines.filter((l) => l.includes('cannot connect to PostgreSQL'))).toHaveLength(1);
  });
});

describe.skipIf(!pgTestUrl)('two brokers on one PostgreSQL schema', () => {
  it('a renewal on broker A reaches broker B through the wiring of createBroker; /readyz says how they coordinate', async () => {
    const w = await createAuthWorld();
    const home = await createTestStoreHome('postgres');
    const brokers: Broker[] = [];
    const readyz = async (b: Broker) =>
      (await (await b.app.request('/readyz')).json()) as Record<string, unknown>;
    try {
      for (const name of ['a', 'b']) {
        const store = await home.open();
        const rotationBus = await createStoreRotationBus(store.credentials.db, {
          listenUrl: home.pg?.url as Secret,
        });
        const broker = createBroker({
          store: store,
          appId: w.appId,
          appSecret: new Secret(w.appSecret, 'app-secret'),
          graphUrl: IN_PROCESS_URL,
          dialogUrl: IN_PROCESS_URL,
          transport: w.transport,
          verifyToken: new Secret('verify-token-for-tests', 'verify-token'),
          sessionKey: new Secret('k'.repeat(43), 'session'),
          clock: w.emu.clock,
          instanceId: name,
          background: false,
          rotationBus,
          sendLimiter: createLocalSendLimiter(),
        });
        brokers.push(broker);
        await broker.listen(0);
      }
      const [a, b] = brokers as [Broker, Broker];
      for (const br of brokers) {
        await waitFor(
          'listening',
          async () => (await readyz(br)).rotationListener === 'listening',
          20_000,
          20,
        );
      }
      expect(await readyz(a)).toMatchObject({ status: 'ready', engine: 'postgres', sendLimits: 'local' });
      const cred = await a.manager.addCredential({
        tenantId: 'acme',
        token: await w.mint('system_user_60d'),
      });
      await b.manager.getToken(cred.id);
      const renewed = await a.manager.renew(cred.id);
      await waitFor(
        'B uses v2',
        async () => (await b.manager.getToken(cred.id)).equals(renewed.token),
        20_000,
        20,
      );
    } finally {
      for (const br of brokers) await br.close();
      await home.cleanup();
      await w.close();
    }
  });
});
