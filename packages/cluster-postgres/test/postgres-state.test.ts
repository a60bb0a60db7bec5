import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { ControlPlane, hashConfig, memoryStore, silentLogger } from '@planesync/core';
import {
  clusterStateConformance,
  createTestCluster,
  FakeClock,
  type TestCluster,
} from '@planesync/core/testing';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type PostgresClusterState, postgresClusterState, SCHEMA_STEPS } from '../src/index.ts';
import { freshDatabase, skipReason } from './postgres.ts';

const vitest = { describe, it, beforeEach, afterEach };

/** Every state and database a test made, closed and dropped after it. */
const opened: PostgresClusterState[] = [];
const databases: Array<{ drop(): Promise<void> }> = [];
async function cleanUp() {
  await Promise.all(opened.splice(0).map((state) => state.close()));
  await Promise.all(databases.splice(0).map((database) => database.drop()));
}
function state(url: string, options: { checkIntervalMs?: number } = {}) {
  const made = postgresClusterState({ connectionString: url, ...options });
  opened.push(made);
  return made;
}
async function database() {
  const made = await freshDatabase();
  databases.push(made);
  return made.url;
}

/** A DP status record as CP `controlPlaneId` writes it, seen at `lastSeen`. */
function dataPlaneRecord(id: string, controlPlaneId: string, lastSeen: number) {
  return {
    id,
    hostname: 'h',
    ip: '10.0.0.1',
    version: '3.10.0',
    labels: {},
    syncStatus: 'normal' as const,
    configHash: 'a'.repeat(32),
    configVersion: 1,
    cacheHash: undefined,
    lastSeen,
    connected: true,
    certExpiresAt: undefined,
    pushError: undefined,
    protocol: 'planesync/2',
    controlPlaneId,
  };
}

if (skipReason) {
  describe.skip(`@planesync/cluster-postgres (skipped: ${skipReason})`, () => {
    it('runs against a real PostgreSQL', () => undefined);
  });
} else {
  clusterStateConformance(vitest, {
    name: 'postgresClusterState conformance',
    recent: true,
    dataPlanes: true,
    claim: true,
    analytics: true,
    async setup() {
      const url = await database();
      return { state: state(url), second: async () => state(url) };
    },
    teardown: cleanUp,
  });

  describe('postgresClusterState', () => {
    afterEach(cleanUp);

    it('migrates once when several CPs start together, and again changes nothing', async () => {
      const url = await database();
      await Promise.all(Array.from({ length: 5 }, () => state(url).open()));
      await state(url).open();
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const { rows } = await client.query('SELECT step FROM planesync_schema ORDER BY step');
        expect(rows.map((row) => row.step)).toEqual(
          Array.from({ length: SCHEMA_STEPS }, (_, i) => i + 1),
        );
      } finally {
        await client.end();
      }
    });

    it('a CP stopped and started again leaves no handlers on the pooled connections', async () => {
      const url = await database();
      const pool = new pg.Pool({ connectionString: url, max: 1 });
      const watched = postgresClusterState({ pool });
      opened.push(watched);
      await watched.open();
      for (let cycle = 0; cycle < 12; cycle++) {
        const stop = watched.watch(() => undefined);
        await vi.waitFor(() => expect(pool.totalCount).toBe(1));
        await new Promise((resolve) => setTimeout(resolve, 20));
        stop();
        await vi.waitFor(() => expect(pool.idleCount).toBe(1));
      }
      const client = await pool.connect();
      try {
        expect(client.listenerCount('error')).toBeLessThanOrEqual(1);
        expect(client.listenerCount('end')).toBeLessThanOrEqual(1);
      } finally {
        client.release();
        await watched.close();
        await pool.end();
      }
    });

    it('a PostgreSQL that cannot be reached is STATE_UNAVAILABLE, with the driver error as cause', async () => {
      const unreachable = postgresClusterState({
        connectionString: 'postgresql://planesync@127.0.0.1:1/postgres',
      });
      opened.push(unreachable);
      const error = await unreachable.latest().catch((caught: unknown) => caught);
      expect(error).toMatchObject({ code: 'STATE_UNAVAILABLE', name: 'StateUnavailableError' });
      expect((error as Error).cause).toBeInstanceOf(Error);
    });

    it('takes a publish time with a fraction of a millisecond (a host clock may give one)', async () => {
      const url = await database();
      const config = { _format_version: '3.0' };
      const { config_hash, hashes } = hashConfig(config);
      const outcome = await state(url).publish({
        hash: config_hash,
        hashes,
        config,
        publishedAt: 1_700_000_000_000.5,
      });
      expect(outcome.outcome).toBe('published');
    });

    it('a damaged latest config does not block the next publish, which replaces it', async () => {
      const url = await database();
      const publisher = state(url);
      const make = (n: number) => {
        const config = { _format_version: '3.0', services: [{ name: `s${n}`, host: 'h' }] };
        const { config_hash, hashes } = hashConfig(config);
        return { hash: config_hash, hashes, config, publishedAt: n };
      };
      await publisher.publish(make(1));
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query("UPDATE planesync_config SET config = '\\x00'::bytea");
      await client.end();
      await expect(publisher.latest()).rejects.toMatchObject({ code: 'STORE_CORRUPT' });
      const next = await publisher.publish(make(2));
      expect(next.outcome).toBe('published');
      expect((await publisher.latest())?.hash).toBe(make(2).hash);
    });

    it('a DP whose hello carries text PostgreSQL refuses (NUL, a lone surrogate) does not block the batch', async () => {
      const url = await database();
      const records = state(url).dataPlanes;
      await records.write([
        { ...dataPlaneRecord('good', 'cp-a', 1_000), hostname: 'ok.internal' },
        { ...dataPlaneRecord('nul', 'cp-a', 1_000), hostname: 'evil\u0000host' },
        { ...dataPlaneRecord('surrogate', 'cp-a', 1_000), hostname: 'evil\ud800host' },
      ]);
      const listed = await records.list();
      expect(listed.map((r) => [r.id, r.hostname])).toEqual([
        ['good', 'ok.internal'],
        ['nul', 'evilhost'],
        ['surrogate', 'evil\ufffdhost'],
      ]);
    });

    it('a damaged DP record (JSON null where an object belongs) is listed as it can be, never a failed read', async () => {
      const url = await database();
      const records = state(url).dataPlanes;
      await records.write([
        dataPlaneRecord('good', 'cp-a', 1_000),
        dataPlaneRecord('bad', 'cp-a', 1_000),
      ]);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(
        `UPDATE planesync_data_planes SET details = 'null'::jsonb, labels = '"x"'::jsonb WHERE id = 'bad'`,
      );
      await client.end();
      // One damaged row must not make every CP of the cluster take the state for down.
      const listed = await records.list();
      expect(listed.map((record) => record.id)).toEqual(['bad', 'good']);
      expect(listed[0]).toMatchObject({ id: 'bad', labels: {}, cacheHash: undefined });
      // And the node-id rule still reads it.
      expect(
        await records.claim!(
          { ...dataPlaneRecord('bad', 'cp-b', 2_000), certFingerprint: 'f' },
          { liveMs: 60_000 },
        ),
      ).toBe(true);
    });

    it('a claim given up on while it waited for a connection writes nothing afterwards', async () => {
      const url = await database();
      const pool = new pg.Pool({ connectionString: url, max: 1 });
      try {
        const records = postgresClusterState({ pool }).dataPlanes;
        await records.list(); // migrated
        const busy = await pool.connect(); // every connection taken (a slow PostgreSQL)
        const signal = AbortSignal.timeout(50); // the CP's bound on a claim, shortened
        const claim = records.claim!(
          { ...dataPlaneRecord('late', 'cp-a', 1_000), certFingerprint: 'f' },
          { liveMs: 60_000, signal },
        );
        await new Promise((resolve) => setTimeout(resolve, 150));
        busy.release();
        await claim.catch(() => undefined);
        // The CP let the DP in without it long ago; a record written now would say it is
        // connected after it may have left, or over the CP it moved to.
        expect(await records.list()).toEqual([]);
      } finally {
        await pool.end();
      }
    });

    it('a thousand claims at once go in a few statements, each answered for its own node id', async () => {
      const url = await database();
      const pool = new pg.Pool({ connectionString: url, max: 4 });
      try {
        const records = postgresClusterState({ pool }).dataPlanes;
        await records.list(); // migrated
        let acquired = 0;
        pool.on('acquire', () => acquired++);
        // One id already held by another CP under another certificate: refused, alone.
        await records.claim!(
          { ...dataPlaneRecord('held', 'cp-b', 1_000), certFingerprint: 'other' },
          { liveMs: 60_000 },
        );
        acquired = 0;
        const ids = [...Array.from({ length: 1_000 }, (_, i) => `dp-${i}`), 'held'];
        const answers = await Promise.all(
          ids.map((id) =>
            records.claim!(
              { ...dataPlaneRecord(id, 'cp-a', 1_000), certFingerprint: 'mine' },
              { liveMs: 60_000 },
            ),
          ),
        );
        expect(answers.filter((claimed) => !claimed)).toHaveLength(1);
        expect(answers.at(-1)).toBe(false);
        expect(acquired).toBeLessThanOrEqual(5);
        expect(await records.list()).toHaveLength(1_001);
      } finally {
        await pool.end();
      }
    });

    it('two CPs writing overlapping batches in opposite orders never deadlock', async () => {
      const url = await database();
      const [one, two] = [state(url), state(url)];
      const ids = Array.from({ length: 2_000 }, (_, i) => `dp-${i}`);
      for (let round = 1; round <= 8; round++) {
        await Promise.all([
          one.dataPlanes.write(ids.map((id) => dataPlaneRecord(id, 'cp-a', round))),
          two.dataPlanes.write([...ids].reverse().map((id) => dataPlaneRecord(id, 'cp-b', round))),
        ]);
      }
      expect(await one.dataPlanes.list()).toHaveLength(2_000);
    });

    it('keeps the latest config compressed, byte for byte, with its hashes', async () => {
      const url = await database();
      const config = { _format_version: '3.0', services: [{ name: 'ünï', host: 'a' }], z: 1, a: 2 };
      const { config_hash, hashes } = hashConfig(config);
      await state(url).publish({ hash: config_hash, hashes, config, publishedAt: 5 });
      const latest = await state(url).latest();
      expect(JSON.stringify(latest?.config)).toBe(JSON.stringify(config));
      expect(latest).toMatchObject({ version: 1, hash: config_hash, hashes, publishedAt: 5 });
    });

    it('a notification missed while nobody listened is caught up by the periodic read', async () => {
      const url = await database();
      const watcher = state(url, { checkIntervalMs: 50 });
      const seen: number[] = [];
      watcher.watch((version) => seen.push(version.version));
      // Published with the notification suppressed: straight into the table, as if lost.
      const config = { _format_version: '3.0' };
      const { config_hash, hashes } = hashConfig(config);
      await state(url).publish({ hash: config_hash, hashes, config, publishedAt: 1 });
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query('UPDATE planesync_config SET version = 7');
      await client.end();
      await vi.waitFor(() => expect(seen.at(-1)).toBe(7), { timeout: 5_000 });
    });
  });

  describe('two control planes on one PostgreSQL', () => {
    const clusters: TestCluster[] = [];
    afterEach(async () => {
      for (const cluster of clusters.splice(0).reverse()) await cluster.stop();
      await cleanUp();
    });

    it('a setConfig on CP A reaches a DP of CP B; a CP started later serves the latest at once', async () => {
      const url = await database();
      const clock = new FakeClock();
      const a = await createTestCluster({
        clock,
        controlPlane: { state: state(url), logger: silentLogger, pushIntervalMs: 0 },
      });
      const b = await createTestCluster({
        clock,
        controlPlane: { state: state(url), logger: silentLogger, pushIntervalMs: 0 },
      });
      clusters.push(a, b);
      const dp = b.dataPlane();
      await dp.start();
      const { hash, version } = await a.cp.setConfig({
        _format_version: '3.0',
        services: [{ name: 'echo', url: 'http://127.0.0.1:8080' }],
      });
      const applied = await dp.waitForConfig({ hash });
      expect(applied.version).toBe(version);
      const late = await createTestCluster({
        clock,
        controlPlane: { state: state(url), logger: silentLogger },
      });
      clusters.push(late);
      expect(late.cp.currentConfig).toMatchObject({ version, hash });
      expect(late.cp).toBeInstanceOf(ControlPlane);
    });

    it("any CP lists the whole fleet from PostgreSQL: CP B's DP in CP A's listing, with B as its CP", async () => {
      const url = await database();
      const clock = new FakeClock();
      const a = await createTestCluster({
        clock,
        controlPlane: { state: state(url), logger: silentLogger },
      });
      const b = await createTestCluster({
        clock,
        controlPlane: { state: state(url), logger: silentLogger },
      });
      clusters.push(a, b);
      const dp = b.dataPlane({ nodeId: 'dp-of-b', labels: { region: 'eu' } });
      await dp.start();
      await vi.waitFor(async () => {
        await clock.advance(1_000); // B's sync writes, A's reads
        expect(await a.cp.listDataPlanes()).toMatchObject([
          { id: 'dp-of-b', connected: true, controlPlaneId: b.cp.id, labels: { region: 'eu' } },
        ]);
      });
      await vi.waitFor(async () => {
        await clock.advance(1_000);
        expect(a.cp.dataPlanes()).toMatchObject([{ id: 'dp-of-b', controlPlaneId: b.cp.id }]);
      });
    });

    it("any CP's analytics summary and billing cover the fleet through PostgreSQL", async () => {
      const url = await database();
      const clock = new FakeClock();
      const [a, b] = await Promise.all(
        [0, 1].map(() =>
          createTestCluster({ clock, controlPlane: { state: state(url), logger: silentLogger } }),
        ),
      );
      clusters.push(a!, b!);
      const dpA = a!.dataPlane({ nodeId: 'dp-a', random: () => 0 });
      const dpB = b!.dataPlane({ nodeId: 'dp-b', random: () => 0 });
      await Promise.all([dpA.start(), dpB.start()]);
      await vi.waitFor(() => expect(dpA.status.connection).toBe('connected'));
      await vi.waitFor(() => expect(dpB.status.connection).toBe('connected'));
      dpA.recordRequest({ service: 'orders', status: 200, latencyMs: 12 });
      dpB.recordRequest({ service: 'orders', status: 503, latencyMs: 40 });
      dpB.recordRequest({ service: 'users', status: 200, latencyMs: 3 });
      await clock.advance(1_000);
      await vi.waitFor(() => expect(b!.cp.analytics.summary().total.requests).toBe(2));
      await clock.advance(60_000); // the interval ends
      await vi.waitFor(async () => {
        await clock.advance(1_000); // a sync writes it
        const fleet = await a!.cp.clusterAnalytics();
        expect(fleet.billing).toMatchObject({
          apiCalls: 3,
          apiCallsByDataPlane: { 'dp-a': 1, 'dp-b': 2 },
        });
        expect(fleet.services.orders?.statusClasses).toEqual({ '2xx': 1, '5xx': 1 });
      });
    });
  });
}

describe('deltas across a CP restart, with the history in PostgreSQL', () => {
  afterEach(cleanUp);

  it.skipIf(skipReason)(
    'a DP restarted from its cache, reconnecting to a restarted CP with a hash the history holds, gets a delta',
    async () => {
      const url = await database();
      const clock = new FakeClock();
      const services = Array.from({ length: 50 }, (_, i) => ({ name: `s${i}`, host: `h${i}` }));
      const config = (n: number) => ({
        _format_version: '3.0',
        services: services.map((s, i) => (i === 0 ? { ...s, host: `moved-${n}` } : s)),
      });
      const first = await createTestCluster({
        clock,
        controlPlane: { state: state(url), logger: silentLogger, pushIntervalMs: 0 },
      });
      // The DP's cache outlives it (a disk, in a gateway).
      const storage = memoryStore();
      const dp = first.dataPlane({ storage });
      await dp.start();
      const { hash } = await first.cp.setConfig(config(1));
      await dp.waitForConfig({ hash });
      await dp.stop();
      await first.cp.setConfig(config(2));
      await first.cp.setConfig(config(3));
      await first.stop();

      // The CP restarts (a new process: nothing in memory), the DP comes back on version 1.
      const restarted = await createTestCluster({
        clock,
        controlPlane: { state: state(url), logger: silentLogger, pushIntervalMs: 0 },
      });
      const again = restarted.dataPlane({ storage });
      await again.start();
      const newest = restarted.cp.currentConfig!;
      await again.waitForConfig({ hash: newest.hash });
      // The CP counts a frame once its transport took it, which may be after the DP applied it.
      await restarted.cp.waitForSync({ hash: newest.hash });
      expect(restarted.cp.counters).toMatchObject({ deltasSent: 1, wholeConfigsSent: 0 });
      await restarted.stop();
    },
  );
});

describe('a control plane that starts while PostgreSQL is down', () => {
  it.skipIf(skipReason)(
    'serves nothing new until it can read the latest config, then serves it',
    async () => {
      const direct = await database();
      const proxy = await forwarder(new URL(direct));
      await proxy.cut();
      const clock = new FakeClock();
      const cpState = postgresClusterState({ connectionString: proxy.url, logger: silentLogger });
      opened.push(cpState);
      const cluster = await createTestCluster({
        clock,
        controlPlane: { state: cpState, logger: silentLogger, pushIntervalMs: 0 },
      });
      try {
        expect(cluster.cp.stateHealth).toMatchObject({ available: false, joined: false });
        const dp = cluster.dataPlane();
        await dp.start();
        await expect(
          cluster.cp.setConfig({ _format_version: '3.0', services: [{ name: 'a', host: 'a' }] }),
        ).rejects.toMatchObject({ code: 'STATE_UNAVAILABLE' });
        expect(cluster.cp.currentConfig).toBeUndefined();

        // Another CP published; PostgreSQL becomes reachable; the CP reads it and pushes it.
        const published = await state(direct).publish(
          (() => {
            const config = { _format_version: '3.0', services: [{ name: 'b', host: 'b' }] };
            const { config_hash, hashes } = hashConfig(config);
            return { hash: config_hash, hashes, config, publishedAt: 1 };
          })(),
        );
        await proxy.restore();
        // The CP tries again at 1 s, 3 s, 7 s … after its start (fake time).
        await vi.waitFor(
          async () => {
            await clock.advance(1_000);
            expect(cluster.cp.stateHealth.joined).toBe(true);
          },
          { timeout: 15_000, interval: 50 },
        );
        await dp.waitForConfig({ hash: published.latest.hash });
        expect(cluster.cp.stateHealth).toMatchObject({ available: true, joined: true });
      } finally {
        await cluster.stop();
        await proxy.close();
      }
    },
  );
});

/** A loopback TCP forwarder to the test server that a test can cut and restore: an outage. */
async function forwarder(target: URL) {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const url = new URL(target);
  url.port = String(port);
  return {
    url: url.toString(),
    /** Every connection dropped, and none accepted until `restore`. */
    async cut() {
      server.close();
      for (const socket of sockets) socket.destroy();
      await once(server, 'close');
    },
    async restore() {
      server.listen(port, '127.0.0.1');
      await once(server, 'listening');
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      if (server.listening) {
        server.close();
        await once(server, 'close');
      }
    },
  };
}

describe('PostgreSQL going down under a running control plane', () => {
  afterEach(cleanUp);

  it.skipIf(skipReason)(
    'the CP keeps serving its latest config, setConfig rejects with STATE_UNAVAILABLE, the outage is logged, and it catches up when PostgreSQL returns',
    async () => {
      const direct = await database();
      const proxy = await forwarder(new URL(direct));
      const lines: Array<[string, string]> = [];
      const logger = {
        error: (_: unknown, msg?: string) => {
          lines.push(['error', msg ?? '']);
        },
        warn: (_: unknown, msg?: string) => {
          lines.push(['warn', msg ?? '']);
        },
        info: (_: unknown, msg?: string) => {
          lines.push(['info', msg ?? '']);
        },
        debug: () => undefined,
      };
      const clock = new FakeClock();
      const cpState = postgresClusterState({
        connectionString: proxy.url,
        checkIntervalMs: 50,
        logger,
      });
      opened.push(cpState);
      const cluster = await createTestCluster({
        clock,
        controlPlane: { state: cpState, logger: silentLogger, pushIntervalMs: 0 },
      });
      try {
        const dp = cluster.dataPlane();
        await dp.start();
        const first = await cluster.cp.setConfig({
          _format_version: '3.0',
          services: [{ name: 'a', host: 'a' }],
        });
        await dp.waitForConfig({ hash: first.hash });

        await proxy.cut();
        await expect(
          cluster.cp.setConfig({ _format_version: '3.0', services: [{ name: 'b', host: 'b' }] }),
        ).rejects.toMatchObject({ code: 'STATE_UNAVAILABLE' });
        await vi.waitFor(() =>
          expect(lines).toContainEqual([
            'warn',
            expect.stringContaining('PostgreSQL does not answer'),
          ]),
        );
        expect(cluster.cp.stateHealth).toMatchObject({ available: false, joined: true });
        // A DP that reconnects meanwhile is served the CP's latest config.
        await dp.stop();
        const again = cluster.dataPlane();
        await again.start();
        await again.waitForConfig({ hash: first.hash });
        expect(cluster.cp.currentConfig?.hash).toBe(first.hash);

        // PostgreSQL returns; another CP publishes; this one catches up and pushes it.
        await proxy.restore();
        const other = await state(direct).publish(
          (() => {
            const config = { _format_version: '3.0', services: [{ name: 'c', host: 'c' }] };
            const { config_hash, hashes } = hashConfig(config);
            return { hash: config_hash, hashes, config, publishedAt: 1 };
          })(),
        );
        await again.waitForConfig({ hash: other.latest.hash });
        expect(lines).toContainEqual(['info', expect.stringContaining('PostgreSQL answers again')]);
        await vi.waitFor(() => expect(cluster.cp.stateHealth.available).toBe(true));
      } finally {
        await cluster.stop();
        await proxy.close();
      }
    },
  );
});
