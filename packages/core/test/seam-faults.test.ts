import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type ConfigStore,
  ControlPlane,
  type DataPlane,
  kongProtocol,
  memoryStore,
  planesyncProtocol,
  silentLogger,
  type WireProtocol,
} from '../src/index.ts';
import { createTestCluster, type TestCluster } from '../src/testing/index.ts';

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

const config = (name: string, services = 1) => ({
  _format_version: '3.0',
  services: Array.from({ length: services }, (_, i) => ({
    name: `${name}-${i}`,
    url: `http://${name}-${i}.test`,
  })),
});

async function connected(dp: DataPlane, clusterOf: TestCluster) {
  // Certificates are checked with WebCrypto, in libuv's pool: in real time too.
  await advanceUntil(clusterOf, () => dp.status.connection === 'connected', 20, 10_000);
  expect(dp.status.connection).toBe('connected');
}

/**
 * Moves the fake clock `stepMs` per real millisecond until `done()`, at most `maxMs` of fake
 * time: configs are compressed and inflated in libuv's pool, in real time, which fake steps
 * alone outrun on a loaded machine.
 */
async function advanceUntil(
  clusterOf: TestCluster,
  done: () => boolean,
  stepMs: number,
  maxMs: number,
): Promise<void> {
  for (let moved = 0; !done() && moved < maxMs; moved += stepMs) {
    await new Promise((resolve) => setTimeout(resolve, 1));
    await clusterOf.clock.advance(stepMs);
  }
}

describe('licences travel with the config, and never hold it back', () => {
  it('a licence set while a version is being compressed goes out with that version', async () => {
    cluster = await createTestCluster();
    const dp = cluster.dataPlane();
    await dp.start();
    await connected(dp, cluster);
    const publishing = cluster.cp.setConfig(config('big', 20_000));
    await new Promise((resolve) => setImmediate(resolve)); // compressing now
    cluster.cp.setLicense({ expiresAt: cluster.clock.now() - 1 });
    const { hash } = await publishing;
    await dp.waitForConfig({ hash });
    await cluster.clock.advance(0);
    expect(dp.status.licensed).toBe(false);
  });

  it('after a licence change, the next config reaches a DP at once, not after the ack timeout', async () => {
    // Whole configs only: the pacing after a licence change is the subject, and a delta would
    // add a compression in libuv's pool that the fake clock's steps do not wait for.
    cluster = await createTestCluster({
      controlPlane: { pushIntervalMs: 0, deltaHistory: { versions: 0 } },
    });
    const dp = cluster.dataPlane();
    await dp.start();
    const first = await cluster.cp.setConfig(config('a'));
    await dp.waitForConfig(first);
    cluster.cp.setLicense({ expiresAt: cluster.clock.now() + 86_400_000 });
    await cluster.clock.advance(0);
    const started = cluster.clock.now();
    const second = await cluster.cp.setConfig(config('b'));
    await advanceUntil(cluster, () => dp.currentConfig?.hash === second.hash, 5, 10_000);
    expect(dp.currentConfig?.hash).toBe(second.hash);
    expect(cluster.clock.now() - started).toBeLessThan(5_000);
  });
});

describe('a link that ends mid-config leaves nothing half done', () => {
  it('a config read that outlives its link does not break the links after it', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const base = planesyncProtocol();
    let held = false;
    // planesync/1, but the first config's read waits for the gate: a read that never ends.
    const slowRead: WireProtocol = {
      ...base,
      dataPlane: {
        ...base.dataPlane,
        open(connection) {
          const link = base.dataPlane.open(connection);
          return {
            ...link,
            identify: (identity) => link.identify(identity),
            heartbeat: (report) => link.heartbeat(report),
            applied: (report) => link.applied(report),
            refused: (refusal) => link.refused(refusal),
            sendTelemetry: (batch) => link.sendTelemetry!(batch),
            read(frame) {
              const message = link.read(frame);
              if (message.type !== 'config' || held) return message;
              held = true;
              const { offer } = message;
              return {
                type: 'config',
                offer: { ...offer, read: async (max, o) => gate.then(() => offer.read(max, o)) },
              };
            },
          };
        },
      },
    };
    cluster = await createTestCluster({ controlPlane: { logger: silentLogger } });
    const errors: string[] = [];
    const dp = cluster.dataPlane({ protocol: slowRead, random: () => 0 });
    dp.on('error', (error) => errors.push(error.code));
    await dp.start();
    await cluster.cp.setConfig(config('a'));
    // The DP is reading it, for ever. (Waited for: had the CP stopped before the frame got
    // there, the read held would be the next link's.)
    await advanceUntil(cluster, () => held, 10, 5_000);
    expect(held).toBe(true);
    await cluster.cp.stop();
    const next = new ControlPlane({
      transport: cluster.transport.server,
      trust: cluster.trust,
      version: '3.10.0',
      clock: cluster.clock,
      logger: silentLogger,
    });
    await next.start();
    try {
      const { hash } = await next.setConfig(config('a'));
      // The DP dials again 5 s after the CP went (random 0), then reads the config.
      await advanceUntil(cluster, () => dp.currentConfig?.hash === hash, 50, 120_000);
      expect(dp.currentConfig?.hash).toBe(hash);
      expect(errors).toEqual([]);
    } finally {
      release();
      await next.stop();
    }
  });

  it('stop() resolves only once the config being applied is saved', async () => {
    const log: string[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const inner = memoryStore();
    const store: ConfigStore = {
      load: (options) => inner.load(options),
      clear: (options) => inner.clear(options),
      loadNodeId: () => inner.loadNodeId(),
      saveNodeId: (id) => inner.saveNodeId(id),
      async save(snapshot, options) {
        log.push('save started');
        await gate;
        await inner.save(snapshot, options);
        log.push('save done');
      },
    };
    cluster = await createTestCluster();
    const dp = cluster.dataPlane({ storage: store });
    await dp.start();
    await cluster.cp.setConfig(config('a'));
    // The DP inflates, checks and saves in its own turns, and its config may wait for the CP
    // to make its zstd (on Node 22.15 and later) in libuv's pool: real work, polled.
    await vi.waitFor(() => expect(log).toEqual(['save started']), { timeout: 5_000 });
    const stopped = dp.stop().then(() => log.push('stop resolved'));
    await cluster.clock.advance(0);
    release();
    await stopped;
    expect(log).toEqual(['save started', 'save done', 'stop resolved']);
  });

  it('a DP stopped and started again reconnects, serving what it served meanwhile', async () => {
    cluster = await createTestCluster();
    const dp = cluster.dataPlane();
    await dp.start();
    const first = await cluster.cp.setConfig(config('a'));
    await dp.waitForConfig(first);
    await dp.stop();
    expect(dp.status.connection).toBe('disconnected');
    const second = await cluster.cp.setConfig(config('b'));
    expect(dp.currentConfig?.hash).toBe(first.hash);
    await dp.start();
    await dp.waitForConfig(second);
    await connected(dp, cluster);
  });
});

describe('a protocol without welcome or acks (Kong’s)', () => {
  it('a DP the CP refuses is never connected, and its failed attempts count', async () => {
    cluster = await createTestCluster({
      controlPlane: { protocols: [kongProtocol()], logger: silentLogger },
    });
    const dp = cluster.dataPlane({
      protocol: kongProtocol(),
      version: '4.0.0',
      random: () => 0,
      logger: silentLogger,
    });
    const events: string[] = [];
    dp.on('connected', () => events.push('connected'));
    dp.on('rejected', (rejection) => events.push(`rejected ${rejection.code}`));
    dp.on('error', () => undefined);
    await dp.start();
    await advanceUntil(cluster, () => dp.status.failedAttempts >= 3, 100, 60_000);
    expect(events).not.toContain('connected');
    expect(events[0]).toBe('rejected VERSION_INCOMPATIBLE');
    expect(dp.status.failedAttempts).toBeGreaterThanOrEqual(3);
  });

  it('a config the DP refuses does not hold the fix back until the ack timeout', async () => {
    cluster = await createTestCluster({
      controlPlane: { protocols: [kongProtocol()], pushIntervalMs: 0, logger: silentLogger },
    });
    const dp = cluster.dataPlane({
      protocol: kongProtocol(),
      logger: silentLogger,
      // This DP refuses any service named "bad-0".
      schema: {
        safeParse: (value: unknown) =>
          JSON.stringify(value).includes('"bad-0"')
            ? { success: false, error: { issues: [{ path: [], message: 'bad' }] } }
            : { success: true, data: value },
      },
    });
    dp.on('error', () => undefined);
    await dp.start();
    await connected(dp, cluster);
    await cluster.cp.setConfig(config('bad'));
    await cluster.clock.advance(0);
    const started = cluster.clock.now();
    const fix = await cluster.cp.setConfig(config('good'));
    await advanceUntil(cluster, () => dp.currentConfig?.hash === fix.hash, 5, 10_000);
    expect(dp.currentConfig?.hash).toBe(fix.hash);
    expect(cluster.clock.now() - started).toBeLessThan(5_000);
  });
});
