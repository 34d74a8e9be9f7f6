import { type Clock, systemClock } from '../../core/clock.js';
import { ConfigError } from '../../core/errors.js';
import { createJsonLogger, type Logger } from '../../core/logger.js';
import type { Secret } from '../../core/secret.js';
import type { PutSecretOptions, PutSecretResult, SecretChangeListener, SecretSource } from './types.js';

/** Options for {@link createCachedSource}. */
export interface CachedSourceOptions {
  /** How long a fetched value is served without asking the backend again. */
  ttlMs: number;
  /** Time source (a ManualClock in tests). Default: the system clock. */
  clock?: Clock;
  /** How long "not found" is remembered. Default: `ttlMs`. 0 asks the backend every time. */
  negativeTtlMs?: number;
  /**
   * When a refresh fails and an older value is cached, serve the older value (and log a warning) instead of
   * throwing. Default true: a Vault restart should not take the service down with it.
   */
  serveStaleOnError?: boolean;
  /** How long past its TTL a value may still be served after failed refreshes. Default: no limit. */
  maxStaleMs?: number;
  /** After a failed refresh that served a stale value, wait this long before asking again. Default min(ttlMs, 5 s). */
  retryAfterErrorMs?: number;
  /** Where the stale-value warning goes. Default: JSON lines on stderr at level warn. */
  logger?: Logger;
}

/** A {@link SecretSource} with a cache in front. */
export interface CachedSecretSource extends SecretSource {
  /** The source behind the cache. */
  readonly source: SecretSource;
  /** Forgets one key (and every `#field` of the same name), or everything. */
  invalidate(key?: string): void;
}

interface Entry {
  loaded: boolean;
  value: Secret | undefined;
  fetchedAt: number;
  retryAt: number | undefined;
  inflight: Promise<Secret | undefined> | undefined;
  generation: number;
}

function checkMs(name: string, value: number | undefined): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !(value >= 0)) {
    throw new ConfigError(`createCachedSource: ${name}`, 'must be a number of milliseconds >= 0');
  }
}

function baseName(key: string): string {
  const hash = key.lastIndexOf('#');
  return hash < 0 ? key : key.slice(0, hash);
}

/**
 * Puts a TTL cache in front of a source: repeated `get`s within `ttlMs` do not reach the backend, concurrent `get`s
 * of one key share one request (single flight), and when a refresh fails the last good value is served with a
 * warning (configurable). `put` and `watch` pass through and keep the cache current.
 *
 * @example
 * const secrets = createCachedSource(createVaultKvSource({ address, token, mount: 'secret' }), { ttlMs: 60_000 });
 * const appSecret = await secrets.get('wacloud/prod#app_secret');
 */
export function createCachedSource(source: SecretSource, options: CachedSourceOptions): CachedSecretSource {
  checkMs('ttlMs', options.ttlMs);
  if (options.ttlMs === undefined) throw new ConfigError('createCachedSource: ttlMs', 'is required');
  checkMs('negativeTtlMs', options.negativeTtlMs);
  checkMs('maxStaleMs', options.maxStaleMs);
  checkMs('retryAfterErrorMs', options.retryAfterErrorMs);
  const clock = options.clock ?? systemClock;
  const ttlMs = options.ttlMs;
  const negativeTtlMs = options.negativeTtlMs ?? ttlMs;
  const serveStale = options.serveStaleOnError ?? true;
  const maxStaleMs = options.maxStaleMs ?? Number.POSITIVE_INFINITY;
  const retryAfterErrorMs = options.retryAfterErrorMs ?? Math.min(ttlMs, 5_000);
  const logger = options.logger ?? createJsonLogger({ level: 'warn' });
  const entries = new Map<string, Entry>();

  function entryFor(key: string): Entry {
    let entry = entries.get(key);
    if (!entry) {
      entry = {
        loaded: false,
        value: undefined,
        fetchedAt: 0,
        retryAt: undefined,
        inflight: undefined,
        generation: 0,
      };
      entries.set(key, entry);
    }
    return entry;
  }

  function store(key: string, value: Secret | undefined): void {
    const entry = entryFor(key);
    entry.generation++; // a refresh already in flight must not overwrite this newer value
    entry.inflight = undefined;
    entry.loaded = true;
    entry.value = value;
    entry.fetchedAt = clock.now();
    entry.retryAt = undefined;
  }

  function invalidate(key?: string): void {
    if (key === undefined) {
      entries.clear();
      return;
    }
    const base = baseName(key);
    for (const k of [...entries.keys()]) if (baseName(k) === base) entries.delete(k);
  }

  function refresh(key: string, entry: Entry): Promise<Secret | undefined> {
    const generation = ++entry.generation;
    // Start from a resolved promise so a source that throws synchronously still goes through the same path.
    const flight = Promise.resolve()
      .then(() => source.get(key))
      .then(
        (value) => {
          if (entry.generation === generation) {
            entry.loaded = true;
            entry.value = value;
            entry.fetchedAt = clock.now();
            entry.retryAt = undefined;
          }
          return value;
        },
        (err: unknown) => {
          const now = clock.now();
          const staleForMs = now - entry.fetchedAt - ttlMs;
          if (serveStale && entry.loaded && entry.value !== undefined && staleForMs <= maxStaleMs) {
            entry.retryAt = now + retryAfterErrorMs;
            logger.warn('secret refresh failed; serving the cached value', {
              source: source.name,
              key,
              staleForMs: Math.max(0, staleForMs),
              error: err,
            });
            return entry.value;
          }
          throw err;
        },
      )
      .finally(() => {
        if (entry.inflight === flight) entry.inflight = undefined;
      });
    entry.inflight = flight;
    return flight;
  }

  const cached: CachedSecretSource = {
    name: `cached(${source.name})`,
    source,
    invalidate,
    async get(key: string): Promise<Secret | undefined> {
      const entry = entryFor(key);
      if (entry.inflight) return entry.inflight;
      if (entry.loaded) {
        const now = clock.now();
        const ttl = entry.value === undefined ? negativeTtlMs : ttlMs;
        if (now - entry.fetchedAt < ttl) return entry.value;
        if (entry.retryAt !== undefined && now < entry.retryAt) return entry.value;
      }
      return refresh(key, entry);
    },
  };

  const put = source.put?.bind(source);
  if (put) {
    cached.put = async (
      key: string,
      value: Secret | string,
      putOptions?: PutSecretOptions,
    ): Promise<PutSecretResult> => {
      try {
        return await put(key, value, putOptions);
      } finally {
        // Other fields of the same name may have changed too (a Vault map, a JSON document); on failure the
        // backend may or may not hold the new value, so forget what we knew either way.
        invalidate(key);
      }
    };
  }
  const watch = source.watch?.bind(source);
  if (watch) {
    cached.watch = (key: string, onChange: SecretChangeListener): (() => void) =>
      watch(key, (value) => {
        store(key, value);
        onChange(value);
      });
  }
  return cached;
}
