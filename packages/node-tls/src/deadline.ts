import { type Clock, systemClock } from '@planesync/core';

/** Options of {@link withDeadline}. */
export interface DeadlineOptions {
  /** How long `run` may take, in ms; `Infinity` for no deadline. */
  timeoutMs: number;
  /** The clock the deadline reads; a `FakeClock` in tests. Default the system clock. */
  clock?: Clock | undefined;
  /** The caller's own abort signal, passed on to `run` with the deadline's. */
  signal?: AbortSignal | undefined;
}

/**
 * Runs `run` with one signal that aborts when the caller's `signal` does or when `timeoutMs`
 * has passed on `clock`; a failure after the deadline passed is replaced by `expired(cause)`.
 * The composite signal is dropped when `run` settles (not `AbortSignal.any`: a DP dials for
 * ever under one long-lived stop signal, and each composite would stay attached to it).
 *
 * @example
 * ```ts
 * import { TransportFailedError } from '@planesync/core';
 * import { withDeadline } from '@planesync/node-tls';
 * const answer = await withDeadline(
 *   { timeoutMs: 5_000 },
 *   async (signal) => fetch('https://cp.internal/healthz', { signal }),
 *   () => new TransportFailedError('no answer within 5000 ms'),
 * );
 * ```
 */
export async function withDeadline<T>(
  options: DeadlineOptions,
  run: (signal: AbortSignal) => Promise<T>,
  expired: (cause: unknown) => Error,
): Promise<T> {
  const clock = options.clock ?? systemClock;
  const controller = new AbortController();
  const onAbort = () => controller.abort(options.signal?.reason);
  if (options.signal?.aborted) onAbort();
  else options.signal?.addEventListener('abort', onAbort, { once: true });
  let timedOut = false;
  const timer = Number.isFinite(options.timeoutMs)
    ? clock.setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, options.timeoutMs)
    : undefined;
  try {
    return await run(controller.signal);
  } catch (error) {
    if (timedOut) throw expired(error);
    throw error;
  } finally {
    if (timer !== undefined) clock.clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
}
