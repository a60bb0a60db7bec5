/**
 * Time, injected. Heartbeats, jittered reconnects, flush intervals and purge delays read a
 * {@link Clock}, so tests drive a `FakeClock` (from `@planesync/core/testing`) instead of
 * sleeping.
 *
 * @module
 */

import { AbortedError } from './errors.ts';

declare const timerBrand: unique symbol;

/** An opaque handle for a scheduled callback, returned by {@link Clock.setTimeout}. */
export type TimerId = { readonly [timerBrand]: true };

/** The source of time and timers for every planesync component. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Runs `callback` once, `ms` milliseconds from now (0 when negative). */
  setTimeout(callback: () => void, ms: number): TimerId;
  /** Cancels a timer; unknown or already-run timers are ignored. */
  clearTimeout(id: TimerId): void;
  /**
   * Milliseconds from some fixed point, never stepping with the wall clock (NTP, a resumed
   * VM): what durations are measured by, as the timers run. Optional: a clock without it has
   * its `now()` taken instead, which a `FakeClock`'s is.
   */
  elapsed?(): number;
}

/** `clock.elapsed()`, or `clock.now()` for a clock without it. */
export function elapsedOn(clock: Clock): number {
  return clock.elapsed ? clock.elapsed() : clock.now();
}

/** Node clamps a delay above 2³¹−1 ms (~24.8 days) to 1 ms; longer waits are taken in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A timer longer than node's timers allow, re-armed in steps until the whole delay has passed. */
class LongTimer {
  #handle: ReturnType<typeof setTimeout> | undefined;

  constructor(callback: () => void, ms: number) {
    this.#arm(callback, ms);
  }

  cancel(): void {
    clearTimeout(this.#handle);
  }

  #arm(callback: () => void, remaining: number): void {
    const step = Math.min(remaining, MAX_TIMER_MS);
    this.#handle = setTimeout(
      () => (remaining > step ? this.#arm(callback, remaining - step) : callback()),
      step,
    );
  }
}

/**
 * The real clock: `Date.now()` and the global timers.
 *
 * @example
 * ```ts
 * import { systemClock } from '@planesync/core';
 * const id = systemClock.setTimeout(() => console.log('tick'), 1_000);
 * systemClock.clearTimeout(id);
 * ```
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  elapsed: () => performance.now(),
  setTimeout: (callback, ms) =>
    (ms > MAX_TIMER_MS
      ? new LongTimer(callback, ms)
      : setTimeout(callback, Math.max(0, ms))) as unknown as TimerId,
  clearTimeout: (id) => {
    if (id instanceof LongTimer) id.cancel();
    else clearTimeout(id as unknown as NodeJS.Timeout);
  },
};

/**
 * Resolves after `ms` on `clock`; rejects with an `AbortedError` as soon as `signal` aborts.
 *
 * @example
 * ```ts
 * import { delay, systemClock } from '@planesync/core';
 * await delay(systemClock, 10, { signal: AbortSignal.timeout(1_000) });
 * ```
 */
export function delay(clock: Clock, ms: number, options: { signal?: AbortSignal } = {}) {
  const { signal } = options;
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortedError(undefined, { cause: signal.reason }));
      return;
    }
    const onAbort = () => {
      clock.clearTimeout(id);
      reject(new AbortedError(undefined, { cause: signal?.reason }));
    };
    const id = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
