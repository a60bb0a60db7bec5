import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ControlPlane,
  DataPlane,
  generateClusterCertificate,
  memoryTransport,
  silentLogger,
  systemClock,
  TrustVerifier,
} from '../src/index.ts';

const DAY = 86_400_000;

afterEach(() => {
  vi.useRealTimers();
});

describe('the system clock', () => {
  // vitest's fake timers clamp a delay above 2³¹−1 ms to 1 ms exactly as node does.
  it('runs a timer of a year after a year, not at once (node clamps delays above ~24.8 days)', () => {
    vi.useFakeTimers();
    const fired = vi.fn();
    systemClock.setTimeout(fired, 365 * DAY);
    vi.advanceTimersByTime(364 * DAY);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(DAY - 1);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fired).toHaveBeenCalledTimes(1);
  });

  it('cancels a long timer at any of its steps', () => {
    vi.useFakeTimers();
    const fired = vi.fn();
    const id = systemClock.setTimeout(fired, 100 * DAY);
    vi.advanceTimersByTime(60 * DAY);
    systemClock.clearTimeout(id);
    vi.advanceTimersByTime(100 * DAY);
    expect(fired).not.toHaveBeenCalled();
  });

  it('a one-year licence keeps a DP on the system clock licensed', async () => {
    // The global timers systemClock calls, faked: node's own clamping, without waiting for it.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { certificate } = await generateClusterCertificate();
    const transport = memoryTransport({ certificates: [certificate] });
    const trust = new TrustVerifier({ mode: 'pinned', certificates: [certificate] });
    const cp = new ControlPlane({ transport: transport.server, trust, version: '3.10.0' });
    await cp.start();
    const dp = new DataPlane({
      transport: transport.client({ certificates: [certificate] }),
      trust,
      version: '3.10.0',
      logger: silentLogger,
    });
    const expired = vi.fn();
    dp.on('licenseExpired', expired);
    try {
      await dp.start();
      cp.setLicense({ expiresAt: Date.now() + 365 * DAY });
      const { hash } = await cp.setConfig({
        _format_version: '3.0',
        services: [{ name: 'a', host: 'a.internal' }],
      });
      await dp.waitForConfig({ hash, signal: AbortSignal.timeout(5_000) });
      // Node runs a delay above 2³¹−1 ms after 1 ms, and so do the fake timers: had the
      // licence's year gone to setTimeout as it is, it would expire now.
      vi.advanceTimersByTime(1);
      expect(expired).not.toHaveBeenCalled();
      expect(dp.status.licensed).toBe(true);
    } finally {
      await dp.stop();
      await cp.stop();
    }
  });
});
