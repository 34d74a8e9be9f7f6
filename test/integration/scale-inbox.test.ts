import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createInboxDispatcher, createInboxWriter } from '../../src/broker/inbox.js';
import { createDeliveryWorker } from '../../src/broker/outbound.js';
import type { BrokerStore } from '../../src/broker/ports.js';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { Secret } from '../../src/core/secret.js';
import { announcePgSkip, pgTestUrl } from '../support/pg.js';
import { createTestStoreHome, rawQuery, type TestStoreHome } from '../support/store.js';
import { textMessage, whatsappDelivery } from '../support/webhook-payloads.js';

announcePgSkip('scale-inbox.test.ts');

const PHONE = '106540352242922';
const WABA = '102290129340398';

/**
 * Two instances' workers on one PostgreSQL schema, driven by hand: every inbox row is processed by one of them, every
 * event is queued once per subscription, and every delivery is attempted once (SKIP LOCKED + leases).
 */
describe.skipIf(!pgTestUrl)('webhook inbox and deliveries with two instances on PostgreSQL', () => {
  let home: TestStoreHome;
  let stores: BrokerStore[];
  const clock = new ManualClock(Date.UTC(2026, 2, 1));

  beforeEach(async () => {
    home = await createTestStoreHome('postgres');
    const a = await home.open();
    const b = await home.open();
    stores = [a, b];
    const tenant = await a.tenants.create({ name: 'acme' }, clock.now());
    await a.phoneNumbers.upsert(
      {
        id: PHONE,
        tenantId: tenant.id,
        wabaId: WABA,
        displayPhoneNumber: '15550783881',
        verifiedName: null,
        credentialId: null,
      },
      clock.now(),
    );
    for (const url of ['http://127.0.0.1:9/one', 'http://127.0.0.1:9/two']) {
      await a.subscriptions.create(
        {
          tenantId: tenant.id,
          url,
          secret: new Secret(`whsec_${'k'.repeat(32)}`, 'subscription-secret'),
          events: [],
        },
        clock.now(),
      );
    }
  });
  afterEach(async () => {
    await home.cleanup();
  });

  it('a burst spread over both instances: each webhook processed once, each delivery sent once per subscription', async () => {
    const N = 60;
    // Accepted alternately by the two instances, plus a redelivery of each by Meta (same bytes).
    for (let i = 0; i < N; i++) {
      const body = Buffer.from(
        whatsappDelivery({ messages: [textMessage(`wamid.burst${i}`, `hello ${i}`)] }),
      );
      for (const s of [stores[i % 2], stores[(i + 1) % 2]] as BrokerStore[]) {
        await createInboxWriter(
          s,
          () => undefined,
        )({
          rawBody: body,
          receivedAtMs: clock.now(),
          payload: undefined,
          events: [],
          signature: { secretIndex: 0, method: 'raw' },
        });
      }
    }
    expect((await rawQuery<{ n: number }>(home, 'SELECT count(*)::int AS n FROM webhook_inbox'))[0]?.n).toBe(
      N,
    );

    const dispatchers = stores.map((store, i) =>
      createInboxDispatcher({ store, clock, logger: silentLogger, instanceId: `inst-${i}`, batchSize: 4 }),
    );
    const handled = [0, 0];
    await Promise.all(
      dispatchers.map(async (d, i) => {
        for (;;) {
          const n = await d.runOnce();
          handled[i] = (handled[i] as number) + n;
          if (n === 0) return;
        }
      }),
    );
    expect((handled[0] as number) + (handled[1] as number)).toBe(N);
    expect(handled[0]).toBeGreaterThan(0);
    expect(handled[1]).toBeGreaterThan(0);
    const inbox = await rawQuery<{ status: string; attempts: number }>(
      home,
      'SELECT status, attempts FROM webhook_inbox',
    );
    expect(inbox.every((r) => r.status === 'done' && Number(r.attempts) === 1)).toBe(true);
    const queued = await rawQuery<{ n: number; distinct_events: number }>(
      home,
      'SELECT count(*)::int AS n, count(DISTINCT (subscription_id, event_id))::int AS distinct_events FROM deliveries',
    );
    expect(queued[0]).toEqual({ n: 2 * N, distinct_events: 2 * N });

    const sent = new Map<string, number>();
    const workers = stores.map((store, i) =>
      createDeliveryWorker({
        store,
        clock,
        logger: silentLogger,
        instanceId: `inst-${i}`,
        batchSize: 5,
        send: async (_url, headers) => {
          const id = headers['webhook-id'] as string;
          sent.set(id, (sent.get(id) ?? 0) + 1);
          await new Promise((r) => setTimeout(r, 2));
          return 200;
        },
      }),
    );
    await Promise.all(
      workers.map(async (w) => {
        for (;;) if ((await w.runOnce()) === 0) return;
      }),
    );
    expect(sent.size).toBe(2 * N);
    expect([...sent.values()].every((n) => n === 1)).toBe(true);
    const states = await rawQuery<{ status: string; n: number }>(
      home,
      'SELECT status, count(*)::int AS n FROM deliveries GROUP BY status',
    );
    expect(states).toEqual([{ status: 'delivered', n: 2 * N }]);
  });
});
