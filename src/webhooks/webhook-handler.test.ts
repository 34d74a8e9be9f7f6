import { describe, expect, it, vi } from 'vitest';
import { textMessage, whatsappDelivery } from '../../test/support/webhook-payloads.js';
import { Secret } from '../core/secret.js';
import type { WebhookEvent } from './events.js';
import { createWebhookRouter } from './router.js';
import { signPayload } from './verify-signature.js';
import { createWebhookHandler, type WebhookHandlerOptions, type WebhookRequest } from './webhook-handler.js';

const SECRET = 'current-app-secret-0123456789abcdef';
const OLD_SECRET = 'previous-app-secret-fedcba9876543210';
const VERIFY = 'verify-token-5f0c2a';

const payload = (messageIds: string[], statuses: [string, string][] = []) =>
  whatsappDelivery({
    messages: messageIds.map((id) => textMessage(id, id)),
    statuses: statuses.map(([id, status]) => ({ id, status })),
  });

function post(body: string, secret = SECRET, headers: Record<string, string> = {}): WebhookRequest {
  return {
    method: 'POST',
    url: '/webhook',
    headers: {
      'content-type': 'application/json',
      'x-hub-signature-256': signPayload(body, secret),
      ...headers,
    },
    body: Buffer.from(body),
  };
}

function make(extra: Partial<WebhookHandlerOptions> = {}) {
  const events: WebhookEvent[] = [];
  const handler = createWebhookHandler({
    appSecret: new Secret(SECRET),
    verifyToken: new Secret(VERIFY),
    onEvent: (e) => void events.push(e),
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    ...extra,
  });
  return { handler, events };
}

describe('handshake', () => {
  const get = (q: string) => ({ method: 'GET', url: `/webhook?${q}`, headers: {} });

  it('echoes hub.challenge as plain text when mode and token are right', async () => {
    const { handler } = make();
    const res = await handler.handle(
      get(`hub.mode=subscribe&hub.verify_token=${VERIFY}&hub.challenge=1158201444`),
    );
    expect(res.status).toBe(200);
    expect(res.body).toBe('1158201444');
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
  });

  it('answers 403 for a wrong token, a wrong mode, a missing challenge, a repeated parameter or no configured token', async () => {
    const { handler } = make();
    for (const q of [
      'hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1',
      `hub.mode=unsubscribe&hub.verify_token=${VERIFY}&hub.challenge=1`,
      `hub.verify_token=${VERIFY}&hub.challenge=1`,
      `hub.mode=subscribe&hub.verify_token=${VERIFY}`,
      `hub.mode=subscribe&hub.verify_token=${VERIFY}&hub.verify_token=${VERIFY}&hub.challenge=1`,
      `hub.mode=subscribe&hub.verify_token=${VERIFY}x&hub.challenge=1`,
      `hub.mode=subscribe&hub.verify_token=${VERIFY.slice(0, -1)}&hub.challenge=1`,
      '',
    ]) {
      const res = await handler.handle(get(q));
      expect(res.status, q).toBe(403);
      expect(res.body).not.toContain(VERIFY);
    }
    const { handler: noToken } = make({ verifyToken: undefined });
    const res = await noToken.handle(get('hub.mode=subscribe&hub.verify_token=&hub.challenge=1'));
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body).error.message).toContain('WEBHOOK_VERIFICATION_TOKEN');
  });
});

describe('deliveries', () => {
  it('verifies, acknowledges with 200, then runs handlers after the answer', async () => {
    const order: string[] = [];
    const { handler } = make({ onEvent: (e) => void order.push(`handler ${e.type}`) });
    const res = await handler.handle(post(payload(['wamid.1'])));
    order.push('answered');
    expect(res.status).toBe(200);
    expect(res.events.map((e) => e.type)).toEqual(['message']);
    const report = await res.done;
    expect(order).toEqual(['answered', 'handler message']);
    expect(report).toEqual({ events: 1, duplicates: 0, handled: 1, failures: [] });
  });

  it('accepts the previous secret during a rotation', async () => {
    const { handler } = make({ appSecret: SECRET, appSecrets: [OLD_SECRET] });
    expect((await handler.handle(post(payload(['wamid.r']), OLD_SECRET))).status).toBe(200);
    expect((await handler.handle(post(payload(['wamid.r2']), 'some-other-secret'))).status).toBe(401);
  });

  it('maps bad input to the documented statuses without leaking the secret or the signature', async () => {
    const { handler, events } = make();
    const body = payload(['wamid.x']);
    const cases: [WebhookRequest, number, string][] = [
      [{ ...post(body), method: 'PUT' }, 405, 'method_not_allowed'],
      [{ ...post(body), method: 'DELETE' }, 405, 'method_not_allowed'],
      [post(body, SECRET, { 'content-type': 'text/plain' }), 415, 'unsupported_media_type'],
      [
        { ...post(body), headers: { 'x-hub-signature-256': signPayload(body, SECRET) } },
        415,
        'unsupported_media_type',
      ],
      [{ ...post(body), headers: { 'content-type': 'application/json' } }, 401, 'missing_signature'],
      [post(body, 'wrong-secret'), 401, 'bad_signature'],
      [{ ...post(body), body: Buffer.from(`${body} `) }, 401, 'bad_signature'],
      [post('{not json', SECRET), 400, 'bad_json'],
      [post('x'.repeat(64), SECRET), 400, 'bad_json'],
    ];
    for (const [req, status, reason] of cases) {
      const res = await handler.handle(req);
      expect(res.status, reason).toBe(status);
      expect(JSON.parse(res.body).error.reason).toBe(reason);
      expect(res.body).not.toContain(SECRET);
      expect(res.body).not.toContain(signPayload(body, SECRET).slice(7, 27));
      expect(res.error?.reason).toBe(reason);
    }
    expect((await handler.handle({ ...post(body), method: 'PATCH' })).headers.allow).toBe('GET, POST');
    expect(events).toEqual([]);
  });

  it('accepts application/json with parameters and any letter case', async () => {
    const { handler } = make();
    const res = await handler.handle(
      post(payload(['wamid.ct']), SECRET, { 'content-type': 'Application/JSON; charset=UTF-8' }),
    );
    expect(res.status).toBe(200);
  });

  it('refuses bodies over the cap with 413', async () => {
    const { handler } = make({ maxBodyBytes: 100 });
    const res = await handler.handle(post(payload(['wamid.big'])));
    expect(res.status).toBe(413);
    expect(res.headers.connection).toBe('close');
  });

  it('404s other paths when a path is configured', async () => {
    const { handler } = make({ path: '/hooks/wa/' });
    expect((await handler.handle({ ...post(payload(['a'])), url: '/other' })).status).toBe(404);
    expect((await handler.handle({ ...post(payload(['a'])), url: '/hooks/wa' })).status).toBe(200);
    expect(
      (await handler.handle({ ...post(payload(['b'])), url: 'https://example.com/hooks/wa/?x=1' })).status,
    ).toBe(200);
  });

  it('requires an app secret', () => {
    expect(() => createWebhookHandler({})).toThrow(/WA_APP_SECRET/);
    expect(() => createWebhookHandler({ appSecret: '' })).toThrow(/WA_APP_SECRET/);
    expect(() => createWebhookHandler({ appSecret: 'x', maxBodyBytes: 0 })).toThrow(/maxBodyBytes/);
  });
});

describe('batches and duplicates', () => {
  it('hands every message and status of a batch to handlers, and drops redelivered ones', async () => {
    const { handler, events } = make();
    const first = await handler.handle(post(payload(['wamid.a', 'wamid.b'], [['wamid.o', 'sent']])));
    expect(await first.done).toMatchObject({ events: 3, duplicates: 0 });
    // Meta retries: same batch again, plus a new status for the same message and one new message.
    const again = await handler.handle(
      post(
        payload(
          ['wamid.a', 'wamid.b', 'wamid.c'],
          [
            ['wamid.o', 'sent'],
            ['wamid.o', 'delivered'],
          ],
        ),
      ),
    );
    expect(again.status).toBe(200);
    expect(await again.done).toMatchObject({ events: 5, duplicates: 3 });
    expect(
      events.map((e) =>
        e.type === 'message' ? e.message.id : e.type === 'status' ? `${e.id}/${e.status}` : e.type,
      ),
    ).toEqual(['wamid.a', 'wamid.b', 'wamid.o/sent', 'wamid.c', 'wamid.o/delivered']);
  });

  it('dedupe: false passes duplicates through', async () => {
    const { handler, events } = make({ dedupe: false });
    await (await handler.handle(post(payload(['wamid.d'])))).done;
    await (await handler.handle(post(payload(['wamid.d'])))).done;
    expect(events).toHaveLength(2);
  });

  it('a handler error is reported (not swallowed) and the event can be processed again on redelivery', async () => {
    let attempts = 0;
    const onError = vi.fn();
    const router = createWebhookRouter().on('message', () => {
      attempts++;
      if (attempts === 1) throw new Error('database down');
    });
    const { handler } = make({ router, onEvent: undefined, onError });
    const first = await handler.handle(post(payload(['wamid.e'])));
    expect(first.status).toBe(200);
    const report = await first.done;
    expect(report.failures.map((f) => (f.error as Error).message)).toEqual(['database down']);
    expect(onError).toHaveBeenCalledTimes(1);
    expect(onError.mock.calls[0]![0]).toMatchObject({ selector: 'message', event: { type: 'message' } });
    const second = await handler.handle(post(payload(['wamid.e'])));
    expect(await second.done).toMatchObject({ duplicates: 0, failures: [] });
    expect(attempts).toBe(2);
  });

  it('without onError, handler errors go to the logger at error level', async () => {
    const error = vi.fn();
    const { handler } = make({
      onEvent: () => {
        throw new Error('boom');
      },
      logger: { debug() {}, info() {}, warn() {}, error },
    });
    await (await handler.handle(post(payload(['wamid.f'])))).done;
    expect(error).toHaveBeenCalledWith(
      'webhook handler for "*" failed',
      expect.objectContaining({ eventType: 'message' }),
    );
  });

  it("a failing dedupe store doesn't lose events: they are processed and the outage reported", async () => {
    const onError = vi.fn();
    const { handler, events } = make({
      onError,
      dedupe: {
        claim: async () => {
          throw new Error('redis unavailable');
        },
        release: async () => {},
      },
    });
    await (await handler.handle(post(payload(['wamid.g'])))).done;
    expect(events).toHaveLength(1);
    expect(onError).toHaveBeenCalledTimes(1);
  });
});

describe('beforeAck and before-ack handlers', () => {
  it('awaits beforeAck with the raw bytes and events before answering', async () => {
    const order: string[] = [];
    const body = payload(['wamid.h']);
    const { handler } = make({
      beforeAck: async (delivery) => {
        await new Promise((r) => setTimeout(r, 5));
        expect(Buffer.from(delivery.rawBody).toString()).toBe(body);
        expect(delivery.events.map((e) => e.type)).toEqual(['message']);
        expect(delivery.signature).toEqual({ secretIndex: 0, method: 'raw' });
        order.push('beforeAck');
      },
      onEvent: () => void order.push('handler'),
    });
    const res = await handler.handle(post(body));
    order.push(`answered ${res.status}`);
    await res.done;
    expect(order).toEqual(['beforeAck', 'answered 200', 'handler']);
  });

  it('answers 500 when beforeAck fails, so Meta retries; handlers do not run', async () => {
    const onError = vi.fn();
    const { handler, events } = make({
      onError,
      beforeAck: () => {
        throw new Error('inbox full');
      },
    });
    const res = await handler.handle(post(payload(['wamid.i'])));
    expect(res.status).toBe(500);
    expect(JSON.parse(res.body).error.reason).toBe('not_acknowledged');
    expect(res.body).not.toContain('inbox full');
    await res.done;
    expect(events).toEqual([]);
    expect(onError).toHaveBeenCalledWith({ stage: 'beforeAck', error: new Error('inbox full') });
  });

  it("handlers: 'before-ack' runs handlers first and answers 500 if one fails", async () => {
    let fail = true;
    const { handler } = make({
      handlers: 'before-ack',
      onError: () => {},
      onEvent: () => {
        if (fail) throw new Error('not yet');
      },
    });
    const res = await handler.handle(post(payload(['wamid.j'])));
    expect(res.status).toBe(500);
    fail = false;
    const retry = await handler.handle(post(payload(['wamid.j'])));
    expect(retry.status).toBe(200);
    expect(await retry.done).toMatchObject({ duplicates: 0, handled: 1 });
  });
});

describe("parse: 'after-ack'", () => {
  it('acknowledges after the signature and beforeAck without parsing; handlers still get the events afterwards', async () => {
    const body = payload(['wamid.k']);
    const seen: Array<{ payload: unknown; events: number }> = [];
    const { handler, events } = make({
      parse: 'after-ack',
      beforeAck: (d) => void seen.push({ payload: d.payload, events: d.events.length }),
    });
    const res = await handler.handle(post(body));
    expect(res.status).toBe(200);
    expect(res.events).toEqual([]);
    expect(seen).toEqual([{ payload: undefined, events: 0 }]);
    expect(await res.done).toMatchObject({ events: 1, handled: 1 });
    expect(events.map((e) => e.type)).toEqual(['message']);
  });

  it('still refuses a bad or missing signature; a signed body that is not JSON is acknowledged and reported', async () => {
    const onError = vi.fn();
    const stored: string[] = [];
    const { handler, events } = make({
      parse: 'after-ack',
      onError,
      beforeAck: (d) => void stored.push(Buffer.from(d.rawBody).toString()),
    });
    expect((await handler.handle(post('{"object":1}', 'not-the-secret'))).status).toBe(401);
    const unsigned = post('{"object":1}');
    delete (unsigned.headers as Record<string, string>)['x-hub-signature-256'];
    expect((await handler.handle(unsigned)).status).toBe(401);
    expect(stored).toEqual([]);

    const res = await handler.handle(post('not json {'));
    expect(res.status).toBe(200);
    expect(await res.done).toMatchObject({ events: 0, handled: 0 });
    expect(stored).toEqual(['not json {']);
    expect(events).toEqual([]);
    expect(onError).toHaveBeenCalledTimes(1);
    expect(onError.mock.calls[0]?.[0]).toMatchObject({ stage: 'parse' });
  });

  it('is opt-in: by default the same body is refused with 400 before beforeAck', async () => {
    const beforeAck = vi.fn();
    const { handler } = make({ beforeAck });
    const res = await handler.handle(post('not json {'));
    expect(res.status).toBe(400);
    expect(beforeAck).not.toHaveBeenCalled();
  });

  it('parses nothing at all when there is no handler to run', async () => {
    const handler = createWebhookHandler({
      appSecret: SECRET,
      dedupe: false,
      parse: 'after-ack',
      onError: () => {
        throw new Error('must not be called: nothing is parsed');
      },
    });
    const res = await handler.handle(post('not json {'));
    expect(res.status).toBe(200);
    expect(await res.done).toEqual({ events: 0, duplicates: 0, handled: 0, failures: [] });
  });

  it("refuses handlers: 'before-ack' with it, and unknown values", () => {
    expect(() => make({ parse: 'after-ack', handlers: 'before-ack' })).toThrow(/cannot be combined/);
    expect(() => make({ parse: 'later' as never })).toThrow(/before-ack' or 'after-ack/);
  });
});

describe('onRejected', () => {
  it('is told about every refused request with method and path', async () => {
    const onRejected = vi.fn();
    const { handler } = make({ onRejected });
    await handler.handle(post('{}', 'nope'));
    expect(onRejected).toHaveBeenCalledWith(
      expect.objectContaining({ reason: 'bad_signature', status: 401 }),
      {
        method: 'POST',
        path: '/webhook',
      },
    );
  });
});
