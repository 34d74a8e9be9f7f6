import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { announcePgSkip, pgTestUrl } from '../../test/support/pg.js';
import { freePort } from '../../test/support/ports.js';
import { createTestStoreHome, type TestEngine, type TestStoreHome } from '../../test/support/store.js';
import { ManualClock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Secret } from '../core/secret.js';
import { createDeliveryWorker, type DeliveryWorkerOptions } from './outbound.js';
import type { BrokerStore } from './ports.js';
import { generateWebhookSecret } from './standard-webhooks.js';

interface Received {
  headers: Record<string, string>;
  body: string;
  answered: number;
}

/** A real HTTP subscriber whose answers the test scripts (the last one repeats). */
async function startSubscriber() {
  const received: Received[] = [];
  let answers: number[] = [204];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      const answered = (answers.length > 1 ? answers.shift() : answers[0]) as number;
      received.push({ headers: req.headers as Record<string, string>, body, answered });
      res.writeHead(answered).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    received,
    answer(...statuses: number[]) {
      answers = statuses;
    },
    close: () => new Promise((r) => server.close(r)),
  };
}

const engines: Array<{ engine: TestEngine; skip: boolean }> = [
  { engine: 'sqlite', skip: false },
  { engine: 'postgres', skip: !pgTestUrl },
];
announcePgSkip('src/broker/outbound.test.ts');

describe.each(engines)('delivery worker on $engine', ({ engine, skip }) => {
  let home: TestStoreHome;
  let store: BrokerStore;
  let subscriber: Awaited<ReturnType<typeof startSubscriber>>;
  let tenantId: string;
  const warnings: Array<{ msg: string; fields: unknown }> = [];
  const logger: Logger = {
    debug() {},
    info() {},
    warn: (msg, fields) => warnings.push({ msg, fields }),
    error: (msg, fields) => warnings.push({ msg, fields }),
  };

  beforeAll(async () => {
    if (skip) return;
    home = await createTestStoreHome(engine);
    store = await home.open();
    subscriber = await startSubscriber();
    tenantId = (await store.tenants.create({ name: 'Acme' }, 1)).id;
  });
  afterAll(async () => {
    if (skip) return;
    await subscriber.close();
    await home.cleanup();
  });
  afterEach(() => {
    if (skip) return;
    subscriber.received.length = 0;
    warnings.length = 0;
  });

  let n = 0;
  /** A subscription (its secret kept for verification) and one queued delivery to it. */
  async function queued(clock: ManualClock, url = subscriber.url) {
    const secret = generateWebhookSecret();
    const sub = await store.subscriptions.create({ tenantId, url, secret, events: [] }, clock.now());
    const eventId = `evt-${++n}`;
    const payload = JSON.stringify({ type: 'whatsapp.status', data: { id: eventId, status: 'sent' } });
    expect(
      (
        await store.deliveries.enqueue(
          {
            subscriptionId: sub.id,
            tenantId,
            eventId,
            eventType: 'status',
            payload,
            nextAttemptAtMs: clock.now(),
          },
          clock.now(),
        )
      ).duplicate,
    ).toBe(false);
    const row = (await store.deliveries.listByTenant(tenantId, 1000)).find((d) => d.eventId === eventId);
    return { secret, subscriptionId: sub.id, id: row?.id as number, payload };
  }

  function worker(clock: ManualClock, extra: Partial<DeliveryWorkerOptions> = {}) {
    const results: string[] = [];
    const w = createDeliveryWorker({
      store,
      clock,
      logger,
      instanceId: 'test',
      baseDelayMs: 1_000,
      maxDelayMs: 60_000,
      random: () => 1, // the top of the jitter range: delay = base * 2^(attempt - 1)
      onResult: (r) => results.push(r),
      ...extra,
    });
    return { ...w, results };
  }

  function expectSigned(r: Received, secret: Secret, id: string, payload: string): void {
    expect(r.headers['webhook-id']).toBe(id);
    expect(r.body).toBe(payload);
    expect(new Webhook(secret.reveal()).verify(r.body, r.headers)).toEqual(JSON.parse(payload));
  }

  it.skipIf(skip)(
    'a subscriber answering 500: retried with backoff on the clock, then dead with the last error',
    async () => {
      const clock = new ManualClock(Date.UTC(2026, 0, 1));
      const d = await queued(clock);
      subscriber.answer(500);
      const w = worker(clock, { maxAttempts: 4 });

      expect(await w.runOnce()).toBe(1);
      expect(await store.deliveries.get(d.id)).toMatchObject({
        status: 'pending',
        attempts: 1,
        lastError: 'subscriber answered HTTP 500',
        nextAttemptAtMs: clock.now() + 1_000,
      });
      // Backoff: 1 s, 2 s, 4 s on the injected clock; not a moment earlier.
      for (const delay of [1_000, 2_000, 4_000]) {
        await clock.advance(delay - 1);
        expect(await w.runOnce()).toBe(0);
        await clock.advance(1);
        expect(await w.runOnce()).toBe(1);
      }
      expect(await store.deliveries.get(d.id)).toMatchObject({
        status: 'dead',
        attempts: 4,
        lastError: 'subscriber answered HTTP 500',
      });
      expect(w.results).toEqual(['retry', 'retry', 'retry', 'dead']);
      expect(warnings.map((x) => x.msg)).toEqual(['delivery dead-lettered']);
      // Dead stays dead: nothing more however long we wait.
      await clock.advance(30 * 86_400_000);
      expect(await w.runOnce()).toBe(0);
      expect(subscriber.received).toHaveLength(4);
      // Every attempt: the same webhook-id (the delivery id), a valid Standard Webhooks signature.
      for (const r of subscriber.received) expectSigned(r, d.secret, String(d.id), d.payload);
      expect((await store.deliveries.countByStatus(tenantId)).dead).toBeGreaterThanOrEqual(1);
      expect((await store.deliveries.listByTenant(tenantId, 100, 'dead')).map((x) => x.id)).toContain(d.id);
    },
  );

  it.skipIf(skip)('a subscriber that recovers gets the event once, and nothing after', async () => {
    const clock = new ManualClock(Date.UTC(2026, 1, 1));
    const d = await queued(clock);
    subscriber.answer(500, 503, 200);
    const w = worker(clock, { maxAttempts: 5, random: () => 0 }); // the bottom of the range: half the ceiling
    expect(await w.runOnce()).toBe(1);
    expect((await store.deliveries.get(d.id))?.nextAttemptAtMs).toBe(clock.now() + 500);
    await clock.advance(500);
    expect(await w.runOnce()).toBe(1);
    expect(await store.deliveries.get(d.id)).toMatchObject({
      status: 'pending',
      attempts: 2,
      lastError: 'subscriber answered HTTP 503',
      nextAttemptAtMs: clock.now() + 1_000,
    });
    await clock.advance(1_000);
    expect(await w.runOnce()).toBe(1);
    expect(await store.deliveries.get(d.id)).toMatchObject({ status: 'delivered', attempts: 3 });
    await clock.advance(86_400_000);
    expect(await w.runOnce()).toBe(0);
    expect(subscriber.received.map((r) => r.answered)).toEqual([500, 503, 200]);
    for (const r of subscriber.received) expectSigned(r, d.secret, String(d.id), d.payload);
    expect(w.results).toEqual(['retry', 'retry', 'delivered']);
  });

  it.skipIf(skip)(
    'a replayed dead delivery is sent once more, with its original webhook-id and a fresh schedule',
    async () => {
      const clock = new ManualClock(Date.UTC(2026, 2, 1));
      const d = await queued(clock);
      subscriber.answer(500);
      const w = worker(clock, { maxAttempts: 2 });
      await w.runOnce();
      await clock.advance(1_000);
      await w.runOnce();
      expect((await store.deliveries.get(d.id))?.status).toBe('dead');
      // Pending or unknown deliveries are not "replayed".
      expect(await store.deliveries.requeue(999999999, clock.now())).toBe(false);

      subscriber.answer(204);
      expect(await store.deliveries.requeue(d.id, clock.now())).toBe(true);
      expect(await store.deliveries.get(d.id)).toMatchObject({ status: 'pending', attempts: 0 });
      expect(await store.deliveries.requeue(d.id, clock.now())).toBe(false);
      expect(await w.runOnce()).toBe(1);
      expect(await store.deliveries.get(d.id)).toMatchObject({ status: 'delivered', attempts: 1 });
      await clock.advance(86_400_000);
      expect(await w.runOnce()).toBe(0);
      expect(subscriber.received.map((r) => r.answered)).toEqual([500, 500, 204]);
      for (const r of subscriber.received) expectSigned(r, d.secret, String(d.id), d.payload);
      // Replaying the received webhook that carried it (by event id): the same row, pending again.
      const eventId = (await store.deliveries.get(d.id))?.eventId as string;
      expect(await store.deliveries.requeueEvents([eventId, 'no-such-event'], clock.now())).toBe(1);
      expect(await store.deliveries.get(d.id)).toMatchObject({ status: 'pending', attempts: 0 });
      expect(await store.deliveries.requeueEvents([eventId], clock.now())).toBe(0);
      expect(await w.runOnce()).toBe(1);
      expect(subscriber.received.map((r) => r.headers['webhook-id'])).toEqual(Array(4).fill(String(d.id)));
    },
  );

  it.skipIf(skip)(
    'an unreachable subscriber is retried; the tenant sees timing, not the socket error',
    async () => {
      const clock = new ManualClock(Date.UTC(2026, 3, 1));
      const d = await queued(clock, `http://127.0.0.1:${await freePort()}/hooks`);
      const w = worker(clock, { maxAttempts: 2 });
      await w.runOnce();
      const row = await store.deliveries.get(d.id);
      expect(row).toMatchObject({ status: 'pending' });
      expect(row?.lastError).toMatch(/^subscriber unreachable after \d+ ms$/);
      await clock.advance(1_000);
      await w.runOnce();
      expect(await store.deliveries.get(d.id)).toMatchObject({ status: 'dead', attempts: 2 });
    },
  );

  it.skipIf(skip)(
    'a deactivated subscription gets nothing: its due delivery is dead-lettered unsent',
    async () => {
      const clock = new ManualClock(Date.UTC(2026, 4, 1));
      const d = await queued(clock);
      expect(
        await store.subscriptions.update(d.subscriptionId, { active: false }, clock.now()),
      ).toBeDefined();
      const w = worker(clock);
      expect(await w.runOnce()).toBe(1);
      expect(await store.deliveries.get(d.id)).toMatchObject({
        status: 'dead',
        lastError: 'subscription removed or inactive',
      });
      expect(subscriber.received).toHaveLength(0);
      // A replay of a webhook skips deliveries to inactive subscriptions.
      expect(
        await store.deliveries.requeueEvents([(await store.deliveries.get(d.id))?.eventId as string], 1),
      ).toBe(0);
    },
  );
});
