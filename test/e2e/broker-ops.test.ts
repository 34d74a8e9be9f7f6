import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Secret } from '../../src/core/secret.js';
import { openStore } from '../../src/store/open-store.js';
import {
  api,
  control,
  type InProcessBroker,
  parseMetrics,
  startInProcessBroker,
  Transcript,
} from '../support/broker.js';
import { announcePgSkip, pgTestUrl } from '../support/pg.js';
import { expectNoSecrets } from '../support/secret-scan.js';
import { createTestStoreHome } from '../support/store.js';

const form = (fields: Record<string, string>) => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
  redirect: 'manual' as const,
});

describe('dashboard sessions end when their admin key is revoked', () => {
  let h: InProcessBroker;
  const transcript = new Transcript();

  beforeAll(async () => {
    h = await startInProcessBroker();
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  async function login(key: string): Promise<string> {
    const res = await transcript.fetch(`${h.base}/login`, form({ key }));
    expect(res.status).toBe(303);
    return (res.headers.get('set-cookie') as string).split(';')[0] as string;
  }
  const page = (cookie: string, path = '/') =>
    transcript.fetch(`${h.base}${path}`, { headers: { cookie }, redirect: 'manual' });

  it('a revoked key’s session is sent to the login page at once, with its cookie cleared; other sessions go on', async () => {
    const admin = api(h.base, h.adminKey);
    const made = await admin<{ key: string; keyId: string }>('/api-keys', { label: 'second admin' });
    const doomed = await login(made.key);
    const other = await login(h.adminKey);

    // No store round trip per request: the live admin key ids come from the access cache.
    const store = h.broker.context.store;
    const list = store.apiKeys.listByTenant.bind(store.apiKeys);
    let reads = 0;
    store.apiKeys.listByTenant = (tenantId) => {
      reads++;
      return list(tenantId);
    };
    for (let i = 0; i < 10; i++) expect((await page(doomed)).status).toBe(200);
    expect(reads).toBeLessThanOrEqual(1);
    const overview = await (await page(doomed)).text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(overview)?.[1] as string;
    expect(csrf).toBeTruthy();

    const revoked = await transcript.fetch(`${h.base}/api/v1/api-keys/${made.keyId}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${h.adminKey}` },
    });
    expect(revoked.status).toBe(204);

    for (const path of ['/', '/audit', '/webhooks']) {
      const res = await page(doomed, path);
      expect(res.status, path).toBe(303);
      expect(res.headers.get('location')).toBe('/login');
      expect(res.headers.get('set-cookie')).toMatch(/^wacloud_session=; .*Max-Age=0/);
    }
    // A form with a valid CSRF token changes nothing either.
    const before = (await store.tenants.list()).length;
    const post = await transcript.fetch(`${h.base}/tenants`, {
      ...form({ name: 'After revocation', csrf }),
      headers: { cookie: doomed, 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(post.status).toBe(303);
    expect(post.headers.get('location')).toBe('/login');
    expect((await store.tenants.list()).length).toBe(before);
    // Nor can the revoked key log in again; the other admin's session is untouched.
    expect((await transcript.fetch(`${h.base}/login`, form({ key: made.key }))).status).toBe(403);
    expect((await page(other)).status).toBe(200);
    store.apiKeys.listByTenant = list;

    expectNoSecrets(`${transcript.text()}\n${h.logs.join('\n')}`, [h.adminKey, made.key], 'session run');
  });
});

/** A TCP forwarder to PostgreSQL that a test can cut (every connection dropped, new ones refused) and restore. */
async function cuttableProxy(target: URL) {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((client) => {
        const upstream = connect(Number(target.port || 5432), target.hostname);
        for (const x of [client, upstream]) {
          sockets.add(x);
          x.on('close', () => sockets.delete(x));
          x.on('error', () => undefined);
        }
        client.pipe(upstream).pipe(client);
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        port = (s.address() as { port: number }).port;
        server = s;
        resolve();
      });
    });
  await listen();
  return {
    url(): string {
      const u = new URL(target.href);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.href;
    },
    async cut() {
      const closed = new Promise<void>((r) => (server ? server.close(() => r()) : r()));
      server = undefined;
      for (const s of sockets) s.destroy();
      await closed;
    },
    restore: listen,
  };
}

describe('/readyz when the store is unreachable', () => {
  announcePgSkip('broker-ops.test.ts');

  it.skipIf(!pgTestUrl)(
    'PostgreSQL cut away: 503 "store unreachable", /healthz still 200; ready again once it is back',
    async () => {
      const proxy = await cuttableProxy(new URL(pgTestUrl as string));
      const home = await createTestStoreHome('postgres');
      const store = await openStore(
        { dataDir: home.dataDir, databaseUrl: new Secret(proxy.url(), 'database-url'), masterKey: undefined },
        { masterKey: home.master, postgres: { schema: home.pg?.schema, connectTimeoutMs: 1000 } },
      );
      const h = await startInProcessBroker({ broker: { store: store } });
      try {
        const ready = await fetch(`${h.base}/readyz`);
        expect(ready.status).toBe(200);
        expect(await ready.json()).toMatchObject({ status: 'ready', engine: 'postgres' });

        await proxy.cut();
        const down = await fetch(`${h.base}/readyz`);
        expect(down.status).toBe(503);
        const body = await down.text();
        expect(JSON.parse(body)).toEqual({ status: 'store unreachable' });
        expectNoSecrets(body, [pgTestUrl as string, proxy.url()], 'readyz');
        expect((await fetch(`${h.base}/healthz`)).status).toBe(200);

        await proxy.restore();
        const deadline = Date.now() + 20_000;
        let status = 0;
        while (Date.now() < deadline && status !== 200) {
          status = (await fetch(`${h.base}/readyz`)).status;
          if (status !== 200) await new Promise((r) => setTimeout(r, 200));
        }
        expect(status).toBe(200);
      } finally {
        await h.close();
        await home.cleanup();
        await proxy.cut();
      }
    },
    60_000,
  );

  it('a store whose ping fails: 503, and ready again when it answers', async () => {
    const home = await createTestStoreHome('sqlite');
    const inner = await home.open();
    let failing = false;
    const store = {
      ...inner,
      ping: () => (failing ? Promise.reject(new Error('disk gone')) : inner.ping()),
    };
    const h = await startInProcessBroker({ broker: { store } });
    try {
      expect((await fetch(`${h.base}/readyz`)).status).toBe(200);
      failing = true;
      const down = await fetch(`${h.base}/readyz`);
      expect(down.status).toBe(503);
      expect(await down.json()).toEqual({ status: 'store unreachable' });
      failing = false;
      expect((await fetch(`${h.base}/readyz`)).status).toBe(200);
    } finally {
      await h.close();
      await home.cleanup();
    }
  });
});

describe('renewal metrics: failures, then the renewal, and the seconds to expiry they leave', () => {
  const DAY_S = 86_400;
  let h: InProcessBroker;
  beforeAll(async () => {
    // Workers driven by hand (runWorkersOnce) on the emulator's virtual clock.
    h = await startInProcessBroker({ broker: { background: false } });
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  it('counts renewal_failed while Meta fails the exchange, then refreshed, and moves the expiry gauge 60 days on', async () => {
    const seed = h.sandbox.emulator.seed as NonNullable<typeof h.sandbox.emulator.seed>;
    const minted = await control(h, 'tokens', {
      kind: 'system_user_60d',
      subject_id: seed.systemUserId,
      target_ids: [seed.wabaId],
    });
    const call = api(h.base, h.adminKey);
    const tenant = await call<{ id: string }>('/tenants', { name: 'Metrics' });
    const cred = await call<{ id: string }>(`/tenants/${tenant.id}/credentials`, {
      token: String(minted.access_token),
    });
    const metrics = async () => parseMetrics(await (await fetch(`${h.base}/metrics`)).text());
    const days = async () =>
      ((await metrics()).value('wacloud_credential_seconds_to_expiry', { credential_id: cred.id }) ?? 0) /
      DAY_S;
    expect(Math.round(await days())).toBe(60);

    // 51 days on (9 left: inside the renew window), with Meta's token exchange failing.
    await control(h, 'faults', { kind: 'status', status: 503, path: '*oauth/access_token', count: 50 });
    await control(h, 'clock/advance', { seconds: 51 * DAY_S });
    await h.broker.runWorkersOnce();
    let m = await metrics();
    expect(m.value('wacloud_token_events_total', { event: 'renewal_failed' })).toBe(1);
    expect(m.value('wacloud_token_events_total', { event: 'refreshed' })).toBeUndefined();
    expect(Math.round(await days())).toBe(9);

    // Meta recovers; once the retry is due the renewal goes through.
    const faults = await fetch(`${h.sandbox.url}/_emulator/faults`, { method: 'DELETE' });
    expect(faults.status).toBeLessThan(300);
    await control(h, 'clock/advance', { seconds: DAY_S });
    await h.broker.runWorkersOnce();
    m = await metrics();
    expect(m.value('wacloud_token_events_total', { event: 'renewal_failed' })).toBe(1);
    expect(m.value('wacloud_token_events_total', { event: 'refreshed' })).toBe(1);
    expect(m.value('wacloud_credentials', { state: 'active' })).toBe(1);
    expect(Math.round(await days())).toBe(60);
  });
});
