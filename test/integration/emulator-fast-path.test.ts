// The send endpoint has two implementations of transport (Hono in-process, and a Node fast path when listening)
// around one sendMessage(): both must answer alike.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Emulator, type StartedEmulator, startEmulator } from '../../src/emulator/index.js';

let started: StartedEmulator;
let emu: Emulator;
beforeAll(async () => {
  started = await startEmulator({ maxBodyBytes: 4_096 });
  emu = started.emulator;
});
afterAll(async () => {
  await started.close();
});

interface Case {
  name: string;
  path?: string;
  headers?: Record<string, string>;
  body: string;
}

async function both(c: Case) {
  const seed = emu.seed!;
  const path = c.path ?? `/v23.0/${seed.phoneNumberId}/messages`;
  const init = { method: 'POST', headers: c.headers ?? {}, body: c.body };
  const [a, b] = await Promise.all([
    emu.fetch(`http://emulator${path}`, init),
    fetch(`${started.url}${path}`, init),
  ]);
  const norm = async (r: Response) => {
    const raw = await r.text();
    const json = JSON.parse(raw);
    if (json.error) json.error.fbtrace_id = typeof json.error.fbtrace_id;
    if (json.messages)
      json.messages = json.messages.map((m: { id: string }) => ({ ...m, id: m.id.startsWith('wamid.') }));
    const names = [...r.headers.keys()].filter(
      (k) => k.startsWith('x-') || k.startsWith('facebook') || k === 'www-authenticate',
    );
    return {
      status: r.status,
      json,
      // Byte for byte (ids aside): the fast path writes the success JSON by hand.
      raw: raw.replace(/wamid\.[A-Za-z0-9+/=]+/g, 'WAMID').replace(/"fbtrace_id":"[^"]+"/, 'TRACE'),
      names: names.sort(),
      version: r.headers.get('facebook-api-version'),
    };
  };
  return [await norm(a), await norm(b)];
}

describe('send endpoint: in-process and over a socket answer alike', () => {
  it('for successes and each kind of error', async () => {
    const seed = emu.seed!;
    const json = { 'content-type': 'application/json' };
    const auth = { ...json, authorization: `Bearer ${seed.accessToken}` };
    const text = (to: string) =>
      JSON.stringify({ messaging_product: 'whatsapp', to, type: 'text', text: { body: 'hi' } });
    const cases: Case[] = [
      { name: 'ok', headers: auth, body: text(seed.recipient) },
      {
        name: 'old version',
        path: `/v12.0/${seed.phoneNumberId}/messages`,
        headers: auth,
        body: text(seed.recipient),
      },
      {
        name: 'unversioned',
        path: `/${seed.phoneNumberId}/messages`,
        headers: auth,
        body: text(seed.recipient),
      },
      {
        name: 'recipient as typed, with characters to escape',
        headers: auth,
        body: text('+1 (650) "555"-1234'),
      },
      {
        name: 'template (message_status)',
        headers: auth,
        body: JSON.stringify({
          messaging_product: 'whatsapp',
          to: seed.recipient,
          type: 'template',
          template: { name: 'hello_world', language: { code: 'en_US' } },
        }),
      },
      {
        name: 'bearer spelled and spaced otherwise',
        headers: { ...json, authorization: `bearer   ${seed.accessToken}  ` },
        body: text(seed.recipient),
      },
      {
        name: 'OAuth scheme',
        headers: { ...json, authorization: `OAuth ${seed.accessToken}` },
        body: text(seed.recipient),
      },
      {
        name: 'Bearer without a token',
        headers: { ...json, authorization: 'Bearer ' },
        body: text(seed.recipient),
      },
      {
        name: 'token in the JSON body',
        headers: json,
        body: JSON.stringify({
          messaging_product: 'whatsapp',
          to: seed.recipient,
          type: 'text',
          text: { body: 'hi' },
          access_token: seed.accessToken,
        }),
      },
      { name: 'no token', headers: json, body: text(seed.recipient) },
      {
        name: 'malformed token',
        headers: { ...json, authorization: 'Bearer ???' },
        body: text(seed.recipient),
      },
      {
        name: 'bad body',
        headers: auth,
        body: JSON.stringify({ messaging_product: 'whatsapp', to: '1', type: 'text', text: {} }),
      },
      { name: 'not json', headers: auth, body: '{' },
      { name: 'not allowed', headers: auth, body: text('4915112345678') },
      { name: 'unknown number', path: '/v23.0/123/messages', headers: auth, body: text(seed.recipient) },
      { name: 'too large', headers: auth, body: text('x'.repeat(5_000)) },
      {
        name: 'form + query token',
        path: `/v23.0/${seed.phoneNumberId}/messages?access_token=${seed.accessToken}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          messaging_product: 'whatsapp',
          to: seed.recipient,
          type: 'text',
          text: '{"body":"x"}',
        }).toString(),
      },
    ];
    for (const c of cases) {
      const [inProcess, overSocket] = await both(c);
      expect(overSocket, c.name).toEqual(inProcess);
    }
    // The cases above really reached the answers they are named after.
    const statuses = [];
    for (const c of cases) statuses.push((await both(c))[1]?.status);
    expect(statuses.slice(0, 9)).toEqual([200, 200, 200, 200, 200, 200, 200, 401, 200]);
    const stored = emu.sentMessages().find((m) => m.type === 'template');
    expect(stored?.body).toEqual({
      messaging_product: 'whatsapp',
      to: seed.recipient,
      type: 'template',
      template: { name: 'hello_world', language: { code: 'en_US' } },
    });
    const fromBody = emu
      .sentMessages()
      .filter((m) => m.type === 'text')
      .at(-1);
    expect(JSON.stringify(fromBody?.body)).not.toContain('access_token');
    expect(emu.counters()['POST /{phone-number-id}/messages']).toBe(cases.length * 4);
  });

  it('counts an oversize body sent without Content-Length (chunked), and still answers the next send', async () => {
    const seed = emu.seed!;
    const url = `${started.url}/v23.0/${seed.phoneNumberId}/messages`;
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${seed.accessToken}` };
    const textSend = (body: string) =>
      JSON.stringify({ messaging_product: 'whatsapp', to: seed.recipient, type: 'text', text: { body } });
    // A stream body has no known length: fetch sends it chunked, so only the count can refuse it.
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(textSend('x'.repeat(5_000))));
        controller.close();
      },
    });
    const res = await fetch(url, { method: 'POST', headers, body: chunked, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(413);
    expect((await res.json()).error.message).toContain('larger than the emulator accepts (4096 bytes)');
    const ok = await fetch(url, { method: 'POST', headers, body: textSend('hi') });
    expect(ok.status).toBe(200);
  });
});
