import { afterEach, describe, expect, it } from 'vitest';
import { createInboxDispatcher, createInboxWriter } from '../../src/broker/inbox.js';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import type { VerifiedDelivery } from '../../src/webhooks/webhook-handler.js';
import { announcePgSkip, pgTestUrl } from '../support/pg.js';
import { waitFor } from '../support/poll.js';
import { createTestStoreHome, type TestEngine, type TestStoreHome } from '../support/store.js';

// The webhook endpoint's group commit: many deliveries per INSERT, many rows marked done per transaction.
const engines: TestEngine[] = pgTestUrl ? ['sqlite', 'postgres'] : ['sqlite'];
announcePgSkip('store-inbox-batch.test.ts');

const body = (n: number) =>
  Buffer.from(JSON.stringify({ object: 'whatsapp_business_account', entry: [], n }));

describe.each(engines)('webhook inbox batches on %s', (engine) => {
  let home: TestStoreHome;
  afterEach(async () => home?.cleanup());

  it('insertMany stores new keys once, in order, and reports stored and in-batch repeats as duplicates', async () => {
    home = await createTestStoreHome(engine);
    const store = await home.open();
    const first = await store.inbox.insert({
      body: body(0),
      signatureValid: true,
      dedupeKey: 'k0',
      receivedAtMs: 1,
    });
    const items = ['k1', 'k0', 'k2', 'k1'].map((dedupeKey, i) => ({
      body: body(i + 1),
      signatureValid: true,
      dedupeKey,
      receivedAtMs: 10 + i,
    }));
    const out = await store.inbox.insertMany(items);
    expect(out.map((o) => o.duplicate)).toEqual([false, true, false, true]);
    expect(out[0]?.id).toBeTypeOf('number');
    expect(out[2]?.id).toBeGreaterThan(out[0]?.id as number);
    expect(await store.inbox.insertMany([])).toEqual([]);
    const stored = await store.inbox.get(out[0]?.id as number);
    expect(stored?.body.equals(body(1))).toBe(true);
    expect(stored?.status).toBe('pending');
    expect((await store.inbox.countByStatus()).pending).toBe(3);
    expect((await store.inbox.get(first.item.id))?.body.equals(body(0))).toBe(true);
  });

  it('markDoneMany marks every given row with its own tenant and leaves the others alone', async () => {
    home = await createTestStoreHome(engine);
    const store = await home.open();
    const out = await store.inbox.insertMany(
      ['a', 'b', 'c'].map((dedupeKey) => ({
        body: body(1),
        signatureValid: true,
        dedupeKey,
        receivedAtMs: 5,
      })),
    );
    const [a, b, c] = out.map((o) => o.id as number);
    await store.inbox.claimPending(10, 3, 'me', 60_000);
    await store.inbox.markDoneMany(
      [
        { id: a as number, tenantId: 't1' },
        { id: b as number, tenantId: null },
      ],
      99,
    );
    const [ra, rb, rc] = await Promise.all([a, b, c].map((id) => store.inbox.get(id as number)));
    expect([ra?.status, ra?.tenantId, ra?.processedAtMs, ra?.leaseOwner]).toEqual(['done', 't1', 99, null]);
    expect([rb?.status, rb?.tenantId]).toEqual(['done', null]);
    expect([rc?.status, rc?.leaseOwner]).toEqual(['processing', 'me']);
  });

  it('the inbox writer commits concurrent deliveries together and answers each after its commit', async () => {
    home = await createTestStoreHome(engine);
    const brokerStore = await home.open();
    let calls = 0;
    const insertMany = brokerStore.inbox.insertMany?.bind(brokerStore.inbox);
    brokerStore.inbox.insertMany = async (inputs) => {
      calls++;
      return (insertMany as NonNullable<typeof insertMany>)(inputs);
    };
    const results: string[] = [];
    const write = createInboxWriter(brokerStore, (r) => results.push(r));
    const delivery = (n: number): VerifiedDelivery => ({
      rawBody: body(n),
      payload: {},
      events: [],
      signature: { secretIndex: 0, method: 'raw' },
      receivedAtMs: 1,
    });
    // 30 at once (one repeated): fewer commits than deliveries, every one acknowledged.
    await Promise.all([...Array.from({ length: 30 }, (_, i) => write(delivery(i))), write(delivery(3))]);
    expect(results.filter((r) => r === 'accepted')).toHaveLength(30);
    expect(results.filter((r) => r === 'duplicate')).toHaveLength(1);
    expect(calls).toBeLessThan(31);
    expect((await brokerStore.inbox.recent(100)).length).toBe(30);
    // A failed commit fails every delivery in it (the endpoint then answers 500 and Meta delivers again).
    brokerStore.inbox.insertMany = async () => {
      throw new Error('disk full');
    };
    const failing = createInboxWriter(brokerStore, (r) => results.push(r));
    const failed = await Promise.allSettled([failing(delivery(100)), failing(delivery(101))]);
    expect(failed.map((f) => f.status)).toEqual(['rejected', 'rejected']);
  });

  it('insertMany with a lease stores new rows already leased: no claim takes them until the lease lapses', async () => {
    home = await createTestStoreHome(engine);
    const store = await home.open();
    const out = await store.inbox.insertMany(
      ['l1', 'l2'].map((dedupeKey) => ({ body: body(7), signatureValid: true, dedupeKey, receivedAtMs: 5 })),
      { owner: 'instance-a', expiresAtMs: 1_000 },
    );
    const rows = await Promise.all(out.map((o) => store.inbox.get(o.id as number)));
    expect(rows.map((r) => [r?.status, r?.attempts, r?.leaseOwner, r?.leaseExpiresAtMs])).toEqual([
      ['processing', 1, 'instance-a', 1_000],
      ['processing', 1, 'instance-a', 1_000],
    ]);
    // A rejected delivery in a leased batch keeps its status and carries no lease.
    const [rejected] = await store.inbox.insertMany(
      [{ body: body(8), signatureValid: false, dedupeKey: 'l3', receivedAtMs: 5 }],
      { owner: 'instance-a', expiresAtMs: 1_000 },
    );
    const r3 = await store.inbox.get(rejected?.id as number);
    expect([r3?.status, r3?.attempts, r3?.leaseOwner]).toEqual(['rejected', 0, null]);
    expect(await store.inbox.claimPending(999, 10, 'instance-b', 60_000)).toEqual([]);
    const taken = await store.inbox.claimPending(1_000, 10, 'instance-b', 60_000);
    expect(taken.map((r) => [r.id, r.leaseOwner, r.attempts])).toEqual(
      out.map((o) => [o.id, 'instance-b', 2]),
    );
  });

  it('the dispatcher processes what the writer hands it without claiming it back, and a lost hand-off is claimed after its lease', async () => {
    home = await createTestStoreHome(engine);
    const brokerStore = await home.open();
    const clock = new ManualClock(1_000_000);
    const claims: number[] = [];
    const claimPending = brokerStore.inbox.claimPending.bind(brokerStore.inbox);
    brokerStore.inbox.claimPending = async (...args) => {
      const rows = await claimPending(...args);
      claims.push(rows.length);
      return rows;
    };
    const delivery = (n: number): VerifiedDelivery => ({
      rawBody: body(n),
      payload: {},
      events: [],
      signature: { secretIndex: 0, method: 'raw' },
      receivedAtMs: clock.now(),
    });
    const options = { store: brokerStore, clock, logger: silentLogger, leaseMs: 10_000, pollMs: 60_000 };
    const a = createInboxDispatcher({ ...options, instanceId: 'a' });
    // Not running: nothing is leased, the rows are stored plain pending for any instance.
    const plain = createInboxWriter(brokerStore, () => undefined, a.handoff);
    await plain(delivery(1));
    expect((await brokerStore.inbox.recent(10))[0]?.attempts).toBe(0);
    await a.runOnce();
    expect(claims).toEqual([1]);

    a.start();
    const write = createInboxWriter(brokerStore, () => undefined, a.handoff);
    await Promise.all([2, 3, 4].map((n) => write(delivery(n))));
    const done = async () => (await brokerStore.inbox.recent(10)).filter((r) => r.status === 'done').length;
    await waitFor('the four rows done', async () => (await done()) === 4, 2_000, 10);
    await a.stop();
    expect(await done()).toBe(4);
    // The three handed-off rows were never claimed: the only claims are the first one and empty ones.
    expect(claims.filter((n) => n > 0)).toEqual([1]);
    // An instance that dies with rows in hand: they stay leased, then any instance claims them.
    const dying = createInboxDispatcher({ ...options, instanceId: 'dying' });
    dying.start();
    const lost = createInboxWriter(brokerStore, () => undefined, {
      lease: (n) => dying.handoff.lease(n),
      accept: () => undefined, // the process is gone before its dispatcher sees them
    });
    await lost(delivery(5));
    await dying.stop();
    const b = createInboxDispatcher({ ...options, instanceId: 'b' });
    expect(await b.runOnce()).toBe(0);
    await clock.advance(10_001);
    expect(await b.runOnce()).toBe(1);
    expect(await done()).toBe(5);
  });
});
