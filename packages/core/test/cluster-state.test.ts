import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type ClusterState,
  ControlPlane,
  generateClusterCertificate,
  memoryClusterState,
  memoryTransport,
  type SharedVersion,
  StateUnavailableError,
  silentLogger,
  TrustVerifier,
} from '../src/index.ts';
import {
  clusterStateConformance,
  createTestCluster,
  FakeClock,
  type TestCluster,
} from '../src/testing/index.ts';

clusterStateConformance(
  { describe, it, beforeEach, afterEach },
  {
    name: 'memoryClusterState conformance',
    dataPlanes: true,
    claim: true,
    analytics: true,
    async setup() {
      const state = memoryClusterState();
      return { state, second: async () => state };
    },
  },
);

const config = (n: number) => ({
  _format_version: '3.0',
  services: Array.from({ length: 3 }, (_, i) => ({
    name: `service-${i}`,
    host: i === 0 ? `changed-${n}.internal` : `backend-${i}.internal`,
  })),
});

let clusters: TestCluster[] = [];
afterEach(async () => {
  for (const cluster of clusters.reverse()) await cluster.stop();
  clusters = [];
});

/** Two control planes on one state and one clock, each with its own transport and DPs. */
async function twoControlPlanes(state: ClusterState = memoryClusterState()) {
  const clock = new FakeClock();
  const a = await createTestCluster({ clock, controlPlane: { state, logger: silentLogger } });
  const b = await createTestCluster({ clock, controlPlane: { state, logger: silentLogger } });
  clusters.push(a, b);
  return { a, b, clock, state };
}

describe('control planes sharing a cluster state', () => {
  it('a setConfig on one CP reaches the DPs of the other, under the same version and hash', async () => {
    const { a, b, clock } = await twoControlPlanes();
    const dp = b.dataPlane();
    await dp.start();
    const { version, hash } = await a.cp.setConfig(config(1));
    await clock.advance(1_000); // B's push window
    const applied = await dp.waitForConfig({ hash });
    expect(applied.version).toBe(version);
    expect(b.cp.currentConfig).toMatchObject({ version, hash });
  });

  it('numbers versions once across CPs: each CP goes on from the other', async () => {
    const { a, b } = await twoControlPlanes();
    expect((await a.cp.setConfig(config(1))).version).toBe(1);
    await Promise.resolve();
    expect((await b.cp.setConfig(config(2))).version).toBe(2);
    expect((await a.cp.setConfig(config(3))).version).toBe(3);
    // B hears of it through the state's feed, apart from A's call.
    await vi.waitFor(() => expect(b.cp.currentConfig?.version).toBe(3));
  });

  it('setConfig on two CPs at the same moment ends with every DP on the newest', async () => {
    const { a, b, clock } = await twoControlPlanes();
    const dps = [a.dataPlane(), b.dataPlane()];
    for (const dp of dps) await dp.start();
    const [first, second] = await Promise.all([
      a.cp.setConfig(config(1)),
      b.cp.setConfig(config(2)),
    ]);
    const newest = first.version > second.version ? first : second;
    expect(new Set([first.version, second.version])).toEqual(new Set([1, 2]));
    await clock.advance(1_000);
    for (const dp of dps) await dp.waitForConfig({ hash: newest.hash });
    expect(a.cp.currentConfig?.hash).toBe(newest.hash);
    expect(b.cp.currentConfig?.hash).toBe(newest.hash);
  });

  it('an updateConfig made from a version another CP has replaced is made again from the newest: no change is lost', async () => {
    const { a, b } = await twoControlPlanes();
    await a.cp.setConfig(config(1));
    await Promise.resolve();
    // B has not heard of A's next version when its update starts: both changes must survive.
    const [fromA, fromB] = await Promise.all([
      a.cp.updateConfig({ upsert: { services: [{ name: 'added-by-a', host: 'a.internal' }] } }),
      b.cp.updateConfig({ upsert: { services: [{ name: 'added-by-b', host: 'b.internal' }] } }),
    ]);
    const newest = fromA.version > fromB.version ? a.cp : b.cp;
    const names = (newest.currentConfig!.config as ReturnType<typeof config>).services.map(
      (service) => service.name,
    );
    expect(names).toEqual(expect.arrayContaining(['added-by-a', 'added-by-b']));
  });

  it('a CP started on a state that holds a config serves it at once, without a setConfig', async () => {
    const state = memoryClusterState();
    const { a } = await twoControlPlanes(state);
    const { hash, version } = await a.cp.setConfig(config(1));
    const late = await createTestCluster({ controlPlane: { state, logger: silentLogger } });
    clusters.push(late);
    expect(late.cp.currentConfig).toMatchObject({ version, hash });
    const dp = late.dataPlane();
    await dp.start();
    await dp.waitForConfig({ hash });
  });

  it('a version from the state whose config does not hash to its hash is refused and reported; the CP keeps its version', async () => {
    const state = memoryClusterState();
    const { a } = await twoControlPlanes(state);
    const { hash } = await a.cp.setConfig(config(1));
    const errors: string[] = [];
    a.cp.on('error', (error) => errors.push(error.code));
    const good = (await state.latest()) as SharedVersion;
    await state.publish({ ...good, hash: 'f'.repeat(32), config: config(2) });
    await new Promise((resolve) => setImmediate(resolve));
    expect(errors).toContain('CONFIG_HASH_MISMATCH');
    expect(a.cp.currentConfig?.hash).toBe(hash);
  });

  it("a state restored from an older backup goes on from the CP's numbers: the next setConfig reaches the DPs", async () => {
    let inner = memoryClusterState();
    const state: ClusterState = {
      latest: (options) => inner.latest(options),
      publish: (candidate, options) => inner.publish(candidate, options),
      watch: (listener) => inner.watch(listener),
    };
    const { a } = await twoControlPlanes(state);
    const dp = a.dataPlane();
    await dp.start();
    for (let n = 1; n <= 3; n++) await a.cp.setConfig(config(n));
    // The database comes back from a backup taken at version 1.
    inner = memoryClusterState();
    await inner.publish({
      ...(a.cp.currentConfig as SharedVersion),
      config: config(1),
      hash: 'a'.repeat(32),
    });
    const { version, hash } = await a.cp.setConfig(config(4));
    expect(version).toBe(4);
    expect((await state.latest())?.version).toBe(4);
    await a.clock.advance(1_000);
    await dp.waitForConfig({ hash });
  });

  it('a CP whose start fails (its port taken) follows no state and encodes nothing', async () => {
    const state = memoryClusterState();
    const { a } = await twoControlPlanes(state);
    const taken = {
      ...a.transport.server,
      listen: async () => {
        throw new Error('EADDRINUSE');
      },
      close: async () => undefined,
    };
    const b = new ControlPlane({
      transport: taken as never,
      trust: a.trust,
      version: '3.10.0',
      clock: a.clock,
      logger: silentLogger,
      state,
    });
    await expect(b.start()).rejects.toThrow('EADDRINUSE');
    await a.cp.setConfig(config(1));
    await new Promise((resolve) => setImmediate(resolve));
    expect(b.currentConfig).toBeUndefined();
    expect(b.counters.configsEncoded).toBe(0);
  });

  it("any CP lists the whole fleet: a DP of CP B shows in CP A's dataPlanes() within a sync, with the CP that serves it", async () => {
    const { a, b, clock } = await twoControlPlanes();
    const dp = b.dataPlane({ nodeId: 'dp-of-b' });
    await dp.start();
    await vi.waitFor(() =>
      expect(b.cp.dataPlanes().map((record) => record.id)).toEqual(['dp-of-b']),
    );
    expect(a.cp.dataPlanes()).toEqual([]);
    await clock.advance(1_000); // B writes, A reads (each once a second)
    await clock.advance(1_000);
    const seen = a.cp.dataPlanes();
    expect(seen).toMatchObject([{ id: 'dp-of-b', connected: true, controlPlaneId: b.cp.id }]);
    expect(await a.cp.listDataPlanes()).toMatchObject([{ id: 'dp-of-b', controlPlaneId: b.cp.id }]);
    expect(b.cp.dataPlanes()).toMatchObject([{ id: 'dp-of-b', controlPlaneId: b.cp.id }]);
  });

  it("a DP that moves from CP A to CP B is listed as B's, connected, by both", async () => {
    const { a, b, clock } = await twoControlPlanes();
    const first = a.dataPlane({ nodeId: 'mover' });
    await first.start();
    await vi.waitFor(() => expect(a.cp.dataPlanes()).toHaveLength(1));
    await first.stop();
    await clock.advance(1_000);
    const second = b.dataPlane({ nodeId: 'mover' });
    await second.start();
    await vi.waitFor(() => expect(b.cp.dataPlanes()).toMatchObject([{ connected: true }]));
    await clock.advance(1_000);
    await clock.advance(1_000);
    for (const cp of [a.cp, b.cp])
      expect(cp.dataPlanes()).toMatchObject([
        { id: 'mover', connected: true, controlPlaneId: b.cp.id },
      ]);
  });

  it('a CP that stops tells the cluster its DPs are gone from it', async () => {
    const { a, b, clock } = await twoControlPlanes();
    const dp = b.dataPlane({ nodeId: 'left-behind' });
    await dp.start();
    await vi.waitFor(() => expect(b.cp.dataPlanes()).toHaveLength(1));
    await dp.stop();
    await b.cp.stop();
    await clock.advance(1_000);
    expect(a.cp.dataPlanes()).toMatchObject([{ id: 'left-behind', connected: false }]);
  });

  it('a CP with its own default state shares nothing and lists its own DPs only', async () => {
    const cluster = await createTestCluster({ controlPlane: { logger: silentLogger } });
    clusters.push(cluster);
    const dp = cluster.dataPlane({ nodeId: 'alone' });
    await dp.start();
    await vi.waitFor(() => expect(cluster.cp.dataPlanes()).toHaveLength(1));
    expect(cluster.cp.dataPlanes()[0]?.controlPlaneId).toBeUndefined();
    expect(await cluster.cp.listDataPlanes()).toEqual(cluster.cp.dataPlanes());
  });

  it('stop() ends within its bound when the shared DP records do not answer', async () => {
    const base = memoryClusterState();
    const never = () => new Promise<never>(() => undefined);
    const blackHoled: ClusterState = {
      latest: (options) => base.latest(options),
      publish: (candidate, options) => base.publish(candidate, options),
      watch: (listener) => base.watch(listener),
      dataPlanes: { write: never, list: never, purge: never },
    };
    const clock = new FakeClock();
    const cluster = await createTestCluster({
      clock,
      controlPlane: { state: blackHoled, logger: silentLogger },
    });
    const dp = cluster.dataPlane({ nodeId: 'dp-1' });
    await dp.start();
    await vi.waitFor(() => expect(cluster.cp.dataPlanes()).toHaveLength(1));
    await dp.stop();
    await clock.advance(1_000); // a sync starts, and never ends
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const stopped = cluster.cp.stop();
      await vi.advanceTimersByTimeAsync(11_000); // two bounds of 5 s
      await expect(stopped).resolves.toBeUndefined();
    } finally {
      vi.useRealTimers();
    }
  });

  it('a DP that moves from CP A to CP B, whose clock is a minute behind, is shown connected to B by A', async () => {
    const state = memoryClusterState();
    const clockA = new FakeClock();
    const clockB = new FakeClock(clockA.now() - 60_000);
    const a = await createTestCluster({
      clock: clockA,
      controlPlane: { state, logger: silentLogger },
    });
    const b = await createTestCluster({
      clock: clockB,
      controlPlane: { state, logger: silentLogger },
    });
    clusters.push(a, b);
    const first = a.dataPlane({ nodeId: 'mover' });
    await first.start();
    await vi.waitFor(() => expect(a.cp.dataPlanes()).toMatchObject([{ connected: true }]));
    await first.stop();
    await clockA.advance(1_000); // A writes it disconnected
    const second = b.dataPlane({ nodeId: 'mover' });
    await second.start();
    await vi.waitFor(() => expect(b.cp.dataPlanes()).toMatchObject([{ connected: true }]));
    await clockB.advance(1_000); // B writes it connected
    await clockA.advance(1_000); // A reads
    expect(await a.cp.listDataPlanes()).toMatchObject([
      { id: 'mover', connected: true, controlPlaneId: b.cp.id },
    ]);
    expect(a.cp.dataPlanes()).toMatchObject([
      { id: 'mover', connected: true, controlPlaneId: b.cp.id },
    ]);
  });

  it('a CP whose clock is a minute ahead still shows the DPs of another CP as connected', async () => {
    const state = memoryClusterState();
    const clockB = new FakeClock();
    const clockA = new FakeClock(clockB.now() + 60_000);
    const a = await createTestCluster({
      clock: clockA,
      controlPlane: { state, logger: silentLogger },
    });
    const b = await createTestCluster({
      clock: clockB,
      controlPlane: { state, logger: silentLogger },
    });
    clusters.push(a, b);
    const dp = b.dataPlane({ nodeId: 'dp-of-b' });
    await dp.start();
    await vi.waitFor(() => expect(b.cp.dataPlanes()).toMatchObject([{ connected: true }]));
    await clockB.advance(1_000); // B writes
    await clockA.advance(1_000); // A reads
    expect(a.cp.dataPlanes()).toMatchObject([{ id: 'dp-of-b', connected: true }]);
  });
});

/** A state that can be taken down and brought back: every call rejects while it is down. */
function switchableState() {
  const base = memoryClusterState();
  let down = true;
  const health = new Set<(health: { available: boolean; error?: unknown }) => void>();
  const guard = <T>(call: () => Promise<T>): Promise<T> =>
    down ? Promise.reject(new StateUnavailableError('the state is down')) : call();
  const state: ClusterState = {
    open: () => guard(async () => undefined),
    latest: (options) => guard(() => base.latest(options)),
    publish: (candidate, options) => guard(() => base.publish(candidate, options)),
    watch: (listener) => base.watch(listener),
    watchHealth(listener) {
      health.add(listener);
      return () => health.delete(listener);
    },
  };
  return {
    state,
    base,
    set down(value: boolean) {
      down = value;
    },
    tell(available: boolean) {
      for (const listener of health) listener({ available });
    },
  };
}

describe('a control plane whose cluster state is down when it starts', () => {
  it('starts, serves no config it did not have, and serves the latest once the state answers', async () => {
    const switchable = switchableState();
    const clock = new FakeClock();
    const told: Array<{ available: boolean; joined: boolean }> = [];
    const cluster = await createTestCluster({
      clock,
      controlPlane: { state: switchable.state, logger: silentLogger, pushIntervalMs: 0 },
    });
    clusters.push(cluster);
    cluster.cp.on('stateHealth', ({ available, joined }) => told.push({ available, joined }));
    // start() came back: DPs may connect, and get nothing, since the CP has no config.
    expect(cluster.cp.stateHealth).toMatchObject({ available: false, joined: false });
    expect(cluster.cp.stateHealth.reason).toContain('the state is down');
    const dp = cluster.dataPlane({ nodeId: 'dp-1' });
    await dp.start();
    await vi.waitFor(() => expect(cluster.cp.dataPlanes()).toHaveLength(1));
    await expect(cluster.cp.setConfig(config(1))).rejects.toMatchObject({
      code: 'STATE_UNAVAILABLE',
    });
    expect(cluster.cp.currentConfig).toBeUndefined();

    // Another CP publishes once the state is back; this one reads it within a second.
    switchable.down = false;
    const other = await createTestCluster({
      controlPlane: { state: switchable.base, logger: silentLogger },
    });
    clusters.push(other);
    const { hash } = await other.cp.setConfig(config(1));
    await clock.advance(999);
    expect(cluster.cp.stateHealth.joined).toBe(false);
    await clock.advance(1);
    await dp.waitForConfig({ hash });
    expect(cluster.cp.stateHealth).toMatchObject({ available: true, joined: true });
    expect(told).toEqual([{ available: true, joined: true }]);
    // And it publishes again.
    const next = await cluster.cp.setConfig(config(2));
    await dp.waitForConfig({ hash: next.hash });
  });

  it('tries again after 1 s, 2 s, 4 s … at most 10 s while the state stays down', async () => {
    const switchable = switchableState();
    const clock = new FakeClock();
    const cluster = await createTestCluster({
      clock,
      controlPlane: { state: switchable.state, logger: silentLogger },
    });
    clusters.push(cluster);
    const tries: number[] = [];
    const open = switchable.state.open!;
    switchable.state.open = (options) => {
      tries.push(clock.now());
      return open(options);
    };
    const started = clock.now();
    await clock.advance(60_000);
    expect(tries.map((at) => at - started)).toEqual([
      1_000, 3_000, 7_000, 15_000, 25_000, 35_000, 45_000, 55_000,
    ]);
    expect(cluster.cp.stateHealth).toMatchObject({ available: false, joined: false });
    await cluster.stop();
    await clock.advance(60_000);
    expect(tries).toHaveLength(8); // a stopped CP stops trying
  });

  it('stateHealth stays down through an outage: a sync with nothing to write says nothing', async () => {
    const base = memoryClusterState();
    const down = () => Promise.reject(new StateUnavailableError('down'));
    let isDown = false;
    const guard = <T>(call: () => Promise<T>) => (isDown ? down() : call());
    const state: ClusterState = {
      latest: (options) => guard(() => base.latest(options)),
      publish: (candidate, options) => guard(() => base.publish(candidate, options)),
      watch: (listener) => base.watch(listener),
      dataPlanes: {
        write: (records, options) => guard(() => base.dataPlanes.write(records, options)),
        list: (options) => guard(() => base.dataPlanes.list(options)),
        purge: (before, options) => guard(() => base.dataPlanes.purge(before, options)),
      },
      analytics: base.analytics,
    };
    const clock = new FakeClock();
    const cluster = await createTestCluster({
      clock,
      controlPlane: { state, logger: silentLogger },
    });
    clusters.push(cluster);
    const told: boolean[] = [];
    cluster.cp.on('stateHealth', ({ available }) => told.push(available));
    isDown = true;
    for (let second = 0; second < 5; second++) await clock.advance(1_000);
    expect(told).toEqual([false]);
    expect(cluster.cp.stateHealth.available).toBe(false);
    // Stopping while it is down says nothing more.
    await cluster.cp.stop();
    expect(told).toEqual([false]);
  });

  it('a normal start tells its stateHealth listeners that the state was read', async () => {
    const cp = new ControlPlane({
      transport: memoryTransport().server,
      trust: new TrustVerifier({
        mode: 'pinned',
        certificates: [(await generateClusterCertificate()).certificate],
      }),
      version: '3.10.0',
      state: memoryClusterState(),
      logger: silentLogger,
    });
    const told: Array<{ available: boolean; joined: boolean }> = [];
    cp.on('stateHealth', ({ available, joined }) => told.push({ available, joined }));
    expect(cp.stateHealth).toMatchObject({ available: true, joined: false });
    await cp.start();
    expect(told).toEqual([{ available: true, joined: true }]);
    await cp.stop();
  });

  it("a running CP shows its state's outage in stateHealth, told once, and its end", async () => {
    const switchable = switchableState();
    switchable.down = false;
    const lines: Array<[string, string]> = [];
    const logger = {
      error: () => undefined,
      warn: (_: unknown, msg?: string) => void lines.push(['warn', msg ?? '']),
      info: (_: unknown, msg?: string) => void lines.push(['info', msg ?? '']),
      debug: () => undefined,
    };
    const cluster = await createTestCluster({
      controlPlane: { state: switchable.state, logger },
    });
    clusters.push(cluster);
    const told: boolean[] = [];
    cluster.cp.on('stateHealth', ({ available }) => told.push(available));
    expect(cluster.cp.stateHealth).toMatchObject({ available: true, joined: true });
    expect(lines).toEqual([]); // a start that reads the state at once says nothing
    switchable.down = true;
    switchable.tell(false);
    await expect(cluster.cp.setConfig(config(1))).rejects.toMatchObject({
      code: 'STATE_UNAVAILABLE',
    });
    expect(cluster.cp.stateHealth).toMatchObject({ available: false, joined: true });
    switchable.down = false;
    switchable.tell(true);
    await cluster.cp.setConfig(config(2));
    expect(told).toEqual([false, true]);
    expect(lines.map(([level]) => level)).toEqual(['warn', 'info']);
    expect(lines[0]?.[1]).toContain('serves its latest config');
  });
});

describe('a control plane stopped while it reads its state again', () => {
  it('a stop() during the read leaves it unjoined; started again, it follows the versions other CPs publish', async () => {
    const base = memoryClusterState();
    let down = true;
    let release: (() => void) | undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const state: ClusterState = {
      open: async () => {
        if (down) throw new StateUnavailableError('the state is down');
      },
      // The read the rejoin makes hangs until the test lets it answer.
      latest: async (options) => {
        await gate;
        return base.latest(options);
      },
      publish: (candidate, options) => base.publish(candidate, options),
      watch: (listener) => base.watch(listener),
    };
    const clock = new FakeClock();
    const cluster = await createTestCluster({
      clock,
      controlPlane: { state, logger: silentLogger },
    });
    clusters.push(cluster);
    expect(cluster.cp.stateHealth.joined).toBe(false);
    down = false;
    await clock.advance(1_000); // the rejoin starts its read, which hangs
    await cluster.cp.stop();
    release?.();
    await new Promise((resolve) => setImmediate(resolve));
    // A stopped CP follows nothing, and says so.
    expect(cluster.cp.stateHealth.joined).toBe(false);

    await cluster.cp.start();
    expect(cluster.cp.stateHealth.joined).toBe(true);
    const other = await createTestCluster({
      controlPlane: { state: base, logger: silentLogger },
    });
    clusters.push(other);
    const { hash } = await other.cp.setConfig(config(1));
    await vi.waitFor(() => expect(cluster.cp.currentConfig?.hash).toBe(hash));
  });
});

/**
 * A memory state whose traffic counters a test watches: their writes fail while `down`, and
 * the size of each write and read is recorded.
 */
function watchedAnalytics() {
  const base = memoryClusterState();
  const watched = {
    down: false,
    writes: [] as Array<{ down: boolean; size: number }>,
    reads: [] as number[],
  };
  const state: ClusterState = {
    latest: (options) => base.latest(options),
    publish: (candidate, options) => base.publish(candidate, options),
    watch: (listener) => base.watch(listener),
    analytics: {
      write: (intervals, options) => {
        watched.writes.push({ down: watched.down, size: intervals.length });
        return watched.down
          ? Promise.reject(new StateUnavailableError('down'))
          : base.analytics.write(intervals, options);
      },
      read: async (since, options) => {
        const read = await base.analytics.read(since, options);
        watched.reads.push(read.length);
        return read;
      },
      purge: (before, options) => base.analytics.purge(before, options),
    },
  };
  return { base, state, watched };
}

describe("the cluster's traffic counters, shared per interval", () => {
  /** A DP of `cluster` that has connected, with its analytics flushed by the fake clock. */
  async function connected(cluster: TestCluster, nodeId: string) {
    const dp = cluster.dataPlane({ nodeId, random: () => 0 });
    const up = new Promise((resolve) => dp.once('connected', resolve));
    await dp.start();
    await up;
    return dp;
  }

  it("any CP's summary and billing cover the fleet once an interval ends: each CP's DPs counted once", async () => {
    const { a, b, clock } = await twoControlPlanes();
    const onA = await connected(a, 'dp-a');
    const onB = await connected(b, 'dp-b');
    for (let i = 0; i < 3; i++)
      onA.recordRequest({ service: 'orders', status: 200, latencyMs: 10 });
    for (let i = 0; i < 5; i++)
      onB.recordRequest({ service: 'orders', status: 500, latencyMs: 30 });
    onB.recordRequest({ service: 'users', status: 200, latencyMs: 5 });
    await clock.advance(1_000); // the DPs flush, each CP counts its own
    // Within the interval, each CP has its own counts and not yet the other's.
    expect((await a.cp.clusterAnalytics()).total.requests).toBe(3);
    await clock.advance(60_000); // the interval ends; a sync writes it
    await clock.advance(1_000);
    for (const cp of [a.cp, b.cp]) {
      const fleet = await cp.clusterAnalytics();
      expect(fleet.total.requests).toBe(9);
      expect(fleet.total.statusClasses).toEqual({ '2xx': 4, '5xx': 5 });
      expect(fleet.services.orders?.requests).toBe(8);
      expect(fleet.services.users?.requests).toBe(1);
      expect(fleet.billing).toMatchObject({
        apiCalls: 9,
        apiCallsByDataPlane: { 'dp-a': 3, 'dp-b': 6 },
      });
      // The latency histograms merge: p99 is B's 30 ms (within the histogram's 2 %).
      expect(fleet.total.latencyMs.p99).toBeCloseTo(30, -0.5);
    }
    // Each CP's own summary stays its own.
    expect(a.cp.analytics.summary().total.requests).toBe(3);
  });

  it('since counts from the start of the interval it falls in: traffic just after since is there', async () => {
    const { a, clock } = await twoControlPlanes();
    const dp = await connected(a, 'dp-a');
    await clock.advance(90_000);
    const mark = clock.now();
    for (let i = 0; i < 4; i++) dp.recordRequest({ service: 'orders', status: 200, latencyMs: 1 });
    await clock.advance(1_000);
    const summary = await a.cp.clusterAnalytics({ since: mark });
    expect(summary.total.requests).toBe(4);
    expect(summary.since).toBeLessThanOrEqual(mark);
    expect(mark - summary.since).toBeLessThan(60_000);
  });

  it('a CP that stops writes its unfinished interval; the others count it', async () => {
    const { a, b, clock } = await twoControlPlanes();
    const onA = await connected(a, 'dp-a');
    onA.recordRequest({ service: 'orders', status: 200, latencyMs: 1 });
    await clock.advance(1_000);
    await onA.stop();
    await a.cp.stop();
    expect((await b.cp.clusterAnalytics()).billing.apiCallsByDataPlane).toEqual({ 'dp-a': 1 });
  });

  it('intervals the state could not take are kept and written when it answers, counted once', async () => {
    const { base, state: flaky, watched } = watchedAnalytics();
    const clock = new FakeClock();
    const cluster = await createTestCluster({
      clock,
      controlPlane: { state: flaky, logger: silentLogger },
    });
    clusters.push(cluster);
    const dp = await connected(cluster, 'dp-1');
    watched.down = true;
    for (let minute = 0; minute < 3; minute++) {
      dp.recordRequest({ service: 'orders', status: 200, latencyMs: 1 });
      await clock.advance(60_000);
    }
    expect(await base.analytics.read(0)).toEqual([]);
    expect(cluster.cp.stateHealth.available).toBe(false);
    watched.down = false;
    await clock.advance(1_000);
    expect((await base.analytics.read(0)).length).toBeGreaterThanOrEqual(3);
    // Written once more (a retry after a lost answer) changes nothing.
    await base.analytics.write(await base.analytics.read(0));
    expect((await cluster.cp.clusterAnalytics()).total.requests).toBe(3);
  });

  it('a long outage costs each sync one kept interval, and the backlog goes a few at a time, never all in one call', async () => {
    const { base, state: flaky, watched } = watchedAnalytics();
    const clock = new FakeClock();
    const cluster = await createTestCluster({
      clock,
      controlPlane: { state: flaky, logger: silentLogger, analyticsIntervalMs: 1_000 },
    });
    clusters.push(cluster);
    const dp = await connected(cluster, 'dp-1');
    watched.down = true;
    // An outage of 100 intervals: each one's counts are kept (and retried at every sync).
    for (let second = 0; second < 100; second++) {
      dp.recordRequest({ service: 'orders', status: 200, latencyMs: 1 });
      await clock.advance(1_000);
    }
    // Each retry serializes what it carries: one interval while the state fails, a few once it
    // answers — never the whole backlog (a day of big intervals is more than a statement, or a
    // string, can hold, and serializing it each second stalls the CP).
    const whileDown = watched.writes.filter((write) => write.down).map((write) => write.size);
    expect(whileDown.length).toBeGreaterThan(90);
    expect(Math.max(...whileDown)).toBe(1);
    watched.down = false;
    for (let sync = 0; sync < 15; sync++) await clock.advance(1_000);
    const attempts = watched.writes.filter((write) => !write.down).map((write) => write.size);
    expect(Math.max(...attempts)).toBeLessThanOrEqual(10);
    expect((await base.analytics.read(0)).reduce((n, i) => n + i.counts.total.requests, 0)).toBe(
      100,
    );
    expect((await cluster.cp.clusterAnalytics()).total.requests).toBe(100);
  });

  it('an outage longer than a day keeps a bounded number of intervals and loses no counts', async () => {
    const { base, state: flaky, watched } = watchedAnalytics();
    const clock = new FakeClock();
    const cluster = await createTestCluster({
      clock,
      controlPlane: { state: flaky, logger: silentLogger, analyticsIntervalMs: 1_000 },
    });
    clusters.push(cluster);
    const dp = await connected(cluster, 'dp-1');
    watched.down = true;
    // 1 500 intervals (a day of minutes is 1 440), each a big fleet's minute in real life: each
    // one kept apart costs its own memory (some 27 MB at 8 000 names), so they cannot all be.
    for (let second = 0; second < 1_500; second++) {
      dp.recordRequest({ service: 'orders', status: 200, latencyMs: 1 });
      await clock.advance(1_000);
    }
    watched.down = false;
    for (let sync = 0; sync < 10; sync++) await clock.advance(1_000);
    const written = await base.analytics.read(0);
    expect(written.length).toBeLessThanOrEqual(100);
    expect(written.reduce((n, interval) => n + interval.counts.total.requests, 0)).toBe(1_500);
    expect((await cluster.cp.clusterAnalytics()).total.requests).toBe(1_500);
  });

  it('a state that takes DP records but refuses traffic counters is shown down once, not every sync', async () => {
    const base = memoryClusterState();
    const refusing: ClusterState = {
      latest: (options) => base.latest(options),
      publish: (candidate, options) => base.publish(candidate, options),
      watch: (listener) => base.watch(listener),
      dataPlanes: base.dataPlanes,
      analytics: {
        write: () => Promise.reject(new StateUnavailableError('value too long')),
        read: (since, options) => base.analytics.read(since, options),
        purge: (before, options) => base.analytics.purge(before, options),
      },
    };
    const lines: string[] = [];
    const logger = {
      error: () => undefined,
      debug: () => undefined,
      warn: (_: unknown, msg?: string) => void lines.push(`warn ${msg}`),
      info: (_: unknown, msg?: string) => void lines.push(`info ${msg}`),
    };
    const clock = new FakeClock();
    const cluster = await createTestCluster({
      clock,
      controlPlane: { state: refusing, logger, analyticsIntervalMs: 1_000 },
    });
    clusters.push(cluster);
    const told: boolean[] = [];
    cluster.cp.on('stateHealth', ({ available }) => told.push(available));
    const dp = await connected(cluster, 'dp-1');
    for (let second = 0; second < 10; second++) {
      dp.recordRequest({ service: 'orders', status: 200, latencyMs: 1 });
      await clock.advance(1_000);
    }
    expect(cluster.cp.stateHealth.available).toBe(false);
    expect(told).toEqual([false]);
    expect(lines.filter((line) => line.startsWith('warn'))).toHaveLength(1);
  });

  it("a month's clusterAnalytics reads the state's intervals a bounded number at a time", async () => {
    // A month of one-minute intervals is 43 200 rows per CP: some 16 KB each for 30 names,
    // 130 KB for 800 (latency buckets included) — 2 to 17 GB of JSON for three CPs, read into
    // one array and parsed before anything is summed, so the call takes the CP's heap down.
    const { base, state: counted, watched } = watchedAnalytics();
    const one = (start: number) => ({
      controlPlaneId: 'cp-other',
      run: 'run-1',
      start,
      counts: {
        total: { requests: 1, statusClasses: { '2xx': 1 }, latencyBuckets: { '1': 1 } },
        services: {},
        routes: {},
        consumers: {},
        dropped: 0,
        folded: { services: 0, routes: 0, consumers: 0 },
        apiCallsByDataPlane: { 'dp-1': 1 },
      } as never,
    });
    await base.analytics.write(Array.from({ length: 5_000 }, (_, i) => one(i * 60_000)));
    const cluster = await createTestCluster({
      controlPlane: { state: counted, logger: silentLogger },
    });
    clusters.push(cluster);
    expect((await cluster.cp.clusterAnalytics({ since: 0 })).total.requests).toBe(5_000);
    expect(Math.max(...watched.reads)).toBeLessThanOrEqual(1_000);
  });

  it('a CP restarted under its controlPlaneId on a clock two minutes behind keeps the intervals written before', async () => {
    const state = memoryClusterState();
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 12, 0, 30));
    const first = await createTestCluster({
      clock,
      controlPlane: { state, logger: silentLogger, controlPlaneId: 'cp-0' },
    });
    clusters.push(first);
    const dp = await connected(first, 'dp-1');
    for (let minute = 0; minute < 3; minute++) {
      dp.recordRequest({ service: 'orders', status: 200, latencyMs: 1 });
      await clock.advance(60_000);
    }
    await first.stop();
    const written = (await state.analytics.read(0)).reduce(
      (n, interval) => n + interval.counts.total.requests,
      0,
    );
    expect(written).toBe(3);
    // The same CP back on another host, whose clock is two minutes behind.
    const behind = new FakeClock(clock.now() - 120_000);
    const second = await createTestCluster({
      clock: behind,
      controlPlane: { state, logger: silentLogger, controlPlaneId: 'cp-0' },
    });
    clusters.push(second);
    const again = await connected(second, 'dp-1');
    for (let minute = 0; minute < 3; minute++) {
      again.recordRequest({ service: 'orders', status: 200, latencyMs: 1 });
      await behind.advance(60_000);
    }
    await second.stop();
    expect((await second.cp.clusterAnalytics()).total.requests).toBe(6);
  });

  it('a damaged interval in the state is skipped where it is not a count, never a crash', async () => {
    const { a, state } = await twoControlPlanes();
    await state.analytics!.write([
      {
        controlPlaneId: 'broken',
        run: 'r',
        start: 1,
        counts: {
          total: { requests: -5, statusClasses: { '2xx': 'many', constructor: 3 } },
          services: { orders: { requests: 2, latencyBuckets: { '-1': 4, '10': 1e300, '12': 2 } } },
          routes: 'nope',
          consumers: null,
          dropped: Number.NaN,
          folded: [],
          apiCallsByDataPlane: { 'dp-x': 2.5, 'dp-y': 4 },
        } as never,
      },
    ]);
    const fleet = await a.cp.clusterAnalytics();
    expect(fleet.total.requests).toBe(0);
    expect(fleet.total.statusClasses).toEqual({});
    expect(fleet.services.orders?.requests).toBe(2);
    expect(fleet.services.orders?.latencyMs.p50).toBeGreaterThan(0);
    expect(fleet.billing.apiCallsByDataPlane).toEqual({ 'dp-y': 4 });
    expect(fleet.dropped).toBe(0);
  });
});

describe('the DP records of a CP that died', () => {
  it('are shown disconnected once not stored for a heartbeat timeout and a sync, as they age between reads', async () => {
    const clock = new FakeClock();
    const state = memoryClusterState({ clock });
    const a = await createTestCluster({ clock, controlPlane: { state, logger: silentLogger } });
    clusters.push(a);
    // A CP that wrote its DP connected, then died without a word.
    await state.dataPlanes.write([
      {
        id: 'orphan',
        hostname: 'h',
        ip: '10.0.0.1',
        version: '3.10.0',
        labels: {},
        syncStatus: 'normal',
        configHash: '0'.repeat(32),
        configVersion: 0,
        cacheHash: undefined,
        lastSeen: clock.now(),
        connected: true,
        certExpiresAt: undefined,
        protocol: 'planesync/2',
        controlPlaneId: 'cp-dead',
      },
    ]);
    await clock.advance(1_000);
    expect(a.cp.dataPlanes()).toMatchObject([{ id: 'orphan', connected: true }]);
    await clock.advance(44_000); // 45 s since it was stored: within the bound (45 s + 1 s)
    expect(a.cp.dataPlanes()).toMatchObject([{ id: 'orphan', connected: true }]);
    await clock.advance(2_000);
    expect(a.cp.dataPlanes()).toMatchObject([{ id: 'orphan', connected: false }]);
    expect((await a.cp.listDataPlanes())[0]).toMatchObject({ connected: false });
  });

  it('a record changed while this CP could not read the state reaches its mirror at the next read, not the next whole one', async () => {
    const clock = new FakeClock();
    const state = memoryClusterState({ clock });
    let readsFail = false;
    // B's view of the same state, whose reads fail while `readsFail` (a slow or cut link).
    const viewOfB: ClusterState = {
      latest: (options) => state.latest(options),
      publish: (candidate, options) => state.publish(candidate, options),
      watch: (listener) => state.watch(listener),
      dataPlanes: {
        write: (records, options) => state.dataPlanes.write(records, options),
        list: (options) =>
          readsFail
            ? Promise.reject(new StateUnavailableError('cut'))
            : state.dataPlanes.list(options),
        purge: (before, options) => state.dataPlanes.purge(before, options),
      },
    };
    const a = await createTestCluster({ clock, controlPlane: { state, logger: silentLogger } });
    const b = await createTestCluster({
      clock,
      controlPlane: { state: viewOfB, logger: silentLogger },
    });
    clusters.push(a, b);
    const dp = a.dataPlane({ nodeId: 'dp-of-a' });
    await dp.start();
    await vi.waitFor(() => expect(a.cp.dataPlanes()).toHaveLength(1));
    await clock.advance(1_000); // A writes
    await clock.advance(1_000); // B reads
    expect(b.cp.dataPlanes()).toMatchObject([{ id: 'dp-of-a', connected: true }]);
    readsFail = true;
    await dp.stop();
    await clock.advance(1_000); // A writes it disconnected; B cannot read
    await clock.advance(8_000);
    readsFail = false;
    await clock.advance(1_000); // B reads again: what changed since its last read
    expect(b.cp.dataPlanes()).toMatchObject([{ id: 'dp-of-a', connected: false }]);
  });

  it('a record another CP changes reaches the mirror within a sync between whole reads', async () => {
    const clock = new FakeClock();
    const state = memoryClusterState({ clock });
    const a = await createTestCluster({ clock, controlPlane: { state, logger: silentLogger } });
    const b = await createTestCluster({ clock, controlPlane: { state, logger: silentLogger } });
    clusters.push(a, b);
    await clock.advance(5_000); // past A's first (whole) read
    const dp = b.dataPlane({ nodeId: 'late' });
    await dp.start();
    await vi.waitFor(() => expect(b.cp.dataPlanes()).toHaveLength(1));
    await clock.advance(1_000); // B writes
    await clock.advance(1_000); // A reads what changed
    expect(a.cp.dataPlanes()).toMatchObject([
      { id: 'late', connected: true, controlPlaneId: b.cp.id },
    ]);
  });
});
