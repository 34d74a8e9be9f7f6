import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.js';
import { Secret } from '../core/secret.js';
import { createGraphProxy, type ProxyToken } from './graph-proxy.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    ),
  );
}

const appSecret = new Secret('app-secret-for-proxy-tests', 'app-secret');
const tokenV1 = new Secret(`EAAT${'a'.repeat(30)}`, 'token');
const tokenV2 = new Secret(`EAAT${'b'.repeat(30)}`, 'token');
const apiKey = 'wck_abcdefgh_tenant-a-key';
const big = Buffer.alloc(3 * 1024 * 1024, 0).map((_, i) => i % 251);

describe('Graph proxy', () => {
  const seen: Seen[] = [];
  let upstream: Server;
  let proxyServer: Server;
  let proxyUrl: string;
  let current: ProxyToken = { token: tokenV1, credentialId: 'c1', version: 1 };
  const remembered: string[] = [];
  let rejectV1 = false;

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        seen.push({
          method: req.method!,
          url: req.url!,
          headers: req.headers,
          body: Buffer.concat(chunks).toString(),
        });
        if (rejectV1 && req.headers.authorization === `Bearer ${tokenV1.reveal()}`) {
          res.writeHead(401, {
            'content-type': 'application/json',
            'www-authenticate': 'OAuth "Facebook Platform" "invalid_token"',
          });
          res.end(
            '{"error":{"message":"Error validating access token: Session has expired","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"T1"}}',
          );
          return;
        }
        if (req.url!.includes('/media') && req.method === 'POST') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end('{"id":"999000111"}');
          return;
        }
        if (req.url!.startsWith('/v26.0/778')) {
          // A download bigger than any socket buffer: goes through in pieces, with backpressure.
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          res.end(big);
          return;
        }
        if (req.url!.startsWith('/v26.0/777')) {
          res.writeHead(200, { 'content-type': 'image/png' });
          res.end(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 255]));
          return;
        }
        res.writeHead(200, {
          'content-type': 'application/json',
          'x-business-use-case-usage': '{"1":[]}',
          'x-secret-internal': 'no',
        });
        res.end('{"messaging_product":"whatsapp","messages":[{"id":"wamid.X"}]}');
      });
    });
    const upstreamUrl = await listen(upstream);
    const allowed = new Set(['111', '222', '777', '778']);
    const proxy = createGraphProxy({
      upstreamUrl,
      clock: new ManualClock(),
      appSecret,
      maxBodyBytes: 1024,
      // Bodies of 65..1024 bytes are streamed, smaller ones buffered (a send retried after a 190).
      bufferBodyBytes: 64,
      authenticate: (key) => (key === apiKey ? { tenantId: 't-a', keyId: 'abcdefgh' } : undefined),
      isAllowedObject: (_t, id) => allowed.has(id) || remembered.includes(id),
      tokenFor: () => current,
      onTokenRejected: async () => {
        current = { token: tokenV2, credentialId: 'c1', version: 2 };
        return current;
      },
      rememberObject: (_t, id) => {
        remembered.push(id);
      },
    });
    proxyServer = createServer((req, res) => {
      if (req.url!.startsWith('/graph/')) void proxy(req, res, req.url!.slice('/graph'.length));
      else res.writeHead(404).end();
    });
    proxyUrl = await listen(proxyServer);
  });

  afterAll(async () => {
    await new Promise((r) => proxyServer.close(r));
    await new Promise((r) => upstream.close(r));
  });

  const send = (path: string, init: RequestInit = {}) =>
    fetch(`${proxyUrl}${path}`, {
      ...init,
      headers: {
        authorization: `Bearer ${apiKey}`,
        'content-type': 'application/json',
        ...(init.headers ?? {}),
      },
    });

  it('forwards with the tenant token and appsecret_proof, never the broker key', async () => {
    seen.length = 0;
    const res = await send('/graph/v26.0/111/messages?access_token=leaky&x=1', {
      method: 'POST',
      body: '{"to":"1"}',
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ messaging_product: 'whatsapp', messages: [{ id: 'wamid.X' }] });
    expect(res.headers.get('x-business-use-case-usage')).toBe('{"1":[]}');
    expect(res.headers.get('x-secret-internal')).toBeNull();
    const up = seen[0]!;
    expect(up.headers.authorization).toBe(`Bearer ${tokenV1.reveal()}`);
    const url = new URL(up.url, 'http://x');
    expect(url.pathname).toBe('/v26.0/111/messages');
    expect(url.searchParams.get('access_token')).toBeNull();
    expect(url.searchParams.get('x')).toBe('1');
    expect(url.searchParams.get('appsecret_proof')).toBe(
      createHmac('sha256', appSecret.reveal()).update(tokenV1.reveal()).digest('hex'),
    );
    expect(up.body).toBe('{"to":"1"}');
    expect(JSON.stringify(up.headers)).not.toContain(apiKey);
  });

  it('refuses other objects, debug_token, me and malformed paths with Graph-shaped errors', async () => {
    for (const path of [
      '/graph/v26.0/333/messages',
      '/graph/v26.0/debug_token?input_token=x',
      '/graph/v26.0/me',
      '/graph/v26.0/oauth/access_token',
    ]) {
      const res = await send(path);
      expect(res.status, path).toBe(403);
      const body = (await res.json()) as { error: { code: number; fbtrace_id: string } };
      expect(body.error.code).toBe(200);
      expect(body.error.fbtrace_id).toBeTruthy();
    }
    expect((await send('/graph/26/111/messages')).status).toBe(400);
    expect((await send('/graph/v26.0')).status).toBe(400);
  });

  it('needs a valid broker key', async () => {
    expect((await fetch(`${proxyUrl}/graph/v26.0/111/messages`)).status).toBe(401);
    const bad = await fetch(`${proxyUrl}/graph/v26.0/111/messages`, {
      headers: { authorization: 'Bearer wck_nope' },
    });
    expect(bad.status).toBe(401);
    expect(((await bad.json()) as { error: { code: number } }).error.code).toBe(190);
  });

  it('retries once with the rotated token after a 190', async () => {
    seen.length = 0;
    current = { token: tokenV1, credentialId: 'c1', version: 1 };
    rejectV1 = true;
    const res = await send('/graph/v26.0/111/messages', { method: 'POST', body: '{"to":"2"}' });
    rejectV1 = false;
    expect(res.status).toBe(200);
    expect(seen.map((s) => s.headers.authorization)).toEqual([
      `Bearer ${tokenV1.reveal()}`,
      `Bearer ${tokenV2.reveal()}`,
    ]);
    expect(seen[1]!.body).toBe('{"to":"2"}');
  });

  it('remembers created objects and streams binary bodies', async () => {
    const up = await send('/graph/v26.0/111/media', { method: 'POST', body: '{}' });
    expect(await up.json()).toEqual({ id: '999000111' });
    expect(remembered).toContain('999000111');
    expect((await send('/graph/v26.0/999000111')).status).toBe(200);
    const bin = await send('/graph/v26.0/777');
    expect(bin.headers.get('content-type')).toBe('image/png');
    expect([...new Uint8Array(await bin.arrayBuffer())]).toEqual([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 255]);
  });

  it('streams large binary bodies whole', async () => {
    const res = await send('/graph/v26.0/778');
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(big)).toBe(true);
  });

  it('streams bodies over the buffer size straight through (declared length kept); a 190 is not retried then', async () => {
    seen.length = 0;
    const upload = 'u'.repeat(700);
    const res = await send('/graph/v26.0/111/media', {
      method: 'POST',
      body: upload,
      headers: { 'content-type': 'text/plain' },
    });
    expect(res.status).toBe(200);
    expect(seen[0]).toMatchObject({ body: upload });
    expect(seen[0]?.headers['content-length']).toBe('700');
    // Chunked (no declared length) under the cap: streamed too, whole.
    seen.length = 0;
    const chunked = await send('/graph/v26.0/111/media', {
      method: 'POST',
      body: new ReadableStream({
        start(c) {
          for (let i = 0; i < 3; i++) c.enqueue(new TextEncoder().encode('c'.repeat(200)));
          c.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(200);
    expect(seen[0]?.body).toBe('c'.repeat(600));
    // The body went upstream as it came and is gone: a 190 goes back to the client (the manager rotated meanwhile,
    // so the client's retry gets the new token), never a retry with half a body.
    seen.length = 0;
    current = { token: tokenV1, credentialId: 'c1', version: 1 };
    rejectV1 = true;
    const rejected = await send('/graph/v26.0/111/media', { method: 'POST', body: upload });
    rejectV1 = false;
    expect(rejected.status).toBe(401);
    expect(seen.map((x) => x.headers.authorization)).toEqual([`Bearer ${tokenV1.reveal()}`]);
    expect(current.version).toBe(2);
  });

  it('refuses oversize bodies: declared, before anything reaches Graph; chunked, the upstream request aborted unfinished', async () => {
    seen.length = 0;
    const res = await send('/graph/v26.0/111/messages', { method: 'POST', body: 'x'.repeat(2048) });
    expect(res.status).toBe(413);
    const chunked = await send('/graph/v26.0/111/messages', {
      method: 'POST',
      body: new ReadableStream({
        start(c) {
          for (let i = 0; i < 4; i++) c.enqueue(new TextEncoder().encode('y'.repeat(512)));
          c.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect(((await chunked.json()) as { error: { code: number } }).error.code).toBe(100);
    expect(seen).toEqual([]);
  });

  it('answers 502 when Graph is down, without leaking the token', async () => {
    const dead = createGraphProxy({
      upstreamUrl: 'http://127.0.0.1:9',
      clock: new ManualClock(),
      authenticate: () => ({ tenantId: 't', keyId: 'k' }),
      isAllowedObject: () => true,
      tokenFor: () => current,
      onTokenRejected: async () => undefined,
    });
    const server = createServer((req, res) => void dead(req, res, req.url!.slice('/graph'.length)));
    const url = await listen(server);
    const res = await fetch(`${url}/graph/v26.0/111/messages`, {
      headers: { authorization: `Bearer ${apiKey}` },
    });
    const text = await res.text();
    await new Promise((r) => server.close(r));
    expect(res.status).toBe(502);
    expect(text).not.toContain(current.token.reveal());
    expect(JSON.parse(text).error.code).toBe(2);
  });
});
