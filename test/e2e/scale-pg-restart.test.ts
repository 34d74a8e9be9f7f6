import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api } from '../support/broker.js';
import { pgTestUrl } from '../support/pg.js';
import { waitFor } from '../support/poll.js';
import { announceSkip } from '../support/require-all.js';
import {
  type BrokerInstance,
  metaSignature,
  proxyGet,
  type ScaleCluster,
  type SeededTenant,
  seedTenants,
  startScaleCluster,
  startSubscriber,
  tokenIsValid,
} from '../support/scale-cluster.js';
import { type PrivatePg, privatePgUnavailable, startPrivatePg } from '../support/scale-private-pg.js';
import { textMessage, whatsappDelivery } from '../support/webhook-payloads.js';

const FILE = 'test/e2e/scale-pg-restart.test.ts';
const unavailable = pgTestUrl ? privatePgUnavailable() : 'WACLOUD_TEST_DATABASE_URL is not set';
if (unavailable) announceSkip(FILE, 'PostgreSQL restart test', unavailable);

const DAY_MS = 86_400_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(unavailable !== undefined)('scale-out: PostgreSQL restarted during traffic', () => {
  let pgServer: PrivatePg | undefined;
  let c: ScaleCluster | undefined;
  beforeAll(async () => {
    // A private server: restarting the machine's shared PostgreSQL would break other tests running in parallel.
    pgServer = await startPrivatePg();
    c = await startScaleCluster({
      instances: 3,
      serverUrl: pgServer.url,
      recordGraph: true,
      env: { WACLOUD_TOKEN_POLL_MS: '1000' },
    });
  }, 90_000);
  afterAll(async () => {
    await c?.stop();
    pgServer?.destroy();
  }, 30_000);

  it('instances reconnect, resync and carry on; every acknowledged webhook is delivered exactly once', async () => {
    const cluster = c as ScaleCluster;
    const pgs = pgServer as PrivatePg;
    const [tenant] = (await seedTenants(cluster, {
      count: 1,
      dueAtMs: Date.now() + 20 * DAY_MS,
      withProxy: 1,
      prefix: 'restart',
    })) as [SeededTenant];
    const subscriber = await startSubscriber();
    const [first] = cluster.instances as [BrokerInstance];
    await api(first.base, cluster.adminKey)(`/tenants/${tenant.tenantId}/subscriptions`, {
      url: subscriber.url,
      events: ['message'],
    });

    type Phase = 'before' | 'outage' | 'after';
    let phase: Phase = 'before';
    const acked = new Map<string, Phase>();
    const webhookStatuses: Record<Phase, Record<string, number>> = { before: {}, outage: {}, after: {} };
    const proxyStatuses: Record<Phase, Record<string, number>> = { before: {}, outage: {}, after: {} };
    const count = (m: Record<string, number>, k: string) => {
      m[k] = (m[k] ?? 0) + 1;
    };
    let running = true;
    let seq = 0;
    const webhookLane = async (): Promise<void> => {
      while (running) {
        const n = seq++;
        const instance = cluster.instances[n % cluster.instances.length] as BrokerInstance;
        const id = `wamid.RESTART${n}`;
        const body = whatsappDelivery({
          wabaId: cluster.emulator.wabaId,
          phoneNumberId: tenant.phoneNumberId,
          messages: [textMessage(id, `restart ${n}`, '1767225600')],
        });
        const at: Phase = phase;
        try {
          const res = await fetch(`${instance.base}/webhook`, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              'x-hub-signature-256': metaSignature(cluster.emulator.appSecret, body),
            },
            body,
          });
          await res.arrayBuffer();
          count(webhookStatuses[at], String(res.status));
          if (res.status === 200) acked.set(id, at);
        } catch (err) {
          count(webhookStatuses[at], (err as Error).message);
        }
        await sleep(5);
      }
    };
    const proxyLane = async (): Promise<void> => {
      let n = 0;
      while (running) {
        const at: Phase = phase;
        const r = await proxyGet(cluster.instances[n++ % 3] as BrokerInstance, tenant).catch(
          (err: Error) => ({
            status: err.message,
          }),
        );
        count(proxyStatuses[at], String(r.status));
        await sleep(10);
      }
    };
    const lanes = [webhookLane(), webhookLane(), webhookLane(), webhookLane(), proxyLane()];
    let listenerAtRotation: unknown[] = [];
    try {
      await sleep(1_500);
      phase = 'outage';
      await pgs.stop();
      await sleep(2_000);
      await pgs.start();
      phase = 'after';

      // Rotate at once, while the other instances' listeners are likely still backing off: they must catch up by
      // resyncing after they reconnect (a notice sent while they were away is not replayed by PostgreSQL).
      let renewed: { version: number } | undefined;
      await waitFor(
        'a renewal through the first instance once PostgreSQL is back',
        async () => {
          const res = await fetch(`${first.base}/api/v1/credentials/${tenant.credentialId}/renew`, {
            method: 'POST',
            headers: { authorization: `Bearer ${cluster.adminKey}` },
          });
          if (res.status === 200) renewed = (await res.json()) as { version: number };
          else await res.arrayBuffer();
          return res.status === 200;
        },
        20_000,
        50,
      );
      listenerAtRotation = await Promise.all(
        cluster.instances.map(async (i) => {
          const r = await fetch(`${i.base}/readyz`).catch(() => undefined);
          const body = r ? ((await r.json()) as { status: string; rotationListener?: unknown }) : undefined;
          return { instance: i.id, readyz: r?.status, listener: body?.rotationListener };
        }),
      );
      expect(renewed?.version).toBe(2);
      const v2 = (await cluster.store.credentials.get(tenant.credentialId))?.token.reveal();
      expect(v2 === undefined || v2 === tenant.token).toBe(false);

      // Every instance is ready again (its pool reconnected).
      await waitFor(
        'every instance ready',
        async () => {
          const codes = await Promise.all(
            cluster.instances.map((i) =>
              fetch(`${i.base}/readyz`)
                .then(async (r) => {
                  await r.arrayBuffer();
                  return r.status;
                })
                .catch(() => 0),
            ),
          );
          return codes.every((s) => s === 200);
        },
        30_000,
        200,
      );
      // The renewal sweep carries on: a credential that falls due after the restart is renewed, once.
      const [late] = (await seedTenants(cluster, {
        count: 1,
        dueAtMs: Date.now() + 2_000,
        prefix: 'restart-late',
      })) as [SeededTenant];
      const lateVersion = async () =>
        Number(
          (
            await cluster.sql.query<{ version: number }>('SELECT version FROM credentials WHERE id = $1', [
              late.credentialId,
            ])
          ).rows[0]?.version,
        );
      await waitFor(
        'the credential due after the restart renewed by the sweep',
        async () => (await lateVersion()) === 2,
        30_000,
        200,
      );
      const lateToken = (await cluster.store.credentials.get(late.credentialId))?.token.reveal();
      expect(lateToken === undefined || lateToken === late.token).toBe(false);
      expect(await tokenIsValid(cluster.emulator, lateToken as string)).toBe(true);

      // Every instance's proxy forwards the rotated token (notice or resync; the 5-minute TTL is far away).
      const recorder = cluster.recorder as NonNullable<ScaleCluster['recorder']>;
      for (const i of cluster.instances) {
        await waitFor(
          `${i.id} to forward the rotated token`,
          async () => {
            const mark = recorder.calls.length;
            const r = await proxyGet(i, tenant);
            const used = recorder.calls
              .slice(mark)
              .filter((x) => x.path.endsWith(`/${tenant.phoneNumberId}`));
            return r.status === 200 && used.length === 1 && used[0]?.token === v2;
          },
          20_000,
          100,
        );
      }
      // Every instance's rotation listener is back on LISTEN.
      await waitFor(
        'every instance’s rotation listener listening',
        async () =>
          (
            await Promise.all(
              cluster.instances.map(async (i) => {
                const r = await fetch(`${i.base}/readyz`).catch(() => undefined);
                return r ? ((await r.json()) as { rotationListener?: string }).rotationListener : undefined;
              }),
            )
          ).every((l) => l === 'listening'),
        20_000,
        200,
      );
      // Renewed once: no second instance renewed it again meanwhile (none holds its lease: nothing is in flight).
      await waitFor(
        'no renewal of the late credential in flight',
        async () =>
          (
            await cluster.sql.query('SELECT 1 FROM credentials WHERE id = $1 AND lease_owner IS NOT NULL', [
              late.credentialId,
            ])
          ).rows.length === 0,
        20_000,
        200,
      );
      expect(await lateVersion()).toBe(2);
    } finally {
      running = false;
      await Promise.all(lanes);
    }
    console.log(
      `[scale-pg-restart] webhook answers ${JSON.stringify(webhookStatuses)}; proxy answers ${JSON.stringify(proxyStatuses)}; listeners when the rotation was stored ${JSON.stringify(listenerAtRotation)}`,
    );
    const ackedIn = (p: Phase) => [...acked.values()].filter((x) => x === p).length;
    expect(ackedIn('before')).toBeGreaterThan(0);
    expect(ackedIn('after')).toBeGreaterThan(0);
    // After the restart, the proxies answer.
    expect(proxyStatuses.after['200'] ?? 0).toBeGreaterThan(0);

    try {
      const messageIdOf = (body: string) =>
        (JSON.parse(body) as { data: { message: { id: string } } }).data.message.id;
      await waitFor(
        'every acknowledged delivery at the subscriber',
        async () => {
          const got = new Set(subscriber.received.map((r) => messageIdOf(r.body)));
          return [...acked.keys()].every((id) => got.has(id));
        },
        60_000,
        200,
      );
      // No fixed settle time: nothing is left to send once no inbox row and no delivery is pending or leased (an
      // instance sends a delivery before it marks it), so a duplicate has arrived by then.
      await waitFor(
        'the inbox and the deliveries settled',
        async () =>
          (
            await cluster.sql.query(
              "SELECT 1 FROM webhook_inbox WHERE status IN ('pending', 'processing') " +
                "UNION ALL SELECT 1 FROM deliveries WHERE status = 'pending'",
            )
          ).rows.length === 0,
        60_000,
        200,
      );
      const perMessage = new Map<string, Set<string>>();
      for (const r of subscriber.received) {
        const id = messageIdOf(r.body);
        const ids = perMessage.get(id) ?? new Set<string>();
        ids.add(r.webhookId);
        perMessage.set(id, ids);
      }
      // Exactly once per event: a message id never arrives under two webhook-ids (a delivery made while its
      // "delivered" mark could not be written is repeated with the same webhook-id, which consumers de-duplicate).
      expect([...perMessage].filter(([, ids]) => ids.size !== 1).map(([id]) => id)).toEqual([]);
      const deliveries = subscriber.received.length;
      console.log(
        `[scale-pg-restart] ${acked.size} acknowledged (${ackedIn('before')} before, ${ackedIn('outage')} during, ${ackedIn('after')} after the restart); ${perMessage.size} events delivered in ${deliveries} requests`,
      );
    } finally {
      await subscriber.close();
    }
  }, 150_000);
});
