import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WhatsAppAPI } from 'whatsapp-api-js';
import { Template, Text } from 'whatsapp-api-js/messages';
import {
  type InProcessBroker,
  sandboxSecrets,
  setUpTenant,
  startInProcessBroker,
  type TenantWorld,
  Transcript,
} from '../support/broker.js';
import { expectNoSecrets } from '../support/secret-scan.js';

/**
 * A peer SDK through the Graph proxy, unchanged apart from where it sends. whatsapp-api-js hard-codes
 * https://graph.facebook.com in every call; its documented hook is the `ponyfill.fetch` constructor option (README:
 * "ponyfill ... allows the code to execute on platforms that are missing standard APIs such as fetch"), so the base URL
 * is swapped there and nothing else: the broker API key goes where it expects a Meta token.
 */
/** The message id of a send, when whatsapp-api-js got one (its response type is a success/error union). */
const wamid = (r: unknown): string | undefined =>
  (r as { messages?: Array<{ id: string }> }).messages?.[0]?.id;

describe('whatsapp-api-js through the broker’s Graph proxy', () => {
  let h: InProcessBroker;
  let subscriber: Server;
  let A: TenantWorld;
  const transcript = new Transcript();
  const seen: string[] = [];

  beforeAll(async () => {
    subscriber = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(204).end());
    });
    await new Promise<void>((r) => subscriber.listen(0, '127.0.0.1', r));
    h = await startInProcessBroker();
    A = await setUpTenant(h, 'Peer', `http://127.0.0.1:${(subscriber.address() as AddressInfo).port}`, false);
  }, 60_000);

  afterAll(async () => {
    await h?.close();
    await new Promise((r) => subscriber?.close(r));
  });

  function client(key: string) {
    const brokerFetch: typeof fetch = async (input, init) => {
      const url = String(input instanceof Request ? input.url : input);
      expect(url.startsWith('https://graph.facebook.com/')).toBe(true);
      const target = url.replace('https://graph.facebook.com/', `${h.base}/graph/`);
      seen.push(target);
      return transcript.fetch(target, init);
    };
    return new WhatsAppAPI({ token: key, v: 'v26.0', secure: false, ponyfill: { fetch: brokerFetch } });
  }

  it('sends a text and a template with the tenant key; the emulator got them from the tenant’s number', async () => {
    const seed = h.sandbox.emulator.seed as NonNullable<typeof h.sandbox.emulator.seed>;
    const wa = client(A.key);
    const text = await wa.sendMessage(
      A.phoneNumberId,
      seed.recipient,
      new Text('hello from whatsapp-api-js'),
    );
    expect(wamid(text)).toMatch(/^wamid\./);
    const template = await wa.sendMessage(
      A.phoneNumberId,
      seed.recipient,
      new Template('hello_world', 'en_US'),
    );
    expect(wamid(template)).toMatch(/^wamid\./);
    expect(seen).toEqual([
      `${h.base}/graph/v26.0/${A.phoneNumberId}/messages`,
      `${h.base}/graph/v26.0/${A.phoneNumberId}/messages`,
    ]);
    const sent = h.sandbox.emulator.sentMessages({ phoneNumberId: A.phoneNumberId });
    const ids = sent.map((m) => JSON.stringify(m));
    expect(ids.some((m) => m.includes(wamid(text) as string))).toBe(true);
    expect(ids.some((m) => m.includes(wamid(template) as string))).toBe(true);
    expect(ids.some((m) => m.includes('hello_world'))).toBe(true);
  });

  it('gets Graph-shaped errors it understands: another number is refused, a bad key is refused', async () => {
    const seed = h.sandbox.emulator.seed as NonNullable<typeof h.sandbox.emulator.seed>;
    const other = await client(A.key).sendMessage('123456789012345', seed.recipient, new Text('x'));
    expect(other).toMatchObject({ error: { code: 200 } });
    const bad = await client(`${A.key.slice(0, -3)}zzz`).sendMessage(
      A.phoneNumberId,
      seed.recipient,
      new Text('x'),
    );
    expect(bad).toMatchObject({ error: { code: 190 } });
    expect(h.sandbox.emulator.sentMessages({ phoneNumberId: '123456789012345' })).toHaveLength(0);
  });

  it('no token or secret reached the peer SDK or the logs', () => {
    expect(transcript.parts.length).toBe(4);
    expectNoSecrets(`${transcript.text()}\n${h.logs.join('')}`, [
      A.key,
      A.subscriptionSecret,
      h.adminKey,
      ...sandboxSecrets(h),
    ]);
  });
});
