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
  setTimeout: (callback, ms) => setTimeout(callback, Math.max(0, ms)) as unknown as TimerId,
  clearTimeout: (id) => clearTimeout(id as unknown as NodeJS.Timeout),
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
