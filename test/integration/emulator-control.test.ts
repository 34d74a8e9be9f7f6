import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { createEmulator, type Emulator, startEmulator } from '../../src/emulator/index.js';
import { call } from './emulator-support.js';

let emu: Emulator;
afterEach(async () => {
  await emu?.close();
});

const text = (to: string, body = 'hi') => ({
  messaging_product: 'whatsapp',
  to,
  type: 'text',
  text: { body },
});

describe('control API', () => {
  it('builds a world, mints tokens of any kind and expiry, and exposes them to Graph', async () => {
    emu = createEmulator({ seed: false });
    const biz = await call(emu, 'POST', '/_emulator/businesses', { body: { name: 'Bakery' } });
    const app = await call(emu, 'POST', '/_emulator/apps', {
      body: { name: 'Bakery Bot', business_id: biz.json.id, redirect_uris: ['https://bakery.example/cb'] },
    });
    expect(app.json.secret).toMatch(/^[0-9a-f]{32}$/);
    const waba = await call(emu, 'POST', '/_emulator/wabas', {
      body: { business_id: biz.json.id, subscribe_app_ids: [app.json.id] },
    });
    const phone = await call(emu, 'POST', '/_emulator/phone-numbers', {
      body: { waba_id: waba.json.id, test: false, display_phone_number: '+49 30 1234567' },
    });
    const su = await call(emu, 'POST', '/_emulator/system-users', {
      body: { business_id: biz.json.id, app_ids: [app.json.id], waba_ids: [waba.json.id] },
    });
    const token = await call(emu, 'POST', '/_emulator/tokens', {
      body: { kind: 'system_user', app_id: app.json.id, subject_id: su.json.id },
    });
    expect(token.status).toBe(201);
    expect(token.json).toMatchObject({ kind: 'system_user', expires_at: null });
    const send = await call(emu, 'POST', `/v23.0/${phone.json.id}/messages`, {
      token: token.json.access_token,
      body: text('4915112345678'),
    });
    expect(send.status).toBe(200);
    const listed = await call(emu, 'GET', `/_emulator/messages?phone_number_id=${phone.json.id}`);
    expect(listed.json.data[0]).toMatchObject({ wa_id: '4915112345678', type: 'text', status: 'accepted' });

    const expired = await call(emu, 'POST', '/_emulator/tokens', {
      body: {
        kind: 'user',
        app_id: app.json.id,
        expires_in: -60,
        subject_id: (await call(emu, 'POST', '/_emulator/users', { body: { business_ids: [biz.json.id] } }))
          .json.id,
      },
    });
    const res = await call(emu, 'GET', `/v23.0/${phone.json.id}`, { token: expired.json.access_token });
    expect(res.json.error.error_subcode).toBe(463);

    const bad = await call(emu, 'POST', '/_emulator/tokens', {
      body: { kind: 'wizard', app_id: app.json.id },
    });
    expect(bad.status).toBe(400);
    expect(bad.json.error.message).toMatch(/kind must be one of/);
    expect((await call(emu, 'POST', '/_emulator/wabas', { body: { business_id: '1' } })).status).toBe(404);
    expect((await call(emu, 'POST', '/_emulator/apps', { body: '{"name":' })).status).toBe(400);
    expect((await call(emu, 'GET', '/_emulator/nope')).status).toBe(404);
  });

  it('revoke, change password and remove app through HTTP', async () => {
    emu = createEmulator();
    const seed = emu.seed!;
    const phone = `/v23.0/${seed.phoneNumberId}`;
    const t1 = (await call(emu, 'POST', '/_emulator/tokens', { body: { kind: 'user_long' } })).json
      .access_token;
    await call(emu, 'POST', '/_emulator/tokens/revoke', { body: { access_token: t1 } });
    expect((await call(emu, 'GET', phone, { token: t1 })).json.error.error_subcode).toBe(467);
    const t2 = (await call(emu, 'POST', '/_emulator/tokens', { body: { kind: 'user_long' } })).json
      .access_token;
    await call(emu, 'POST', `/_emulator/users/${seed.userId}/change-password`);
    expect((await call(emu, 'GET', phone, { token: t2 })).json.error.error_subcode).toBe(460);
    const t3 = (await call(emu, 'POST', '/_emulator/tokens', { body: { kind: 'user_long' } })).json
      .access_token;
    await call(emu, 'POST', `/_emulator/apps/${seed.appId}/remove`, { body: { user_id: seed.userId } });
    expect((await call(emu, 'GET', phone, { token: t3 })).json.error.error_subcode).toBe(458);
    const inspect = await call(emu, 'POST', '/_emulator/tokens/inspect', { body: { access_token: t3 } });
    expect(inspect.json).toMatchObject({ valid: false, error: { code: 190, subcode: 458 } });
  });

  it('virtual clock: read, advance, set — and expiry follows it', async () => {
    emu = createEmulator();
    const before = (await call(emu, 'GET', '/_emulator/clock')).json;
    expect(Math.abs(before.now_ms - Date.now())).toBeLessThan(1_000);
    const advanced = (await call(emu, 'POST', '/_emulator/clock/advance', { body: { seconds: 86_400 } }))
      .json;
    expect(advanced.offset_ms).toBeGreaterThan(86_399_000);
    const res = await call(emu, 'GET', `/v23.0/${emu.seed!.phoneNumberId}`, { token: emu.seed!.accessToken });
    expect(res.json.error.error_subcode).toBe(463);
    const set = (await call(emu, 'POST', '/_emulator/clock/set', { body: { now: '2030-01-01T00:00:00Z' } }))
      .json;
    expect(set.now).toMatch(/^2030-01-01T00:00:0/);
    expect((await call(emu, 'POST', '/_emulator/clock/advance', { body: { ms: -5 } })).status).toBe(400);
  });

  it('fault injection: Graph error N for the next K calls, 5xx, latency, connection reset', async () => {
    emu = createEmulator();
    const seed = emu.seed!;
    const send = () =>
      call(emu, 'POST', `/v23.0/${seed.phoneNumberId}/messages`, {
        token: seed.accessToken,
        body: text(seed.recipient),
      });
    const rule = await call(emu, 'POST', '/_emulator/faults', {
      body: {
        kind: 'graph_error',
        path: '*/messages',
        count: 2,
        code: 131000,
        message: '(#131000) Something went wrong',
        is_transient: true,
      },
    });
    expect(rule.status).toBe(201);
    const first = await send();
    expect(first.status).toBe(500);
    expect(first.json.error).toMatchObject({ code: 131000, is_transient: true });
    expect((await send()).status).toBe(500);
    expect((await send()).status).toBe(200);

    await call(emu, 'POST', '/_emulator/faults', { body: { kind: 'status', status: 503, count: 1 } });
    const unavailable = await send();
    expect(unavailable.status).toBe(503);
    expect(unavailable.json.error).toMatchObject({ code: 2, is_transient: true });

    await call(emu, 'POST', '/_emulator/faults', {
      body: { kind: 'latency', latency_ms: 150, count: 1, method: 'POST' },
    });
    const t0 = Date.now();
    expect((await send()).status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);

    await call(emu, 'POST', '/_emulator/faults', {
      body: { kind: 'reset', path: `/v23.0/${seed.phoneNumberId}/messages`, count: 1 },
    });
    await expect(send()).rejects.toThrow('fetch failed');
    expect((await send()).status).toBe(200);
    expect((await call(emu, 'GET', '/_emulator/faults')).json.data).toEqual([]);
    expect(
      (await call(emu, 'POST', '/_emulator/faults', { body: { kind: 'latency', latency_ms: 1e9 } })).status,
    ).toBe(400);
  });

  it('a reset fault over a real socket drops the connection', async () => {
    const started = await startEmulator();
    try {
      started.emulator.injectFault({ kind: 'reset', count: 1 });
      await expect(fetch(`${started.url}/v23.0/${started.emulator.seed!.phoneNumberId}`)).rejects.toThrow();
      const ok = await fetch(`${started.url}/v23.0/${started.emulator.seed!.phoneNumberId}`, {
        headers: { authorization: `Bearer ${started.emulator.seed!.accessToken}` },
      });
      expect(ok.status).toBe(200);
    } finally {
      await started.close();
    }
  });

  it('counters per endpoint, resettable', async () => {
    emu = createEmulator();
    const seed = emu.seed!;
    for (let i = 0; i < 3; i++) {
      await call(
        emu,
        'GET',
        `/v23.0/oauth/access_token?client_id=${seed.appId}&client_secret=${seed.appSecret}&grant_type=client_credentials`,
      );
    }
    await call(emu, 'POST', `/v23.0/${seed.phoneNumberId}/messages`, {
      token: seed.accessToken,
      body: text(seed.recipient),
    });
    const counters = (await call(emu, 'GET', '/_emulator/counters')).json;
    expect(counters['GET /oauth/access_token']).toBe(3);
    expect(counters['GET /oauth/access_token grant_type=client_credentials']).toBe(3);
    expect(counters['POST /{phone-number-id}/messages']).toBe(1);
    await call(emu, 'DELETE', '/_emulator/counters');
    expect((await call(emu, 'GET', '/_emulator/counters')).json['GET /oauth/access_token']).toBeUndefined();
  });

  it('persists to a state file and comes back with the same world', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wacloud-emu-'));
    const file = join(dir, 'state.json');
    try {
      const first = createEmulator({ stateFile: file });
      const seed = first.seed!;
      const long = first.world.mintToken({ kind: 'system_user', appId: seed.appId }).accessToken;
      await call(first, 'POST', `/v23.0/${seed.phoneNumberId}/messages`, {
        token: seed.accessToken,
        body: text(seed.recipient),
      });
      await first.close();
      expect(JSON.parse(readFileSync(file, 'utf8')).version).toBe(1);

      emu = createEmulator({ stateFile: file });
      expect(emu.seed?.appId).toBe(seed.appId);
      expect(emu.seed?.accessToken).toBe(seed.accessToken);
      expect(emu.sentMessages()).toHaveLength(1);
      expect((await call(emu, 'GET', `/v23.0/${seed.phoneNumberId}`, { token: long })).status).toBe(200);

      writeFileSync(file, '{"version": 2}');
      expect(() => createEmulator({ stateFile: file })).toThrow(/not an emulator state file/);
      writeFileSync(file, 'garbage');
      expect(() => createEmulator({ stateFile: file })).toThrow(/not valid JSON/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('never crashes on arbitrary requests: every answer is a Graph error or a success, with a trace id', async () => {
    emu = createEmulator();
    const seed = emu.seed!;
    const paths = [
      `/v23.0/${seed.phoneNumberId}/messages`,
      `/v23.0/${seed.phoneNumberId}/media`,
      `/v23.0/${seed.wabaId}/message_templates`,
      `/v23.0/${seed.wabaId}/subscribed_apps`,
      '/v23.0/oauth/access_token',
      '/v23.0/debug_token',
      `/v23.0/${seed.phoneNumberId}/register`,
      '/v23.0/dialog/oauth',
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...paths),
        fc.constantFrom('GET', 'POST', 'DELETE'),
        fc.oneof(
          fc.json(),
          fc.string(),
          fc.constant('{"messaging_product":"whatsapp","to":{"a":1},"type":"text","text":[]}'),
        ),
        fc.constantFrom(
          'application/json',
          'application/x-www-form-urlencoded',
          'multipart/form-data; boundary=x',
          'text/plain',
        ),
        fc.boolean(),
        async (path, method, body, contentType, withToken) => {
          const res = await emu.fetch(`http://emulator${path}`, {
            method,
            headers: {
              'content-type': contentType,
              ...(withToken ? { authorization: `Bearer ${seed.accessToken}` } : {}),
            },
            ...(method === 'GET' ? {} : { body }),
          });
          expect(res.status).toBeLessThan(500);
          expect(res.headers.get('x-fb-trace-id')).toMatch(/^[\w-]{11}$/);
          const textBody = await res.text();
          if (res.status >= 400 && !res.headers.get('content-type')?.includes('html')) {
            expect(JSON.parse(textBody).error.fbtrace_id).toBe(res.headers.get('x-fb-trace-id'));
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
