import { describe, expect, it } from 'vitest';
import { VirtualClock } from './virtual-clock.js';

describe('VirtualClock', () => {
  it('flows with real time plus an offset that advance and set move', async () => {
    const clock = new VirtualClock();
    const before = clock.now();
    expect(Math.abs(before - Date.now())).toBeLessThan(50);
    await clock.advance(3_600_000);
    expect(clock.now() - Date.now()).toBeGreaterThanOrEqual(3_600_000 - 50);
    await clock.set(Date.UTC(2030, 0, 1));
    expect(Math.abs(clock.now() - Date.UTC(2030, 0, 1))).toBeLessThan(50);
    clock.close();
  });

  it('a frozen clock only moves when told to', async () => {
    const clock = new VirtualClock({ startMs: 1_000, frozen: true });
    await new Promise((r) => setTimeout(r, 20));
    expect(clock.now()).toBe(1_000);
    await clock.advance(500);
    expect(clock.now()).toBe(1_500);
    clock.close();
  });

  it('runs scheduled jobs in due order when virtual time passes them, and awaits them', async () => {
    const clock = new VirtualClock({ startMs: 0, frozen: true });
    const seen: string[] = [];
    clock.schedule(3_000, async () => {
      await new Promise((r) => setTimeout(r, 5));
      seen.push('c');
    });
    clock.schedule(1_000, () => seen.push('a'));
    clock.schedule(2_000, () => {
      seen.push('b');
      // A job may schedule another inside the window: it runs in the same advance.
      clock.schedule(2_500, () => seen.push('b2'));
    });
    const cancel = clock.schedule(2_200, () => seen.push('never'));
    cancel();
    await clock.advance(1_500);
    expect(seen).toEqual(['a']);
    await clock.advance(10_000);
    expect(seen).toEqual(['a', 'b', 'b2', 'c']);
    expect(clock.pending).toBe(0);
    clock.close();
  });

  it('fires jobs by itself when real time reaches them', async () => {
    const clock = new VirtualClock();
    const fired = new Promise<number>((resolve) =>
      clock.schedule(clock.now() + 30, () => resolve(clock.now())),
    );
    const at = await fired;
    expect(at).toBeGreaterThanOrEqual(clock.now() - 1_000);
    clock.close();
  });

  it('sleep resolves on advance and rejects on abort', async () => {
    const clock = new VirtualClock({ startMs: 0, frozen: true });
    let done = false;
    const p = clock.sleep(60_000).then(() => {
      done = true;
    });
    await clock.advance(59_999);
    expect(done).toBe(false);
    await clock.advance(1);
    await p;
    expect(done).toBe(true);
    const ac = new AbortController();
    const q = clock.sleep(1_000, ac.signal);
    ac.abort(new Error('stop'));
    await expect(q).rejects.toThrow('stop');
    expect(clock.pending).toBe(0);
    clock.close();
  });

  it('rejects nonsense', async () => {
    const clock = new VirtualClock();
    await expect(clock.advance(-1)).rejects.toThrow(RangeError);
    await expect(clock.set(Number.NaN)).rejects.toThrow(RangeError);
    clock.close();
  });

  it('keeps due order (then scheduling order) over many jobs, with cancellations', async () => {
    const clock = new VirtualClock({ startMs: 0, frozen: true });
    const ran: number[] = [];
    const expected: Array<{ at: number; i: number }> = [];
    let seed = 7;
    const rnd = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed / 2_147_483_648;
    };
    for (let i = 0; i < 2_000; i++) {
      const at = Math.floor(rnd() * 500); // many equal due times
      const cancel = clock.schedule(at, () => ran.push(i));
      if (i % 7 === 3) cancel();
      else expected.push({ at, i });
      if (i % 11 === 5) cancel(); // cancelling twice, or a job that stays, changes nothing more
    }
    const kept = expected.filter(({ i }) => i % 11 !== 5);
    expect(clock.pending).toBe(kept.length);
    kept.sort((a, b) => a.at - b.at || a.i - b.i);
    await clock.advance(250);
    await clock.advance(1_000);
    expect(ran).toEqual(kept.map((e) => e.i));
    expect(clock.pending).toBe(0);
    clock.close();
  });
});
