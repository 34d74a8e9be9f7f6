import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createEmulator, type Emulator } from '../../src/emulator/index.js';
import { call } from './emulator-support.js';

let emu: Emulator;
afterEach(async () => {
  await emu?.close();
});

function upload(
  e: Emulator,
  file: Blob,
  fields: Record<string, string> = { messaging_product: 'whatsapp', type: file.type },
) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.set(k, v);
  form.set('file', file, 'upload.bin');
  return e.fetch(`http://emulator/v23.0/${e.seed!.phoneNumberId}/media`, {
    method: 'POST',
    headers: { authorization: `Bearer ${e.seed!.accessToken}` },
    body: form,
  });
}

describe('WhatsApp endpoints', () => {
  it('media: upload, URL, download with the token, URL expiry, delete', async () => {
    emu = createEmulator();
    const seed = emu.seed!;
    const bytes = Buffer.from('%PDF-1.4 emulated');
    const up = await upload(emu, new Blob([bytes], { type: 'application/pdf' }));
    expect(up.status).toBe(200);
    const { id } = (await up.json()) as { id: string };
    expect(id).toMatch(/^\d{16}$/);

    const meta = await call(emu, 'GET', `/v23.0/${id}?phone_number_id=${seed.phoneNumberId}`, {
      token: seed.accessToken,
    });
    expect(meta.json).toEqual({
      url: expect.stringMatching(
        /^http:\/\/emulator\/whatsapp_business\/attachments\/\?mid=\d+&ext=\d+&hash=/,
      ),
      mime_type: 'application/pdf',
      sha256: createHash('sha256').update(bytes).digest('hex'),
      file_size: bytes.length,
      id,
      messaging_product: 'whatsapp',
    });
    const noToken = await emu.fetch(meta.json.url);
    expect(noToken.status).toBe(401);
    const dl = await emu.fetch(meta.json.url, { headers: { authorization: `Bearer ${seed.accessToken}` } });
    expect(dl.headers.get('content-type')).toBe('application/pdf');
    expect(Buffer.from(await dl.arrayBuffer()).equals(bytes)).toBe(true);
    await emu.clock.advance(5 * 60_000 + 1_000);
    expect(
      (await emu.fetch(meta.json.url, { headers: { authorization: `Bearer ${seed.accessToken}` } })).status,
    ).toBe(404);

    expect((await call(emu, 'DELETE', `/v23.0/${id}`, { token: seed.accessToken })).json).toEqual({
      success: true,
    });
    expect(
      (await call(emu, 'GET', `/v23.0/${id}`, { token: seed.accessToken })).json.error.error_subcode,
    ).toBe(33);
  });

  it('media: rejects a missing file, an unsupported type and oversized images', async () => {
    emu = createEmulator();
    const bad = await upload(emu, new Blob(['x'], { type: 'application/x-msdownload' }));
    expect(bad.status).toBe(400);
    expect(
      ((await bad.json()) as { error: { error_data: { details: string } } }).error.error_data.details,
    ).toMatch(/MIME type/);
    const noProduct = await upload(emu, new Blob(['x'], { type: 'image/png' }), { type: 'image/png' });
    expect(((await noProduct.json()) as { error: { message: string } }).error.message).toMatch(
      /messaging_product/,
    );
    const huge = await upload(emu, new Blob([Buffer.alloc(6 << 20)], { type: 'image/jpeg' }));
    expect(((await huge.json()) as { error: { code: number } }).error.code).toBe(131053);
    const notMultipart = await call(emu, 'POST', `/v23.0/${emu.seed!.phoneNumberId}/media`, {
      token: emu.seed!.accessToken,
      body: { messaging_product: 'whatsapp', file: '@/local/path/file.ogg;type=ogg' },
    });
    expect(notMultipart.json.error.message).toMatch(/file/);
  });

  it('templates: create, list with filters and paging, get, edit, delete; duplicates refused', async () => {
    emu = createEmulator({ templateApproval: { status: 'APPROVED', delayMs: 60_000 } });
    const seed = emu.seed!;
    const base = `/v23.0/${seed.wabaId}/message_templates`;
    const created = await call(emu, 'POST', base, {
      token: seed.accessToken,
      body: {
        name: 'order_update',
        language: 'en_US',
        category: 'utility',
        components: [{ type: 'BODY', text: 'Order {{1}} is ready', example: { body_text: [['42']] } }],
      },
    });
    expect(created.json).toEqual({ id: expect.any(String), status: 'PENDING', category: 'UTILITY' });
    const dup = await call(emu, 'POST', base, {
      token: seed.accessToken,
      body: {
        name: 'order_update',
        language: 'en_US',
        category: 'UTILITY',
        components: [{ type: 'BODY', text: 'x' }],
      },
    });
    expect(dup.json.error).toMatchObject({ code: 100, error_subcode: 2388024 });
    const badName = await call(emu, 'POST', base, {
      token: seed.accessToken,
      body: {
        name: 'Order Update',
        language: 'en_US',
        category: 'UTILITY',
        components: [{ type: 'BODY', text: 'x' }],
      },
    });
    expect(badName.json.error.error_data.details).toMatch(/name/);
    await emu.clock.advance(60_000);
    const got = await call(emu, 'GET', `/v23.0/${created.json.id}`, { token: seed.accessToken });
    expect(got.json).toMatchObject({ name: 'order_update', status: 'APPROVED', language: 'en_US' });
    const list = await call(emu, 'GET', `${base}?limit=1`, { token: seed.accessToken });
    expect(list.json.data).toHaveLength(1);
    const next = await call(emu, 'GET', `${base}?limit=1&after=${list.json.paging.cursors.after}`, {
      token: seed.accessToken,
    });
    expect(next.json.data[0].name).not.toBe(list.json.data[0].name);
    const filtered = await call(emu, 'GET', `${base}?name=hello_world&fields=name,status`, {
      token: seed.accessToken,
    });
    expect(filtered.json.data).toEqual([{ name: 'hello_world', status: 'APPROVED', id: expect.any(String) }]);
    const edit = await call(emu, 'POST', `/v23.0/${created.json.id}`, {
      token: seed.accessToken,
      body: { components: [{ type: 'BODY', text: 'Order {{1}} shipped', example: { body_text: [['42']] } }] },
    });
    expect(edit.json).toEqual({ success: true });
    expect(
      (await call(emu, 'DELETE', `${base}?name=order_update`, { token: seed.accessToken })).json,
    ).toEqual({ success: true });
    expect((await call(emu, 'DELETE', `${base}?name=order_update`, { token: seed.accessToken })).status).toBe(
      400,
    );
  });

  it('phone numbers, WABA and business profile', async () => {
    emu = createEmulator();
    const seed = emu.seed!;
    const numbers = await call(emu, 'GET', `/v23.0/${seed.wabaId}/phone_numbers`, {
      token: seed.accessToken,
    });
    expect(numbers.json.data).toHaveLength(1);
    expect(numbers.json.data[0]).toMatchObject({
      id: seed.phoneNumberId,
      display_phone_number: '+1 555-078-3881',
      verified_name: 'Test Number',
      quality_rating: 'GREEN',
      code_verification_status: 'VERIFIED',
      platform_type: 'CLOUD_API',
      throughput: { level: 'STANDARD' },
    });
    const one = await call(
      emu,
      'GET',
      `/v23.0/${seed.phoneNumberId}?fields=display_phone_number,quality_rating`,
      { token: seed.accessToken },
    );
    expect(one.json).toEqual({
      display_phone_number: '+1 555-078-3881',
      quality_rating: 'GREEN',
      id: seed.phoneNumberId,
    });
    const waba = await call(emu, 'GET', `/v23.0/${seed.wabaId}`, { token: seed.accessToken });
    expect(waba.json).toMatchObject({ id: seed.wabaId, currency: 'USD' });

    const profilePath = `/v23.0/${seed.phoneNumberId}/whatsapp_business_profile`;
    const update = await call(emu, 'POST', profilePath, {
      token: seed.accessToken,
      body: {
        messaging_product: 'whatsapp',
        about: 'We sell bread',
        email: 'hi@bakery.example',
        websites: ['https://bakery.example'],
      },
    });
    expect(update.json).toEqual({ success: true });
    const profile = await call(emu, 'GET', `${profilePath}?fields=about,email,websites`, {
      token: seed.accessToken,
    });
    expect(profile.json).toEqual({
      data: [
        {
          about: 'We sell bread',
          email: 'hi@bakery.example',
          websites: ['https://bakery.example'],
          messaging_product: 'whatsapp',
        },
      ],
    });
    const tooLong = await call(emu, 'POST', profilePath, {
      token: seed.accessToken,
      body: { messaging_product: 'whatsapp', about: 'x'.repeat(140) },
    });
    expect(tooLong.json.error.message).toMatch(/about/);
    const badEmail = await call(emu, 'POST', profilePath, {
      token: seed.accessToken,
      body: { messaging_product: 'whatsapp', email: 'nope' },
    });
    expect(badEmail.status).toBe(400);
  });

  it('registration: request_code, verify_code (code read through the control API), register, deregister', async () => {
    emu = createEmulator();
    const seed = emu.seed!;
    const p = `/v23.0/${seed.phoneNumberId}`;
    const req = await call(emu, 'POST', `${p}/request_code`, {
      token: seed.accessToken,
      body: { code_method: 'SMS', language: 'en_US' },
    });
    expect(req.json).toEqual({ success: true });
    const tooSoon = await call(emu, 'POST', `${p}/request_code`, {
      token: seed.accessToken,
      body: { code_method: 'SMS', language: 'en_US' },
    });
    expect(tooSoon.json.error.code).toBe(613);
    const badMethod = await call(emu, 'POST', `${p}/request_code`, {
      token: seed.accessToken,
      body: { code_method: 'FAX', language: 'en_US' },
    });
    expect(badMethod.json.error.message).toMatch(/code_method/);
    const pending = (await call(emu, 'GET', `/_emulator/phone-numbers/${seed.phoneNumberId}`)).json
      .pending_code as string;
    expect(pending).toMatch(/^\d{6}$/);
    const wrong = await call(emu, 'POST', `${p}/verify_code`, {
      token: seed.accessToken,
      body: { code: pending === '000000' ? '111111' : '000000' },
    });
    expect(wrong.json.error.code).toBe(136025);
    expect(
      (await call(emu, 'POST', `${p}/verify_code`, { token: seed.accessToken, body: { code: pending } }))
        .json,
    ).toEqual({ success: true });

    expect((await call(emu, 'POST', `${p}/deregister`, { token: seed.accessToken })).json).toEqual({
      success: true,
    });
    const send = await call(emu, 'POST', `${p}/messages`, {
      token: seed.accessToken,
      body: { messaging_product: 'whatsapp', to: seed.recipient, type: 'text', text: { body: 'x' } },
    });
    expect(send.json.error.code).toBe(133010);
    const noPin = await call(emu, 'POST', `${p}/register`, {
      token: seed.accessToken,
      body: { messaging_product: 'whatsapp' },
    });
    expect(noPin.json.error.message).toBe('(#100) The parameter pin is required.');
    const reg = await call(emu, 'POST', `${p}/register`, {
      token: seed.accessToken,
      form: { messaging_product: 'whatsapp', pin: '123456' },
    });
    expect(reg.json).toEqual({ success: true });
    const mismatch = await call(emu, 'POST', `${p}/register`, {
      token: seed.accessToken,
      body: { messaging_product: 'whatsapp', pin: '654321' },
    });
    expect(mismatch.json.error.code).toBe(133005);
  });

  it('unknown edges and paths get Graph errors, never a crash', async () => {
    emu = createEmulator();
    const seed = emu.seed!;
    const edge = await call(emu, 'GET', `/v23.0/${seed.phoneNumberId}/nonsense`, { token: seed.accessToken });
    expect(edge.json.error.message).toBe(
      '(#100) Tried accessing nonexisting field (nonsense) on node type (WhatsAppBusinessPhoneNumber)',
    );
    const deep = await call(emu, 'GET', '/v23.0/a/b/c/d', { token: seed.accessToken });
    expect(deep.json.error.code).toBe(2500);
    const future = await call(emu, 'GET', `/v99.0/${seed.phoneNumberId}`, { token: seed.accessToken });
    expect(future.json.error.message).toBe('Unknown path components: /v99.0');
    const old = await call(emu, 'GET', `/v12.0/${seed.phoneNumberId}`, { token: seed.accessToken });
    expect(old.status).toBe(200);
    expect(old.headers.get('facebook-api-version')).toBe('v18.0');
    const unversioned = await call(emu, 'GET', `/${seed.phoneNumberId}`, { token: seed.accessToken });
    expect(unversioned.status).toBe(200);
  });
});

describe('in-process fetch', () => {
  it('accepts a Request object with a streamed body on an unversioned path', async () => {
    emu = createEmulator();
    const seed = emu.seed!;
    const payload = JSON.stringify({
      messaging_product: 'whatsapp',
      to: seed.recipient,
      type: 'text',
      text: { body: 'streamed' },
    });
    const req = new Request(`http://emulator/${seed.phoneNumberId}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${seed.accessToken}`, 'content-type': 'application/json' },
      body: new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(payload));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    const res = await emu.fetch(req);
    expect(res.status).toBe(200);
    expect(res.headers.get('facebook-api-version')).toBe('v26.0');
  });
});
