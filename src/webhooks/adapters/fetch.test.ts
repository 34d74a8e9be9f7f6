import { describe, expect, it } from 'vitest';
import type { WebhookEvent } from '../events.js';
import { signPayload } from '../verify-signature.js';
import { createFetchWebhookHandler } from './fetch.js';

const SECRET = 'fetch-adapter-secret';
const body = JSON.stringify({
  object: 'whatsapp_business_account',
  entry: [
    {
      id: '1',
      changes: [
        {
          field: 'messages',
          value: {
            messaging_product: 'whatsapp',
            metadata: { display_phone_number: '1', phone_number_id: '2' },
            messages: [{ id: 'wamid.F', from: '3', timestamp: '4', type: 'text', text: { body: 'hi' } }],
          },
        },
      ],
    },
  ],
});
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

function request(init: RequestInit & { url?: string } = {}): Request {
  return new Request(init.url ?? 'https://example.com/webhook', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': signPayload(body, SECRET) },
    body,
    ...init,
  });
}

describe('createFetchWebhookHandler', () => {
  it('answers 200 and hands handler completion to waitUntil', async () => {
    const events: WebhookEvent[] = [];
    const webhook = createFetchWebhookHandler({
      appSecret: SECRET,
      logger: quiet,
      onEvent: (e) => void events.push(e),
    });
    const waited: Promise<unknown>[] = [];
    const res = await webhook(request(), { waitUntil: (p) => void waited.push(p) });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ok');
    expect(waited).toHaveLength(1);
    await waited[0];
    expect(events.map((e) => e.type)).toEqual(['message']);
  });

  it('says exactly why when the body was already read', async () => {
    const webhook = createFetchWebhookHandler({ appSecret: SECRET, logger: quiet });
    const req = request();
    await req.text();
    const res = await webhook(req);
    expect(res.status).toBe(500);
    expect((await res.json()).error).toMatchObject({
      reason: 'raw_body_unavailable',
      message: expect.stringContaining('already read'),
    });
  });

  it('refuses oversize bodies from Content-Length and while streaming', async () => {
    const webhook = createFetchWebhookHandler({ appSecret: SECRET, logger: quiet, maxBodyBytes: 100 });
    expect(
      (await webhook(request({ headers: { 'content-length': '5000', 'content-type': 'application/json' } })))
        .status,
    ).toBe(413);
    let pulls = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulls++;
        controller.enqueue(new Uint8Array(64).fill(0x20));
        if (pulls > 1000) controller.close();
      },
    });
    const res = await webhook(request({ body: stream, duplex: 'half' } as RequestInit));
    expect(res.status).toBe(413);
    expect(pulls).toBeLessThan(10); // stopped reading right after the cap
  });

  it('handshake with an absolute URL, and 405 for other methods', async () => {
    const webhook = createFetchWebhookHandler({ appSecret: SECRET, verifyToken: 'tok', logger: quiet });
    const ok = await webhook(
      new Request('https://example.com/webhook?hub.mode=subscribe&hub.verify_token=tok&hub.challenge=55'),
    );
    expect(await ok.text()).toBe('55');
    const put = await webhook(request({ method: 'PUT' }));
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, POST');
  });
});
