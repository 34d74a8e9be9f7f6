// Each adapter over a real loopback socket: handshake, signed deliveries, every bad-input status, the body cap
// while streaming, and a 200 that does not wait for slow handlers.
import { once } from 'node:events';
import { createServer, request as httpRequest, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createExpressWebhookMiddleware,
  createFetchWebhookHandler,
  createNodeWebhookHandler,
  fastifyWebhook,
  signPayload,
  type WebhookEvent,
  type WebhookHandlerOptions,
} from '../../src/webhooks/index.js';
import { waitFor } from '../support/poll.js';
import { textMessage, whatsappDelivery } from '../support/webhook-payloads.js';

const SECRET = 'adapter-test-app-secret-91b2c3';
const VERIFY = 'adapter-verify-token';
const CAP = 64 * 1024;
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

function body(id: string, text = 'héllo 👋'): string {
  return whatsappDelivery({
    contactName: 'Zoë',
    messages: [textMessage(id, text)],
    statuses: [{ id: `${id}.out`, status: 'delivered' }],
  });
}

interface Harness {
  url: string;
  events: WebhookEvent[];
  close(): Promise<void>;
}

function options(events: WebhookEvent[], slow = false): WebhookHandlerOptions {
  return {
    appSecret: SECRET,
    verifyToken: VERIFY,
    maxBodyBytes: CAP,
    logger: quiet,
    onEvent: async (e) => {
      if (slow && e.type === 'message' && e.message.type === 'text' && e.message.text.body === 'slow') {
        await new Promise((r) => setTimeout(r, 1500));
      }
      events.push(e);
    },
  };
}

async function listen(listener: RequestListener): Promise<{ url: string; server: Server }> {
  const server = createServer(listener);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

const closeServer = (server: Server) =>
  new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

const ADAPTERS: Record<string, () => Promise<Harness>> = {
  'node:http': async () => {
    const events: WebhookEvent[] = [];
    const { url, server } = await listen(createNodeWebhookHandler(options(events, true)));
    return { url: `${url}/webhook`, events, close: () => closeServer(server) };
  },
  'fetch (Hono on @hono/node-server)': async () => {
    const events: WebhookEvent[] = [];
    const webhook = createFetchWebhookHandler(options(events, true));
    const app = new Hono();
    app.all('/webhook', (c) => webhook(c.req.raw));
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    return { url: `http://127.0.0.1:${port}/webhook`, events, close: () => closeServer(server) };
  },
  'express (mounted before express.json)': async () => {
    const events: WebhookEvent[] = [];
    const app = express();
    app.all('/webhook', createExpressWebhookMiddleware(options(events, true)));
    app.use(express.json());
    const { url, server } = await listen(app);
    return { url: `${url}/webhook`, events, close: () => closeServer(server) };
  },
  'express (after express.json with the verify recipe)': async () => {
    const events: WebhookEvent[] = [];
    const app = express();
    app.use(
      express.json({
        limit: '5mb',
        verify: (req, _res, buf) => {
          (req as typeof req & { rawBody?: Buffer }).rawBody = buf;
        },
      }),
    );
    app.all('/webhook', createExpressWebhookMiddleware(options(events, true)));
    const { url, server } = await listen(app);
    return { url: `${url}/webhook`, events, close: () => closeServer(server) };
  },
  fastify: async () => {
    const events: WebhookEvent[] = [];
    const app: FastifyInstance = Fastify({ bodyLimit: 10 * 1024 * 1024 });
    app.get('/health', async () => ({ ok: true }));
    await app.register(fastifyWebhook, { path: '/webhook', ...options(events, true) });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as AddressInfo).port;
    return { url: `http://127.0.0.1:${port}/webhook`, events, close: () => app.close() };
  },
};

async function send(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; text: string; headers: Headers }> {
  const res = await fetch(url, init);
  return { status: res.status, text: await res.text(), headers: res.headers };
}

function signed(raw: string, secret = SECRET): RequestInit {
  return {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': signPayload(raw, secret) },
    body: raw,
  };
}

/**
 * A raw node:http POST that streams a valid JSON body of about `size` bytes without a Content-Length (chunked), to
 * test the cap while streaming.
 */
function streamPost(url: string, size: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` },
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    const chunk = Buffer.alloc(16 * 1024, 0x61);
    req.write('{"pad":"');
    let sent = 0;
    const pump = (): void => {
      while (sent < size) {
        sent += chunk.length;
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end('"}');
    };
    pump();
  });
}

for (const [name, start] of Object.entries(ADAPTERS)) {
  describe(`adapter: ${name}`, () => {
    let h: Harness;
    beforeAll(async () => {
      h = await start();
    });
    afterAll(async () => {
      await h.close();
    });

    it('answers the handshake with the challenge as plain text, and 403 otherwise', async () => {
      const ok = await send(
        `${h.url}?hub.mode=subscribe&hub.verify_token=${VERIFY}&hub.challenge=1158201444`,
      );
      expect(ok.status).toBe(200);
      expect(ok.text).toBe('1158201444');
      expect(ok.headers.get('content-type')).toMatch(/^text\/plain/);
      const bad = await send(`${h.url}?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1158201444`);
      expect(bad.status).toBe(403);
      expect(bad.text).not.toContain('1158201444');
    });

    it('accepts a signed delivery and hands its message and status to the handlers', async () => {
      const before = h.events.length;
      const res = await send(h.url, signed(body('wamid.ok')));
      expect(res.status).toBe(200);
      await waitFor('h.events.length >= before + 2', () => h.events.length >= before + 2, 5_000, 10);
      const mine = h.events.slice(before);
      expect(mine.map((e) => e.type)).toEqual(['message', 'status']);
      expect(mine[0]).toMatchObject({
        message: { id: 'wamid.ok', text: { body: 'héllo 👋' } },
        contact: { name: 'Zoë' },
      });
    });

    it('answers every kind of bad input with its status and no secret', async () => {
      const raw = body('wamid.bad');
      const cases: [RequestInit, number][] = [
        [{ ...signed(raw), headers: { 'content-type': 'application/json' } }, 401],
        [signed(raw, 'not-the-secret'), 401],
        [{ ...signed(raw), body: `${raw}\n` }, 401],
        [signed('{"broken":'), 400],
        [
          {
            ...signed(raw),
            headers: { 'content-type': 'text/plain', 'x-hub-signature-256': signPayload(raw, SECRET) },
          },
          415,
        ],
        [{ ...signed(raw), method: 'PUT' }, 405],
        [{ method: 'DELETE' }, 405],
      ];
      for (const [init, status] of cases) {
        const res = await send(h.url, init);
        expect(res.status, `${init.method} → ${status}`).toBe(status);
        expect(res.text).not.toContain(SECRET);
      }
    });

    it('refuses an oversize body with 413, by Content-Length and while streaming', async () => {
      const big = body('wamid.big', 'x'.repeat(CAP));
      expect((await send(h.url, signed(big))).status).toBe(413);
      expect(await streamPost(h.url, CAP * 4)).toBe(413);
      // The endpoint still works afterwards.
      expect((await send(h.url, signed(body('wamid.after')))).status).toBe(200);
    });

    it('answers 200 fast while a slow handler is still running', async () => {
      const before = h.events.length;
      const started = performance.now();
      const res = await send(h.url, signed(body('wamid.slow', 'slow')));
      const elapsed = performance.now() - started;
      expect(res.status).toBe(200);
      expect(elapsed).toBeLessThan(1000);
      expect(h.events.slice(before).some((e) => e.type === 'message')).toBe(false);
      await waitFor(
        "h.events.slice(before).some((e) => e.type === 'message')",
        () => h.events.slice(before).some((e) => e.type === 'message'),
        5_000,
        10,
      );
    });
  });
}

describe('adapter: express after express.json() without the recipe', () => {
  let url: string;
  let server: Server;
  beforeAll(async () => {
    const app = express();
    app.use(express.json());
    app.all(
      '/webhook',
      createExpressWebhookMiddleware({ appSecret: SECRET, verifyToken: VERIFY, logger: quiet }),
    );
    ({ url, server } = await listen(app));
  });
  afterAll(() => closeServer(server));

  it('answers 500 and says exactly why (it never re-serialises req.body)', async () => {
    const res = await send(`${url}/webhook`, signed(body('wamid.parsed')));
    expect(res.status).toBe(500);
    const error = JSON.parse(res.text).error;
    expect(error.reason).toBe('raw_body_unavailable');
    expect(error.message).toContain('express.json()');
    expect(error.message).toContain('req.rawBody = buf');
  });

  it('still answers the handshake (GET needs no body)', async () => {
    const res = await send(`${url}/webhook?hub.mode=subscribe&hub.verify_token=${VERIFY}&hub.challenge=42`);
    expect(res.status).toBe(200);
    expect(res.text).toBe('42');
  });
});

describe('adapter: express.raw() and a path-scoped middleware', () => {
  it('verifies a Buffer body from express.raw(), and calls next() for other paths', async () => {
    const events: WebhookEvent[] = [];
    const app = express();
    app.use(express.raw({ type: 'application/json' }));
    app.use(createExpressWebhookMiddleware({ ...options(events), path: '/hooks/wa' }));
    app.get('/other', (_req, res) => void res.send('other route'));
    const { url, server } = await listen(app);
    try {
      expect((await send(`${url}/hooks/wa`, signed(body('wamid.raw')))).status).toBe(200);
      expect((await send(`${url}/other`)).text).toBe('other route');
      await waitFor('events.length === 2', () => events.length === 2, 5_000, 10);
    } finally {
      await closeServer(server);
    }
  });
});

describe('adapter: fastify keeps the rest of the app untouched', () => {
  it('other routes still parse JSON normally', async () => {
    const app = Fastify();
    app.post('/api/echo', async (req) => ({ got: req.body }));
    await app.register(fastifyWebhook, { appSecret: SECRET, verifyToken: VERIFY, logger: quiet });
    await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const port = (app.server.address() as AddressInfo).port;
      const echo = await send(`http://127.0.0.1:${port}/api/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"a":1}',
      });
      expect(JSON.parse(echo.text)).toEqual({ got: { a: 1 } });
      expect((await send(`http://127.0.0.1:${port}/webhook`, signed(body('wamid.f')))).status).toBe(200);
    } finally {
      await app.close();
    }
  });
});

describe('adapter: node:http with the default 3 MiB cap', () => {
  it('accepts a body just under 3 MiB and refuses one just over', async () => {
    const events: WebhookEvent[] = [];
    const { url, server } = await listen(
      createNodeWebhookHandler({
        appSecret: SECRET,
        logger: quiet,
        dedupe: false,
        onEvent: (e) => void events.push(e),
      }),
    );
    try {
      const base = body('wamid.3m', '');
      const under = base.replace(
        '"body":""',
        `"body":"${'a'.repeat(3 * 1024 * 1024 - Buffer.byteLength(base))}"`,
      );
      expect(Buffer.byteLength(under)).toBe(3 * 1024 * 1024);
      expect((await send(url, signed(under))).status).toBe(200);
      const over = `${under} `;
      expect((await send(url, signed(over))).status).toBe(413);
    } finally {
      await closeServer(server);
    }
  });
});

describe('adapter: node:http when the client goes away mid-body', () => {
  it('drops the request without crashing or running handlers', async () => {
    const events: WebhookEvent[] = [];
    const { url, server } = await listen(createNodeWebhookHandler({ ...options(events), dedupe: false }));
    try {
      const { port } = new URL(url);
      const { connect } = await import('node:net');
      const socket = connect(Number(port), '127.0.0.1');
      await once(socket, 'connect');
      socket.write(
        'POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"object":',
      );
      await new Promise((r) => setTimeout(r, 50));
      socket.destroy();
      await new Promise((r) => setTimeout(r, 50));
      expect((await send(`${url}/webhook`, signed(body('wamid.alive')))).status).toBe(200);
      await waitFor('events.length === 2', () => events.length === 2, 5_000, 10);
      expect(events.every((e) => e.type !== 'unknown')).toBe(true);
    } finally {
      await closeServer(server);
    }
  });
});
