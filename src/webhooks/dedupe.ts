import { type Clock, systemClock } from '../core/clock.js';
import type { WebhookEvent } from './events.js';

/**
 * Where de-duplication keys live. `claim` must be atomic (set-if-absent): with Redis that is
 * `SET key 1 NX PX ttlMs`; in SQL an insert that ignores conflicts and reports whether it inserted.
 */
export interface DedupeStore {
  /** Records `key` for `ttlMs`; resolves true when it was not already recorded (the first delivery). */
  claim(key: string, ttlMs: number): boolean | Promise<boolean>;
  /** Forgets `key`, so a redelivery is processed again (used when processing failed). */
  release(key: string): void | Promise<void>;
}

export interface MemoryDedupeStoreOptions {
  /** Oldest keys are forgotten beyond this many. Default 100,000 (a few MB). */
  maxEntries?: number;
  clock?: Clock;
}

/** An in-process store with expiry and a size cap. Per process: several instances need a shared store. */
export function createMemoryDedupeStore(options: MemoryDedupeStoreOptions = {}): DedupeStore & {
  readonly size: number;
} {
  const max = options.maxEntries ?? 100_000;
  const clock = options.clock ?? systemClock;
  // Insertion order is expiry order for a fixed TTL, so the oldest entries are the first to expire or evict.
  const entries = new Map<string, number>();
  let claims = 0;
  return {
    claim(key, ttlMs) {
      const now = clock.now();
      const expiresAt = entries.get(key);
      if (expiresAt !== undefined && expiresAt > now) return false;
      if (expiresAt !== undefined) entries.delete(key);
      entries.set(key, now + ttlMs);
      // Drop the oldest entries while over the cap, and every 64 claims a few that have expired.
      if (entries.size > max || ++claims % 64 === 0) {
        let swept = 0;
        for (const [k, exp] of entries) {
          if (entries.size <= max && (exp > now || swept >= 64)) break;
          entries.delete(k);
          swept++;
        }
      }
      return true;
    },
    release(key) {
      entries.delete(key);
    },
    get size() {
      return entries.size;
    },
  };
}

/**
 * The de-duplication key of an event, or undefined for events that are not de-duplicated. Messages by id (per
 * phone number), statuses by message id + status (a `delivered` after a `sent` is news; a second `delivered` is
 * not), calls by id + event, call statuses by id + status.
 */
export function dedupeKey(event: WebhookEvent): string | undefined {
  switch (event.type) {
    case 'message':
      return event.message.id ? `m:${event.phoneNumberId ?? event.wabaId}:${event.message.id}` : undefined;
    case 'message_echo':
      return event.message.id ? `e:${event.phoneNumberId ?? event.wabaId}:${event.message.id}` : undefined;
    case 'status':
      return event.id ? `s:${event.id}:${event.status}` : undefined;
    case 'call':
      return event.id ? `c:${event.id}:${event.event ?? ''}` : undefined;
    case 'call_status':
      return event.id ? `cs:${event.id}:${event.status ?? ''}` : undefined;
    default:
      return undefined;
  }
}

export interface DeduplicatorOptions {
  store?: DedupeStore;
  /** How long a key is remembered. Default 7 days: Meta retries failed deliveries for up to 7 days. */
  ttlMs?: number;
  keyOf?: (event: WebhookEvent) => string | undefined;
}

/** Decides, per event, whether it was already seen. */
export interface Deduplicator {
  /** True the first time an event is seen (and records it); false for a duplicate. Events without a key are always new. */
  claim(event: WebhookEvent): Promise<boolean>;
  /** Forgets an event so a redelivery is processed again. */
  release(event: WebhookEvent): Promise<void>;
}

export const DEFAULT_DEDUPE_TTL_MS = 7 * 24 * 60 * 60 * 1000;

/**
 * @example
 * const dedupe = createDeduplicator({ store: redisStore }); // default: in memory, 7 days
 * if (await dedupe.claim(event)) await process(event);
 */
export function createDeduplicator(options: DeduplicatorOptions = {}): Deduplicator {
  const store = options.store ?? createMemoryDedupeStore();
  const ttlMs = options.ttlMs ?? DEFAULT_DEDUPE_TTL_MS;
  const keyOf = options.keyOf ?? dedupeKey;
  return {
    async claim(event) {
      const key = keyOf(event);
      return key === undefined ? true : await store.claim(key, ttlMs);
    },
    async release(event) {
      const key = keyOf(event);
      if (key !== undefined) await store.release(key);
    },
  };
}
