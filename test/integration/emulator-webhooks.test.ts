import { afterEach, describe, expect, it } from 'vitest';
import { createEmulator, type Emulator, INBOUND_TYPES } from '../../src/emulator/index.js';
import {
  call,
  type LooseJson,
  type Received,
  signatureVectors,
  startReceiver,
  verifyLikeFixture,
} from './emulator-support.js';

let emu: Emulator;
let receiver: Awaited<ReturnType<typeof startReceiver>> | undefined;
afterEach(async () => {
  await emu?.close();
  await receiver?.close();
  receiver = undefined;
});

const body = (r: Received): LooseJson => JSON.parse(r.raw.toString('utf8'));

async function setup(options: Parameters<typeof createEmulator>[0] = {}) {
  receiver = await startReceiver('verify-me');
  emu = createEmulator({ clock: { frozen: true }, ...options });
  const res = await call(emu, 'POST', `/_emulator/apps/${emu.seed!.appId}/webhook`, {
    body: { callback_url: receiver.url, verify_token: 'verify-me' },
  });
  expect(res.status, JSON.stringify(res.json)).toBe(200);
  return { emu, receiver };
}

function expectSigned(r: Received, secret: string) {
  expect(verifyLikeFixture(r.raw, r.headers['x-hub-signature-256'] as string, [secret])).toBe(true);
  expect(r.headers['x-hub-signature-256']).toMatch(/^sha256=[0-9a-f]{64}$/);
  expect(r.headers['x-hub-signature']).toMatch(/^sha1=[0-9a-f]{40}$/);
  expect(r.headers['content-type']).toBe('application/json');
  // Meta's serialiser: pure ASCII on the wire.
  expect(/^[\x20-\x7e]*$/.test(r.raw.toString('latin1'))).toBe(true);
}

describe('webhook deliveries', () => {
  it('the verifier used here agrees with every vector in test/meta/fixtures/signatures.json', () => {
    for (const v of signatureVectors) {
      const raw = Buffer.from(v.raw_body_base64, 'base64');
      expect(
        verifyLikeFixture(raw, v.x_hub_signature_256, [v.app_secret, ...(v.fallback_app_secrets ?? [])]),
        v.id,
      ).toBe(v.expected_valid);
    }
  });

  it('setting the callback runs the GET handshake; a wrong verify token fails it', async () => {
    const { receiver: r } = await setup();
    const get = r.received.find((x) => x.method === 'GET') as Received;
    const u = new URL(get.url, 'http://x');
    expect(u.searchParams.get('hub.mode')).toBe('subscribe');
    expect(u.searchParams.get('hub.verify_token')).toBe('verify-me');
    expect(u.searchParams.get('hub.challenge')).toMatch(/^\d+$/);
    const bad = await call(emu, 'POST', `/_emulator/apps/${emu.seed!.appId}/webhook`, {
      body: { callback_url: r.url, verify_token: 'wrong' },
    });
    expect(bad.status).toBe(400);
    expect(bad.json.error.message).toMatch(/HTTP Status Code = 403/);
  });

  it('after a send: sent, delivered and read statuses, signed with the app secret', async () => {
    const { emu: e, receiver: r } = await setup();
    const seed = e.seed!;
    const send = await call(e, 'POST', `/v23.0/${seed.phoneNumberId}/messages`, {
      token: seed.accessToken,
      body: { messaging_product: 'whatsapp', to: seed.recipient, type: 'text', text: { body: 'hi' } },
    });
    const wamid = send.json.messages[0].id;
    expect(r.posts()).toHaveLength(0);
    await e.clock.advance(5_000);
    await e.flushWebhooks();
    const posts = r.posts();
    expect(posts.map((p) => body(p).entry[0].changes[0].value.statuses[0].status)).toEqual([
      'sent',
      'delivered',
      'read',
    ]);
    for (const p of posts) {
      expectSigned(p, seed.appSecret);
      const b = body(p);
      expect(b.object).toBe('whatsapp_business_account');
      expect(b.entry[0].id).toBe(seed.wabaId);
      expect(b.entry[0].changes[0].field).toBe('messages');
      const value = b.entry[0].changes[0].value;
      expect(value.metadata).toEqual({
        display_phone_number: '15550783881',
        phone_number_id: seed.phoneNumberId,
      });
      expect(value.statuses[0]).toMatchObject({ id: wamid, recipient_id: seed.recipient });
      expect(value.statuses[0].timestamp).toMatch(/^\d+$/);
    }
    expect(body(posts[0] as Received).entry[0].changes[0].value.statuses[0].pricing).toMatchObject({
      billable: true,
      category: 'service',
    });
    expect(e.sentMessages()[0]?.status).toBe('read');
  });

  it('inbound messages of every type; non-ASCII as lowercase \\uXXXX; media downloadable', async () => {
    const { emu: e, receiver: r } = await setup();
    const seed = e.seed!;
    const contents: Record<string, unknown> = {
      text: { body: 'Grüße aus Köln 👋 — is the café open?' },
      location: { latitude: 37.44, longitude: -122.16, name: 'Philz', address: '101 Forest Ave' },
      contacts: [
        {
          name: { formatted_name: 'Lucía Gómez', first_name: 'Lucía' },
          phones: [{ phone: '+1 555 0100', type: 'MOBILE' }],
        },
      ],
      interactive: { type: 'button_reply', button_reply: { id: 'yes', title: 'Yes' } },
      button: { payload: 'Unsubscribe', text: 'Unsubscribe' },
      reaction: { message_id: 'wamid.X', emoji: '👍' },
      order: {
        catalog_id: '1',
        product_items: [{ product_retailer_id: 'a', quantity: 1, item_price: 3, currency: 'USD' }],
      },
      system: { body: 'User changed number', wa_id: '12195555358', type: 'user_changed_number' },
      image: { caption: 'Taj Mahal' },
    };
    for (const type of INBOUND_TYPES) {
      const res = await call(e, 'POST', '/_emulator/webhooks/inbound', {
        body: { type, name: 'Sheena Nelson', ...(contents[type] ? { [type]: contents[type] } : {}) },
      });
      expect(res.status, `${type}: ${JSON.stringify(res.json)}`).toBe(201);
      expect(res.json.webhook_targets).toBe(1);
    }
    await e.flushWebhooks();
    const posts = r.posts();
    expect(posts).toHaveLength(INBOUND_TYPES.length);
    const messages = posts.map((p) => {
      expectSigned(p, seed.appSecret);
      return body(p).entry[0].changes[0].value.messages[0];
    });
    expect(messages.map((m) => m.type)).toEqual(INBOUND_TYPES);
    const textRaw = (posts[0] as Received).raw.toString('utf8');
    expect(textRaw).toContain(
      'Gr\\u00fc\\u00dfe aus K\\u00f6ln \\ud83d\\udc4b \\u2014 is the caf\\u00e9 open?',
    );
    expect(messages[0].text.body).toBe('Grüße aus Köln 👋 — is the café open?');
    expect(messages[0].from).toBe(seed.recipient);
    expect(body(posts[0] as Received).entry[0].changes[0].value.contacts).toEqual([
      {
        profile: { name: 'Sheena Nelson' },
        wa_id: seed.recipient,
        user_id: expect.stringMatching(/^US\.\d{20}$/),
      },
    ]);
    const unsupported = messages.find((m) => m.type === 'unsupported');
    expect(unsupported.errors[0]).toMatchObject({ code: 131051, title: 'Message type unknown' });

    const image = messages.find((m) => m.type === 'image');
    expect(image.image).toMatchObject({ caption: 'Taj Mahal', mime_type: 'image/jpeg' });
    const meta = await call(e, 'GET', `/v23.0/${image.image.id}`, { token: seed.accessToken });
    expect(meta.json).toMatchObject({
      id: image.image.id,
      mime_type: 'image/jpeg',
      messaging_product: 'whatsapp',
    });
    const download = await e.fetch(meta.json.url, {
      headers: { authorization: `Bearer ${seed.accessToken}` },
    });
    expect(download.status).toBe(200);
    const bytes = Buffer.from(await download.arrayBuffer());
    expect(bytes.length).toBe(meta.json.file_size);
    expect(Buffer.from(image.image.sha256, 'base64').toString('hex')).toBe(meta.json.sha256);
  });

  it('non-200 answers are retried with backoff on virtual time; the same signed bytes each time', async () => {
    const { emu: e, receiver: r } = await setup();
    r.setStatus((n) => (n < 2 ? 500 : 200));
    e.sendInbound({ type: 'text', message: { body: 'retry me' } });
    await e.flushWebhooks();
    expect(r.posts()).toHaveLength(1);
    await e.clock.advance(999);
    await e.flushWebhooks();
    expect(r.posts()).toHaveLength(1);
    await e.clock.advance(1);
    await e.flushWebhooks();
    expect(r.posts()).toHaveLength(2);
    await e.clock.advance(10_000);
    await e.flushWebhooks();
    const posts = r.posts();
    expect(posts).toHaveLength(3);
    expect(new Set(posts.map((p) => p.raw.toString()))).toHaveProperty('size', 1);
    expect(e.deliveries().map((d) => [d.attempt, d.status, d.outcome])).toEqual([
      [1, 500, 'retrying'],
      [2, 500, 'retrying'],
      [3, 200, 'delivered'],
    ]);
  });

  it('gives up when the retry schedule runs out; unreachable callbacks are recorded', async () => {
    const { emu: e, receiver: r } = await setup({ webhooks: { retryScheduleMs: [1_000] } });
    r.setStatus(() => 503);
    e.sendInbound({ type: 'text', message: { body: 'x' } });
    await e.flushWebhooks();
    await e.clock.advance(60_000);
    await e.flushWebhooks();
    expect(e.deliveries().map((d) => d.outcome)).toEqual(['retrying', 'dropped']);
    await r.close();
    receiver = undefined;
    e.sendInbound({ type: 'text', message: { body: 'y' } });
    await e.flushWebhooks();
    const last = e.deliveries().at(-1);
    expect(last?.status).toBe(0);
    expect(last?.error).toBeTruthy();
  });

  it('batches when asked, and delivers duplicates when asked', async () => {
    const { emu: e, receiver: r } = await setup();
    await call(e, 'POST', '/_emulator/webhooks/config', {
      body: { batch: { max_events: 3, window_ms: 1_000 } },
    });
    for (let i = 0; i < 4; i++) e.sendInbound({ type: 'text', message: { body: `m${i}` } });
    await e.flushWebhooks({ openBatches: false });
    expect(r.posts()).toHaveLength(1);
    expect(body(r.posts()[0] as Received).entry[0].changes).toHaveLength(3);
    await e.clock.advance(1_000);
    await e.flushWebhooks({ openBatches: false });
    expect(r.posts()).toHaveLength(2);
    expect(body(r.posts()[1] as Received).entry[0].changes[0].value.messages[0].text.body).toBe('m3');

    await call(e, 'POST', '/_emulator/webhooks/config', { body: { batch: false, duplicate_rate: 1 } });
    e.sendInbound({ type: 'text', message: { body: 'twice' } });
    await e.flushWebhooks();
    await e.clock.advance(1_000);
    await e.flushWebhooks();
    const twice = r.posts().slice(2);
    expect(twice).toHaveLength(2);
    expect((twice[0] as Received).raw.equals((twice[1] as Received).raw)).toBe(true);
    expect(e.deliveries().at(-1)?.duplicate).toBe(true);
  });

  it('template and account updates, failures with errors, and the WABA override callback', async () => {
    const { emu: e, receiver: r } = await setup();
    const seed = e.seed!;
    const tpl = await call(e, 'POST', `/v23.0/${seed.wabaId}/message_templates`, {
      token: seed.accessToken,
      body: {
        name: 'shipping_update',
        language: 'en_US',
        category: 'UTILITY',
        components: [{ type: 'BODY', text: 'Shipped {{1}}' }],
      },
    });
    await e.flushWebhooks();
    const tplEvent = body(r.posts().at(-1) as Received).entry[0].changes[0];
    expect(tplEvent.field).toBe('message_template_status_update');
    expect(tplEvent.value).toMatchObject({
      event: 'APPROVED',
      message_template_id: Number(tpl.json.id),
      message_template_name: 'shipping_update',
    });

    await call(e, 'POST', '/_emulator/webhooks/event', {
      body: { field: 'account_update', value: { phone_number: '15550783881', event: 'VERIFIED_ACCOUNT' } },
    });
    const sent = await call(e, 'POST', `/v23.0/${seed.phoneNumberId}/messages`, {
      token: seed.accessToken,
      body: { messaging_product: 'whatsapp', to: seed.recipient, type: 'text', text: { body: 'x' } },
    });
    const failed = await call(e, 'POST', '/_emulator/webhooks/status', {
      body: {
        message_id: sent.json.messages[0].id,
        status: 'failed',
        errors: [{ code: 131047, title: 'Re-engagement message' }],
      },
    });
    expect(failed.json.webhook_targets).toBe(1);
    await e.clock.advance(10_000);
    await e.flushWebhooks();
    const fields = r.posts().map((p) => body(p).entry[0].changes[0]);
    expect(fields.some((f) => f.field === 'account_update' && f.value.event === 'VERIFIED_ACCOUNT')).toBe(
      true,
    );
    const failure = fields.find((f) => f.value.statuses?.[0]?.status === 'failed');
    expect(failure.value.statuses[0].errors[0]).toMatchObject({
      code: 131047,
      title: 'Re-engagement message',
    });
    // Once failed, the automatic sent/delivered/read statuses are not sent backwards.
    expect(fields.filter((f) => f.value.statuses?.[0]?.id === sent.json.messages[0].id)).toHaveLength(1);

    // POST subscribed_apps with override_callback_uri + verify_token: handshake, then deliveries go there.
    const other = await startReceiver('other-token');
    try {
      const sub = await call(e, 'POST', `/v23.0/${seed.wabaId}/subscribed_apps`, {
        token: seed.accessToken,
        body: { override_callback_uri: other.url, verify_token: 'other-token' },
      });
      expect(sub.json).toEqual({ success: true });
      const list = await call(e, 'GET', `/v23.0/${seed.wabaId}/subscribed_apps`, { token: seed.accessToken });
      expect(list.json.data[0]).toMatchObject({
        whatsapp_business_api_data: { id: seed.appId },
        override_callback_uri: other.url,
      });
      e.sendInbound({ type: 'text', message: { body: 'to the override' } });
      await e.flushWebhooks();
      expect(other.posts()).toHaveLength(1);
      const badSub = await call(e, 'POST', `/v23.0/${seed.wabaId}/subscribed_apps`, {
        token: seed.accessToken,
        body: { override_callback_uri: other.url, verify_token: 'nope' },
      });
      expect(badSub.status).toBe(400);
      expect(badSub.json.error.code).toBe(2200);
    } finally {
      await other.close();
    }
  });
});
