import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Broker, createBroker } from '../../src/broker/broker.js';
import { createBrokerLogger } from '../../src/broker/logger.js';
import { Secret } from '../../src/core/secret.js';
import { createFetchTransport } from '../../src/transport/index.js';
import { WhatsApp } from '../../src/whatsapp/index.js';
import {
  control,
  type InProcessBroker,
  LOCAL_RECEIVERS,
  sandboxSecrets,
  setUpTenant,
  startInProcessBroker,
  type TenantWorld,
  Transcript,
} from '../support/broker.js';
import { announcePgSkip, pgTestUrl } from '../support/pg.js';
import { until } from '../support/poll.js';
import { expectNoSecrets } from '../support/secret-scan.js';

announcePgSkip('broker-media (runs on SQLite instead)');
const engine = pgTestUrl ? 'postgres' : 'sqlite';

/**
 * Media through the broker the way a real Meta app needs it: media a tenant uploads and media its customers send are
 * the tenant's in the store (every instance, after a restart), `GET /{media-id}` answers with a signed broker URL
 * instead of Meta's lookaside URL (which needs the Meta token), and that URL streams the bytes with the tenant's token;
 * the SDK's `media.download()` pointed at the broker works unchanged. Another tenant gets nothing; an expired or
 * forged URL gets nothing.
 */
describe(`broker media on ${engine}: ownership in the store, signed download URLs`, () => {
  let h: InProcessBroker;
  let subscriber: Server;
  let A: TenantWorld;
  let B: TenantWorld;
  const transcript = new Transcript();
  const extra: Broker[] = [];

  const sdk = (base: string, t: TenantWorld) =>
    new WhatsApp({
      accessToken: t.key,
      phoneNumberId: t.phoneNumberId,
      graphUrl: `${base}/graph`,
      transport: createFetchTransport(transcript.fetch),
      configSource: { env: {}, envFile: false },
    });
  const get = (url: string, key: string) =>
    transcript.fetch(url, { headers: { authorization: `Bearer ${key}` } });

  /** Another broker instance on the same store, with the same master-key-derived secrets (as `wacloud up` derives). */
  async function anotherInstance(): Promise<{ broker: Broker; base: string }> {
    const logger = createBrokerLogger({ level: 'warn', destination: { write: (l) => h.logs.push(l) } });
    const [sessionKey, verifyToken] = h.brokerSecrets as [string, string];
    const broker = createBroker({
      store: await h.home.open({ logger }),
      appId: h.sandbox.appId,
      appSecret: new Secret(h.sandbox.appSecret, 'app-secret'),
      graphUrl: h.sandbox.url,
      dialogUrl: h.sandbox.url,
      verifyToken: new Secret(verifyToken, 'verify-token'),
      sessionKey: new Secret(sessionKey, 'session'),
      sandbox: true,
      clock: h.sandbox.emulator.clock,
      logger,
      outboundAllow: LOCAL_RECEIVERS,
    });
    extra.push(broker);
    return { broker, base: await broker.listen(0, '127.0.0.1') };
  }

  beforeAll(async () => {
    subscriber = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(204).end());
    });
    await new Promise<void>((r) => subscriber.listen(0, '127.0.0.1', r));
    const subscriberBase = `http://127.0.0.1:${(subscriber.address() as AddressInfo).port}`;
    h = await startInProcessBroker({ engine });
    A = await setUpTenant(h, 'Alpha', subscriberBase, false);
    B = await setUpTenant(h, 'Bravo', subscriberBase, true);
  }, 90_000);

  afterAll(async () => {
    for (const b of extra) await b.close().catch(() => undefined);
    await h?.close();
    await new Promise((r) => subscriber?.close(r));
  });

  it('uploaded media: the answer url is a signed broker URL; SDK download() through it returns the bytes', async () => {
    const wa = sdk(h.base, A);
    const bytes = randomBytes(4096);
    const { id } = await wa.media.upload({ data: bytes, mimeType: 'image/png', filename: 'a.png' });
    const meta = await wa.media.getUrl(id);
    expect(meta.url.startsWith(`${h.base}/media/${id}?`)).toBe(true);
    expect(meta.url).not.toContain(h.sandbox.url);
    const got = await wa.media.download(id);
    expect(Buffer.from(got.data).equals(bytes)).toBe(true);
    expect(got.mimeType).toBe('image/png');
    // By URL too (what a service does with the url it was given).
    expect(Buffer.from((await wa.media.download(meta.url)).data).equals(bytes)).toBe(true);
    await wa.close();
  });

  it("another tenant can neither read the media object nor use the owner's signed URL", async () => {
    const wa = sdk(h.base, A);
    const { id } = await wa.media.upload({ data: randomBytes(100), mimeType: 'image/jpeg' });
    const { url } = await wa.media.getUrl(id);
    await wa.close();
    const read = await get(`${h.base}/graph/v26.0/${id}`, B.key);
    expect(read.status).toBe(403);
    const stolen = await get(url, B.key);
    expect(stolen.status).toBe(403);
    expect(await stolen.text()).toContain(`may not access media ${id}`);
    // No key at all: 401 (the URL alone is not enough).
    expect((await transcript.fetch(url)).status).toBe(401);
  });

  it('expired and forged URLs are refused', async () => {
    const wa = sdk(h.base, A);
    const { id } = await wa.media.upload({ data: randomBytes(100), mimeType: 'image/jpeg' });
    const { url } = await wa.media.getUrl(id);
    await wa.close();
    const u = new URL(url);
    const forged = (name: string, value: string) => {
      const f = new URL(u);
      f.searchParams.set(name, value);
      return f.toString();
    };
    for (const bad of [
      forged('sig', Buffer.alloc(32).toString('base64url')),
      forged('tenant', B.tenantId),
      forged('exp', String(Number(u.searchParams.get('exp')) + 3600)),
      forged('src', Buffer.from('http://169.254.169.254/latest').toString('base64url')),
      url.replace(`/media/${id}?`, `/media/${id}1?`),
    ]) {
      const r = await get(bad, A.key);
      expect(r.status, bad).toBe(403);
      expect(await r.text()).toContain('signature does not match');
    }
    expect((await get(url, A.key)).status).toBe(200);
    // Meta's media URLs live 5 minutes; ours too (the sandbox's virtual clock drives both).
    await control(h, 'clock/advance', { ms: 6 * 60 * 1000 });
    const late = await get(url, A.key);
    expect(late.status).toBe(403);
    expect(await late.text()).toContain('expired');
  });

  it("a customer's image from a webhook is the routed tenant's: readable and downloadable by it, not by another", async () => {
    const image = randomBytes(2048);
    const sent = await control(h, 'webhooks/inbound', {
      phone_number_id: A.phoneNumberId,
      type: 'image',
      image: { caption: 'look' },
      media_base64: image.toString('base64'),
      mime_type: 'image/jpeg',
    });
    const mediaId = String(
      (
        (sent.payload_value as { messages: Array<{ image: { id: string } }> }).messages[0] as {
          image: { id: string };
        }
      ).image.id,
    );
    // The broker routes the webhook and records the id as Alpha's; then Alpha's service may fetch it.
    const meta = await until('the media id recorded for the tenant', async () => {
      const r = await get(`${h.base}/graph/v26.0/${mediaId}`, A.key);
      return r.status === 200 ? ((await r.json()) as { url: string; mime_type: string }) : undefined;
    });
    expect(meta.url.startsWith(`${h.base}/media/${mediaId}?`)).toBe(true);
    const wa = sdk(h.base, A);
    const got = await wa.media.download(mediaId);
    await wa.close();
    expect(Buffer.from(got.data).equals(image)).toBe(true);
    expect((await get(`${h.base}/graph/v26.0/${mediaId}`, B.key)).status).toBe(403);
    expect((await get(meta.url, B.key)).status).toBe(403);
  });

  it('ownership lives in the store: a second instance and a restarted one serve the media and accept the URLs', async () => {
    const wa = sdk(h.base, A);
    const bytes = randomBytes(512);
    const { id } = await wa.media.upload({ data: bytes, mimeType: 'audio/ogg' });
    const { url } = await wa.media.getUrl(id);
    await wa.close();
    const second = await anotherInstance();
    // Signed by the first instance, served by the second (same master key, same store).
    const onSecond = url.replace(h.base, second.base);
    const r = await get(onSecond, A.key);
    expect(r.status).toBe(200);
    expect(Buffer.from(await r.arrayBuffer()).equals(bytes)).toBe(true);
    const wa2 = sdk(second.base, A);
    expect(Buffer.from((await wa2.media.download(id)).data).equals(bytes)).toBe(true);
    await wa2.close();
    expect((await get(`${second.base}/graph/v26.0/${id}`, B.key)).status).toBe(403);
    // A restart: the instance goes away, a new one on the same store knows the object at once.
    await second.broker.close();
    const restarted = await anotherInstance();
    const wa3 = sdk(restarted.base, A);
    expect(Buffer.from((await wa3.media.download(id)).data).equals(bytes)).toBe(true);
    await wa3.close();
  });

  it('no key, token or secret in any answer or log line', () => {
    const secrets = [A.key, B.key, h.adminKey, ...sandboxSecrets(h)];
    const everything = `${transcript.text()}\n${h.logs.join('')}`;
    expect(transcript.parts.length).toBeGreaterThan(20);
    expectNoSecrets(everything, secrets, 'media answers and logs');
    expect(everything).not.toMatch(/EAA[A-Za-z0-9]{20,}/);
  });
});
