import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { createTestCluster } from '../src/testing/index.ts';

/** A full garbage collection, so heap figures count live objects only. */
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const liveHeap = () => {
  gc();
  return process.memoryUsage().heapUsed;
};

/** CI: 200 DPs for 3 simulated minutes; `pnpm soak`: 1 000 DPs for 10 (PLANESYNC_LOAD_DPS/MINUTES). */
const DPS = Number(process.env.PLANESYNC_LOAD_DPS ?? 200);
const MINUTES = Number(process.env.PLANESYNC_LOAD_MINUTES ?? 3);

describe('load', () => {
  it(`${DPS} DPs heartbeating against one CP for ${MINUTES} simulated minutes with telemetry flowing: no missed heartbeat, memory bounded`, {
    timeout: 600_000,
  }, async () => {
    const cluster = await createTestCluster();
    const disconnects: string[] = [];
    cluster.cp.on('dataPlaneDisconnected', (status) => disconnects.push(status.id));
    const dps = Array.from({ length: DPS }, (_, i) => cluster.dataPlane({ hostname: `dp-${i}` }));
    await Promise.all(dps.map((dp) => dp.start()));
    await cluster.clock.advance(1_000);
    expect(cluster.cp.dataPlanes().filter((d) => d.connected)).toHaveLength(DPS);
    await cluster.cp.setConfig({
      _format_version: '3.0',
      services: [{ name: 'a', host: 'a.internal' }],
    });

    let recorded = 0;
    let heapAfterWarmup = 0;
    for (let second = 1; second <= MINUTES * 60; second++) {
      for (const dp of dps) {
        for (let r = 0; r < 10; r++) dp.recordRequest({ service: 'a', status: 200, latencyMs: r });
      }
      recorded += DPS * 10;
      await cluster.clock.advance(1_000);
      if (second === 60) heapAfterWarmup = liveHeap();
    }
    await cluster.clock.advance(2_000); // the last batches and their acks
    const heapAtEnd = liveHeap();

    expect(disconnects).toEqual([]);
    expect(cluster.cp.dataPlanes().every((d) => d.connected && d.syncStatus === 'normal')).toBe(
      true,
    );
    expect(cluster.cp.analytics.summary().billing.apiCalls).toBe(recorded);
    expect(
      dps.every((dp) => dp.status.analytics.buffered === 0 && dp.status.analytics.dropped === 0),
    ).toBe(true);
    // Stated bound: after the first minute, the live heap grows by less than 16 MB however long it runs.
    expect(heapAtEnd - heapAfterWarmup).toBeLessThan(16 * 1024 * 1024);
    await cluster.stop();
  });
});
