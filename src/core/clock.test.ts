import { describe, expect, it } from 'vitest';
import { ManualClock, systemClock } from './clock.js';

describe('ManualClock', () => {
  it('starts where told and moves only when advanced', async () => {
    const clock = new ManualClock(1_000);
    expect(clock.now()).toBe(1_000);
    await clock.advance(500);
    expect(clock.now()).toBe(1_500);
    await clock.set(100);
    expect(clock.now()).toBe(100);
  });

  it('wakes sleepers in time order, each seeing its own wake-up time', async () => {
    const clock = new ManualClock(0);
    const woke: Array<[string, number]> = [];
    clock.sleep(300).then(() => woke.push(['b', clock.now()]));
    clock.sleep(100).then(() => woke.push(['a', clock.now()]));
    clock.sleep(1_000).then(() => woke.push(['c', clock.now()]));
    expect(clock.pendingSleepers).toBe(3);
    await clock.advance(500);
    expect(woke).toEqual([
      ['a', 100],
      ['b', 300],
    ]);
    expect(clock.now()).toBe(500);
    expect(clock.pendingSleepers).toBe(1);
    await clock.advance(500);
    expect(woke.at(-1)).toEqual(['c', 1_000]);
  });

  it('wakes a sleep scheduled by a woken task within the same advance', async () => {
    const clock = new ManualClock(0);
    const times: number[] = [];
    (async () => {
      await clock.sleep(10);
      times.push(clock.now());
      await clock.sleep(10);
      times.push(clock.now());
    })();
    await clock.advance(25);
    expect(times).toEqual([10, 20]);
  });

  it('rejects on abort, before or during the sleep, and forgets the sleeper', async () => {
    const clock = new ManualClock(0);
    const pre = AbortSignal.abort(new Error('pre'));
    await expect(clock.sleep(10, pre)).rejects.toThrow('pre');
    const c = new AbortController();
    const p = clock.sleep(10, c.signal);
    c.abort(new Error('stop'));
    await expect(p).rejects.toThrow('stop');
    expect(clock.pendingSleepers).toBe(0);
  });
});

describe('systemClock', () => {
  it('sleeps for real and can be aborted', async () => {
    const start = Date.now();
    await systemClock.sleep(5);
    expect(Date.now() - start).toBeGreaterThanOrEqual(4);
    const c = new AbortController();
    const p = systemClock.sleep(60_000, c.signal);
    c.abort();
    await expect(p).rejects.toThrow();
  });
});
