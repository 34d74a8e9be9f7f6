import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api } from '../support/broker.js';
import { announcePgSkip, pgTestUrl } from '../support/pg.js';
import { waitFor } from '../support/poll.js';
import {
  type BrokerInstance,
  metaSignature,
  pool,
  proxyGet,
  type ScaleCluster,
  type SeededTenant,
  seedTenants,
  startScaleCluster,
  startSubscriber,
} from '../support/scale-cluster.js';
import { textMessage, whatsappDelivery } from '../support/webhook-payloads.js';

announcePgSkip('test/e2e/scale-fanout.test.ts');

const DAY_MS = 86_400_000;

describe.skipIf(!pgTestUrl)('scale-out: rotation and webhooks across three broker processes', () => {
  let c: ScaleCluster;
  let tenant: SeededTenant;
  beforeAll(async () => {
    c = await startScaleCluster({
      instances: 3,
      serverUrl: pgTestUrl as string,
      recordGraph: true,
      env: { WACLOUD_TOKEN_POLL_MS: '1000' },
    });
    // One tenant with a phone number and a key; its token is renewable but not due for weeks.
    [tenant] = (await seedTenants(c, {
      count: 1,
      dueAtMs: Date.now() + 20 * DAY_MS,
      withProxy: 1,
      prefix: 'fanout',
    })) as [SeededTenant];
  }, 90_000);
  afterAll(async () => {
    await c?.stop();
  }, 30_000);

  /** Names the tokens in assertions, so a failure never prints one. */
  const versionOf = new Map<string | undefined, string>();
  /**
   * Calls the proxy of `i` for the tenant; returns the status and which token versions Graph saw for that call (a
   * stale token retried after a 190 would show as two).
   */
  async function probe(i: BrokerInstance): Promise<{ status: number; tokens: string[] }> {
    const recorder = c.recorder as NonNullable<ScaleCluster['recorder']>;
    const mark = recorder.calls.length;
    const r = await proxyGet(i, tenant);
    const tokens = recorder.calls
      .slice(mark)
      .filter((x) => x.path.endsWith(`/${tenant.phoneNumberId}`))
      .map((x) => versionOf.get(x.token) ?? 'unknown token');
    return { status: r.status, tokens };
  }

  it('a rotated token is used by all three instances’ proxies within one second', async () => {
    versionOf.set(tenant.token, 'v1');
    // Every instance has served the tenant with version 1 (so each holds it in memory).
    for (const i of c.instances) {
      expect(await probe(i)).toEqual({ status: 200, tokens: ['v1'] });
    }
    const [first] = c.instances as [BrokerInstance];
    const res = await fetch(`${first.base}/api/v1/credentials/${tenant.credentialId}/renew`, {
      method: 'POST',
      headers: { authorization: `Bearer ${c.adminKey}` },
    });
    expect(res.status).toBe(200);
    const renewed = (await res.json()) as { version: number };
    const rotatedAt = Date.now();
    expect(renewed.version).toBe(2);
    const v2 = (await c.store.credentials.get(tenant.credentialId))?.token.reveal();
    expect(v2).toBeDefined();
    expect(v2 === tenant.token).toBe(false);
    versionOf.set(v2, 'v2');

    // Watch each instance until one second has passed, then every proxy must forward version 2.
    const firstSeen = new Map<string, number>();
    while (Date.now() - rotatedAt < 1_000) {
      for (const i of c.instances) {
        const p = await probe(i);
        expect(p.status).toBe(200);
        if (!firstSeen.has(i.id) && p.tokens.length === 1 && p.tokens[0] === 'v2')
          firstSeen.set(i.id, Date.now() - rotatedAt);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    console.log(
      `[scale-fanout] version 2 first used (ms after the renewal answered): ${c.instances.map((i) => `${i.id} ${firstSeen.get(i.id) ?? 'not yet'}`).join(', ')}`,
    );
    for (const i of c.instances) {
      expect({ instance: i.id, ...(await probe(i)) }).toEqual({
        instance: i.id,
        status: 200,
        tokens: ['v2'],
      });
    }
  }, 30_000);

  it('a webhook burst spread over the instances: every acknowledged delivery reaches the subscriber exactly once', async () => {
    const subscriber = await startSubscriber();
    try {
      const [first] = c.instances as [BrokerInstance];
      await api(first.base, c.adminKey)(`/tenants/${tenant.tenantId}/subscriptions`, {
        url: subscriber.url,
        events: ['message'],
      });
      const N = 600;
      const acked = new Set<string>();
      const refused: string[] = [];
      const perInstance = new Map<string, number>();
      await pool(
        Array.from({ length: N }, (_, n) => n),
        24,
        async (n) => {
          const instance = c.instances[n % c.instances.length] as BrokerInstance;
          const id = `wamid.SCALE${n}`;
          const body = whatsappDelivery({
            wabaId: c.emulator.wabaId,
            phoneNumberId: tenant.phoneNumberId,
            contactName: 'Burst',
            messages: [textMessage(id, `burst ${n}`, '1767225600')],
          });
          const res = await fetch(`${instance.base}/webhook`, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              'x-hub-signature-256': metaSignature(c.emulator.appSecret, body),
            },
            body,
          });
          await res.arrayBuffer();
          if (res.status === 200) {
            acked.add(id);
            perInstance.set(instance.id, (perInstance.get(instance.id) ?? 0) + 1);
          } else refused.push(`${instance.id}: ${res.status}`);
        },
      );
      expect(refused).toEqual([]);
      expect(acked.size).toBe(N);
      expect([...perInstance.values()].every((n) => n === N / c.instances.length)).toBe(true);

      const messageIdOf = (body: string) =>
        (JSON.parse(body) as { data: { message: { id: string } } }).data.message.id;
      await waitFor(
        'every acknowledged delivery at the subscriber',
        async () => new Set(subscriber.received.map((r) => messageIdOf(r.body))).size >= N,
        60_000,
        200,
      );
      // No fixed settle time: wait until every inbox row is done and every delivery marked delivered. Nothing is
      // sent after that (an instance sends a delivery before it marks it), so a duplicate has arrived by then.
      // The inbox holds each acknowledged body once, processed (none dead, pending or still leased), and each
      // delivery is marked delivered (the mark may trail the subscriber's 200 by a moment).
      const state = async () => {
        const q = (table: string) =>
          c.sql
            .query<{ status: string; n: number }>(
              `SELECT status, count(*)::int AS n FROM ${table} GROUP BY status ORDER BY status`,
            )
            .then((r) => r.rows);
        return { inbox: await q('webhook_inbox'), deliveries: await q('deliveries') };
      };
      const settled = { inbox: [{ status: 'done', n: N }], deliveries: [{ status: 'delivered', n: N }] };
      await waitFor(
        'every inbox row done and every delivery marked delivered',
        async () => JSON.stringify(await state()) === JSON.stringify(settled),
        20_000,
        200,
      ).catch(() => undefined);
      const final = await state();
      console.log(`[scale-fanout] inbox and deliveries after the burst: ${JSON.stringify(final)}`);
      const perMessage = new Map<string, number>();
      for (const r of subscriber.received) {
        const id = messageIdOf(r.body);
        perMessage.set(id, (perMessage.get(id) ?? 0) + 1);
      }
      expect([...acked].filter((id) => perMessage.get(id) !== 1)).toEqual([]);
      expect(perMessage.size).toBe(N);
      expect(new Set(subscriber.received.map((r) => r.webhookId)).size).toBe(N);
      expect(final).toEqual(settled);
    } finally {
      await subscriber.close();
    }
  }, 90_000);
});
