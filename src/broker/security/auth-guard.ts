import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/logger.js';
import type { Principal } from '../access.js';
import { apiKeyId } from './api-key.js';
import { createRateLimiter } from './rate-limit.js';

/** Where a key was presented: the Graph proxy, the API, the dashboard's login form. */
export type AuthSurface = 'proxy' | 'api' | 'dashboard';

/** A refusal to even look: too many failures from this client (or for this key id) lately. */
export interface AuthThrottled {
  throttled: true;
  retryAfterSec: number;
}

export interface AuthGuardOptions {
  clock: Clock;
  logger: Logger;
  /** Peeks at the key cache (in memory, no store read) and looks keys up. */
  access: {
    authenticate(key: string): Principal | undefined | Promise<Principal | undefined>;
    peek(key: string): Principal | undefined;
  };
  /** Reverse proxies whose `X-Forwarded-For` names the client (`WACLOUD_TRUSTED_PROXIES`). */
  trustedProxies?: readonly string[];
  onFailure?(surface: AuthSurface): void;
  onThrottled?(surface: AuthSurface): void;
  /** Failures allowed per client and per key id in a window (default 20 a minute). */
  burst?: number;
  windowMs?: number;
}

/** An address as one string: IPv4-mapped IPv6 (`::ffff:10.0.0.1`) is the IPv4 address. */
function normalizeAddress(address: string): string {
  const a = address.trim().toLowerCase();
  return a.startsWith('::ffff:') && isIP(a.slice(7)) === 4 ? a.slice(7) : a;
}

/**
 * The client's address: the socket's, or, when the socket is a trusted reverse proxy, the right-most address in
 * `X-Forwarded-For` that is not itself a trusted proxy (the left ones are whatever the client chose to send).
 */
export function clientAddress(
  remoteAddress: string | undefined,
  forwardedFor: string | string[] | undefined,
  trusted: ReadonlySet<string>,
): string {
  let client = normalizeAddress(remoteAddress ?? 'unknown');
  if (!trusted.has(client) || forwardedFor === undefined) return client;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor)
    .split(',')
    .map(normalizeAddress)
    .filter((h) => h !== '');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i] as string;
    if (isIP(hop) === 0) break;
    client = hop;
    if (!trusted.has(hop)) break;
  }
  return client;
}

/**
 * How a presented key is named in logs and counters: its public id (`abcd1234`, what key lists show), never more of
 * it; a malformed one by its kind only.
 */
export function keyPrefix(key: string): string {
  return apiKeyId(key) ?? (key.startsWith('wck_') ? '(malformed)' : '(not a broker key)');
}

/**
 * Failed authentication, counted per client address and per key id, on every surface (proxy, API, dashboard). After
 * a burst of failures a client gets 429 with Retry-After before any store read; its failures are logged and counted
 * in the metrics. The right key is never locked out: a key the cache already knows passes at once, and a key id
 * under attack from elsewhere is still looked up (only wrong keys get the 429). The dashboard's login, where a person
 * types the key, always looks it up.
 */
export function createAuthGuard(options: AuthGuardOptions) {
  const windowMs = options.windowMs ?? 60_000;
  const burst = options.burst ?? 20;
  const byClient = createRateLimiter({ limit: burst, windowMs, clock: options.clock });
  const byKey = createRateLimiter({ limit: burst, windowMs, clock: options.clock });
  const trusted = new Set((options.trustedProxies ?? []).map(normalizeAddress));

  function failed(surface: AuthSurface, client: string, prefix: string): AuthThrottled | undefined {
    const c = byClient.hit(client);
    const k = prefix.startsWith('(') ? c : byKey.hit(prefix);
    options.onFailure?.(surface);
    options.logger.warn('authentication failed', { surface, client, keyId: prefix });
    if (c.allowed && k.allowed) return undefined;
    options.onThrottled?.(surface);
    return { throttled: true, retryAfterSec: Math.max(c.retryAfterSec, k.retryAfterSec, 1) };
  }

  return {
    clientOf(req: Pick<IncomingMessage, 'headers' | 'socket'>): string {
      return clientAddress(req.socket?.remoteAddress, req.headers['x-forwarded-for'], trusted);
    },

    /** The client of a Hono request served by @hono/node-server (`c.env.incoming`); 'unknown' in-process. */
    clientOfEnv(env: unknown): string {
      const incoming = (env as { incoming?: IncomingMessage } | undefined)?.incoming;
      return incoming ? this.clientOf(incoming) : 'unknown';
    },

    /**
     * The principal for `key`, undefined for a wrong key, or a throttle. `clientOrLookup` is the client address (from
     * {@link clientOf}), or a function giving it: a key the cache knows as valid needs no address (the proxy's hot
     * path). In memory (no promise) when the key is cached.
     */
    authenticate(
      surface: AuthSurface,
      clientOrLookup: string | (() => string),
      key: string,
    ): Principal | AuthThrottled | undefined | Promise<Principal | AuthThrottled | undefined> {
      // The right key, already known, passes whatever its client did before.
      if (options.access.peek(key)) return options.access.authenticate(key);
      const client = typeof clientOrLookup === 'string' ? clientOrLookup : clientOrLookup();
      const prefix = keyPrefix(key);
      const clientWait = byClient.peek(client);
      if (clientWait > 0 && surface !== 'dashboard') {
        options.onThrottled?.(surface);
        return { throttled: true, retryAfterSec: clientWait };
      }
      const found = options.access.authenticate(key);
      if (found instanceof Promise) return found.then((p) => p ?? failed(surface, client, prefix));
      return found ?? failed(surface, client, prefix);
    },
  };
}

export type AuthGuard = ReturnType<typeof createAuthGuard>;

export function isThrottled(value: unknown): value is AuthThrottled {
  return typeof value === 'object' && value !== null && (value as AuthThrottled).throttled === true;
}
