// The examples in docs/webhooks.md (linked from the README) are run as written: each block marked
// `<!-- example: name -->` is copied out, its `wacloud/webhooks` import pointed at src, and exercised.
import { once } from 'node:events';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { signPayload } from '../../src/webhooks/index.js';
import { waitFor } from '../support/poll.js';
import { textMessage, whatsappDelivery } from '../support/webhook-payloads.js';

const repo = new URL('../../', import.meta.url);
const doc = readFileSync(new URL('docs/webhooks.md', repo), 'utf8');
const outDir = new URL('test-artifacts/readme-examples/', repo);
mkdirSync(outDir, { recursive: true });
const written: string[] = [];

function example(name: string, exports: string[]): string {
  const match = doc.match(new RegExp(`<!-- example: ${name} -->\\s*\`\`\`ts\\n([\\s\\S]*?)\`\`\``));
  if (!match) throw new Error(`docs/webhooks.md has no example "${name}"`);
  const src = fileURLToPath(new URL('src/webhooks/index.ts', repo));
  const code = `${match[1]!.replaceAll("'wacloud/webhooks'", JSON.stringify(src))}\nexport { ${exports.join(', ')} };\n`;
  const file = new URL(`${name}-${process.pid}.ts`, outDir);
  writeFileSync(file, code);
  written.push(fileURLToPath(file));
  return fileURLToPath(file);
}

const SECRET = 'readme-example-secret-5d6e7f';
const VERIFY = 'readme-verify-token';
const env = {
  WA_APP_SECRET: SECRET,
  WEBHOOK_VERIFICATION_TOKEN: VERIFY,
  WEBHOOK_ENDPOINT: '/webhook',
  WA_LISTENER_PORT: '0',
};

const delivery = whatsappDelivery({
  contactName: 'Sheena Nelson',
  messages: [textMessage('wamid.README', 'Does it come in another color?')],
  statuses: [{ id: 'wamid.SENT', status: 'read' }],
});
const signed = {
  method: 'POST',
  headers: { 'content-type': 'application/json', 'x-hub-signature-256': signPayload(delivery, SECRET) },
  body: delivery,
};

describe('docs/webhooks.md examples', () => {
  const saved = { ...process.env };
  const servers: Server[] = [];
  afterEach(() => {
    vi.restoreAllMocks();
  });
  afterAll(async () => {
    process.env = saved;
    for (const f of written) rmSync(f, { force: true });
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });

  it('quick start (node:http): handshake, then a text message and a status are logged', async () => {
    Object.assign(process.env, env);
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const { server } = (await import(example('node', ['server', 'router']))) as { server: Server };
    servers.push(server);
    if (!server.listening) await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook`;

    const hs = await fetch(`${url}?hub.mode=subscribe&hub.verify_token=${VERIFY}&hub.challenge=31337`);
    expect(await hs.text()).toBe('31337');
    expect((await fetch(url, signed)).status).toBe(200);
    await waitFor('log.mock.calls.length >= 2', () => log.mock.calls.length >= 2, 5_000, 10);
    expect(log.mock.calls.map((c) => c[0])).toEqual([
      'Sheena Nelson: Does it come in another color?',
      'wamid.SENT is now read',
    ]);
    expect((await fetch(url, { ...signed, headers: { 'content-type': 'application/json' } })).status).toBe(
      401,
    );
  });

  it('Hono (fetch-style): in-process request → response', async () => {
    Object.assign(process.env, env);
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const { app } = (await import(example('hono', ['app']))) as {
      app: { request: (u: string, i?: RequestInit) => Promise<Response> };
    };
    const hs = await app.request(`/webhook?hub.mode=subscribe&hub.verify_token=${VERIFY}&hub.challenge=7`);
    expect(await hs.text()).toBe('7');
    expect((await app.request('/webhook', signed)).status).toBe(200);
    await waitFor('log.mock.calls.length >= 1', () => log.mock.calls.length >= 1, 5_000, 10);
    expect(log.mock.calls[0]).toEqual(['message', 'wamid.README']);
  });

  it('Express after express.json({ verify }): the rawBody recipe verifies', async () => {
    Object.assign(process.env, env);
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const { app } = (await import(example('express', ['app']))) as {
      app: { listen: (port: number, host: string) => Server };
    };
    const server = app.listen(0, '127.0.0.1');
    servers.push(server);
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook`;
    expect((await fetch(url, signed)).status).toBe(200);
    await waitFor('log.mock.calls.length >= 1', () => log.mock.calls.length >= 1, 5_000, 10);
    expect(log.mock.calls[0]).toEqual(['status', 'wamid.SENT', 'read']);
  });
});
