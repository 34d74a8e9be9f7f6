import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { createJsonLogger } from '../../src/core/logger.js';
import { Secret } from '../../src/core/secret.js';
import {
  createCachedSource,
  type SecretSource,
  SecretSourceError,
} from '../../src/vault/secret-sources/index.js';
import { expectNoSecrets } from '../support/secret-scan.js';

const VALUE = 'cached-secret-value-0123456789abcdef0123';

/** A backend whose answers the test controls, counting calls; `hold` makes gets wait until released. */
function scriptedSource() {
  const values = new Map<string, string>();
  let failing = false;
  let calls = 0;
  let gate: { promise: Promise<void>; release: () => void } | undefined;
  const source: SecretSource = {
    name: 'scripted',
    async get(key) {
      calls++;
      if (gate) await gate.promise;
      if (failing) throw new SecretSourceError('unavailable', 'scripted', 'backend down', { key });
      const v = values.get(key);
      return v === undefined ? undefined : new Secret(v);
    },
    async put(key, value) {
      values.set(key, typeof value === 'string' ? value : value.reveal());
      return { version: 1 };
    },
  };
  return {
    source,
    values,
    get calls() {
      return calls;
    },
    fail(on: boolean) {
      failing = on;
    },
    hold() {
      let release!: () => void;
      const promise = new Promise<void>((r) => {
        release = r;
      });
      gate = {
        promise,
        release: () => {
          gate = undefined;
          release();
        },
      };
      return gate.release;
    },
  };
}

function capture() {
  const lines: string[] = [];
  return { lines, logger: createJsonLogger({ level: 'debug', write: (l) => lines.push(l) }) };
}

describe('createCachedSource', () => {
  it('serves from cache within the TTL and asks again after it', async () => {
    const clock = new ManualClock();
    const b = scriptedSource();
    b.values.set('k', VALUE);
    const c = createCachedSource(b.source, { ttlMs: 1_000, clock, logger: capture().logger });
    expect((await c.get('k'))?.reveal()).toBe(VALUE);
    await clock.advance(999);
    expect((await c.get('k'))?.reveal()).toBe(VALUE);
    expect(b.calls).toBe(1);
    b.values.set('k', 'rotated');
    await clock.advance(1);
    expect((await c.get('k'))?.reveal()).toBe('rotated');
    expect(b.calls).toBe(2);
  });

  it('concurrent gets of one key share one backend call (single flight)', async () => {
    const clock = new ManualClock();
    const b = scriptedSource();
    b.values.set('k', VALUE);
    const c = createCachedSource(b.source, { ttlMs: 1_000, clock });
    const release = b.hold();
    const all = Promise.all(Array.from({ length: 20 }, () => c.get('k')));
    const other = c.get('other');
    release();
    const results = await all;
    expect(results.every((r) => r?.reveal() === VALUE)).toBe(true);
    expect(await other).toBeUndefined();
    expect(b.calls).toBe(2); // one for k, one for other
  });

  it('a failing first fetch is thrown, not cached', async () => {
    const clock = new ManualClock();
    const b = scriptedSource();
    b.fail(true);
    const c = createCachedSource(b.source, { ttlMs: 1_000, clock });
    await expect(c.get('k')).rejects.toThrow(/backend down/);
    b.fail(false);
    b.values.set('k', VALUE);
    expect((await c.get('k'))?.reveal()).toBe(VALUE);
  });

  it('serves the stale value with a warning when a refresh fails, then recovers', async () => {
    const clock = new ManualClock();
    const b = scriptedSource();
    b.values.set('k', VALUE);
    const { lines, logger } = capture();
    const c = createCachedSource(b.source, { ttlMs: 1_000, clock, logger, retryAfterErrorMs: 500 });
    await c.get('k');
    b.fail(true);
    await clock.advance(1_500);
    expect((await c.get('k'))?.reveal()).toBe(VALUE);
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!);
    expect(line).toMatchObject({ level: 'warn', source: 'scripted', key: 'k', staleForMs: 500 });
    expect(line.error.message).toMatch(/backend down/);
    expectNoSecrets(lines.join('\n'), [VALUE]);
    // Within retryAfterErrorMs the backend is not asked again.
    const callsBefore = b.calls;
    await clock.advance(400);
    await c.get('k');
    expect(b.calls).toBe(callsBefore);
    // After it, the backend is asked; once it is back, the new value is served.
    b.fail(false);
    b.values.set('k', 'fresh');
    await clock.advance(100);
    expect((await c.get('k'))?.reveal()).toBe('fresh');
  });

  it('serveStaleOnError: false and maxStaleMs make the refresh failure visible', async () => {
    const clock = new ManualClock();
    const b = scriptedSource();
    b.values.set('k', VALUE);
    const strict = createCachedSource(b.source, { ttlMs: 1_000, clock, serveStaleOnError: false });
    const bounded = createCachedSource(b.source, {
      ttlMs: 1_000,
      clock,
      maxStaleMs: 2_000,
      logger: capture().logger,
    });
    await strict.get('k');
    await bounded.get('k');
    b.fail(true);
    await clock.advance(1_000);
    await expect(strict.get('k')).rejects.toThrow(SecretSourceError);
    expect((await bounded.get('k'))?.reveal()).toBe(VALUE);
    await clock.advance(2_001);
    await expect(bounded.get('k')).rejects.toThrow(/backend down/);
  });

  it('caches "not found" for negativeTtlMs', async () => {
    const clock = new ManualClock();
    const b = scriptedSource();
    const c = createCachedSource(b.source, { ttlMs: 10_000, negativeTtlMs: 100, clock });
    expect(await c.get('k')).toBeUndefined();
    b.values.set('k', VALUE);
    expect(await c.get('k')).toBeUndefined();
    await clock.advance(100);
    expect((await c.get('k'))?.reveal()).toBe(VALUE);
    expect(b.calls).toBe(2);
  });

  it('put passes through and drops the cached fields of that name; invalidate forgets', async () => {
    const clock = new ManualClock();
    const b = scriptedSource();
    b.values.set('doc#a', 'old');
    b.values.set('doc#b', 'old-b');
    const c = createCachedSource(b.source, { ttlMs: 60_000, clock });
    await c.get('doc#a');
    await c.get('doc#b');
    expect(await c.put!('doc#a', VALUE)).toEqual({ version: 1 });
    b.values.set('doc#b', 'new-b');
    expect((await c.get('doc#a'))?.reveal()).toBe(VALUE);
    expect((await c.get('doc#b'))?.reveal()).toBe('new-b');
    b.values.set('doc#a', 'changed elsewhere');
    c.invalidate();
    expect((await c.get('doc#a'))?.reveal()).toBe('changed elsewhere');
  });

  it('a value stored while a refresh was in flight is not overwritten by it', async () => {
    const clock = new ManualClock();
    const b = scriptedSource();
    b.values.set('k', 'old');
    const watchers: Array<(v: Secret | undefined) => void> = [];
    const c = createCachedSource(
      {
        ...b.source,
        watch: (_k, cb) => {
          watchers.push(cb);
          return () => {};
        },
      },
      { ttlMs: 1_000, clock },
    );
    const seen: Array<string | undefined> = [];
    c.watch!('k', (v) => seen.push(v?.reveal()));
    const release = b.hold();
    const pending = c.get('k');
    watchers[0]!(new Secret('from-watch'));
    release();
    expect((await pending)?.reveal()).toBe('old');
    expect((await c.get('k'))?.reveal()).toBe('from-watch');
    expect(seen).toEqual(['from-watch']);
  });

  it('has no put or watch when the source has none, and rejects a bad ttl', () => {
    const c = createCachedSource({ name: 'ro', get: async () => undefined }, { ttlMs: 1 });
    expect(c.put).toBeUndefined();
    expect(c.watch).toBeUndefined();
    expect(() => createCachedSource(c, { ttlMs: -1 })).toThrow(/ttlMs/);
    expect(() => createCachedSource(c, { ttlMs: Number.NaN })).toThrow(/ttlMs/);
  });
});
