import { afterEach, describe, expect, it } from 'vitest';
import { Secret } from '../../src/core/secret.js';
import { signPayload } from '../../src/webhooks/verify-signature.js';
import { type InProcessBroker, startInProcessBroker } from '../support/broker.js';
import { textMessage, whatsappDelivery } from '../support/webhook-payloads.js';

// The broker acknowledges a delivery once its signature checks and its raw bytes are committed, without parsing it
// (parse: 'after-ack'); the dispatcher parses. A signed body that is not JSON is kept and dead-lettered, never lost.
describe('broker webhook ingest', () => {
  let h: InProcessBroker | undefined;
  afterEach(async () => h?.close());

  it('stores a signed body without parsing it first; the dispatcher dead-letters one that is not JSON', async () => {
    h = await startInProcessBroker({ broker: { background: false } });
    const post = (body: string, secret = h?.sandbox.appSecret as string) =>
      fetch(`${h?.base}/webhook`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': signPayload(body, secret) },
        body,
      });
    const good = whatsappDelivery({ messages: [textMessage('wamid.ingest-1', 'hello')] });
    expect((await post('not json {')).status).toBe(200);
    expect((await post(good)).status).toBe(200);
    expect((await post('not json {', 'some-other-secret')).status).toBe(401);

    const store = h.broker.context.store;
    const before = await store.inbox.recent(10);
    expect(before.map((r) => [r.body.toString(), r.status])).toEqual([
      [good, 'pending'],
      ['not json {', 'pending'],
    ]);
    await h.broker.runWorkersOnce();
    const after = await store.inbox.recent(10);
    expect(after.map((r) => r.status)).toEqual(['done', 'dead']);
    expect(after[1]?.lastError).toMatch(/not valid JSON/);
  });

  it('routes by phone number to the subscriptions whose filter takes the event: none, `*` or the type named', async () => {
    h = await startInProcessBroker({ broker: { background: false } });
    const store = h.broker.context.store;
    const tenant = await store.tenants.create({ name: 'filters' }, Date.now());
    await store.phoneNumbers.upsert(
      {
        id: '106540352242922',
        tenantId: tenant.id,
        wabaId: '102290129340398',
        displayPhoneNumber: '',
        verifiedName: null,
        credentialId: null,
      },
      Date.now(),
    );
    const subscribe = (events: string[]) =>
      store.subscriptions.create(
        {
          tenantId: tenant.id,
          url: 'http://127.0.0.1:9/hook',
          secret: new Secret('whsec_test', 'sub'),
          events,
        },
        Date.now(),
      );
    const subs = await Promise.all([[], ['*'], ['message'], ['status']].map(subscribe));
    const body = whatsappDelivery({ messages: [textMessage('wamid.filter-1', 'hi')] });
    const res = await fetch(`${h.base}/webhook`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-hub-signature-256': signPayload(body, h.sandbox.appSecret),
      },
      body,
    });
    expect(res.status).toBe(200);
    await h.broker.runWorkersOnce();
    const queued = (await store.deliveries.listByTenant(tenant.id, 100)).map((d) => d.subscriptionId);
    expect(queued.sort()).toEqual(
      subs
        .slice(0, 3)
        .map((s) => s.id)
        .sort(),
    );
  });
});
