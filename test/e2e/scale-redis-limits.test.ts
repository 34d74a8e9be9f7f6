import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgTestUrl } from '../support/pg.js';
import { waitFor } from '../support/poll.js';
import { announceSkip } from '../support/require-all.js';
import {
  type BrokerInstance,
  type ScaleCluster,
  type SeededTenant,
  seedTenants,
  startScaleCluster,
} from '../support/scale-cluster.js';
import {
  type PrivateRedis,
  privateRedisUnavailable,
  startPrivateRedis,
} from '../support/scale-private-redis.js';

const FILE = 'test/e2e/scale-redis-limits.test.ts';
const unavailable = pgTestUrl ? privateRedisUnavailable() : 'WACLOUD_TEST_DATABASE_URL is not set';
if (unavailable) announceSkip(FILE, 'shared send-limit test', unavailable);

const DAY_MS = 86_400_000;
/** WACLOUD_SEND_RATE_LIMIT (per number per second, across all instances) and WACLOUD_INSTANCES. */
const LIMIT = 6;
const INSTANCES = 3;
/** What each instance admits on its own while Redis is away: floor(limit / instances). */
const SHARE = Math.floor(LIMIT / INSTANCES);
/** The limiter's window (messages per second). */
const WINDOW_MS = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Outcome {
  instance: string;
  status: number;
  body: string;
  retryAfter: string | null;
}

describe.skipIf(unavailable !== undefined)(
  'scale-out: three broker processes share one send limit per number through Redis',
  () => {
    let redis: PrivateRedis | undefined;
    let c: ScaleCluster | undefined;
    let tenant: SeededTenant;
    beforeAll(async () => {
      // A private Redis: stopping the machine's shared one would break other tests running in parallel.
      redis = await startPrivateRedis();
      c = await startScaleCluster({
        instances: INSTANCES,
        serverUrl: pgTestUrl as string,
        redisUrl: redis.url,
        env: { WACLOUD_SEND_RATE_LIMIT: String(LIMIT), WACLOUD_INSTANCES: String(INSTANCES) },
      });
      [tenant] = (await seedTenants(c, {
        count: 1,
        dueAtMs: Date.now() + 20 * DAY_MS,
        withProxy: 1,
        prefix: 'limits',
      })) as [SeededTenant];
      // A production number (not a test number with an allow-list), so any recipient is accepted.
      await c.emulator.control(`/phone-numbers/${tenant.phoneNumberId}`, { test: false }, 'PATCH');
    }, 90_000);
    afterAll(async () => {
      await c?.stop();
      await redis?.destroy();
    }, 30_000);

    let recipient = 0;
    /** One text message through an instance's proxy, each to a new recipient (no pair limit at the emulator). */
    async function send(i: BrokerInstance): Promise<Outcome> {
      const to = `1555${String(recipient++).padStart(7, '0')}`;
      const res = await fetch(`${i.base}/graph/v26.0/${tenant.phoneNumberId}/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tenant.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ messaging_product: 'whatsapp', to, type: 'text', text: { body: 'hi' } }),
      });
      return {
        instance: i.id,
        status: res.status,
        body: await res.text(),
        retryAfter: res.headers.get('retry-after'),
      };
    }

    /** Messages the emulator accepted from the tenant's number so far. */
    async function sentAtEmulator(): Promise<number> {
      const cluster = c as ScaleCluster;
      const r = await cluster.emulator.control<{ data: unknown[] }>(
        `/messages?phone_number_id=${tenant.phoneNumberId}&limit=10000`,
      );
      return r.data.length;
    }

    /**
     * `count` sends at once, round-robin over `targets`, after the previous sends have left the window. A sliding
     * window may rightly admit more once a burst outlasts one window, so a burst that took that long (a loaded
     * machine) is tried again, at most three times.
     */
    async function burst(targets: BrokerInstance[], count: number): Promise<Outcome[]> {
      for (let attempt = 1; ; attempt++) {
        await sleep(WINDOW_MS + 100);
        const started = Date.now();
        const out = await Promise.all(
          Array.from({ length: count }, (_, n) => send(targets[n % targets.length] as BrokerInstance)),
        );
        const took = Date.now() - started;
        if (took < WINDOW_MS) return out;
        if (attempt === 3)
          throw new Error(`three bursts of ${count} sends each took over one window (last ${took} ms)`);
        console.log(`[scale-redis-limits] a burst of ${count} took ${took} ms (over one window): again`);
      }
    }

    /** Accepted sends per instance; every other answer must be Meta's 130429 refusal (no 5xx, nothing else). */
    function tally(out: Outcome[]): { accepted: number; byInstance: Record<string, number> } {
      const byInstance: Record<string, number> = {};
      for (const i of (c as ScaleCluster).instances) byInstance[i.id] = 0;
      let accepted = 0;
      for (const o of out) {
        if (o.status === 200) {
          accepted++;
          byInstance[o.instance] = (byInstance[o.instance] ?? 0) + 1;
          continue;
        }
        expect(o.status === 429 ? 429 : `${o.instance}: ${o.status} ${o.body.slice(0, 300)}`).toEqual(429);
        const error = (JSON.parse(o.body) as { error: Record<string, unknown> }).error;
        expect(error).toMatchObject({ code: 130429, error_subcode: 2494055, type: 'OAuthException' });
        expect(Number(o.retryAfter)).toBeGreaterThanOrEqual(1);
      }
      return { accepted, byInstance };
    }

    /** `sendLimits` from each instance's /readyz (status 200 required: a missing Redis is degraded, not down). */
    async function modes(): Promise<string[]> {
      return Promise.all(
        (c as ScaleCluster).instances.map(async (i) => {
          const res = await fetch(`${i.base}/readyz`);
          const body = (await res.json()) as { sendLimits?: string };
          return `${res.status} ${body.sendLimits}`;
        }),
      );
    }
    const allModes = (mode: string) => async () => (await modes()).every((m) => m === `200 ${mode}`);

    /** The shared budget: spread over the three, at most LIMIT in all (not 3x); one instance alone may use it all. */
    async function expectShared(): Promise<void> {
      const cluster = c as ScaleCluster;
      const before = await sentAtEmulator();
      const spread = tally(await burst(cluster.instances, 30));
      expect(spread.accepted).toBe(LIMIT);
      // Not split up front: a single instance gets the whole budget (more than its local share).
      const alone = tally(await burst([cluster.instances[0] as BrokerInstance], 12));
      expect(alone.accepted).toBe(LIMIT);
      expect(await sentAtEmulator()).toBe(before + spread.accepted + alone.accepted);
    }

    it('with Redis: a burst over the three instances admits at most the limit in all, the rest get 130429', async () => {
      await waitFor('every instance sharing send limits through Redis', allModes('redis'), 20_000);
      await expectShared();
    }, 60_000);

    it('Redis gone: each instance keeps serving with its share, no 5xx; Redis back: shared again', async () => {
      const cluster = c as ScaleCluster;
      const r = redis as PrivateRedis;
      // Traffic over all three while Redis goes away and the instances notice.
      const during: Outcome[] = [];
      let stopTraffic = false;
      const traffic = (async () => {
        for (let n = 0; !stopTraffic; n++) {
          during.push(await send(cluster.instances[n % INSTANCES] as BrokerInstance));
          await sleep(20);
        }
      })();
      let noticedMs = 0;
      try {
        await r.stop();
        const stoppedAt = Date.now();
        await waitFor('every instance on its local share', allModes('local'), 20_000);
        noticedMs = Date.now() - stoppedAt;
      } finally {
        stopTraffic = true;
        await traffic;
      }
      expect(during.length).toBeGreaterThan(0);
      tally(during);

      const before = await sentAtEmulator();
      const alone = tally(await burst([cluster.instances[0] as BrokerInstance], 12));
      expect(alone.accepted).toBe(SHARE);
      const spread = tally(await burst(cluster.instances, 30));
      expect(spread.byInstance).toEqual(Object.fromEntries(cluster.instances.map((i) => [i.id, SHARE])));
      expect(spread.accepted).toBeLessThanOrEqual(LIMIT);
      expect(await sentAtEmulator()).toBe(before + alone.accepted + spread.accepted);
      // Each instance said so once (a warning per outage, not one per send).
      for (const i of cluster.instances) {
        expect(i.proc.output().match(/send limits: Redis unreachable/g)?.length, i.id).toBe(1);
      }

      await r.start();
      const startedAt = Date.now();
      await waitFor('every instance sharing through Redis again', allModes('redis'), 30_000);
      console.log(
        `[scale-redis-limits] Redis stopped: all on the local share after ${noticedMs} ms (${during.length} sends meanwhile, none 5xx); restarted: all shared again after ${Date.now() - startedAt} ms`,
      );
      await expectShared();
    }, 90_000);
  },
);
