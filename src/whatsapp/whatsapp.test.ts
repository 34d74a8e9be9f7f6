import { describe, expect, it } from 'vitest';
import { mockGraph, netError, type Reply, type Seen } from '../../test/support/mock-graph.js';
import { ManualClock } from '../core/clock.js';
import { ConfigError, ValidationError } from '../core/errors.js';
import { GraphTransientError } from '../core/graph-error.js';
import { Secret } from '../core/secret.js';
import { TransportError } from '../transport/transport-error.js';
import { WhatsApp, type WhatsAppOptions } from './whatsapp.js';

const GRAPH = 'https://graph.facebook.com';
const TOKEN = 'EAAWhatsAppClientTestToken0123456789abcdef';
const TOKEN_2 = 'EAAWhatsAppClientRotatedToken9876543210zyx';
const PHONE_ID = '106540352242922';
const WABA_ID = '102290129340398';
const TO = '+16505551234';
const SENT = {
  messaging_product: 'whatsapp',
  contacts: [{ input: TO, wa_id: '16505551234' }],
  messages: [{ id: 'wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJCOTY3NDc0NDFDRUI3NTA0Q0UA' }],
};

/** A MockGraph answering sends by default, with a WhatsApp client factory on its transport. */
function mockGraphFor(origins: string[] = [GRAPH]) {
  const g = mockGraph(origins, { status: 200, body: SENT });
  /** A client configured from an explicit environment (never process.env or a .env file). */
  const client = (env: Record<string, string> = {}, options: WhatsAppOptions = {}) =>
    new WhatsApp({
      transport: g.transport,
      configSource: {
        env: { CLOUD_API_ACCESS_TOKEN: TOKEN, WA_PHONE_NUMBER_ID: PHONE_ID, ...env },
        envFile: false,
      },
      ...options,
    });
  return Object.assign(g, { client });
}

const json = (s: Seen): unknown => JSON.parse(String(s.body));

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('new WhatsApp(): configuration', () => {
  it('reads token, sender, WABA, version and Graph URL from the environment', async () => {
    const g = mockGraphFor(['http://127.0.0.1:4010']);
    const wa = g.client({
      WA_BUSINESS_ACCOUNT_ID: WABA_ID,
      CLOUD_API_VERSION: 'v23.0',
      WA_GRAPH_URL: 'http://127.0.0.1:4010',
    });
    expect(wa.phoneNumberId).toBe(PHONE_ID);
    expect(wa.businessAccountId).toBe(WABA_ID);
    await wa.messages.text({ to: TO, body: 'hi' });
    await wa.templates.list().page();
    expect(g.seen.map((s) => s.url.href)).toEqual([
      `http://127.0.0.1:4010/v23.0/${PHONE_ID}/messages`,
      `http://127.0.0.1:4010/v23.0/${WABA_ID}/message_templates`,
    ]);
    expect(g.seen[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`);
  });

  it('accepts the seed SDK option names over the environment', async () => {
    const g = mockGraphFor();
    const wa = g.client({}, { accessToken: TOKEN_2, phoneNumberId: '999999', businessAcctId: '888888' });
    await wa.messages.text({ to: TO, body: 'hi' });
    await wa.phoneNumbers.list().page();
    expect(g.seen[0]!.url.pathname).toBe('/v26.0/999999/messages');
    expect(g.seen[0]!.headers.authorization).toBe(`Bearer ${TOKEN_2}`);
    expect(g.seen[1]!.url.pathname).toBe('/v26.0/888888/phone_numbers');
  });

  it('sends appsecret_proof when WA_APP_SECRET (or M4D_APP_SECRET) is set', async () => {
    const g = mockGraphFor();
    await g.client({ M4D_APP_SECRET: 'the-app-secret' }).messages.text({ to: TO, body: 'x' });
    expect(g.seen[0]!.url.searchParams.get('appsecret_proof')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('time-stamps the proof on the injected clock when asked', async () => {
    const g = mockGraphFor();
    const clock = new ManualClock(Date.UTC(2026, 2, 3, 4, 5, 6));
    await g
      .client({ WA_APP_SECRET: 's' }, { appSecretProof: 'timestamped', clock })
      .messages.text({ to: TO, body: 'x' });
    expect(g.seen[0]!.url.searchParams.get('appsecret_time')).toBe(
      String(Date.UTC(2026, 2, 3, 4, 5, 6) / 1000),
    );
  });

  it('throws one ConfigError naming a bad variable', () => {
    const g = mockGraphFor();
    const err = (() => {
      try {
        g.client({ WA_PHONE_NUMBER_ID: 'abc' });
      } catch (e) {
        return e;
      }
    })() as ConfigError;
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.variable).toBe('WA_PHONE_NUMBER_ID');
    expect(() => g.client({ WA_GRAPH_URL: 'http://graph.facebook.com' })).toThrow(/WA_GRAPH_URL/);
    expect(() => g.client({ REQUEST_TIMEOUT: '-1' })).toThrow(/REQUEST_TIMEOUT/);
  });

  it('without a sender number, a send fails before any request', async () => {
    const g = mockGraphFor();
    const wa = new WhatsApp({
      transport: g.transport,
      configSource: { env: { CLOUD_API_ACCESS_TOKEN: TOKEN }, envFile: false },
    });
    const err = await rejection(wa.messages.text({ to: TO, body: 'x' }));
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.message).toContain('WA_PHONE_NUMBER_ID');
    const noWaba = await rejection(wa.templates.list().page());
    expect(noWaba).toBeInstanceOf(ValidationError);
    expect(noWaba.message).toContain('WA_BUSINESS_ACCOUNT_ID');
    expect(g.seen).toHaveLength(0);
  });
});

describe('WhatsApp: runtime updates', () => {
  it('updateAccessToken takes effect on the next request', async () => {
    const g = mockGraphFor();
    const wa = g.client();
    await wa.messages.text({ to: TO, body: '1' });
    wa.updateAccessToken(TOKEN_2);
    await wa.messages.text({ to: TO, body: '2' });
    wa.updateAccessToken(new Secret(TOKEN));
    await wa.media.getUrl('123');
    expect(g.seen.map((s) => s.headers.authorization)).toEqual([
      `Bearer ${TOKEN}`,
      `Bearer ${TOKEN_2}`,
      `Bearer ${TOKEN}`,
    ]);
  });

  it('updateSenderNumberId takes effect on the next request, for every sender-scoped API', async () => {
    const g = mockGraphFor();
    const wa = g.client();
    await wa.messages.text({ to: TO, body: '1' });
    wa.updateSenderNumberId('222222');
    expect(wa.phoneNumberId).toBe('222222');
    await wa.messages.text({ to: TO, body: '2' });
    await wa.profile.get();
    await wa.registration.deregister();
    expect(g.seen.map((s) => s.url.pathname)).toEqual([
      `/v26.0/${PHONE_ID}/messages`,
      '/v26.0/222222/messages',
      '/v26.0/222222/whatsapp_business_profile',
      '/v26.0/222222/deregister',
    ]);
    expect(() => wa.updateSenderNumberId('not-a-number')).toThrow(ValidationError);
    expect(wa.phoneNumberId).toBe('222222');
  });

  it('a per-send phoneNumberId overrides the sender for that send only', async () => {
    const g = mockGraphFor();
    const wa = g.client();
    await wa.messages.text({ to: TO, body: '1' }, { phoneNumberId: '333333' });
    await wa.messages.text({ to: TO, body: '2' });
    expect(g.seen.map((s) => s.url.pathname)).toEqual([
      '/v26.0/333333/messages',
      `/v26.0/${PHONE_ID}/messages`,
    ]);
  });

  it('updateBusinessAccountId changes the WABA of the next call', async () => {
    const g = mockGraphFor();
    const wa = g.client({ WA_BUSINESS_ACCOUNT_ID: WABA_ID });
    wa.updateBusinessAccountId('777777');
    await wa.subscriptions.list();
    expect(g.seen[0]!.url.pathname).toBe('/v26.0/777777/subscribed_apps');
  });

  it('a tokenProvider client pulls each request its token (and ignores CLOUD_API_ACCESS_TOKEN)', async () => {
    const g = mockGraphFor();
    const tokens = [TOKEN_2, TOKEN, TOKEN_2];
    let calls = 0;
    const wa = g.client({}, { tokenProvider: { getToken: () => new Secret(tokens[calls++]!) } });
    await wa.messages.text({ to: TO, body: '1' });
    await wa.media.getUrl('1');
    await wa.templates
      .list({ name: 'x' })
      .page()
      .catch(() => {});
    await wa.profile.get();
    expect(calls).toBe(3);
    expect(g.seen.map((s) => s.headers.authorization)).toEqual([
      `Bearer ${TOKEN_2}`,
      `Bearer ${TOKEN}`,
      `Bearer ${TOKEN_2}`,
    ]);
  });
});

describe('WhatsApp: bad input is rejected before any request', () => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['unknown message type', { to: TO, type: 'hologram', hologram: {} }, 'type'],
    ['missing recipient', { type: 'text', text: { body: 'hi' } }, 'to'],
    ['empty recipient', { to: '', type: 'text', text: { body: 'hi' } }, 'to'],
    ['text over 4096 chars', { to: TO, type: 'text', text: { body: 'x'.repeat(4097) } }, 'text.body'],
    ['non-E.164 number (letters)', { to: 'call-me-maybe', type: 'text', text: { body: 'hi' } }, 'to'],
    ['non-E.164 number (too long)', { to: '+1234567890123456', type: 'text', text: { body: 'hi' } }, 'to'],
    ['non-E.164 number (too short)', { to: '+12345', type: 'text', text: { body: 'hi' } }, 'to'],
    ['missing payload object', { to: TO, type: 'image' }, 'image'],
    [
      'media with both id and link',
      { to: TO, type: 'image', image: { id: '1', link: 'https://x/y.png' } },
      'image',
    ],
    ['media link not a URL', { to: TO, type: 'image', image: { link: 'not a url' } }, 'image'],
    ['bad messaging_product', { messaging_product: 'sms', to: TO, text: { body: 'x' } }, 'messaging_product'],
    ['unknown status', { status: 'delivered', message_id: 'wamid.x' }, 'status'],
  ];

  it.each(cases)('%s', async (_label, message, field) => {
    const g = mockGraphFor();
    const wa = g.client();
    const err = (await rejection(wa.messages.send(message as never))) as ValidationError;
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.code).toBe('VALIDATION');
    expect(err.field).toBe(field);
    expect(g.seen).toHaveLength(0);
  });

  it('counts characters, not UTF-16 units: 4096 emoji are fine, 4097 are not', async () => {
    const g = mockGraphFor();
    const wa = g.client();
    await wa.messages.text({ to: TO, body: '😀'.repeat(4096) });
    expect(g.seen).toHaveLength(1);
    await expect(wa.messages.text({ to: TO, body: '😀'.repeat(4097) })).rejects.toThrow(/4097 characters/);
    expect(g.seen).toHaveLength(1);
  });

  it('typed helpers validate too', async () => {
    const g = mockGraphFor();
    const wa = g.client();
    await expect(wa.messages.text({ to: '12', body: 'x' })).rejects.toBeInstanceOf(ValidationError);
    await expect(
      wa.messages.buttons({
        to: TO,
        body: 'b',
        buttons: [1, 2, 3, 4].map((i) => ({ id: `b${i}`, title: `B${i}` })),
      }),
    ).rejects.toThrow(/buttons/);
    await expect(wa.messages.flow({ to: TO, body: 'b', flowCta: 'go' })).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(wa.media.upload({ data: new Uint8Array(0), mimeType: 'image/png' })).rejects.toThrow(
      /empty/,
    );
    await expect(wa.media.upload({ data: new Uint8Array(1), mimeType: 'nope' })).rejects.toThrow(/MIME/);
    await expect(wa.registration.register({ pin: '12' })).rejects.toThrow(/6 digits/);
    await expect(wa.registration.verifyCode('abc')).rejects.toThrow(/6 digits/);
    await expect(wa.profile.update({ about: 'x'.repeat(140) })).rejects.toThrow(/139/);
    expect(g.seen).toHaveLength(0);
  });

  it('skipValidation sends as given and lets Graph judge', async () => {
    const g = mockGraphFor();
    await g
      .client()
      .messages.send({ to: 'x', type: 'text', text: { body: '' } } as never, { skipValidation: true });
    expect(g.seen).toHaveLength(1);
  });
});

describe('WhatsApp: a message send is never re-sent after it may have reached Meta', () => {
  const failures: Array<[string, Reply, new (...a: never[]) => Error]> = [
    ['a timeout', netError('UND_ERR_HEADERS_TIMEOUT'), TransportError],
    ['a connection reset', netError('ECONNRESET'), TransportError],
    ['a body timeout', netError('UND_ERR_BODY_TIMEOUT'), TransportError],
    [
      'a transient 5xx',
      { status: 503, body: { error: { message: 'Service unavailable', code: 2, is_transient: true } } },
      GraphTransientError,
    ],
    [
      'a 131000 "something went wrong"',
      { status: 500, body: { error: { message: 'Something went wrong', code: 131000 } } },
      GraphTransientError,
    ],
    ['an empty 502', { status: 502, body: '' }, GraphTransientError],
  ];

  it.each(failures)('%s on POST /messages → exactly one request', async (_label, reply, cls) => {
    const g = mockGraphFor();
    g.script.push(reply);
    const clock = new ManualClock();
    const wa = g.client({}, { clock });
    const err = await rejection(wa.messages.text({ to: TO, body: 'once' }));
    expect(err).toBeInstanceOf(cls);
    expect(g.seen).toHaveLength(1);
    expect(clock.pendingSleepers).toBe(0);
  });

  it.each(failures)('%s → retried when the caller opts in with retryTransient', async (_label, reply) => {
    const g = mockGraphFor();
    g.script.push(reply);
    const wa = g.client({}, { retry: { baseDelayMs: 0 } });
    const res = await wa.messages.text({ to: TO, body: 'again' }, { retryTransient: true });
    expect(res).toEqual(SENT);
    expect(g.seen).toHaveLength(2);
    expect(json(g.seen[0]!)).toEqual(json(g.seen[1]!));
  });

  it('a refused connection is retried (the request never left)', async () => {
    const g = mockGraphFor();
    g.script.push(netError('ECONNREFUSED'));
    const wa = g.client({}, { retry: { baseDelayMs: 0 } });
    expect(await wa.messages.text({ to: TO, body: 'x' })).toEqual(SENT);
    expect(g.seen).toHaveLength(2);
  });

  it('a throttle (130429) is retried: Meta did not take the message', async () => {
    const g = mockGraphFor();
    g.script.push({
      status: 400,
      body: { error: { message: '(#130429) Rate limit hit', code: 130429, error_subcode: 2494055 } },
    });
    const wa = g.client({}, { retry: { baseDelayMs: 0 } });
    expect(await wa.messages.text({ to: TO, body: 'x' })).toEqual(SENT);
    expect(g.seen).toHaveLength(2);
  });
});

describe('WhatsApp: endpoints', () => {
  it('messages.send fills messaging_product and recipient_type, and returns the response', async () => {
    const g = mockGraphFor();
    const res = await g.client().messages.send({ to: TO, type: 'text', text: { body: 'hi' } });
    expect(res).toEqual(SENT);
    expect(g.seen[0]!.method).toBe('POST');
    expect(g.seen[0]!.headers['content-type']).toBe('application/json');
    expect(json(g.seen[0]!)).toEqual({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: TO,
      type: 'text',
      text: { body: 'hi' },
    });
  });

  it('omitImplied leaves out only what Graph implies', async () => {
    const g = mockGraphFor();
    const wa = g.client();
    await wa.messages.image({ to: TO, id: '1' }, { omitImplied: ['type', 'recipient_type'] });
    expect(json(g.seen[0]!)).toEqual({ messaging_product: 'whatsapp', to: TO, image: { id: '1' } });
    // A group recipient is not implied, so it stays.
    await wa.messages.send(
      { recipient_type: 'group', to: 'group-id-1', type: 'text', text: { body: 'hi all' } },
      { omitImplied: ['recipient_type', 'type'] },
    );
    expect(json(g.seen[1]!)).toEqual({
      messaging_product: 'whatsapp',
      recipient_type: 'group',
      to: 'group-id-1',
      text: { body: 'hi all' },
    });
    await wa.messages.text({ to: TO, body: 'x' }, { omitImplied: [] });
    expect(json(g.seen[2]!)).toMatchObject({ recipient_type: 'individual', type: 'text' });
  });

  it('a body without type is validated as the type its payload implies', async () => {
    const g = mockGraphFor();
    const wa = g.client();
    const err = (await rejection(
      wa.messages.send({ to: TO, interactive: { type: 'button', body: { text: 'b' }, action: {} } } as never),
    )) as ValidationError;
    expect(err.field).toBe('interactive.action.buttons');
    expect(g.seen).toHaveLength(0);
  });

  it('media.upload sends multipart with messaging_product, type and the file', async () => {
    const g = mockGraphFor();
    g.script.push({ body: { id: '4490709327384033' } });
    const data = Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0, 1, 2, 3, 0x80, 0x81]);
    const res = await g.client().media.upload({ data, mimeType: 'image/jpeg', filename: 'cat.jpg' });
    expect(res).toEqual({ id: '4490709327384033' });
    const s = g.seen[0]!;
    expect(s.url.pathname).toBe(`/v26.0/${PHONE_ID}/media`);
    const form = await new Response(Buffer.from(s.body as Uint8Array) as unknown as BodyInit, {
      headers: { 'content-type': s.headers['content-type']! },
    }).formData();
    expect(form.get('messaging_product')).toBe('whatsapp');
    expect(form.get('type')).toBe('image/jpeg');
    const file = form.get('file') as File;
    expect(file.name).toBe('cat.jpg');
    expect(file.type).toBe('image/jpeg');
    expect(new Uint8Array(await file.arrayBuffer())).toEqual(data);
  });

  it("media.download looks the URL up, then fetches Meta's lookaside URL unchanged with the bearer token", async () => {
    const g = mockGraphFor([GRAPH, 'https://lookaside.fbsbx.com']);
    const lookaside =
      'https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=645645&ext=54353&hash=xxx-xx';
    const bytes = Uint8Array.from({ length: 300 }, (_, i) => (i * 31) % 256);
    g.script.push(
      {
        body: {
          url: lookaside,
          mime_type: 'image/jpeg',
          sha256: 'abc',
          file_size: 300,
          id: '137524587935346',
          messaging_product: 'whatsapp',
        },
      },
      { body: bytes, headers: { 'content-type': 'application/octet-stream' } },
    );
    const res = await g.client().media.download('137524587935346');
    expect(Buffer.from(res.data).equals(Buffer.from(bytes))).toBe(true);
    expect(res.mimeType).toBe('image/jpeg');
    expect(g.seen[0]!.url.pathname).toBe('/v26.0/137524587935346');
    const dl = g.seen[1]!;
    expect(dl.url.origin).toBe('https://lookaside.fbsbx.com');
    expect(dl.url.pathname).toBe('/whatsapp_business/attachments/');
    expect(dl.url.searchParams.get('mid')).toBe('645645');
    expect(dl.url.searchParams.get('hash')).toBe('xxx-xx');
    expect(dl.headers.authorization).toBe(`Bearer ${TOKEN}`);
  });

  it('media.download by URL uses the response content type', async () => {
    const g = mockGraphFor(['https://lookaside.fbsbx.com']);
    g.script.push({ body: new Uint8Array([1, 2, 3]), headers: { 'content-type': 'audio/ogg' } });
    const res = await g
      .client()
      .media.download('https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1');
    expect(res.mimeType).toBe('audio/ogg');
    expect([...res.data]).toEqual([1, 2, 3]);
  });

  it('media.getUrl and media.delete', async () => {
    const g = mockGraphFor();
    g.script.push({ body: { url: 'https://x', id: '5' } }, { body: { success: true } });
    const wa = g.client();
    await wa.media.getUrl('5');
    expect(await wa.media.delete('5')).toEqual({ success: true });
    expect(g.seen.map((s) => `${s.method} ${s.url.pathname}`)).toEqual(['GET /v26.0/5', 'DELETE /v26.0/5']);
  });

  it('templates list / create / delete on the WABA', async () => {
    const g = mockGraphFor();
    g.script.push({ body: { data: [] } }, { body: { id: '1', status: 'PENDING', category: 'UTILITY' } }, {});
    const wa = g.client({ WA_BUSINESS_ACCOUNT_ID: WABA_ID });
    await wa.templates.list({ status: 'APPROVED', limit: 10 }).page();
    const template = {
      name: 'order_update',
      language: 'en_US',
      category: 'UTILITY' as const,
      components: [{ type: 'BODY', text: 'Order {{1}} shipped', example: { body_text: [['42']] } }],
    };
    await wa.templates.create(template);
    await wa.templates.delete({ name: 'order_update', hsmId: '1' });
    const [list, create, del] = g.seen;
    expect(`${list!.method} ${list!.url.pathname}`).toBe(`GET /v26.0/${WABA_ID}/message_templates`);
    expect(list!.url.searchParams.get('status')).toBe('APPROVED');
    expect(list!.url.searchParams.get('limit')).toBe('10');
    expect(`${create!.method} ${create!.url.pathname}`).toBe(`POST /v26.0/${WABA_ID}/message_templates`);
    expect(json(create!)).toEqual(template);
    expect(`${del!.method} ${del!.url.pathname}`).toBe(`DELETE /v26.0/${WABA_ID}/message_templates`);
    expect(Object.fromEntries(del!.url.searchParams)).toEqual({ name: 'order_update', hsm_id: '1' });
    await expect(wa.templates.create({ ...template, name: 'Bad Name' })).rejects.toBeInstanceOf(
      ValidationError,
    );
    expect(g.seen).toHaveLength(3);
  });

  it('phone numbers, profile, registration and subscriptions hit the documented paths and bodies', async () => {
    const g = mockGraphFor();
    g.fallback = { body: { success: true } };
    const wa = g.client({ WA_BUSINESS_ACCOUNT_ID: WABA_ID });
    await wa.phoneNumbers.list({ fields: 'id,display_phone_number' }).page();
    await wa.phoneNumbers.get(PHONE_ID, 'quality_rating');
    await wa.profile.get('about');
    await wa.profile.update({ about: 'We sell cats', websites: ['https://example.com'] });
    await wa.registration.register({ pin: '123456' });
    await wa.registration.deregister();
    await wa.registration.requestCode({ codeMethod: 'SMS' });
    await wa.registration.verifyCode('654321');
    await wa.subscriptions.list();
    await wa.subscriptions.subscribe();
    await wa.subscriptions.subscribe({
      overrideCallbackUri: 'https://hooks.example.com/wa',
      verifyToken: 'vt',
    });
    await wa.subscriptions.unsubscribe();
    const lines = g.seen.map((s) => `${s.method} ${s.url.pathname}${s.url.search}`);
    expect(lines).toEqual([
      `GET /v26.0/${WABA_ID}/phone_numbers?fields=id%2Cdisplay_phone_number`,
      `GET /v26.0/${PHONE_ID}?fields=quality_rating`,
      `GET /v26.0/${PHONE_ID}/whatsapp_business_profile?fields=about`,
      `POST /v26.0/${PHONE_ID}/whatsapp_business_profile`,
      `POST /v26.0/${PHONE_ID}/register`,
      `POST /v26.0/${PHONE_ID}/deregister`,
      `POST /v26.0/${PHONE_ID}/request_code`,
      `POST /v26.0/${PHONE_ID}/verify_code`,
      `GET /v26.0/${WABA_ID}/subscribed_apps`,
      `POST /v26.0/${WABA_ID}/subscribed_apps`,
      `POST /v26.0/${WABA_ID}/subscribed_apps`,
      `DELETE /v26.0/${WABA_ID}/subscribed_apps`,
    ]);
    expect(json(g.seen[3]!)).toEqual({
      messaging_product: 'whatsapp',
      about: 'We sell cats',
      websites: ['https://example.com'],
    });
    expect(json(g.seen[4]!)).toEqual({ messaging_product: 'whatsapp', pin: '123456' });
    expect(json(g.seen[6]!)).toEqual({ code_method: 'SMS', language: 'en_US' });
    expect(json(g.seen[7]!)).toEqual({ code: '654321' });
    expect(g.seen[9]!.body).toBeUndefined();
    expect(json(g.seen[10]!)).toEqual({
      override_callback_uri: 'https://hooks.example.com/wa',
      verify_token: 'vt',
    });
    await expect(
      wa.subscriptions.subscribe({ overrideCallbackUri: 'https://hooks.example.com/wa' }),
    ).rejects.toBeInstanceOf(ValidationError);
  });
});
