import { describe, expect, it } from 'vitest';
import {
  type ConfigSnapshot,
  MemoryConfigStore,
  type SaveOptions,
  StoreWriteFailedError,
  silentLogger,
} from '../src/index.ts';
import { createTestCluster, FakeClock } from '../src/testing/index.ts';

const config = (host: string) => ({
  _format_version: '3.0',
  services: [{ name: 'orders', host }],
});

/** A DP schema that refuses any config mentioning `host`: the DP's answer to it is a nack. */
function refusing(host: string) {
  return {
    safeParse: (value: unknown) =>
      JSON.stringify(value).includes(host)
        ? {
            success: false as const,
            error: {
              issues: [
                {
                  code: 'custom' as const,
                  path: ['services', 0, 'host'],
                  message: 'not here',
                  input: value,
                },
              ],
            },
          }
        : { success: true as const, data: value },
  };
}

describe("the control plane's counters, as plain data a metrics library maps", () => {
  it('counts each push answered, with its latency; nacks; DPs refused by code; telemetry records, drops and names', async () => {
    const clock = new FakeClock();
    const cluster = await createTestCluster({
      clock,
      controlPlane: { logger: silentLogger, pushIntervalMs: 0 },
    });
    try {
      // A DP whose own schema refuses services on b.internal: its answer to that is a nack.
      const dp = cluster.dataPlane({
        nodeId: 'dp-1',
        random: () => 0,
        schema: refusing('b.internal'),
      });
      await dp.start();
      const first = await cluster.cp.setConfig(config('a.internal'));
      await dp.waitForConfig({ hash: first.hash });
      let nacks = 0;
      cluster.cp.on('configRejected', () => nacks++);
      const nacked = new Promise((resolve) => cluster.cp.once('configRejected', resolve));
      await cluster.cp.setConfig(config('b.internal'));
      await nacked;
      const { pushAnswerLatencyMs } = cluster.cp.counters;
      expect(cluster.cp.counters.configsRejected).toBe(1);
      // Two pushes, each answered (an ack, a nack) at once on the fake clock: both in the
      // first bucket (5 ms) and every one after it.
      expect(pushAnswerLatencyMs.count).toBe(2);
      expect(pushAnswerLatencyMs.bounds[0]).toBe(5);
      expect(pushAnswerLatencyMs.counts.every((n) => n === 2)).toBe(true);
      expect(pushAnswerLatencyMs.sum).toBe(0);

      // A DP whose version the CP cannot serve is refused, and counted under its code.
      const old = cluster.dataPlane({ nodeId: 'old', version: '2.8.0', random: () => 0 });
      const refused = new Promise((resolve) => old.once('rejected', resolve));
      await old.start();
      await refused;
      await old.stop();

      // Telemetry: records counted once, drops as the DP reported them, distinct names.
      for (const service of ['orders', 'users', 'orders'])
        dp.recordRequest({ service, route: `${service}-route`, status: 200, latencyMs: 3 });
      await clock.advance(1_000);
      await expect.poll(() => cluster.cp.counters.telemetryRecords, { timeout: 5_000 }).toBe(3);
      expect(cluster.cp.counters.configsRejected).toBe(nacks);
      expect(cluster.cp.counters).toMatchObject({
        dataPlanesRejected: { VERSION_INCOMPATIBLE: 1 },
        telemetryDropped: 0,
        analyticsKeys: { services: 2, routes: 2, consumers: 0 },
      });
    } finally {
      await cluster.stop();
    }
  });
});

/** A store whose disk is full until `full` is set back to false. */
class FullDiskStore extends MemoryConfigStore {
  full = false;
  override async save(snapshot: ConfigSnapshot, options?: SaveOptions): Promise<void> {
    if (this.full) throw new StoreWriteFailedError('no space left on device');
    await super.save(snapshot, options);
  }
}

describe("the data plane's counters", () => {
  it('counts configs applied, with how long each took, configs refused, and cache writes that failed', async () => {
    const cluster = await createTestCluster({
      controlPlane: { logger: silentLogger, pushIntervalMs: 0 },
    });
    try {
      const storage = new FullDiskStore();
      const dp = cluster.dataPlane({
        storage,
        logger: silentLogger,
        // This DP's own schema refuses services on c.internal: its answer is a nack.
        schema: refusing('c.internal'),
      });
      await dp.start();
      const first = await cluster.cp.setConfig(config('a.internal'));
      await dp.waitForConfig({ hash: first.hash });
      // Counted once the apply ends: after the save and the ack, a moment after it is served.
      await expect.poll(() => dp.counters.configsApplied).toBe(1);
      expect(dp.counters).toMatchObject({
        configsApplied: 1,
        configsRefused: 0,
        cacheWriteFailures: 0,
      });
      expect(dp.counters.applyDurationMs.count).toBe(1);
      expect(dp.counters.applyDurationMs.sum).toBeGreaterThan(0);

      storage.full = true;
      const second = await cluster.cp.setConfig(config('b.internal'));
      await dp.waitForConfig({ hash: second.hash });
      await expect.poll(() => dp.counters.cacheWriteFailures).toBe(1);
      await expect.poll(() => dp.counters.configsApplied).toBe(2);

      // Refused by this DP (the delta, then the whole config the CP sends after it).
      const refused = new Promise((resolve) => cluster.cp.once('configRejected', resolve));
      await cluster.cp.setConfig(config('c.internal'));
      await refused;
      await expect.poll(() => dp.counters.configsRefused).toBeGreaterThanOrEqual(1);
      expect(dp.counters.configsRefused).toBe(cluster.cp.counters.configsRejected);
      expect(dp.counters.applyDurationMs.count).toBe(2);
      expect(dp.counters.applyDurationMs.counts.at(-1)).toBe(2);
    } finally {
      await cluster.stop();
    }
  });
});
