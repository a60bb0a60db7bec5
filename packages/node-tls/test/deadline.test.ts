import { AbortedError, TransportFailedError } from '@planesync/core';
import { FakeClock } from '@planesync/core/testing';
import { describe, expect, it } from 'vitest';
import { withDeadline } from '../src/index.ts';

/** Work that only ends when its signal aborts. */
function forever(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) =>
    signal.addEventListener('abort', () => reject(new AbortedError()), { once: true }),
  );
}

const expired = () => new TransportFailedError('too slow');

describe('withDeadline', () => {
  it('aborts the work when timeoutMs has passed on the clock and reports it as expired', async () => {
    const clock = new FakeClock();
    const outcome = withDeadline({ timeoutMs: 1_000, clock }, forever, expired).catch(
      (error: unknown) => error,
    );
    await clock.advance(999);
    expect(clock.pendingTimers).toBe(1);
    await clock.advance(1);
    expect(await outcome).toMatchObject({ code: 'TRANSPORT_FAILED', message: 'too slow' });
  });

  it('passes the caller’s abort through as it is, and drops its timer', async () => {
    const clock = new FakeClock();
    const caller = new AbortController();
    const outcome = withDeadline(
      { timeoutMs: 1_000, clock, signal: caller.signal },
      forever,
      expired,
    ).catch((error: unknown) => error);
    caller.abort();
    expect(await outcome).toMatchObject({ code: 'ABORTED' });
    expect(clock.pendingTimers).toBe(0);
  });

  it('hands the work an aborted signal when the caller’s already is', async () => {
    const caller = new AbortController();
    caller.abort();
    let seen: boolean | undefined;
    await withDeadline(
      { timeoutMs: 1_000, signal: caller.signal },
      async (signal) => {
        seen = signal.aborted;
      },
      expired,
    );
    expect(seen).toBe(true);
  });

  it('clears its timer when the work ends first, and sets none for Infinity', async () => {
    const clock = new FakeClock();
    expect(await withDeadline({ timeoutMs: 1_000, clock }, async () => 7, expired)).toBe(7);
    expect(clock.pendingTimers).toBe(0);
    const pending = withDeadline({ timeoutMs: Number.POSITIVE_INFINITY, clock }, forever, expired);
    expect(clock.pendingTimers).toBe(0);
    void pending.catch(() => undefined);
  });
});
