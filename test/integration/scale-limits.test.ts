import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGraphProxy } from '../../src/broker/graph-proxy.js';
import { ManualClock, systemClock } from '../../src/core/clock.js';
import type { Logger } from '../../src/core/logger.js';
import { Secret } from '../../src/core/secret.js';
import { type StartedEmulator, startEmulator } from '../../src/emulator/index.js';
import {
  createLocalSendLimiter,
  createRedisSendLimiter,
  createSendLimiter,
  localShare,
  type SendDecision,
  type SendLimiter,
} from '../../src/scale/send-limiter.js';
import { announceSkip } from '../support/require-all.js';

const redisUrl = process.env.WACLOUD_TEST_REDIS_URL?.trim() || undefined;
if (!redisUrl) announceSkip('scale-limits.test.ts', 'Redis tests', 'WACLOUD_TEST_REDIS_URL is not set');

function recordingLogger(lines: string[]): Logger {
  const rec = (level: string) => (msg: string, fields?: Record<string, unknown>) =>
    lines.push(JSON.stringify({ level, msg, ...fields }));
  return { debug: rec('debug'), info: rec('info'), warn: rec('warn'), error: rec('error') };
}

/** Interleaves `n` takes from each limiter, all in flight at once. */
async function burst(limiters: SendLimiter[], number: string, n: number): Promise<SendDecision[][]> {
  return Promise.all(limiters.map((l) => Promise.all(Array.from({ length: n }, () => l.take(number)))));
}

const admitted = (ds: SendDecision[]) => ds.filter((d) => d.ok).length;

describe('local send limits (no Redis)', () => {
  it('each instance admits floor(limit / instances) per window, then again once the window slides', async () => {
    expect(localShare(80, 1)).toBe(80);
    expect(localShare(80, 3)).toBe(26);
    expect(localShare(2, 5)).toBe(1);
    const clock = new ManualClock();
    const l = createLocalSendLimiter({ limit: 80, instances: 4, clock });
    const first = await burst([l], '111', 30);
    expect(admitted(first[0] as SendDecision[])).toBe(20);
    const refused = (first[0] as SendDecision[]).find((d) => !d.ok) as Extract<SendDecision, { ok: false }>;
    expect(refused).toMatchObject({ ok: false, limit: 20, retryAfterMs: 1000 });
    // Another number has its own budget.
    expect((await l.take('222')).ok).toBe(true);
    await clock.advance(400);
    expect((await l.take('111')).ok).toBe(false);
    await clock.advance(600);
    expect(admitted((await burst([l], '111', 30))[0] as SendDecision[])).toBe(20);
    expect(l.mode()).toBe('local');
  });

  it('per-number overrides (upgraded numbers) and limit 0 = off', async () => {
    const clock = new ManualClock();
    const l = createLocalSendLimiter({ limit: 2, overrides: { '333': 5 }, clock });
    expect(admitted((await burst([l], '333', 10))[0] as SendDecision[])).toBe(5);
    expect(admitted((await burst([l], '444', 10))[0] as SendDecision[])).toBe(2);
    expect(createSendLimiter({ limit: 0 })).toBeUndefined();
    expect(createSendLimiter({ limit: 10 })?.mode()).toBe('local');
  });
});

describe('shared send limits through Redis', () => {
  it('Redis unreachable (closed port): the local share decides, nothing throws, one log line', async () => {
    const lines: string[] = [];
    const l = createRedisSendLimiter({
      url: new Secret('redis://127.0.0.1:1', 'redis-url'),
      limit: 10,
      instances: 2,
      logger: recordingLogger(lines),
      clock: new ManualClock(),
    });
    try {
      // Give the first connection attempt time to fail (and report once); sends before that are decided locally too.
      await new Promise((r) => setTimeout(r, 300));
      const ds = (await burst([l], '555', 12))[0] as SendDecision[];
      expect(admitted(ds)).toBe(5);
      expect(l.mode()).toBe('local');
      await new Promise((r) => setTimeout(r, 300));
      expect(lines.filter((x) => x.includes('Redis unreachable'))).toHaveLength(1);
    } finally {
      await l.close();
    }
  });

  describe.skipIf(!redisUrl)('on a real Redis', () => {
    const url = new Secret(redisUrl ?? 'redis://unset', 'redis-url');

    async function ready(l: SendLimiter): Promise<void> {
      const started = Date.now();
      while (l.mode() !== 'redis') {
        if (Date.now() - started > 10_000) throw new Error('Redis never became ready');
        await new Promise((r) => setTimeout(r, 10));
      }
    }

    it('two instances sharing a number never admit more than the limit in a window together', async () => {
      const keyPrefix = `wacloud-test-${randomBytes(4).toString('hex')}`;
      // A long window: the whole burst falls inside one window, so the admitted count is exact.
      const opts = { url, keyPrefix, limit: 25, windowMs: 60_000, instances: 2 };
      const a = createRedisSendLimiter(opts);
      const b = createRedisSendLimiter(opts);
      try {
        await ready(a);
        await ready(b);
        const [da, db] = (await burst([a, b], '666', 60)) as [SendDecision[], SendDecision[]];
        expect(admitted(da) + admitted(db)).toBe(25);
        // Both took part (the share is not split up front, unlike the local fallback).
        const refused = [...da, ...db].filter((d) => !d.ok) as Extract<SendDecision, { ok: false }>[];
        expect(refused).toHaveLength(95);
        for (const r of refused) {
          expect(r.limit).toBe(25);
          expect(r.retryAfterMs).toBeGreaterThan(0);
          expect(r.retryAfterMs).toBeLessThanOrEqual(60_000);
        }
        // A different number is not affected.
        expect((await a.take('777')).ok).toBe(true);
        expect(a.mode()).toBe('redis');
      } finally {
        await a.close();
        await b.close();
      }
    });

    it('a short window frees its slots again (Redis time, not ours)', async () => {
      const keyPrefix = `wacloud-test-${randomBytes(4).toString('hex')}`;
      const l = createRedisSendLimiter({ url, keyPrefix, limit: 3, windowMs: 200 });
      try {
        await ready(l);
        const first = (await burst([l], '888', 5))[0] as SendDecision[];
        expect(admitted(first)).toBe(3);
        const wait = Math.max(...first.map((d) => (d.ok ? 0 : d.retryAfterMs)));
        await new Promise((r) => setTimeout(r, wait + 20));
        expect((await l.take('888')).ok).toBe(true);
      } finally {
        await l.close();
      }
    });
  });
});

describe('Graph proxy over the limit', () => {
  let emulator: StartedEmulator;
  let strict: StartedEmulator;
  let server: Server;
  let base: string;
  let limiter: SendLimiter;

  beforeAll(async () => {
    emulator = await startEmulator({ throughput: { mps: 1e9, pairRate: false } });
    // A second emulator at 1 mps produces Meta's own 130429 to compare with.
    strict = await startEmulator({ throughput: { mps: 1, pairRate: false } });
    limiter = redisUrl
      ? createRedisSendLimiter({
          url: new Secret(redisUrl, 'redis-url'),
          keyPrefix: `wacloud-test-${randomBytes(4).toString('hex')}`,
          limit: 3,
          windowMs: 60_000,
        })
      : createLocalSendLimiter({ limit: 3, windowMs: 60_000 });
    // Until Redis answers, sends are decided by the local share: wait so the counts below are Redis's.
    for (let i = 0; redisUrl && limiter.mode() !== 'redis' && i < 1000; i++)
      await new Promise((r) => setTimeout(r, 10));
    const seed = emulator.emulator.seed as NonNullable<typeof emulator.emulator.seed>;
    const token = new Secret(seed.accessToken, 'access-token');
    const proxy = createGraphProxy({
      upstreamUrl: emulator.url,
      clock: systemClock,
      authenticate: (key) => (key === 'wck_test_key' ? { tenantId: 't1', keyId: 'k1' } : undefined),
      isAllowedObject: (_t, id) => id === seed.phoneNumberId,
      tokenFor: () => ({ token, credentialId: 'c1', version: 1 }),
      onTokenRejected: async () => undefined,
      admitSend: (id) => limiter.take(id),
    });
    server = createServer((req, res) => void proxy(req, res, (req.url ?? '/').slice('/graph'.length)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await limiter.close();
    await emulator.close();
    await strict.close();
  });

  function send(url: string, phoneNumberId: string, auth: string, to: string) {
    return fetch(`${url}/v26.0/${phoneNumberId}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${auth}`, 'content-type': 'application/json' },
      body: JSON.stringify({ messaging_product: 'whatsapp', to, type: 'text', text: { body: 'hi' } }),
    });
  }

  it("answers 429 with Meta's 130429 body once a number is over its limit; reads are not limited", async () => {
    const seed = emulator.emulator.seed as NonNullable<typeof emulator.emulator.seed>;
    const statuses: number[] = [];
    let refusal: Response | undefined;
    for (let i = 0; i < 5; i++) {
      const res = await send(`${base}/graph`, seed.phoneNumberId, 'wck_test_key', seed.recipient);
      statuses.push(res.status);
      if (res.status === 429) refusal ??= res;
      else await res.arrayBuffer();
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect(emulator.emulator.sentMessages()).toHaveLength(3);
    const ours = (await (refusal as Response).json()) as { error: Record<string, unknown> };
    expect(Number((refusal as Response).headers.get('retry-after'))).toBeGreaterThan(0);

    // Meta's own refusal, from the emulator (built from a real sample, graph-api-facts.md §8.1).
    const s = strict.emulator.seed as NonNullable<typeof strict.emulator.seed>;
    let theirs: { error: Record<string, unknown> } | undefined;
    let theirStatus = 0;
    for (let i = 0; i < 3 && !theirs; i++) {
      const res = await send(strict.url, s.phoneNumberId, s.accessToken, s.recipient);
      if (res.status !== 200) {
        theirStatus = res.status;
        theirs = (await res.json()) as { error: Record<string, unknown> };
      } else await res.arrayBuffer();
    }
    expect(theirStatus).toBe(429);
    expect(theirs?.error.code).toBe(130429);
    const { fbtrace_id: _a, ...oursRest } = ours.error;
    const { fbtrace_id: _b, ...theirsRest } = theirs?.error ?? {};
    expect(oursRest).toEqual(theirsRest);
    expect(typeof ours.error.fbtrace_id).toBe('string');

    // GETs on the number and other paths do not take from the send budget.
    const get = await fetch(`${base}/graph/v26.0/${seed.phoneNumberId}`, {
      headers: { authorization: 'Bearer wck_test_key' },
    });
    expect(get.status).toBe(200);
  });
});
