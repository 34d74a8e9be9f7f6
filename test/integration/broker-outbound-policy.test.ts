import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Resolver } from '../../src/broker/outbound-policy.js';
import { type InProcessBroker, startInProcessBroker } from '../support/broker.js';

/** A receiver that records the paths it was asked for and answers what `answer` says. */
async function receiver(host: string, answer: (path: string) => { status: number; location?: string }) {
  const hits: string[] = [];
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      hits.push(req.url as string);
      const a = answer(req.url as string);
      res.writeHead(a.status, a.location ? { location: a.location } : {}).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return {
    hits,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((r) => server.close(r)),
  };
}

/**
 * The outbound policy on a broker wired like `wacloud up`: subscription URLs reaching local addresses are refused at
 * creation (API and dashboard) and at delivery (the address dialled, so a DNS answer that changes in between is
 * caught), redirects are not followed, and a failed delivery tells the tenant status and timing only. Host names are
 * answered by an injected resolver (no DNS); the allow-list lets `127.0.0.1` and the name `hooks.test` through.
 */
describe('broker outbound policy (SSRF)', () => {
  let h: InProcessBroker;
  let local: Awaited<ReturnType<typeof receiver>>;
  let other: Awaited<ReturnType<typeof receiver>>;
  let tenantId: string;
  /** What `rebind.test` resolves to: public while the subscription is checked, then a local address. */
  let rebindTo = '93.184.216.34';
  const resolve: Resolver = async (host) => {
    const table: Record<string, string> = {
      'rebind.test': rebindTo,
      'hooks.test': '127.0.0.2',
      'metadata.test': '169.254.169.254',
      'intranet.test': '10.0.0.7',
      'v6local.test': 'fd00::1',
      'mapped.test': '::ffff:10.0.0.1',
    };
    const address = table[host];
    if (!address) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    return [{ address, family: address.includes(':') ? 6 : 4 }];
  };

  const call = async (path: string, body?: unknown) => {
    const res = await fetch(`${h.base}/api/v1${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${h.adminKey}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  async function deliverOnce(url: string): Promise<{ status: string; lastError: string | null }> {
    const created = await call(`/tenants/${tenantId}/subscriptions`, { url, events: [] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const store = h.broker.context.store;
    const now = h.broker.context.clock.now();
    await store.deliveries.enqueue(
      {
        subscriptionId: created.body.id as string,
        tenantId,
        eventId: `e-${created.body.id}`,
        eventType: 'message',
        payload: '{"type":"message"}',
        nextAttemptAtMs: now,
      },
      now,
    );
    await h.broker.runWorkersOnce();
    const rows = await store.deliveries.listByTenant(tenantId, 100);
    const row = rows.find((d) => d.subscriptionId === created.body.id);
    return { status: row?.status as string, lastError: row?.lastError ?? null };
  }

  beforeAll(async () => {
    // 127.0.0.2 is loopback too (Linux answers the whole 127/8); only the name `hooks.test` may reach it.
    other = await receiver('127.0.0.2', () => ({ status: 204 }));
    local = await receiver('127.0.0.1', (path) =>
      path === '/redirect'
        ? { status: 307, location: `http://127.0.0.1:${local.port}/target` }
        : { status: 204 },
    );
    h = await startInProcessBroker({
      broker: { background: false, outboundAllow: '127.0.0.1,hooks.test', outboundResolve: resolve },
    });
    tenantId = (await call('/tenants', { name: 'Outbound' })).body.id as string;
  }, 60_000);
  afterAll(async () => {
    await h?.close();
    await local?.close();
    await other?.close();
  });

  it('refuses local destinations at creation with a 422 saying why, and stores nothing', async () => {
    const refused = [
      'http://169.254.169.254/latest/meta-data/',
      'http://127.0.0.3:9/hook',
      'http://[::1]:9/hook',
      // 127.0.0.1 is allowed here (an IPv4-mapped spelling of it too); .3 is not.
      'http://[::ffff:127.0.0.3]:9/hook',
      'http://[fe80::1]/hook',
      'http://10.0.0.1/hook',
      'http://[fd00::1]/hook',
      'http://0.0.0.0:9/hook',
      'http://224.0.0.1/hook',
      'http://localhost:9/hook',
      'http://metadata.test/hook',
      'http://intranet.test/hook',
      'http://v6local.test/hook',
      'http://mapped.test/hook',
      // The sandbox emulator's control API is on loopback too.
      `${h.sandbox.url}/_emulator/reset`,
    ];
    for (const url of refused) {
      const r = await call(`/tenants/${tenantId}/subscriptions`, { url, events: [] });
      expect(r.status, url).toBe(422);
      expect(r.body, url).toMatchObject({ error: { code: 'outbound_refused' } });
      expect(JSON.stringify(r.body)).toMatch(/public addresses only|does not resolve/);
    }
    expect((await call(`/tenants/${tenantId}/subscriptions`)).body.data).toEqual([]);
  });

  it('refuses them on the dashboard form too', async () => {
    let cookie = '';
    const go = async (path: string, form?: Record<string, string>) => {
      const res = await fetch(`${h.base}${path}`, {
        method: form ? 'POST' : 'GET',
        redirect: 'manual',
        headers: { cookie, ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
        body: form ? new URLSearchParams(form).toString() : undefined,
      });
      const set = res.headers.get('set-cookie');
      if (set) cookie = set.split(';')[0] as string;
      return { status: res.status, location: res.headers.get('location'), text: await res.text() };
    };
    await go('/login', { key: h.adminKey });
    const page = await go(`/tenants/${tenantId}/deliveries`);
    const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)?.[1] as string;
    const r = await go(`/tenants/${tenantId}/subscriptions`, {
      csrf,
      url: 'http://169.254.169.254/latest/meta-data/',
      events: 'message',
    });
    expect(r.location).toBe(`/tenants/${tenantId}/deliveries?flash=subscription-refused`);
    expect((await go(r.location as string)).text).toContain('public addresses only');
    expect((await call(`/tenants/${tenantId}/subscriptions`)).body.data).toEqual([]);
  });

  it('DNS rebinding: a name that resolved publicly at creation but locally at delivery is refused when dialled', async () => {
    rebindTo = '93.184.216.34';
    const created = await call(`/tenants/${tenantId}/subscriptions`, {
      url: `http://rebind.test:${other.port}/hook`,
      events: [],
    });
    expect(created.status).toBe(201);
    rebindTo = '127.0.0.2';
    const before = other.hits.length;
    const store = h.broker.context.store;
    const now = h.broker.context.clock.now();
    await store.deliveries.enqueue(
      {
        subscriptionId: created.body.id as string,
        tenantId,
        eventId: 'rebind-1',
        eventType: 'message',
        payload: '{}',
        nextAttemptAtMs: now,
      },
      now,
    );
    await h.broker.runWorkersOnce();
    const row = (await store.deliveries.listByTenant(tenantId, 100)).find((d) => d.eventId === 'rebind-1');
    expect(row).toMatchObject({
      status: 'pending',
      lastError: 'refused by the outbound policy (the destination is not a public address)',
    });
    expect(other.hits.length).toBe(before);
    // The control: the same receiver is reachable through a name the operator allowed (and only the lookup knows
    // `hooks.test`: the connection dialled the address the policy checked).
    expect(await deliverOnce(`http://hooks.test:${other.port}/ok`)).toMatchObject({ status: 'delivered' });
    expect(other.hits).toContain('/ok');
  });

  it('follows no redirect: a 307 is the answer, the target is never asked', async () => {
    const d = await deliverOnce(`http://127.0.0.1:${local.port}/redirect`);
    expect(d).toMatchObject({ status: 'pending', lastError: 'subscriber answered HTTP 307' });
    expect(local.hits).toEqual(['/redirect']);
  });

  it('a failed delivery reveals status and timing only, no address, port or socket error', async () => {
    const closed = await receiver('127.0.0.1', () => ({ status: 204 }));
    const port = closed.port;
    await closed.close();
    const d = await deliverOnce(`http://127.0.0.1:${port}/gone`);
    expect(d.lastError).toMatch(/^subscriber unreachable after \d+ ms$/);
    expect(d.lastError).not.toContain(String(port));
  });
});
