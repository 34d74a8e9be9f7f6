import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import { GraphError } from '../../src/core/graph-error.js';
import { INBOUND_TYPES } from '../../src/emulator/events.js';
import { createEmulator, type Emulator } from '../../src/emulator/index.js';
import { createFetchTransport } from '../../src/transport/fetch-transport.js';
import type { EventOfType, WebhookEvent } from '../../src/webhooks/events.js';
import { parseWebhook } from '../../src/webhooks/parse-webhook.js';
import { WhatsApp } from '../../src/whatsapp/whatsapp.js';
import { unreadFields } from '../support/unread-fields.js';

/**
 * Business-scoped user ids end to end against the emulator: sends to a BSUID through the SDK, the 2026 webhook
 * shapes (a username user with no phone number), 131062, and the fidelity fixes peer SDKs needed.
 */

const PHONE = '16505551234';
const BSUID_RE = /^US\.\d{20}$/;
let emu: Emulator;
let wa: WhatsApp;
const bodies: string[] = [];

beforeAll(() => {
  emu = createEmulator({
    seed: { recipients: [PHONE, '16505550000'], callbackUrl: 'https://receiver.test/hook' },
    webhooks: {
      fetch: async (_url, init) => {
        bodies.push(String(init?.body));
        return new Response('ok');
      },
    },
  });
  const seed = emu.seed!;
  wa = new WhatsApp({
    transport: createFetchTransport(emu.fetch),
    retry: { maxAttempts: 1 },
    configSource: {
      env: {
        CLOUD_API_ACCESS_TOKEN: seed.accessToken,
        WA_PHONE_NUMBER_ID: seed.phoneNumberId,
        WA_BUSINESS_ACCOUNT_ID: seed.wabaId,
        WA_GRAPH_URL: 'https://graph.facebook.com',
      },
      envFile: false,
    },
  });
});

afterAll(async () => {
  await wa.close();
  await emu.close();
});

/** Events of the deliveries made since `from` (an index into `bodies`). */
async function eventsSince(from: number): Promise<WebhookEvent[]> {
  await emu.flushWebhooks();
  return bodies.slice(from).flatMap((b) => parseWebhook(JSON.parse(b)));
}

async function control(
  path: string,
  body: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await emu.fetch(`http://emulator/_emulator${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function graph(
  path: string,
  body: unknown,
  token = emu.seed!.accessToken,
): Promise<{
  status: number;
  json: { error?: { code: number; message: string; error_data?: { details?: string } } };
}> {
  const res = await emu.fetch(`http://emulator/v26.0/${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as never };
}

function only<T extends WebhookEvent['type']>(events: WebhookEvent[], type: T): EventOfType<T> {
  const found = events.filter((e) => e.type === type);
  expect(found, `one ${type} event`).toHaveLength(1);
  return found[0] as EventOfType<T>;
}

describe('sending to a business-scoped user id', () => {
  it("a user's inbound message carries their BSUID; the SDK sends to it and gets user_id back, not wa_id", async () => {
    const mark = bodies.length;
    emu.sendInbound({ from: PHONE, type: 'text', message: { body: 'hi' } });
    const inbound = only(await eventsSince(mark), 'message');
    expect(inbound.user.phone).toBe(PHONE);
    expect(inbound.user.bsuid).toMatch(BSUID_RE);
    const bsuid = inbound.user.bsuid as string;

    const res = await wa.messages.text({ recipient: bsuid, body: 'hello by BSUID' });
    expect(res.contacts).toEqual([{ input: bsuid, user_id: bsuid }]);
    const byPhone = await wa.messages.text({ to: `+${PHONE}`, body: 'hello by phone' });
    expect(byPhone.contacts).toEqual([{ input: `+${PHONE}`, wa_id: PHONE }]);
    // Both given: `to` wins (Meta), the answer follows the phone path.
    const both = await wa.messages.text({ to: PHONE, recipient: bsuid, body: 'both' });
    expect(both.contacts).toEqual([{ input: PHONE, wa_id: PHONE }]);
    // The emulator delivered the BSUID send to the user behind it.
    const sent = emu.sentMessages().find((m) => m.id === res.messages?.[0]?.id);
    expect(sent).toMatchObject({ waId: PHONE, userId: bsuid, sentTo: 'bsuid' });
  });

  it('the BSUID is stable per business portfolio and differs in another portfolio', async () => {
    const other = emu.world.createBusiness({ name: 'Other portfolio' });
    const view = await emu.fetch(`http://emulator/_emulator/whatsapp-users/${PHONE}`);
    const { bsuids } = (await view.json()) as { bsuids: Record<string, string> };
    const mine = bsuids[emu.state.wabas.get(emu.seed!.wabaId)!.businessId];
    expect(mine).toMatch(BSUID_RE);
    expect(bsuids[other.id]).toMatch(BSUID_RE);
    expect(bsuids[other.id]).not.toBe(mine);
    const again = createEmulator({ seed: false });
    try {
      // Another emulator (or a restart) derives the same id for the same portfolio and phone number.
      again.world.createBusiness({ id: other.id });
      const res = await again.fetch(`http://emulator/_emulator/whatsapp-users/${PHONE}`);
      expect(((await res.json()) as { bsuids: Record<string, string> }).bsuids[other.id]).toBe(
        bsuids[other.id],
      );
    } finally {
      await again.close();
    }
  });

  it('refuses a malformed recipient before any request (SDK) and with a Graph 100 (emulator)', async () => {
    const before = emu.sentMessages().length;
    await expect(wa.messages.text({ recipient: '16505551234', body: 'x' })).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(wa.messages.text({ body: 'nobody' })).rejects.toThrow(/needs "to"/);
    const raw = await graph(`${emu.seed!.phoneNumberId}/messages`, {
      messaging_product: 'whatsapp',
      recipient: 'not-a-bsuid',
      type: 'text',
      text: { body: 'x' },
    });
    expect(raw.status).toBe(400);
    expect(raw.json.error?.error_data?.details).toContain('business-scoped user id');
    const neither = await graph(`${emu.seed!.phoneNumberId}/messages`, {
      messaging_product: 'whatsapp',
      type: 'text',
      text: { body: 'x' },
    });
    expect(neither.json.error?.message).toBe('(#100) The parameter to is required.');
    expect(emu.sentMessages()).toHaveLength(before);
  });

  it('answers 131062 for a one-tap, zero-tap or copy-code authentication template sent to a BSUID', async () => {
    const bsuid = emu.sentMessages().find((m) => m.userId)!.userId as string;
    emu.world.createTemplate({
      wabaId: emu.seed!.wabaId,
      name: 'login_code',
      language: 'en_US',
      category: 'AUTHENTICATION',
      components: [
        { type: 'BODY', text: '{{1}} is your verification code.' },
        { type: 'BUTTONS', buttons: [{ type: 'OTP', otp_type: 'COPY_CODE', text: 'Copy code' }] },
      ],
    });
    const template = {
      name: 'login_code',
      language: 'en_US',
      components: [{ type: 'body' as const, parameters: [{ type: 'text' as const, text: '123456' }] }],
    };
    const err = await wa.messages.template({ recipient: bsuid, ...template }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GraphError);
    expect((err as GraphError).graphCode).toBe(131062);
    expect((err as GraphError).httpStatus).toBe(400);
    const ok = await wa.messages.template({ to: PHONE, ...template });
    expect(ok.contacts?.[0]?.wa_id).toBe(PHONE);
  });
});

describe('a username user (no phone number in webhooks)', () => {
  const USER = '16505550000';

  it('inbound messages and statuses carry only the BSUID and the username; the business replies by BSUID', async () => {
    const made = await control('/whatsapp-users', { phone: USER, username: 'ana.sousa', name: 'Ana' });
    expect(made.status).toBe(201);
    expect(made.json.withhold_phone).toBe(true);
    await emu.flushWebhooks();
    const mark = bodies.length;
    emu.sendInbound({ from: USER, type: 'text', message: { body: 'olá' } });
    await emu.flushWebhooks();
    const raw = JSON.parse(bodies.slice(mark).find((b) => b.includes('"messages"')) ?? '{}');
    const value = raw.entry[0].changes[0].value;
    expect(value.messages[0].from).toBeUndefined();
    expect(value.contacts[0].wa_id).toBeUndefined();
    expect(value.contacts[0].profile).toEqual({ name: 'Ana', username: 'ana.sousa' });
    const inbound = only(await eventsSince(mark), 'message');
    expect(inbound.user).toEqual({
      phone: undefined,
      bsuid: expect.stringMatching(BSUID_RE),
      parentBsuid: undefined,
      username: 'ana.sousa',
      name: 'Ana',
    });

    const statusMark = bodies.length;
    const res = await wa.messages.text({ recipient: inbound.user.bsuid as string, body: 'obrigado' });
    expect(res.contacts).toEqual([{ input: inbound.user.bsuid, user_id: inbound.user.bsuid }]);
    await emu.clock.advance(5_000);
    const statuses = (await eventsSince(statusMark)).filter(
      (e): e is EventOfType<'status'> => e.type === 'status' && e.id === res.messages?.[0]?.id,
    );
    expect(statuses.map((s) => s.status)).toEqual(['sent', 'delivered', 'read']);
    for (const s of statuses) {
      expect(s.recipientId).toBeUndefined();
      expect(s.recipientUserId).toBe(inbound.user.bsuid);
      expect(s.user.bsuid).toBe(inbound.user.bsuid);
      expect(s.user.phone).toBeUndefined();
    }
    // The username shows on delivered and read, not on sent (Meta's BSUID guide).
    expect(statuses.map((s) => s.user.username)).toEqual([undefined, 'ana.sousa', 'ana.sousa']);
  });

  it('a failed status of a send to a phone number has no contacts and no recipient_user_id', async () => {
    const sent = await wa.messages.text({ to: PHONE, body: 'will fail' });
    const mark = bodies.length;
    const failed = await control('/webhooks/status', {
      message_id: sent.messages?.[0]?.id,
      status: 'failed',
    });
    expect(failed.status).toBe(200);
    const value = (failed.json.payload_value ?? {}) as Record<string, unknown>;
    expect(value.contacts).toBeUndefined();
    const status = (value.statuses as Array<Record<string, unknown>>)[0];
    expect(status?.recipient_id).toBe(PHONE);
    expect(status?.recipient_user_id).toBeUndefined();
    expect(only(await eventsSince(mark), 'status').user.phone).toBe(PHONE);
  });

  it('parent BSUIDs, once a portfolio enables them, appear on contacts and messages', async () => {
    const business = emu.state.wabas.get(emu.seed!.wabaId)!.businessId;
    expect((await control(`/businesses/${business}/parent-bsuids`, { enabled: true })).status).toBe(200);
    const mark = bodies.length;
    emu.sendInbound({ from: PHONE, type: 'text', message: { body: 'parent?' } });
    const e = only(await eventsSince(mark), 'message');
    expect(e.user.parentBsuid).toMatch(/^US\.ENT\.\d{20}$/);
    expect(e.message.fromParentUserId).toBe(e.user.parentBsuid);
    // A send to the parent BSUID reaches the same user.
    const res = await wa.messages.text({ recipient: e.user.parentBsuid as string, body: 'via parent' });
    expect(res.contacts?.[0]?.user_id).toBe(e.user.bsuid);
    await control(`/businesses/${business}/parent-bsuids`, { enabled: false });
  });

  it('a username user survives a restart from the state file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wacloud-bsuid-'));
    const stateFile = join(dir, 'emulator.json');
    const captured: string[] = [];
    const make = () =>
      createEmulator({
        stateFile,
        seed: { recipients: ['16505557777'], callbackUrl: 'https://receiver.test/hook' },
        webhooks: {
          fetch: async (_u, init) => {
            captured.push(String(init?.body));
            return new Response('ok');
          },
        },
      });
    try {
      const first = make();
      await first.fetch('http://emulator/_emulator/whatsapp-users', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ phone: '16505557777', username: 'kept.user' }),
      });
      await first.close();
      const second = make();
      try {
        second.sendInbound({ from: '16505557777', type: 'text', message: { body: 'after restart' } });
        await second.flushWebhooks();
        const e = parseWebhook(JSON.parse(captured.at(-1) ?? '{}')).find((x) => x.type === 'message');
        expect(e?.user).toMatchObject({
          phone: undefined,
          username: 'kept.user',
          bsuid: expect.stringMatching(BSUID_RE),
        });
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses bad control input without changing anything', async () => {
    expect((await control('/whatsapp-users', { phone: 'abc' })).status).toBe(400);
    expect((await control('/whatsapp-users', { phone: '15550001111', username: 'a b' })).status).toBe(400);
    expect((await control('/whatsapp-users', { phone: '15550001111', withhold_phone: 'yes' })).status).toBe(
      400,
    );
    expect(emu.state.waUsers.has('15550001111')).toBe(false);
    expect((await control('/businesses/999/parent-bsuids', {})).status).toBe(404);
  });
});

describe('every webhook the emulator emits parses with no field unknown', () => {
  it('inbound messages of every type, statuses, template updates and change errors', async () => {
    const mark = bodies.length;
    for (const type of INBOUND_TYPES) {
      const message =
        type === 'text'
          ? { body: 'x' }
          : type === 'location'
            ? { latitude: 1, longitude: 2 }
            : type === 'reaction'
              ? { message_id: 'wamid.X', emoji: '👍' }
              : type === 'button'
                ? { text: 'Yes', payload: 'yes' }
                : type === 'interactive'
                  ? { type: 'button_reply', button_reply: { id: 'b1', title: 'Yes' } }
                  : type === 'order'
                    ? {
                        catalog_id: '1',
                        product_items: [
                          { product_retailer_id: 'p', quantity: 1, item_price: 2, currency: 'USD' },
                        ],
                      }
                    : type === 'system'
                      ? { body: 'changed', type: 'user_changed_number', wa_id: '16505559999' }
                      : type === 'unsupported'
                        ? { type: 'edit' }
                        : type === 'contacts'
                          ? undefined
                          : {};
      emu.sendInbound({
        from: '16505550000',
        type,
        ...(message ? { message } : {}),
        contextMessageId: 'wamid.CTX',
      });
    }
    await control('/webhooks/inbound', {
      from: PHONE,
      type: 'contacts',
      contacts: [
        { name: { formatted_name: 'A B', first_name: 'A' }, phones: [{ phone: '+1 650', type: 'CELL' }] },
      ],
    });
    const sent = await wa.messages.text({ to: PHONE, body: 'statuses' });
    await emu.clock.advance(5_000);
    await control('/webhooks/status', {
      message_id: sent.messages?.[0]?.id,
      status: 'failed',
      errors: [{ code: 131026 }],
    });
    await control('/webhooks/errors', { errors: [{ code: 130429, title: 'Rate limit hit' }] });
    const t = emu.world.createTemplate({ wabaId: emu.seed!.wabaId, name: 'promo', language: 'en_US' });
    await emu.fetch(`http://emulator/_emulator/templates/${t.id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ status: 'REJECTED', reason: 'INVALID_FORMAT' }),
    });
    const changed = await control('/whatsapp-users/16505552222/change-number', { new_phone: '16505553333' });
    expect(changed.status).toBe(200);
    await emu.flushWebhooks();
    const delivered = bodies.slice(mark);
    const events = delivered.flatMap((b) => parseWebhook(JSON.parse(b)));
    const update = only(events, 'user_id_update');
    const view = async (p: string) =>
      (
        (await (await emu.fetch(`http://emulator/_emulator/whatsapp-users/${p}`)).json()) as {
          bsuids: Record<string, string>;
        }
      ).bsuids[emu.state.wabas.get(emu.seed!.wabaId)!.businessId];
    expect(update).toMatchObject({
      previousUserId: await view('16505552222'),
      userId: await view('16505553333'),
    });
    expect(update.user).toMatchObject({ phone: '16505553333', bsuid: await view('16505553333') });
    const numberChange = events.filter(
      (e) =>
        e.type === 'message' && e.message.type === 'system' && e.message.system.newWaId === '16505553333',
    );
    expect(numberChange).toHaveLength(1);
    expect(numberChange[0]?.user?.bsuid).toBe(update.previousUserId);
    expect(delivered.length).toBeGreaterThan(INBOUND_TYPES.length);
    const problems: Array<{ body: string; fields: string[] }> = [];
    for (const body of delivered) {
      const payload = JSON.parse(body) as unknown;
      const fields = unreadFields(payload, parseWebhook).filter(
        (f) => f !== 'object' && f !== 'entry[].changes[].value.messaging_product',
      );
      if (fields.length) problems.push({ body: body.slice(0, 200), fields });
      expect(parseWebhook(payload).filter((e) => e.type === 'unknown')).toEqual([]);
    }
    expect(problems).toEqual([]);
  });
});

describe('fidelity fixes found by peer SDKs', () => {
  const send = (body: Record<string, unknown>) =>
    graph(`${emu.seed!.phoneNumberId}/messages`, { messaging_product: 'whatsapp', to: PHONE, ...body });

  it('refuses what Meta refuses: empty text, long captions, reactions without message_id, locations without latitude', async () => {
    const before = emu.sentMessages().length;
    const empty = await send({ type: 'text', text: { body: '' } });
    expect(empty.status).toBe(400);
    expect(empty.json.error?.message).toContain("text['body']");
    const caption = await send({
      type: 'image',
      image: { link: 'https://x.test/a.jpg', caption: 'c'.repeat(1025) },
    });
    expect(caption.json.error?.message).toBe(
      "(#100) Param image['caption'] must be at most 1024 characters long.",
    );
    const reaction = await send({ type: 'reaction', reaction: { emoji: '👍' } });
    expect(reaction.json.error?.message).toBe("(#100) The parameter reaction['message_id'] is required.");
    const location = await send({ type: 'location', location: { longitude: 2 } });
    expect(location.json.error?.message).toBe("(#100) The parameter location['latitude'] is required.");
    expect(emu.sentMessages()).toHaveLength(before);
    expect(
      (await send({ type: 'image', image: { link: 'https://x.test/a.jpg', caption: 'c'.repeat(1024) } }))
        .status,
    ).toBe(200);
  });

  it('refuses an app access token on WhatsApp Business endpoints', async () => {
    const seed = emu.seed!;
    const appToken = `${seed.appId}|${seed.appSecret}`;
    const res = await graph(
      `${seed.phoneNumberId}/messages`,
      { messaging_product: 'whatsapp', to: PHONE, text: { body: 'x' } },
      appToken,
    );
    expect(res.status).toBe(403);
    expect(res.json.error?.code).toBe(200);
    const list = await emu.fetch(`http://emulator/v26.0/${seed.wabaId}/message_templates`, {
      headers: { authorization: `Bearer ${appToken}` },
    });
    expect(list.status).toBe(403);
  });

  it('media upload reads parameters from the query string and accepts video/3gp; templates list parameter_format', async () => {
    const seed = emu.seed!;
    const form = new FormData();
    form.set(
      'file',
      new Blob([new Uint8Array([0, 0, 0, 24, 102, 116, 121, 112])], { type: 'video/3gp' }),
      'clip.3gp',
    );
    const res = await emu.fetch(
      `http://emulator/v26.0/${seed.phoneNumberId}/media?messaging_product=whatsapp&type=video/3gp`,
      {
        method: 'POST',
        headers: { authorization: `Bearer ${seed.accessToken}` },
        body: form,
      },
    );
    expect(res.status).toBe(200);
    const { id } = (await res.json()) as { id: string };
    expect(emu.state.media.get(id)?.mimeType).toBe('video/3gp');
    const list = await emu.fetch(`http://emulator/v26.0/${seed.wabaId}/message_templates`, {
      headers: { authorization: `Bearer ${seed.accessToken}` },
    });
    const { data } = (await list.json()) as { data: Array<{ parameter_format?: string }> };
    expect(data.length).toBeGreaterThan(0);
    for (const t of data) expect(t.parameter_format).toMatch(/^(POSITIONAL|NAMED)$/);
  });

  it('media URLs on a configured https origin, downloadable through it', async () => {
    const other = createEmulator({ mediaUrlOrigin: 'https://lookaside.fbsbx.com' });
    try {
      const seed = other.seed!;
      const form = new FormData();
      form.set('messaging_product', 'whatsapp');
      form.set('file', new Blob([new Uint8Array([1, 2, 3])], { type: 'image/jpeg' }), 'a.jpg');
      const up = await other.fetch(`http://emulator/v26.0/${seed.phoneNumberId}/media`, {
        method: 'POST',
        headers: { authorization: `Bearer ${seed.accessToken}` },
        body: form,
      });
      const { id } = (await up.json()) as { id: string };
      const meta = await other.fetch(`http://emulator/v26.0/${id}`, {
        headers: { authorization: `Bearer ${seed.accessToken}` },
      });
      const { url } = (await meta.json()) as { url: string };
      expect(url.startsWith('https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=')).toBe(true);
      const file = await other.fetch(url, { headers: { authorization: `Bearer ${seed.accessToken}` } });
      expect(file.status).toBe(200);
      expect([...new Uint8Array(await file.arrayBuffer())]).toEqual([1, 2, 3]);
    } finally {
      await other.close();
    }
    expect(() => createEmulator({ mediaUrlOrigin: 'lookaside' })).toThrow(/mediaUrlOrigin/);
  });
});
