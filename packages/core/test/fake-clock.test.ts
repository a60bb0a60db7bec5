import { describe, expect, it } from 'vitest';
import { delay } from '../src/index.ts';
import { FakeClock } from '../src/testing/index.ts';

describe('FakeClock', () => {
  it('runs due timers in order of due time, then of scheduling', async () => {
    const clock = new FakeClock(0);
    const order: string[] = [];
    clock.setTimeout(() => order.push('b@20'), 20);
    clock.setTimeout(() => order.push('a@10'), 10);
    clock.setTimeout(() => order.push('c@20'), 20);
    clock.setTimeout(() => order.push('late@31'), 31);
    expect(await clock.advance(30)).toBe(3);
    expect(order).toEqual(['a@10', 'b@20', 'c@20']);
    expect(clock.now()).toBe(30);
    expect(clock.pendingTimers).toBe(1);
  });

  it('shows each timer its own due time as now()', async () => {
    const clock = new FakeClock(1_000);
    const seen: number[] = [];
    clock.setTimeout(() => seen.push(clock.now()), 5);
    clock.setTimeout(() => seen.push(clock.now()), 7);
    await clock.advance(100);
    expect(seen).toEqual([1_005, 1_007]);
  });

  it('runs timers scheduled by timers when they fall within the advance (a 30 s heartbeat)', async () => {
    const clock = new FakeClock(0);
    const beats: number[] = [];
    const beat = () => {
      beats.push(clock.now());
      clock.setTimeout(beat, 30_000);
    };
    clock.setTimeout(beat, 30_000);
    await clock.advance(95_000);
    expect(beats).toEqual([30_000, 60_000, 90_000]);
  });

  it('lets promise chains started by a timer settle before the next timer runs', async () => {
    const clock = new FakeClock(0);
    const events: string[] = [];
    clock.setTimeout(() => {
      void Promise.resolve()
        .then(() => Promise.resolve())
        .then(() => {
          events.push('chain done');
          clock.setTimeout(() => events.push('scheduled by chain'), 1);
        });
    }, 10);
    clock.setTimeout(() => events.push('second timer'), 10);
    await clock.advance(11);
    expect(events).toEqual(['chain done', 'second timer', 'scheduled by chain']);
  });

  it('cancels a timer with clearTimeout', async () => {
    const clock = new FakeClock(0);
    let ran = false;
    const id = clock.setTimeout(() => {
      ran = true;
    }, 10);
    clock.clearTimeout(id);
    await clock.advance(100);
    expect(ran).toBe(false);
  });

  it('jumps to the next timer with runNext', async () => {
    const clock = new FakeClock(0);
    clock.setTimeout(() => undefined, 7_500);
    expect(clock.nextDue).toBe(7_500);
    expect(await clock.runNext()).toBe(1);
    expect(clock.now()).toBe(7_500);
    expect(clock.nextDue).toBeUndefined();
  });

  it('refuses to go back in time', async () => {
    await expect(new FakeClock().advance(-1)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});

describe('delay', () => {
  it('resolves after the delay on the given clock', async () => {
    const clock = new FakeClock(0);
    let done = false;
    const waiting = delay(clock, 5_000).then(() => {
      done = true;
    });
    await clock.advance(4_999);
    expect(done).toBe(false);
    await clock.advance(1);
    await waiting;
    expect(done).toBe(true);
  });

  it('rejects with ABORTED when its signal aborts, and cancels its timer', async () => {
    const clock = new FakeClock(0);
    const controller = new AbortController();
    const waiting = delay(clock, 5_000, { signal: controller.signal });
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'ABORTED' });
    expect(clock.pendingTimers).toBe(0);
  });
});
