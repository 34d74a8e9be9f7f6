import { afterEach, describe, expect, it } from 'vitest';
import { createEmulator, type Emulator } from '../../src/emulator/index.js';

let emu: Emulator;
afterEach(async () => {
  await emu?.close();
});

function send(e: Emulator, body: unknown, token = e.seed!.accessToken, version = 'v26.0') {
  return e.fetch(`http://emulator/${version}/${e.seed!.phoneNumberId}/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

const hello = (to: string) => ({
  messaging_product: 'whatsapp',
  to,
  type: 'template',
  template: { name: 'hello_world', language: { code: 'en_US' } },
});

describe('emulator basics (in-process fetch)', () => {
  it('sends the seed hello_world template and answers like Meta', async () => {
    emu = createEmulator();
    const res = await send(emu, hello(emu.seed!.recipient));
    expect(res.status).toBe(200);
    const json = (await res.json()) as {
      messaging_product: string;
      contacts: unknown[];
      messages: Array<{ id: string }>;
    };
    expect(json.messaging_product).toBe('whatsapp');
    expect(json.contacts).toEqual([{ input: emu.seed!.recipient, wa_id: emu.seed!.recipient }]);
    expect(json.messages[0]?.id).toMatch(/^wamid\./);
    expect(res.headers.get('x-fb-trace-id')).toMatch(/^[\w-]{11}$/);
    expect(res.headers.get('facebook-api-version')).toBe('v26.0');
    expect(JSON.parse(res.headers.get('x-app-usage') ?? '{}')).toHaveProperty('call_count');
    expect(JSON.parse(res.headers.get('x-business-use-case-usage') ?? '{}')).toHaveProperty(emu.seed!.wabaId);
    expect(emu.sentMessages()).toHaveLength(1);
  });

  it('without Authorization: 401, code 104, WWW-Authenticate', async () => {
    emu = createEmulator();
    const res = await emu.fetch(`http://emulator/v23.0/${emu.seed!.phoneNumberId}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(hello(emu.seed!.recipient)),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^OAuth "Facebook Platform" "invalid_request" "/);
    const json = (await res.json()) as { error: { code: number; type: string; fbtrace_id: string } };
    expect(json.error.code).toBe(104);
    expect(json.error.type).toBe('OAuthException');
    expect(json.error.fbtrace_id).toBe(res.headers.get('x-fb-trace-id'));
  });
});
