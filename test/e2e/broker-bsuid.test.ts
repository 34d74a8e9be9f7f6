import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  api,
  connectTenant,
  control,
  type InProcessBroker,
  startInProcessBroker,
} from '../support/broker.js';
import { until } from '../support/poll.js';
import { expectNoSecrets } from '../support/secret-scan.js';
import { type SubscriberHit, startSubscriber } from '../support/subscriber.js';

interface Delivered {
  type: string;
  data: {
    type: string;
    phoneNumberId: string;
    user:
      | { phone?: string; bsuid?: string; parentBsuid?: string; username?: string; name?: string }
      | undefined;
    id?: string;
    message?: { id: string; from?: string; fromUserId?: string };
  };
}

/**
 * Business-scoped user ids through a broker wired like `wacloud up`: a username user (no phone number in Meta's
 * webhooks) writes in, the tenant's subscriber gets the message with the user object; the tenant replies through the
 * Graph proxy to the BSUID and gets Meta's `contacts[].user_id`; the statuses reach the subscriber too. Routing is by
 * phone number id, as before.
 */
describe('broker: a username user end to end (BSUIDs through the proxy and the outbound webhooks)', () => {
  let h: InProcessBroker;
  let subscriber: Awaited<ReturnType<typeof startSubscriber>>;
  let subscriberBase: string;
  let hits: SubscriberHit[];

  beforeAll(async () => {
    subscriber = await startSubscriber();
    subscriberBase = subscriber.base;
    hits = subscriber.hits;
    h = await startInProcessBroker();
  }, 60_000);
  afterAll(async () => {
    await h?.close();
    await subscriber?.close();
  });

  const delivered = (): Delivered[] => hits.map((x) => JSON.parse(x.body) as Delivered);

  it('the inbound message reaches the tenant subscriber with the user object; a reply to the BSUID goes through the proxy', async () => {
    const admin = api(h.base, h.adminKey);
    const { tenantId, phoneNumberId } = await connectTenant(h, h.adminKey, 'Usernames');
    const tenantKey = await admin<{ key: string }>('/api-keys', { tenantId, label: 'bsuid service' });
    const sub = await api(h.base, tenantKey.key)<{ id: string; secret: string }>(
      `/tenants/${tenantId}/subscriptions`,
      {
        url: `${subscriberBase}/hooks`,
        events: [],
      },
    );
    await control(h, 'webhooks/config', { status_delays_ms: { sent: 0, delivered: 10, read: 20 } });
    const seed = h.sandbox.emulator.seed as NonNullable<typeof h.sandbox.emulator.seed>;
    // The user adopted a username: Meta withholds their phone number from the business's webhooks.
    await control(h, 'whatsapp-users', { phone: seed.recipient, username: 'ana.sousa', name: 'Ana' });
    await control(h, 'webhooks/inbound', {
      phone_number_id: phoneNumberId,
      from: seed.recipient,
      type: 'text',
      text: { body: 'olá' },
    });
    const inbound = await until('the inbound message delivered', async () =>
      delivered().find((d) => d.type === 'whatsapp.message'),
    );
    expect(inbound.data.phoneNumberId).toBe(phoneNumberId);
    expect(inbound.data.message?.from).toBeUndefined();
    const bsuid = inbound.data.user?.bsuid as string;
    expect(bsuid).toMatch(/^US\.\d{20}$/);
    expect(inbound.data.message?.fromUserId).toBe(bsuid);
    expect(inbound.data.user).toEqual({ bsuid, username: 'ana.sousa', name: 'Ana' });
    const hit = hits.find((x) => x.body.includes('whatsapp.message')) as SubscriberHit;
    expect(() => new Webhook(sub.secret).verify(hit.body, hit.headers as never)).not.toThrow();

    const res = await fetch(`${h.base}/graph/v26.0/${phoneNumberId}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tenantKey.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        messaging_product: 'whatsapp',
        recipient: bsuid,
        type: 'text',
        text: { body: 'obrigado' },
      }),
    });
    expect(res.status).toBe(200);
    const answer = (await res.json()) as { contacts: unknown[]; messages: Array<{ id: string }> };
    expect(answer.contacts).toEqual([{ input: bsuid, user_id: bsuid }]);

    // The reply's statuses come back through the broker to the same subscriber, naming the user by BSUID only.
    await h.sandbox.emulator.clock.advance(1_000);
    const statuses = await until('sent, delivered and read delivered', async () => {
      const s = delivered().filter(
        (d) => d.type === 'whatsapp.status' && d.data.id === answer.messages[0]?.id,
      );
      return s.length === 3 ? s : undefined;
    });
    for (const s of statuses) {
      expect(s.data.user?.bsuid).toBe(bsuid);
      expect(s.data.user?.phone).toBeUndefined();
    }
    // Nothing secret in what the broker logged or delivered.
    const secrets = [
      ...h.brokerSecrets,
      h.sandbox.appSecret,
      h.adminKey,
      tenantKey.key,
      sub.secret,
      seed.accessToken,
    ];
    expectNoSecrets(h.logs.join('\n'), secrets, 'broker logs');
    expectNoSecrets(hits.map((x) => x.body).join('\n'), secrets, 'outbound deliveries');
  });
});
