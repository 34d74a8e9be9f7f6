import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  GraphInvalidParameterError,
  GraphInvalidSessionError,
  GraphNotFoundError,
  GraphThrottledError,
} from '../../src/core/graph-error.js';
import { Secret } from '../../src/core/secret.js';
import { createEmulator, type Emulator } from '../../src/emulator/index.js';
import { createFetchTransport } from '../../src/transport/fetch-transport.js';
import { WhatsApp, type WhatsAppOptions } from '../../src/whatsapp/whatsapp.js';
import { startReceiver } from './emulator-support.js';

/**
 * The WhatsApp client against the emulator, for every endpoint the client has: in-process (the emulator's fetch,
 * no socket) and over a real loopback socket (the default undici transport against emulator.listen()).
 */

interface Mode {
  name: string;
  emu: Emulator;
  graphUrl: string;
  options: () => WhatsAppOptions;
}

const modes: Mode[] = [];
const clients: WhatsApp[] = [];

beforeAll(async () => {
  const inProcess = createEmulator({ seed: { recipients: ['16505551234'] } });
  modes.push({
    name: 'in-process',
    emu: inProcess,
    // Any https base works in-process: the emulator's fetch answers whatever host is named, media URLs included.
    graphUrl: 'https://graph.facebook.com',
    options: () => ({ transport: createFetchTransport(inProcess.fetch) }),
  });
  const loopback = createEmulator({ seed: { recipients: ['16505551234'] } });
  const url = await loopback.listen();
  modes.push({ name: 'loopback', emu: loopback, graphUrl: url, options: () => ({}) });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(modes.map((m) => m.emu.close()));
});

function client(mode: Mode, env: Record<string, string> = {}, options: WhatsAppOptions = {}): WhatsApp {
  const seed = mode.emu.seed!;
  const wa = new WhatsApp({
    ...mode.options(),
    retry: { maxAttempts: 1 },
    ...options,
    configSource: {
      env: {
        CLOUD_API_ACCESS_TOKEN: seed.accessToken,
        WA_PHONE_NUMBER_ID: seed.phoneNumberId,
        WA_BUSINESS_ACCOUNT_ID: seed.wabaId,
        WA_GRAPH_URL: mode.graphUrl,
        ...env,
      },
      envFile: false,
    },
  });
  clients.push(wa);
  return wa;
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

const TO = '+16505551234';

describe.each(['in-process', 'loopback'])('SDK ↔ emulator (%s)', (modeName) => {
  const mode = () => modes.find((m) => m.name === modeName)!;

  it('sends a message with every helper; the emulator records exactly the bodies sent', async () => {
    const m = mode();
    const wa = client(m);
    const before = m.emu.sentMessages().length;
    const { id: mediaId } = await wa.media.upload({
      data: Buffer.from('GIF89a-not-really'),
      mimeType: 'image/png',
      filename: 'x.png',
    });
    const inbound = m.emu.sendInbound({ type: 'text', message: { body: 'hi business' } });
    const sends: Array<[string, () => Promise<unknown>]> = [
      ['text', () => wa.messages.text({ to: TO, body: 'Hello from the SDK', previewUrl: false })],
      ['reply', () => wa.messages.text({ to: TO, body: 'a reply', replyTo: inbound.messageId })],
      ['image by id', () => wa.messages.image({ to: TO, id: mediaId, caption: 'by id' })],
      ['image by link', () => wa.messages.image({ to: TO, link: 'https://example.com/cat.jpg' })],
      ['audio', () => wa.messages.audio({ to: TO, link: 'https://example.com/a.ogg' })],
      ['video', () => wa.messages.video({ to: TO, link: 'https://example.com/v.mp4', caption: 'v' })],
      [
        'document',
        () => wa.messages.document({ to: TO, link: 'https://example.com/d.pdf', filename: 'd.pdf' }),
      ],
      ['sticker', () => wa.messages.sticker({ to: TO, link: 'https://example.com/s.webp' })],
      ['location', () => wa.messages.location({ to: TO, latitude: 37.48, longitude: -122.15, name: 'MPK' })],
      [
        'contacts',
        () =>
          wa.messages.contacts({
            to: TO,
            contacts: [{ name: { formatted_name: 'Jane Doe', first_name: 'Jane' }, phones: [{ phone: TO }] }],
          }),
      ],
      ['reaction', () => wa.messages.reaction({ to: TO, messageId: inbound.messageId, emoji: '👍' })],
      ['template', () => wa.messages.template({ to: TO, name: 'hello_world', language: 'en_US' })],
      [
        'buttons',
        () =>
          wa.messages.buttons({
            to: TO,
            body: 'Pick one',
            buttons: [
              { id: 'yes', title: 'Yes' },
              { id: 'no', title: 'No' },
            ],
          }),
      ],
      [
        'list',
        () =>
          wa.messages.list({
            to: TO,
            header: 'Menu',
            body: 'Choose',
            footer: 'Thanks',
            button: 'Open',
            sections: [{ title: 'Mains', rows: [{ id: 'r1', title: 'Soup', description: 'Hot' }] }],
          }),
      ],
      [
        'flow',
        () =>
          wa.messages.flow({
            to: TO,
            body: 'Book',
            flowCta: 'Book now',
            flowId: '1234567890',
            flowToken: 'ft',
            flowAction: 'navigate',
            flowActionPayload: { screen: 'START' },
          }),
      ],
      [
        'product',
        () =>
          wa.messages.product({
            to: TO,
            body: 'Look',
            catalogId: '367025965434465',
            productRetailerId: 'sku-1',
          }),
      ],
      [
        'product list',
        () =>
          wa.messages.productList({
            to: TO,
            header: 'Our picks',
            body: 'Two things',
            catalogId: '146265584024623',
            sections: [{ title: 'Picks', product_items: [{ product_retailer_id: 'sku-1' }] }],
          }),
      ],
      ['catalog', () => wa.messages.catalog({ to: TO, body: 'Browse', thumbnailProductRetailerId: 'sku-1' })],
      ['raw send', () => wa.messages.send({ to: TO, type: 'text', text: { body: 'raw' } })],
    ];
    for (const [label, send] of sends) {
      const res = (await send()) as { messages?: Array<{ id: string }>; contacts?: Array<{ wa_id: string }> };
      expect(res.messages?.[0]?.id, label).toMatch(/^wamid\./);
      expect(res.contacts?.[0]?.wa_id, label).toBe('16505551234');
    }
    const recorded = m.emu.sentMessages().slice(before);
    expect(recorded).toHaveLength(sends.length);
    expect(recorded.map((r) => r.type)).toEqual([
      'text',
      'text',
      'image',
      'image',
      'audio',
      'video',
      'document',
      'sticker',
      'location',
      'contacts',
      'reaction',
      'template',
      'interactive',
      'interactive',
      'interactive',
      'interactive',
      'interactive',
      'interactive',
      'text',
    ]);
    expect(recorded[0]!.body).toEqual({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: TO,
      type: 'text',
      text: { body: 'Hello from the SDK', preview_url: false },
    });
    expect(recorded[1]!.body).toMatchObject({ context: { message_id: inbound.messageId } });

    // Mark the inbound message read with a typing indicator: Graph answers { success: true }.
    expect(await wa.messages.markRead({ messageId: inbound.messageId, typing: true })).toEqual({
      success: true,
    });
  });

  // Meta's Cloud API reference documents interactive `cta_url` and `location_request_message`; the v23.0 OpenAPI
  // schema lacks both, so the emulator's extracted schema adds them (scripts/extract-spec.mjs).
  it('sends a CTA URL button (Meta accepts interactive cta_url)', async () => {
    const wa = client(mode());
    const res = await wa.messages.ctaUrl({
      to: TO,
      body: 'See',
      displayText: 'Open site',
      url: 'https://example.com',
    });
    expect(res.messages?.[0]?.id).toMatch(/^wamid\./);
  });

  it('sends a location request (Meta accepts interactive location_request_message)', async () => {
    const wa = client(mode());
    const res = await wa.messages.locationRequest({ to: TO, body: 'Where are you?' });
    expect(res.messages?.[0]?.id).toMatch(/^wamid\./);
  });

  it('media: upload, url, download (bytes intact), delete, then not found', async () => {
    const m = mode();
    const wa = client(m);
    const data = Uint8Array.from({ length: 2048 }, (_, i) => (i * 13) % 256);
    const { id } = await wa.media.upload({ data, mimeType: 'image/jpeg', filename: 'photo.jpg' });
    expect(id).toMatch(/^\d+$/);
    const meta = await wa.media.getUrl(id);
    expect(meta).toMatchObject({ id, mime_type: 'image/jpeg', messaging_product: 'whatsapp' });
    expect(Number(meta.file_size)).toBe(data.length);
    expect(meta.sha256).toBe(createHash('sha256').update(data).digest('hex'));
    expect(meta.url).toContain('/whatsapp_business/attachments/?');
    const byId = await wa.media.download(id);
    expect(Buffer.from(byId.data).equals(Buffer.from(data))).toBe(true);
    expect(byId.mimeType).toBe('image/jpeg');
    const byUrl = await wa.media.download(meta.url);
    expect(Buffer.from(byUrl.data).equals(Buffer.from(data))).toBe(true);
    expect(await wa.media.delete(id)).toEqual({ success: true });
    expect(await rejection(wa.media.getUrl(id))).toBeInstanceOf(GraphNotFoundError);
  });

  it('templates: list, create, delete', async () => {
    const m = mode();
    const wa = client(m);
    const listed = await wa.templates.list().all();
    expect(listed.map((t) => t.name)).toContain('hello_world');
    const name = `order_update_${m.name.replace('-', '_')}`;
    const created = await wa.templates.create({
      name,
      language: 'en_US',
      category: 'UTILITY',
      components: [{ type: 'BODY', text: 'Order {{1}} shipped', example: { body_text: [['42']] } }],
    });
    expect(created.id).toMatch(/^\d+$/);
    expect(created.category).toBe('UTILITY');
    const filtered = await wa.templates.list({ name }).all();
    expect(filtered.map((t) => t.name)).toEqual([name]);
    // Sending it works once created (one parameter).
    await wa.messages.template({
      to: TO,
      name,
      language: 'en_US',
      components: [{ type: 'body', parameters: [{ type: 'text', text: '42' }] }],
    });
    expect(await wa.templates.delete({ name })).toEqual({ success: true });
    expect(await wa.templates.list({ name }).all()).toEqual([]);
  });

  it('phone numbers: list and get', async () => {
    const m = mode();
    const wa = client(m);
    const seed = m.emu.seed!;
    const list = await wa.phoneNumbers.list().all();
    expect(list.map((n) => n.id)).toContain(seed.phoneNumberId);
    const one = await wa.phoneNumbers.get(seed.phoneNumberId, 'display_phone_number,verified_name');
    expect(one).toMatchObject({ id: seed.phoneNumberId, display_phone_number: seed.displayPhoneNumber });
  });

  it('business profile: get and update', async () => {
    const m = mode();
    const wa = client(m);
    expect(await wa.profile.update({ about: 'Open 9 to 5', websites: ['https://example.com'] })).toEqual({
      success: true,
    });
    const profile = await wa.profile.get('about,websites');
    expect(profile.data[0]).toMatchObject({ about: 'Open 9 to 5', websites: ['https://example.com'] });
  });

  it('registration: register, deregister, request and verify a code', async () => {
    const m = mode();
    const wa = client(m);
    const phoneId = m.emu.seed!.phoneNumberId;
    expect(await wa.registration.deregister()).toEqual({ success: true });
    expect(await wa.registration.register({ pin: '123456' })).toEqual({ success: true });
    expect(await wa.registration.requestCode({ codeMethod: 'SMS' })).toEqual({ success: true });
    const code = m.emu.state.phoneNumbers.get(phoneId)!.pendingCode!;
    expect(code).toMatch(/^\d{6}$/);
    const wrong = code === '000000' ? '111111' : '000000';
    expect(await rejection(wa.registration.verifyCode(wrong))).toHaveProperty('graphCode', 136025);
    expect(await wa.registration.verifyCode(code)).toEqual({ success: true });
    // A second code request within a minute is throttled (613).
    expect(await rejection(wa.registration.requestCode({ codeMethod: 'VOICE' }))).toBeInstanceOf(
      GraphThrottledError,
    );
    // A wrong PIN on a number that has one is Graph's 133005.
    await wa.registration.deregister();
    expect(await rejection(wa.registration.register({ pin: '654321' }))).toHaveProperty('graphCode', 133005);
    expect(await wa.registration.register({ pin: '123456' })).toEqual({ success: true });
  });

  it('subscribed_apps: list, subscribe (plain and with an override), unsubscribe', async () => {
    const m = mode();
    const wa = client(m);
    const seed = m.emu.seed!;
    const before = await wa.subscriptions.list();
    expect(before.data.map((a) => a.whatsapp_business_api_data?.id)).toContain(seed.appId);
    expect(await wa.subscriptions.unsubscribe()).toEqual({ success: true });
    expect((await wa.subscriptions.list()).data).toEqual([]);
    expect(await wa.subscriptions.subscribe()).toEqual({ success: true });
    expect((await wa.subscriptions.list()).data.map((a) => a.whatsapp_business_api_data?.id)).toEqual([
      seed.appId,
    ]);
    // An override callback: Graph verifies it with the handshake before accepting.
    const receiver = await startReceiver('override-verify-token');
    try {
      const bad = await rejection(
        wa.subscriptions.subscribe({ overrideCallbackUri: receiver.url, verifyToken: 'wrong-token' }),
      );
      expect(bad).toHaveProperty('graphCode', 2200);
      expect(
        await wa.subscriptions.subscribe({
          overrideCallbackUri: receiver.url,
          verifyToken: 'override-verify-token',
        }),
      ).toEqual({ success: true });
      expect((await wa.subscriptions.list()).data[0]?.override_callback_uri).toBe(receiver.url);
      expect(receiver.received.filter((r) => r.method === 'GET')).toHaveLength(2);
      expect(await wa.subscriptions.subscribe()).toEqual({ success: true });
      expect((await wa.subscriptions.list()).data[0]?.override_callback_uri).toBeUndefined();
    } finally {
      await receiver.close();
    }
  });

  it('appsecret_proof, classic and time-stamped, is accepted; a wrong app secret is not', async () => {
    const m = mode();
    const secret = m.emu.seed!.appSecret;
    for (const appSecretProof of ['classic', 'timestamped'] as const) {
      const wa = client(m, { WA_APP_SECRET: secret }, { appSecretProof });
      expect((await wa.phoneNumbers.list().page()).data.length).toBeGreaterThan(0);
    }
    const wrong = client(m, { WA_APP_SECRET: 'not-the-app-secret' });
    const err = await rejection(wrong.phoneNumbers.list().page());
    expect(err).toBeInstanceOf(GraphInvalidParameterError);
    expect(err.message).toMatch(/appsecret_proof/);
  });

  it('token errors are typed; updateAccessToken recovers on the next request', async () => {
    const m = mode();
    const wa = client(m, { CLOUD_API_ACCESS_TOKEN: 'EAAnotAValidEmulatorToken0123456789' });
    const err = await rejection(wa.messages.text({ to: TO, body: 'x' }));
    expect(err).toBeInstanceOf(GraphInvalidSessionError);
    expect((err as GraphInvalidSessionError).graphCode).toBe(190);
    expect((err as GraphInvalidSessionError).fbtraceId).toBeTruthy();
    wa.updateAccessToken(m.emu.seed!.accessToken);
    expect((await wa.messages.text({ to: TO, body: 'x' })).messages?.[0]?.id).toMatch(/^wamid\./);
  });

  it('a 190 with a tokenProvider retries once with the rotated token', async () => {
    const m = mode();
    let current = 'EAAexpiredOrRevokedToken0123456789abc';
    const rejected: string[] = [];
    const wa = client(
      m,
      {},
      {
        tokenProvider: {
          getToken: () => new Secret(current),
          onTokenRejected: async (token) => {
            rejected.push(token.reveal());
            current = m.emu.seed!.accessToken;
            return new Secret(current);
          },
        },
      },
    );
    expect((await wa.messages.text({ to: TO, body: 'rotated' })).messages?.[0]?.id).toMatch(/^wamid\./);
    expect(rejected).toEqual(['EAAexpiredOrRevokedToken0123456789abc']);
  });

  it('usage headers from the emulator are parsed', async () => {
    const m = mode();
    const wa = client(m);
    const first = await wa.phoneNumbers.list().page();
    expect(first.usage.businessUseCase.length).toBeGreaterThan(0);
    expect(wa.graph.lastUsage?.app).toBeDefined();
  });

  it('bad input is refused before the emulator sees anything', async () => {
    const m = mode();
    const wa = client(m);
    const before = JSON.stringify(m.emu.counters());
    await expect(wa.messages.text({ to: 'nope', body: 'x' })).rejects.toThrow(/E\.164/);
    await expect(wa.messages.text({ to: TO, body: 'x'.repeat(4097) })).rejects.toThrow(/4096/);
    expect(JSON.stringify(m.emu.counters())).toBe(before);
  });
});
