// The emulator's webhook deliveries (signed with the app secret, serialised like Meta) verified and parsed end to
// end over real loopback sockets by each adapter: the handshake when the callback is set, inbound messages of
// several types, automatic statuses of a sent message, batches, duplicates, and retries after a failure.
import { once } from 'node:events';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createEmulator, type Emulator } from '../../src/emulator/index.js';
import {
  createExpressWebhookMiddleware,
  createFetchWebhookHandler,
  createNodeWebhookHandler,
  createWebhookHandler,
  createWebhookRouter,
  fastifyWebhook,
  type WebhookEvent,
  type WebhookHandler,
} from '../../src/webhooks/index.js';
import { type CliProcess, spawnCli } from '../support/cli-process.js';
import { waitFor } from '../support/poll.js';
import { expectNoSecrets } from '../support/secret-scan.js';

const VERIFY = 'emulator-e2e-verify-token';
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

interface Receiver {
  url: string;
  close(): Promise<void>;
}

const closeServer = (server: Server) =>
  new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

async function nodeListen(listener: RequestListener, path = '/webhook'): Promise<Receiver> {
  const server = createServer(listener);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`,
    close: () => closeServer(server),
  };
}

/** Each adapter serving the same core handler. */
const ADAPTERS: Record<string, (core: WebhookHandler) => Promise<Receiver>> = {
  'node:http': (core) => nodeListen(createNodeWebhookHandler(core)),
  'fetch (Hono)': async (core) => {
    const webhook = createFetchWebhookHandler(core);
    const app = new Hono();
    app.all('/webhook', (c) => webhook(c.req.raw));
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
    await once(server, 'listening');
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook`,
      close: () => closeServer(server),
    };
  },
  express: async (core) => {
    const app = express();
    app.use(
      express.json({
        limit: '3mb',
        verify: (req, _res, buf) => {
          (req as typeof req & { rawBody?: Buffer }).rawBody = buf;
        },
      }),
    );
    app.all('/webhook', createExpressWebhookMiddleware(core));
    return nodeListen(app);
  },
  fastify: async (core) => {
    const app = Fastify();
    await app.register(fastifyWebhook, { path: '/webhook', handler: core });
    await app.listen({ port: 0, host: '127.0.0.1' });
    return {
      url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/webhook`,
      close: () => app.close(),
    };
  },
};

async function control(emu: Emulator, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${emu.url}/_emulator/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body ?? {}),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

const label = (e: WebhookEvent): string =>
  e.type === 'message'
    ? `message:${e.message.type}:${e.message.id}`
    : e.type === 'status'
      ? `status:${e.status}:${e.id}`
      : e.type;

for (const [name, start] of Object.entries(ADAPTERS)) {
  describe(`emulator → ${name}`, () => {
    let emu: Emulator;
    let receiver: Receiver;
    const events: WebhookEvent[] = [];
    const failures: unknown[] = [];
    let failNext = 0;

    beforeAll(async () => {
      emu = createEmulator({ clock: { frozen: true } });
      await emu.listen();
      const seed = emu.seed!;
      const router = createWebhookRouter({ tenants: { [seed.phoneNumberId]: 'tenant-a' } }).on(
        '*',
        (e, ctx) => {
          expect(ctx.tenant).toBe(e.phoneNumberId === seed.phoneNumberId ? 'tenant-a' : undefined);
          events.push(e);
        },
      );
      const core = createWebhookHandler({
        appSecret: seed.appSecret,
        verifyToken: VERIFY,
        router,
        logger: quiet,
        onError: (f) => void failures.push(f),
        beforeAck: () => {
          if (failNext > 0) {
            failNext--;
            throw new Error('simulated outage');
          }
        },
      });
      receiver = await start(core);
      // Setting the callback makes the emulator run Meta's GET handshake against the adapter.
      const set = await control(emu, `apps/${seed.appId}/webhook`, {
        callback_url: receiver.url,
        verify_token: VERIFY,
      });
      expect(set).toMatchObject({ success: true });
    });

    afterEach(() => {
      events.length = 0;
    });

    afterAll(async () => {
      await emu.close();
      await receiver.close();
    });

    it('a wrong verify token fails the emulator handshake', async () => {
      await expect(
        control(emu, `apps/${emu.seed!.appId}/webhook`, {
          callback_url: receiver.url,
          verify_token: 'wrong',
        }),
      ).rejects.toThrow(/Callback verification failed/);
      // Restore the working callback.
      await control(emu, `apps/${emu.seed!.appId}/webhook`, {
        callback_url: receiver.url,
        verify_token: VERIFY,
      });
    });

    it('inbound messages of several types arrive verified and typed, with non-ASCII text intact', async () => {
      const sent = [
        await control(emu, 'webhooks/inbound', {
          type: 'text',
          text: { body: 'Grüße aus Köln 👋 — https://example.com/a' },
        }),
        await control(emu, 'webhooks/inbound', { type: 'image', image: { caption: 'a photo' } }),
        await control(emu, 'webhooks/inbound', {
          type: 'location',
          location: { latitude: 52.5, longitude: 13.4, name: 'Berlin' },
        }),
        await control(emu, 'webhooks/inbound', {
          type: 'reaction',
          reaction: { message_id: 'wamid.X', emoji: '❤️' },
        }),
      ];
      await control(emu, 'webhooks/flush');
      await waitFor('4 message events', () => events.length >= 4, 10_000, 10);
      expect(events.map(label)).toEqual(
        sent.map((s, i) => `message:${['text', 'image', 'location', 'reaction'][i]}:${s.message_id}`),
      );
      const [text, image, location, reaction] = events as Extract<WebhookEvent, { type: 'message' }>[];
      expect(text!.message).toMatchObject({ text: { body: 'Grüße aus Köln 👋 — https://example.com/a' } });
      expect(text!.phoneNumberId).toBe(emu.seed!.phoneNumberId);
      expect(text!.wabaId).toBe(emu.seed!.wabaId);
      expect(image!.message).toMatchObject({ type: 'image', media: { caption: 'a photo' } });
      expect(location!.message).toMatchObject({
        location: { latitude: 52.5, longitude: 13.4, name: 'Berlin' },
      });
      expect(reaction!.message).toMatchObject({ reaction: { messageId: 'wamid.X', emoji: '❤️' } });
      const deliveries = emu.deliveries().filter((d) => d.url === receiver.url);
      expect(deliveries.length).toBeGreaterThanOrEqual(4);
      expect(deliveries.every((d) => d.status === 200)).toBe(true);
    });

    it('a sent message produces sent, delivered and read statuses', async () => {
      const seed = emu.seed!;
      const res = await fetch(`${emu.url}/${seed.apiVersion}/${seed.phoneNumberId}/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${seed.accessToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          messaging_product: 'whatsapp',
          to: seed.recipient,
          type: 'text',
          text: { body: 'hi' },
        }),
      });
      expect(res.status).toBe(200);
      const { messages } = (await res.json()) as { messages: { id: string }[] };
      const id = messages[0]!.id;
      await control(emu, 'clock/advance', { ms: 10_000 });
      await control(emu, 'webhooks/flush');
      await waitFor('3 statuses', () => events.filter((e) => e.type === 'status').length >= 3, 10_000, 10);
      expect(events.filter((e) => e.type === 'status').map(label)).toEqual([
        `status:sent:${id}`,
        `status:delivered:${id}`,
        `status:read:${id}`,
      ]);
    });

    it('a batch is split into every message, and duplicate deliveries reach handlers once', async () => {
      await control(emu, 'webhooks/config', {
        batch: { max_events: 50, window_ms: 60_000 },
        duplicate_rate: 1,
      });
      try {
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) {
          ids.push(
            (await control(emu, 'webhooks/inbound', { type: 'text', text: { body: `batch ${i}` } }))
              .message_id as string,
          );
        }
        await control(emu, 'webhooks/flush');
        await control(emu, 'clock/advance', { ms: 5_000 }); // the duplicate is scheduled shortly after
        await control(emu, 'webhooks/flush');
        const mine = emu.deliveries().filter((d) => d.url === receiver.url && d.events === 5);
        expect(mine.map((d) => d.duplicate).sort()).toEqual([false, true]);
        expect(mine.every((d) => d.status === 200)).toBe(true);
        await waitFor('5 batched messages', () => events.length >= 5, 10_000, 10);
        await new Promise((r) => setTimeout(r, 100));
        expect(events.map(label)).toEqual(ids.map((id) => `message:text:${id}`));
      } finally {
        await control(emu, 'webhooks/config', { batch: false, duplicate_rate: 0 });
      }
    });

    it('after a 500 (beforeAck failed) the emulator retries and the event is processed once', async () => {
      failNext = 1;
      const { message_id: id } = await control(emu, 'webhooks/inbound', {
        type: 'text',
        text: { body: 'retry me' },
      });
      await control(emu, 'webhooks/flush');
      await control(emu, 'clock/advance', { ms: 2_000 });
      await control(emu, 'webhooks/flush');
      await waitFor('the retried message', () => events.length >= 1, 10_000, 10);
      const attempts = emu.deliveries().filter((d) => d.url === receiver.url && d.body.includes(String(id)));
      expect(attempts.map((d) => d.status)).toEqual([500, 200]);
      expect(events.map(label)).toEqual([`message:text:${id}`]);
      expect(failures).toHaveLength(1);
      failures.length = 0;
    });
  });
}

describe('emulator → wacloud webhook listen (the built CLI)', () => {
  let emu: Emulator;
  let proc: CliProcess | undefined;
  afterAll(async () => {
    await proc?.stop();
    await emu?.close();
  });

  it('prints one line per verified event from the emulator', async () => {
    emu = createEmulator({ clock: { frozen: true } });
    await emu.listen();
    const seed = emu.seed!;
    proc = spawnCli(['webhook', 'listen', '--port', '0'], {
      env: { WA_APP_SECRET: seed.appSecret, WEBHOOK_VERIFICATION_TOKEN: VERIFY },
    });
    const [, url] = (await proc.waitFor(
      /listening on (http:\/\/127\.0\.0\.1:\d+\/webhook)/,
    )) as RegExpMatchArray;
    await control(emu, `apps/${seed.appId}/webhook`, { callback_url: url, verify_token: VERIFY });
    await proc.waitFor(/handshake answered for \/webhook/);
    const { message_id: id } = await control(emu, 'webhooks/inbound', {
      type: 'text',
      text: { body: 'hello CLI' },
    });
    await control(emu, 'webhooks/flush');
    await proc.waitFor(
      new RegExp(`message\\.text ${seed.phoneNumberId} ${String(id).replace(/[.+=/]/g, '\\$&')}`),
    );
    await control(emu, 'webhooks/status', {
      message_id: await sendOne(emu),
      status: 'failed',
      errors: [{ code: 131047 }],
    });
    await control(emu, 'webhooks/flush');
    await proc.waitFor(new RegExp(`status\\.failed ${seed.phoneNumberId} wamid\\.`));
    expect(await proc.stop()).toBe(0);
    expectNoSecrets(proc.output(), [seed.appSecret, VERIFY, seed.accessToken], 'listen output');
  });
});

async function sendOne(emu: Emulator): Promise<string> {
  await control(emu, 'webhooks/config', { auto_statuses: [] });
  const seed = emu.seed!;
  const res = await fetch(`${emu.url}/${seed.apiVersion}/${seed.phoneNumberId}/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${seed.accessToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      messaging_product: 'whatsapp',
      to: seed.recipient,
      type: 'text',
      text: { body: 'x' },
    }),
  });
  const json = (await res.json()) as { messages: { id: string }[] };
  return json.messages[0]!.id;
}
