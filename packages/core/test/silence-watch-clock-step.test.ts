import { describe, expect, it } from 'vitest';
import type { Clock } from '../src/clock.ts';
import { SilenceWatch, type Watched } from '../src/control-plane/silence-watch.ts';
import { FakeClock } from '../src/testing/index.ts';

/** A wall clock that an operator (NTP, a resumed VM) can step, over timers that are not. */
function steppable(fake: FakeClock): Clock & { step(ms: number): void } {
  let offset = 0;
  return {
    now: () => fake.now() + offset,
    elapsed: () => fake.now(),
    setTimeout: (callback, ms) => fake.setTimeout(callback, ms),
    clearTimeout: (id) => fake.clearTimeout(id),
    step: (ms) => {
      offset += ms;
    },
  };
}

/** A watch on a steppable clock, and one DP in it recording when it was declared silent. */
function watchedDp() {
  const fake = new FakeClock();
  const clock = steppable(fake);
  const watch = new SilenceWatch(clock);
  const expired: number[] = [];
  const dp: Watched = {
    silenceDeadline: 0,
    silenceQueuedFor: 0,
    silenceSlot: -1,
    silenceExpired: () => expired.push(fake.now()),
  };
  return { fake, clock, watch, expired, dp };
}

describe('SilenceWatch and a wall clock that steps', () => {
  // Deadlines are on the clock's elapsed(), not its now(): a step of the wall clock moves none.
  it('does not drop a DP that sent a frame 15 s ago when the wall clock steps forward', async () => {
    const { fake, clock, watch, expired, dp } = watchedDp();
    watch.watch(dp, watch.now() + 45_000);
    await fake.advance(30_000);
    watch.watch(dp, watch.now() + 45_000); // a frame
    await fake.advance(10_000);
    clock.step(3_600_000);
    await fake.advance(5_000); // 15 s after the frame
    expect(expired).toEqual([]);
  });

  it('still drops a silent DP 45 s after its last frame when the wall clock steps back', async () => {
    const { fake, clock, watch, expired, dp } = watchedDp();
    const last = fake.now();
    watch.watch(dp, watch.now() + 45_000);
    clock.step(-3_600_000);
    await fake.advance(44_999);
    expect(expired).toEqual([]);
    await fake.advance(1);
    expect(expired).toEqual([last + 45_000]);
  });
});
