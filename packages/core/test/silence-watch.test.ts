import { describe, expect, it } from 'vitest';
import { SilenceWatch, type Watched } from '../src/control-plane/silence-watch.ts';
import { FakeClock } from '../src/testing/index.ts';
import { random } from './seeded.ts';

/** A DP as the watch sees it, recording when its silence was declared. */
function dp(clock: FakeClock, expiries: Array<[string, number]>, name: string): Watched {
  return {
    silenceDeadline: 0,
    silenceQueuedFor: 0,
    silenceSlot: -1,
    silenceExpired: () => expiries.push([name, clock.now()]),
  };
}

describe('SilenceWatch: every DP silent for its timeout is declared so, on one timer', () => {
  it('declares a DP silent exactly its timeout after its last frame, however many came before', async () => {
    const clock = new FakeClock();
    const watch = new SilenceWatch(clock);
    const expiries: Array<[string, number]> = [];
    const a = dp(clock, expiries, 'a');
    watch.watch(a, clock.now() + 45_000);
    for (let i = 0; i < 20; i++) {
      await clock.advance(30_000);
      watch.watch(a, clock.now() + 45_000);
    }
    const last = clock.now();
    expect(clock.pendingTimers).toBe(1);
    await clock.advance(44_999);
    expect(expiries).toEqual([]);
    await clock.advance(1);
    expect(expiries).toEqual([['a', last + 45_000]]);
    expect(watch.size).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it('an earlier deadline (a DP identified, its 5 s identify window after a longer one) moves the timer forward', async () => {
    const clock = new FakeClock();
    const watch = new SilenceWatch(clock);
    const expiries: Array<[string, number]> = [];
    const a = dp(clock, expiries, 'a');
    const start = clock.now();
    watch.watch(a, start + 45_000);
    watch.watch(a, start + 5_000);
    await clock.advance(5_000);
    expect(expiries).toEqual([['a', start + 5_000]]);
  });

  it('a DP that goes away is never declared silent and leaves no timer behind', async () => {
    const clock = new FakeClock();
    const watch = new SilenceWatch(clock);
    const expiries: Array<[string, number]> = [];
    const a = dp(clock, expiries, 'a');
    const b = dp(clock, expiries, 'b');
    watch.watch(a, clock.now() + 10_000);
    watch.watch(b, clock.now() + 20_000);
    watch.unwatch(a);
    watch.unwatch(a); // twice is harmless
    await clock.advance(15_000);
    expect(expiries).toEqual([]);
    watch.unwatch(b);
    expect(clock.pendingTimers).toBe(0);
    await clock.advance(60_000);
    expect(expiries).toEqual([]);
  });

  it('one throwing expiry does not keep the others from theirs', async () => {
    const clock = new FakeClock();
    const watch = new SilenceWatch(clock);
    const expiries: Array<[string, number]> = [];
    const bad: Watched = {
      ...dp(clock, expiries, 'bad'),
      silenceExpired: () => {
        throw new Error('a listener threw');
      },
    };
    const at = clock.now() + 1_000;
    watch.watch(bad, at);
    watch.watch(dp(clock, expiries, 'good'), at);
    await clock.advance(1_000);
    expect(expiries).toEqual([['good', at]]);
  });

  it('agrees with a timer per DP over random frames, arrivals and departures of 200 DPs', async () => {
    for (const seed of [1, 2, 3]) {
      const next = random(seed);
      const clock = new FakeClock();
      const watch = new SilenceWatch(clock);
      const got: Array<[string, number]> = [];
      /** The model: each DP's deadline, as a timer per DP would keep it. */
      const deadlines = new Map<string, number>();
      const expected: Array<[string, number]> = [];
      const dps = Array.from({ length: 200 }, (_, i) => dp(clock, got, `dp-${i}`));
      for (let step = 0; step < 2_000; step++) {
        const i = Math.floor(next() * dps.length);
        const name = `dp-${i}`;
        const roll = next();
        if (roll < 0.8) {
          const deadline = clock.now() + (next() < 0.1 ? 5_000 : 45_000);
          watch.watch(dps[i]!, deadline);
          deadlines.set(name, deadline);
        } else if (roll < 0.9) {
          watch.unwatch(dps[i]!);
          deadlines.delete(name);
        }
        const step_ms = Math.floor(next() * 400);
        // The model's expiries within this step, in time order.
        const until = clock.now() + step_ms;
        const due = [...deadlines].filter(([, at]) => at <= until).sort((x, y) => x[1] - y[1]);
        for (const [dueName, at] of due) {
          expected.push([dueName, at]);
          deadlines.delete(dueName);
        }
        await clock.advance(step_ms);
      }
      const byTime = (list: Array<[string, number]>) =>
        [...list].sort((x, y) => x[1] - y[1] || x[0].localeCompare(y[0]));
      expect(byTime(got)).toEqual(byTime(expected));
      expect(clock.pendingTimers).toBeLessThanOrEqual(1);
    }
  });
});
