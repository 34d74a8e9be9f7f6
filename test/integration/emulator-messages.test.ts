import { afterEach, describe, expect, it } from 'vitest';
import {
  createEmulator,
  type Emulator,
  exampleTemplates,
  messageExamples,
} from '../../src/emulator/index.js';
import { call } from './emulator-support.js';

let emu: Emulator;
afterEach(async () => {
  await emu?.close();
});

const path = (e: Emulator) => `/v23.0/${e.seed!.phoneNumberId}/messages`;
const text = (to: string, body = 'hello') => ({
  messaging_product: 'whatsapp',
  to,
  type: 'text',
  text: { body },
});

/** Creates the templates the spec's examples name, through the Graph API like a client would. */
async function createExampleTemplates(e: Emulator) {
  for (const t of exampleTemplates()) {
    if (t.name === 'hello_world') continue;
    const placeholders = Array.from({ length: t.bodyParams }, (_, i) => `{{${i + 1}}}`).join(' ');
    const components = [{ type: 'BODY', text: `Example ${placeholders}`.trim() }];
    if (!/^[a-z0-9_]+$/.test(t.name)) {
      // A placeholder name such as "<TEMPLATE_NAME>" cannot be created through Graph: seed it directly.
      e.world.createTemplate({ wabaId: e.seed!.wabaId, name: t.name, language: t.language, components });
      continue;
    }
    const res = await call(e, 'POST', `/v23.0/${e.seed!.wabaId}/message_templates`, {
      token: e.seed!.accessToken,
      body: {
        name: t.name,
        language: t.language,
        category: 'UTILITY',
        components,
      },
    });
    expect(res.status, `${t.name}: ${JSON.stringify(res.json)}`).toBe(200);
    expect(res.json.status).toBe('APPROVED');
  }
}

describe('POST /{phone-number-id}/messages', () => {
  it("accepts every request example in Meta's OpenAPI spec", async () => {
    // One example sends to 16315555555 literally: put it on the test number's allow-list too.
    emu = createEmulator({
      throughput: { pairRate: false },
      seed: { recipients: ['16505551234', '16315555555'] },
    });
    await createExampleTemplates(emu);
    const examples = messageExamples(emu.seed!.recipient);
    expect(examples).toHaveLength(50);
    for (const { name, body } of examples) {
      const res = await call(emu, 'POST', path(emu), { token: emu.seed!.accessToken, body });
      expect(res.status, `${name}: ${JSON.stringify(res.json)}`).toBe(200);
      if (body.status === 'read') expect(res.json).toEqual({ success: true });
      else expect(res.json.messages[0].id, name).toMatch(/^wamid\./);
    }
  });

  it('rejects malformed bodies with code 100 and a message that names the field', async () => {
    emu = createEmulator();
    const to = emu.seed!.recipient;
    const cases: Array<[unknown, RegExp]> = [
      [{ to, type: 'text', text: { body: 'x' } }, /messaging_product/],
      [{ messaging_product: 'sms', to, type: 'text', text: { body: 'x' } }, /messaging_product/],
      [{ messaging_product: 'whatsapp', type: 'text', text: { body: 'x' } }, /\bto\b/],
      [{ messaging_product: 'whatsapp', to, type: 'text' }, /text/],
      [{ messaging_product: 'whatsapp', to, type: 'text', text: {} }, /text\['body'\]/],
      [{ messaging_product: 'whatsapp', to, type: 'text', text: { body: 7 } }, /text\['body'\]/],
      [{ messaging_product: 'whatsapp', to, type: 'text', text: { body: 'x', colour: 'red' } }, /colour/],
      [{ messaging_product: 'whatsapp', to, type: 'carrier_pigeon' }, /type/],
      [{ messaging_product: 'whatsapp', to, type: 'image', image: {} }, /image/],
      [
        { messaging_product: 'whatsapp', to, type: 'image', image: { id: '1', link: 'https://x/y.jpg' } },
        /image/,
      ],
      [
        { messaging_product: 'whatsapp', to, type: 'template', template: { name: 'hello_world' } },
        /language/,
      ],
      [
        {
          messaging_product: 'whatsapp',
          to,
          type: 'interactive',
          interactive: { type: 'button', body: { text: 'x' } },
        },
        /action/,
      ],
      [
        {
          messaging_product: 'whatsapp',
          to,
          type: 'location',
          location: { latitude: 'x', longitude: 1, extra: true },
        },
        /extra/,
      ],
      [
        {
          messaging_product: 'whatsapp',
          to,
          type: 'reaction',
          reaction: { message_id: 'wamid.X', emoji: 5 },
        },
        /emoji/,
      ],
      [
        { messaging_product: 'whatsapp', to, recipient_type: 'crowd', type: 'text', text: { body: 'x' } },
        /recipient_type/,
      ],
      [
        { messaging_product: 'whatsapp', to, type: 'text', text: { body: 'x'.repeat(4097) } },
        /text\['body'\]/,
      ],
      [[], /messaging_product/],
    ];
    for (const [body, field] of cases) {
      const res = await call(emu, 'POST', path(emu), { token: emu.seed!.accessToken, body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.error.code, JSON.stringify(body)).toBe(100);
      const said = `${res.json.error.message} ${res.json.error.error_data?.details ?? ''}`;
      expect(said, JSON.stringify(body)).toMatch(field);
      expect(res.json.error.fbtrace_id).toMatch(/^[\w-]{11}$/);
    }
    const notJson = await call(emu, 'POST', path(emu), {
      token: emu.seed!.accessToken,
      body: '{"messaging_product":',
    });
    expect(notJson.status).toBe(400);
    expect(notJson.json.error).toMatchObject({ code: 100, message: '(#100) Invalid JSON in request body' });
    expect(emu.sentMessages()).toHaveLength(0);
  });

  it('test numbers only deliver to their allow-list (131030)', async () => {
    emu = createEmulator();
    const res = await call(emu, 'POST', path(emu), {
      token: emu.seed!.accessToken,
      body: text('+49 151 1234 5678'),
    });
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe(131030);
    expect(res.json.error.error_data).toEqual({
      messaging_product: 'whatsapp',
      details:
        'Recipient phone number not in allowed list: Add recipient phone number to recipient list and try again.',
    });
    // A formatted number on the list is fine; input is echoed, wa_id is digits.
    const ok = await call(emu, 'POST', path(emu), {
      token: emu.seed!.accessToken,
      body: text('+1 (650) 555-1234'),
    });
    expect(ok.status).toBe(200);
    expect(ok.json.contacts).toEqual([{ input: '+1 (650) 555-1234', wa_id: '16505551234' }]);
  });

  it('per-number throughput: beyond mps → 130429 (429); pair rate → 131056', async () => {
    emu = createEmulator({ clock: { frozen: true }, throughput: { mps: 5, pairRate: false } });
    const codes: number[] = [];
    for (let i = 0; i < 7; i++) {
      const res = await call(emu, 'POST', path(emu), {
        token: emu.seed!.accessToken,
        body: text(emu.seed!.recipient),
      });
      codes.push(res.status === 200 ? 200 : res.json.error.code);
      if (res.status !== 200) expect(res.status).toBe(429);
    }
    expect(codes).toEqual([200, 200, 200, 200, 200, 130429, 130429]);
    await emu.clock.advance(1_000);
    expect(
      (await call(emu, 'POST', path(emu), { token: emu.seed!.accessToken, body: text(emu.seed!.recipient) }))
        .status,
    ).toBe(200);
    await emu.close();

    emu = createEmulator({ clock: { frozen: true }, throughput: { pairRate: { burst: 2, perSec: 1 / 6 } } });
    const pair: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await call(emu, 'POST', path(emu), {
        token: emu.seed!.accessToken,
        body: text(emu.seed!.recipient),
      });
      pair.push(res.status === 200 ? 200 : res.json.error.code);
    }
    expect(pair).toEqual([200, 200, 131056]);
    await emu.clock.advance(6_000);
    expect(
      (await call(emu, 'POST', path(emu), { token: emu.seed!.accessToken, body: text(emu.seed!.recipient) }))
        .status,
    ).toBe(200);
  });

  it('templates must exist, be approved, and get the right number of body parameters', async () => {
    emu = createEmulator();
    const tpl = (name: string, params?: string[]) => ({
      messaging_product: 'whatsapp',
      to: emu.seed!.recipient,
      type: 'template',
      template: {
        name,
        language: { code: 'en_US' },
        ...(params
          ? { components: [{ type: 'body', parameters: params.map((t) => ({ type: 'text', text: t })) }] }
          : {}),
      },
    });
    const missing = await call(emu, 'POST', path(emu), { token: emu.seed!.accessToken, body: tpl('nope') });
    expect(missing.status).toBe(400);
    expect(missing.json.error.code).toBe(132001);
    expect(missing.json.error.error_data.details).toBe('template name (nope) does not exist in en_US');
    emu.world.createTemplate({
      wabaId: emu.seed!.wabaId,
      name: 'order_ready',
      language: 'en_US',
      components: [{ type: 'BODY', text: 'Hi {{1}}, order {{2}} is ready' }],
    });
    const wrong = await call(emu, 'POST', path(emu), {
      token: emu.seed!.accessToken,
      body: tpl('order_ready', ['Ana']),
    });
    expect(wrong.status).toBe(400);
    expect(wrong.json.error.code).toBe(132000);
    const right = await call(emu, 'POST', path(emu), {
      token: emu.seed!.accessToken,
      body: tpl('order_ready', ['Ana', '42']),
    });
    expect(right.status).toBe(200);
    expect(right.json.messages[0].message_status).toBe('accepted');
  });

  it('accepts form-encoded bodies and a token in the query, as Graph does', async () => {
    emu = createEmulator();
    const res = await emu.fetch(`http://emulator${path(emu)}?access_token=${emu.seed!.accessToken}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        messaging_product: 'whatsapp',
        to: emu.seed!.recipient,
        type: 'text',
        text: JSON.stringify({ body: 'form' }),
      }).toString(),
    });
    expect(res.status).toBe(200);
    expect(emu.sentMessages()[0]?.body).toMatchObject({ text: { body: 'form' } });
  });

  it('bounds request bodies (413) whatever Content-Length says', async () => {
    emu = createEmulator({ maxBodyBytes: 1_000 });
    const big = text(emu.seed!.recipient, 'x'.repeat(2_000));
    const res = await call(emu, 'POST', path(emu), { token: emu.seed!.accessToken, body: big });
    expect(res.status).toBe(413);
    expect(res.json.error.code).toBe(100);
    // A streamed body without Content-Length is cut off too.
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 10; i++) controller.enqueue(new TextEncoder().encode('x'.repeat(500)));
        controller.close();
      },
    });
    const streamed = await emu.fetch(`http://emulator${path(emu)}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${emu.seed!.accessToken}`, 'content-type': 'application/json' },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);
  });

  it('unknown phone number ids get Graph\'s "Unsupported post request" (100/33)', async () => {
    emu = createEmulator();
    const res = await call(emu, 'POST', '/v23.0/999999999999999/messages', {
      token: emu.seed!.accessToken,
      body: text('1'),
    });
    expect(res.status).toBe(400);
    expect(res.json.error).toMatchObject({ code: 100, error_subcode: 33, type: 'GraphMethodException' });
    expect(res.json.error.message).toMatch(
      /^Unsupported post request\. Object with ID '999999999999999' does not exist/,
    );
  });
});

describe("interactive types from Meta's reference that the v23.0 spec lacks", () => {
  it('accepts cta_url and location_request_message, and checks their actions', async () => {
    emu = createEmulator({ throughput: { pairRate: false } });
    const to = emu.seed!.recipient;
    const send = (interactive: unknown) =>
      call(emu, 'POST', path(emu), {
        token: emu.seed!.accessToken,
        body: { messaging_product: 'whatsapp', to, type: 'interactive', interactive },
      });
    const cta = await send({
      type: 'cta_url',
      body: { text: 'See our site' },
      action: { name: 'cta_url', parameters: { display_text: 'Open', url: 'https://example.com' } },
    });
    expect(cta.status).toBe(200);
    const location = await send({
      type: 'location_request_message',
      body: { text: 'Where are you?' },
      action: { name: 'send_location' },
    });
    expect(location.status).toBe(200);
    const noUrl = await send({
      type: 'cta_url',
      body: { text: 'x' },
      action: { name: 'cta_url', parameters: { display_text: 'Open' } },
    });
    expect(noUrl.status).toBe(400);
    expect(noUrl.json.error.message).toMatch(/url/);
  });
});
