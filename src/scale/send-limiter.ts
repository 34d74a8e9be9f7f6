import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { type Clock, systemClock } from '../core/clock.js';
import { type Logger, silentLogger } from '../core/logger.js';
import type { Secret } from '../core/secret.js';

/** Meta's default throughput per registered phone number (graph-api-facts.md §10: 80 mps; 1,000 after an upgrade). */
export const META_DEFAULT_MPS = 80;

export type SendDecision = { ok: true } | { ok: false; retryAfterMs: number; limit: number };

/**
 * Admits message sends per phone number within a per-second limit. `take` never throws and never fails a send for an
 * infrastructure reason: when the shared counter is unreachable it decides locally.
 */
export interface SendLimiter {
  take(phoneNumberId: string): SendDecision | Promise<SendDecision>;
  /** `redis`: one budget shared by all instances; `local`: this instance's share (no Redis, or Redis down). */
  mode(): 'redis' | 'local';
  close(): Promise<void>;
}

export interface SendLimitOptions {
  /** Messages per window per number, across all instances. Default {@link META_DEFAULT_MPS}. */
  limit?: number;
  /** Per-number limits that differ (numbers Meta upgraded). */
  overrides?: Record<string, number>;
  /** Window length. Default 1000 ms (messages per second). */
  windowMs?: number;
  /** Broker instances sharing the numbers: without Redis each admits `floor(limit / instances)` (at least 1). */
  instances?: number;
}

/** This instance's share of a limit when it cannot coordinate with the others. */
export function localShare(limit: number, instances: number): number {
  return Math.max(1, Math.floor(limit / Math.max(1, instances)));
}

interface Ring {
  at: Float64Array;
  head: number;
  size: number;
}

/**
 * An in-memory sliding-window log per number: at most `share` sends in any `windowMs`. O(1) per send (a ring of the
 * last `share` send times).
 */
export function createLocalSendLimiter(options: SendLimitOptions & { clock?: Clock } = {}): SendLimiter {
  const clock = options.clock ?? systemClock;
  const windowMs = options.windowMs ?? 1000;
  const instances = options.instances ?? 1;
  const limit = options.limit ?? META_DEFAULT_MPS;
  const rings = new Map<string, Ring>();
  return {
    take(phoneNumberId) {
      const share = localShare(options.overrides?.[phoneNumberId] ?? limit, instances);
      let ring = rings.get(phoneNumberId);
      if (!ring || ring.at.length !== share) {
        ring = { at: new Float64Array(share), head: 0, size: 0 };
        rings.set(phoneNumberId, ring);
      }
      const now = clock.now();
      if (ring.size < share) {
        ring.at[(ring.head + ring.size) % share] = now;
        ring.size++;
        return { ok: true };
      }
      const oldest = ring.at[ring.head] as number;
      if (now - oldest >= windowMs) {
        ring.at[ring.head] = now;
        ring.head = (ring.head + 1) % share;
        return { ok: true };
      }
      return { ok: false, retryAfterMs: oldest + windowMs - now, limit: share };
    },
    mode: () => 'local',
    async close() {},
  };
}

/**
 * Sliding-window log in one sorted set per number, atomic in Lua. Time is Redis's own (`TIME`), so instances with
 * skewed clocks still share one window. Returns {1, 0} when admitted, {0, ms until a slot frees} otherwise.
 */
const SLIDING_WINDOW_LUA = `
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, ARGV[3])
  redis.call('PEXPIRE', key, window)
  return {1, 0}
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return {0, tonumber(oldest[2]) + window - now}
`;

export interface RedisSendLimiterOptions extends SendLimitOptions {
  url: Secret;
  /** Key prefix (several deployments on one Redis; tests). Default `wacloud`. */
  keyPrefix?: string;
  /** A Redis answer slower than this counts as "Redis down" for that send. Default 250 ms. */
  commandTimeoutMs?: number;
  logger?: Logger;
  /** Clock of the local fallback. */
  clock?: Clock;
}

type LimiterRedis = Redis & {
  wacloudSlidingWindow(
    key: string,
    limit: number,
    windowMs: number,
    member: string,
  ): Promise<[number, number]>;
};

/**
 * One budget per number shared by every instance through Redis. When Redis is unreachable or slow, each send is
 * decided by the local limiter with this instance's share, logged once per outage; sends never fail because of Redis.
 */
export function createRedisSendLimiter(options: RedisSendLimiterOptions): SendLimiter {
  const logger = options.logger ?? silentLogger;
  const windowMs = options.windowMs ?? 1000;
  const limit = options.limit ?? META_DEFAULT_MPS;
  const prefix = options.keyPrefix ?? 'wacloud';
  const fallback = createLocalSendLimiter({ ...options, clock: options.clock });
  const instanceTag = randomBytes(6).toString('hex');
  let seq = 0;
  let degraded = false;
  let everReady = false;
  const redis = new Redis(options.url.reveal(), {
    // Fail at once while disconnected (the fallback decides) instead of queueing sends behind a reconnect.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: options.commandTimeoutMs ?? 250,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 8), 5000),
    lazyConnect: false,
  }) as LimiterRedis;
  redis.defineCommand('wacloudSlidingWindow', { numberOfKeys: 1, lua: SLIDING_WINDOW_LUA });
  // Connection errors are handled per command (fallback); without a listener ioredis would print each one.
  redis.on('error', (err) => {
    if (!everReady) down(err);
  });
  redis.on('ready', () => {
    everReady = true;
    if (degraded) {
      degraded = false;
      logger.info('send limits: Redis is back; the per-number budget is shared again');
    }
  });

  function down(err: unknown): void {
    if (degraded) return;
    degraded = true;
    logger.warn('send limits: Redis unreachable; using this instance’s share of each number’s limit', {
      code: (err as { code?: string })?.code,
      error: String((err as Error)?.message ?? err).slice(0, 200),
    });
  }

  return {
    async take(phoneNumberId) {
      if (redis.status !== 'ready') {
        // Still connecting at start-up is not an outage (an unreachable Redis reports through 'error').
        if (everReady) down(new Error(`Redis connection is ${redis.status}`));
        return fallback.take(phoneNumberId);
      }
      const numberLimit = options.overrides?.[phoneNumberId] ?? limit;
      try {
        const [ok, retryAfterMs] = await redis.wacloudSlidingWindow(
          `${prefix}:send:${phoneNumberId}`,
          numberLimit,
          windowMs,
          `${instanceTag}:${++seq}`,
        );
        if (degraded) {
          degraded = false;
          logger.info('send limits: Redis is back; the per-number budget is shared again');
        }
        return ok === 1
          ? { ok: true }
          : { ok: false, retryAfterMs: Math.max(1, Number(retryAfterMs)), limit: numberLimit };
      } catch (err) {
        down(err);
        return fallback.take(phoneNumberId);
      }
    },
    mode: () => (degraded || redis.status !== 'ready' ? 'local' : 'redis'),
    async close() {
      redis.disconnect();
    },
  };
}

/** Redis when a URL is given, else the local share. `limit: 0` turns limiting off (undefined). */
export function createSendLimiter(
  options: SendLimitOptions & { redisUrl?: Secret | undefined; logger?: Logger; clock?: Clock },
): SendLimiter | undefined {
  if (options.limit === 0) return undefined;
  return options.redisUrl
    ? createRedisSendLimiter({ ...options, url: options.redisUrl })
    : createLocalSendLimiter(options);
}

/**
 * Meta's own error for a number over its throughput (graph-api-facts.md §8.1, a real sample), so SDKs treat the
 * broker's refusal exactly like Meta's: code 130429, subcode 2494055, `error_data.details`.
 */
export function rateLimitHitBody(fbtraceId: string): string {
  return JSON.stringify({
    error: {
      message: '(#130429) Rate limit hit',
      type: 'OAuthException',
      code: 130429,
      error_data: {
        messaging_product: 'whatsapp',
        details:
          'Message failed to send because there were too many messages sent from this phone number in a short period of time',
      },
      error_subcode: 2494055,
      fbtrace_id: fbtraceId,
    },
  });
}
