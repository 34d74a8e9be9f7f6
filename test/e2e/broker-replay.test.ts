import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventIdOf } from '../../src/broker/inbox.js';
import { parseJsonBody } from '../../src/webhooks/parse-json-body.js';
import { parseWebhook } from '../../src/webhooks/parse-webhook.js';
import {
  api,
  connectTenant,
  control,
  type InProcessBroker,
  startInProcessBroker,
} from '../support/broker.js';
import { until } from '../support/poll.js';

interface Hit {
  path: string;
  id: string;
  headers: Record<string, string>;
  body: string;
  answered: number;
}

interface Delivery {
  id: string;
  subscriptionId: string;
  eventId: string;
  status: string;
  attempts: number;
  lastError: string | null;
}

/**
 * Replay through the API on a broker wired like `wacloud up` (in this process, so the test can read an inbox row's
 * events): a dead delivery goes back to pending and is delivered once with its original webhook-id; replaying a
 * received webhook re-sends that webhook's deliveries (same ids) and gives a subscription added since its own.
 */
describe('broker replay: dead deliveries and received webhooks, through the API', () => {
  let h: InProcessBroker;
  let subscriber: Server;
  let subscriberBase: string;
  const hits: Hit[] = [];
  let failing = true;

  beforeAll(async () => {
    subscriber = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        const answered = failing && req.url === '/a' ? 500 : 204;
        hits.push({
          path: req.url as string,
          id: String(req.headers['webhook-id']),
          headers: req.headers as Record<string, string>,
          body,
          answered,
        });
        res.writeHead(answered).end();
      });
    });
    await new Promise<void>((r) => subscriber.listen(0, '127.0.0.1', r));
    subscriberBase = `http://127.0.0.1:${(subscriber.address() as AddressInfo).port}`;
    h = await startInProcessBroker({ broker: { delivery: { baseDelayMs: 20, maxAttempts: 3 } } });
  }, 60_000);
  afterAll(async () => {
    await h?.close();
    await new Promise((r) => subscriber?.close(r));
  });

  it('a dead delivery is replayed once with its webhook-id; a webhook replay re-sends its events and reaches new subscriptions', async () => {
    const admin = api(h.base, h.adminKey);
    const { tenantId, phoneNumberId } = await connectTenant(h, h.adminKey, 'Replay');
    const subA = await admin<{ id: string; secret: string }>(`/tenants/${tenantId}/subscriptions`, {
      url: `${subscriberBase}/a`,
      events: ['status'],
    });
    await control(h, 'webhooks/config', { status_delays_ms: { sent: 0, delivered: 20, read: 40 } });
    const seed = h.sandbox.emulator.seed as NonNullable<typeof h.sandbox.emulator.seed>;
    await admin(`/tenants/${tenantId}/messages`, {
      from: phoneNumberId,
      messaging_product: 'whatsapp',
      to: seed.recipient,
      type: 'text',
      text: { body: 'replay me' },
    });
    const list = (status?: string) =>
      admin<{ data: Delivery[] }>(`/tenants/${tenantId}/deliveries${status ? `?status=${status}` : ''}`).then(
        (r) => r.data,
      );
    // sent, delivered, read: each answered 500 three times, then dead with the error kept.
    const dead = await until('three dead letters', async () => {
      const d = await list('dead');
      return d.length === 3 ? d : undefined;
    });
    for (const d of dead) expect(d).toMatchObject({ attempts: 3, lastError: 'subscriber answered HTTP 500' });
    expect(await list('pending')).toEqual([]);
    expect(hits.filter((x) => x.path === '/a')).toHaveLength(9);

    // Replaying a pending or unknown delivery changes nothing.
    const unknown = await fetch(`${h.base}/api/v1/deliveries/999999/replay`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.adminKey}` },
    });
    expect(unknown.status).toBe(404);

    failing = false;
    const [x, y, z] = dead as [Delivery, Delivery, Delivery];
    expect(await admin(`/deliveries/${x.id}/replay`, undefined, 'POST')).toEqual({
      id: x.id,
      status: 'pending',
    });
    await until('the replayed delivery delivered', async () =>
      (await list()).find((d) => d.id === x.id && d.status === 'delivered'),
    );
    const ok = hits.filter((hit) => hit.answered === 204);
    expect(ok.map((hit) => hit.id)).toEqual([x.id]);
    expect(hits.filter((hit) => hit.id === x.id)).toHaveLength(4); // three failed attempts, one replay
    expect(() =>
      new Webhook(subA.secret).verify(ok[0]?.body as string, ok[0]?.headers as never),
    ).not.toThrow();
    expect((await list()).find((d) => d.id === x.id)?.attempts).toBe(1); // a fresh schedule
    const again = await fetch(`${h.base}/api/v1/deliveries/${x.id}/replay`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.adminKey}` },
    });
    expect(again.status).toBe(200); // a delivered one may be sent again on purpose
    await until('the second replay delivered', async () =>
      hits.filter((hit) => hit.id === x.id && hit.answered === 204).length === 2 ? true : undefined,
    );

    // The webhook that carried y's event, replayed after a second subscription was added.
    const subB = await admin<{ id: string; secret: string }>(`/tenants/${tenantId}/subscriptions`, {
      url: `${subscriberBase}/b`,
      events: [],
    });
    const rows = await h.broker.context.store.inbox.recent(50);
    const row = rows.find((r) =>
      parseWebhook(parseJsonBody(r.body)).some((e, i) => eventIdOf(e, r.id, i) === y.eventId),
    );
    expect(row?.status).toBe('done');
    const replayed = await admin<{ deliveries: number }>(`/webhooks/${row?.id}/replay`, undefined, 'POST');
    expect(replayed).toMatchObject({ status: 'pending', deliveries: 1 });
    const toB = await until('the new subscription gets the replayed event', async () => {
      const d = (await list()).find((d) => d.subscriptionId === subB.id && d.status === 'delivered');
      return d;
    });
    expect(toB.eventId).toBe(y.eventId);
    await until('y delivered again to the first subscription', async () =>
      (await list()).find((d) => d.id === y.id && d.status === 'delivered'),
    );
    expect(hits.filter((hit) => hit.id === y.id && hit.answered === 204)).toHaveLength(1);
    const bHits = hits.filter((hit) => hit.path === '/b');
    expect(bHits.map((hit) => hit.id)).toEqual([toB.id]);
    expect(toB.id).not.toBe(y.id);
    expect(() =>
      new Webhook(subB.secret).verify(bHits[0]?.body as string, bHits[0]?.headers as never),
    ).not.toThrow();
    // z was in another webhook: untouched, still a dead letter.
    expect((await list('dead')).map((d) => d.id)).toEqual([z.id]);
    expect(hits.filter((hit) => hit.id === z.id)).toHaveLength(3);
  });
});
