import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type ConfigSnapshot,
  ControlPlane,
  DataPlane,
  type DataPlaneStatus,
  EMPTY_CONFIG_HASH,
  type ErrorContext,
  FileConfigStore,
  generateClusterCertificate,
  hashConfig,
  MemoryConfigStore,
  memoryTransport,
  type PlanesyncError,
  type SaveOptions,
  StoreWriteFailedError,
  type TransportClient,
  TrustVerifier,
} from '../src/index.ts';
import { decodeFrame, encodeConfigFrame, encodeMessage } from '../src/protocol/index.ts';
import { createTestCluster, FakeClock, type TestCluster } from '../src/testing/index.ts';
import { dataPlaneSent } from './hostile-control-plane.ts';

const configA = { _format_version: '3.0', services: [{ name: 'a', host: 'a.internal' }] };
const configB = { _format_version: '3.0', services: [{ name: 'b', host: 'b.internal' }] };
const configC = { _format_version: '3.0', services: [{ name: 'c', host: 'c.internal' }] };
const hashOf = (config: object) => hashConfig(config as Record<string, unknown>).config_hash;

let cluster: TestCluster;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await cluster?.stop();
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

function once(
  emitter: { once(event: never, fn: (...args: never[]) => void): unknown },
  event: string,
): Promise<unknown[]> {
  return new Promise((resolve) =>
    emitter.once(event as never, (...args: unknown[]) => resolve(args)),
  );
}

/** A client wrapper that records each connect attempt's time and every frame type received. */
function tap(client: TransportClient, clock: FakeClock) {
  const attempts: number[] = [];
  const received: string[] = [];
  return {
    attempts,
    received,
    client: {
      async connect(options) {
        attempts.push(clock.now());
        const connection = await client.connect(options);
        const iterate = connection[Symbol.asyncIterator].bind(connection);
        (connection as { [Symbol.asyncIterator]: () => AsyncIterator<Uint8Array> })[
          Symbol.asyncIterator
        ] = () => {
          const inner = iterate();
          return {
            async next() {
              const result = await inner.next();
              if (!result.done) received.push(decodeFrame(result.value).type);
              return result;
            },
          };
        };
        return connection;
      },
    } satisfies TransportClient,
  };
}

async function connected(dp: DataPlane) {
  if (dp.status.connection !== 'connected') await once(dp, 'connected');
}

describe('DP start sequence', () => {
  it('uses the local cache first, before the declarative file', async () => {
    cluster = await createTestCluster();
    const storage = new MemoryConfigStore();
    const cached = hashConfig(configA);
    await storage.save({
      version: 4,
      hash: cached.config_hash,
      hashes: cached.hashes,
      source: 'control-plane',
      config: configA,
      appliedAt: 0,
    });
    const dp = cluster.dataPlane({ storage, declarativeConfig: configB });
    await dp.start();
    expect(dp.currentConfig).toMatchObject({
      source: 'cache',
      hash: cached.config_hash,
      version: 4,
    });
  });

  it('loads the declarative file when the cache is missing', async () => {
    cluster = await createTestCluster();
    const dir = await mkdtemp(join(tmpdir(), 'planesync-dp-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await writeFile(
      join(dir, 'kong.yml'),
      '_format_version: "3.0"\nservices:\n  - name: b\n    host: b.internal\n',
    );
    const dp = cluster.dataPlane({ declarativeConfig: join(dir, 'kong.yml') });
    await dp.start();
    expect(dp.currentConfig).toMatchObject({ source: 'declarative', hash: hashOf(configB) });
  });

  it('starts with an empty configuration when neither exists', async () => {
    cluster = await createTestCluster();
    const dp = cluster.dataPlane();
    await dp.start();
    expect(dp.currentConfig).toMatchObject({ source: 'empty', config: { _format_version: '3.0' } });
  });

  it('in all cases contacts the CP, applies its config and saves it to the cache', async () => {
    cluster = await createTestCluster();
    const storage = new MemoryConfigStore();
    const { hash } = await cluster.cp.setConfig(configA);
    const dp = cluster.dataPlane({ storage, declarativeConfig: configB });
    await dp.start();
    expect(dp.currentConfig?.source).toBe('declarative');
    const snapshot = await dp.waitForConfig({ hash });
    expect(snapshot.source).toBe('control-plane');
    expect((await storage.load())?.hash).toBe(hash);
  });

  it('reports a corrupt cache as STORE_CORRUPT and falls through to the declarative file', async () => {
    cluster = await createTestCluster();
    const dir = await mkdtemp(join(tmpdir(), 'planesync-dp-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'config.json.gz'), 'not gzip at all');
    const dp = cluster.dataPlane({
      storage: new FileConfigStore({ prefix: dir }),
      declarativeConfig: configB,
    });
    const errors: PlanesyncError[] = [];
    dp.on('error', (error) => errors.push(error));
    await dp.start();
    expect(errors.map((e) => e.code)).toContain('STORE_CORRUPT');
    expect(dp.currentConfig?.source).toBe('declarative');
  });

  it('reports an invalid declarative file as CONFIG_INVALID and starts empty', async () => {
    cluster = await createTestCluster();
    const dp = cluster.dataPlane({
      declarativeConfig: { _format_version: '3.0', services: [{ name: 'x', port: 99999 }] },
    });
    const errors: PlanesyncError[] = [];
    const contexts: ErrorContext[] = [];
    dp.on('error', (error, context) => {
      errors.push(error);
      contexts.push(context);
    });
    await dp.start();
    expect(errors.map((e) => e.code)).toEqual(['CONFIG_INVALID']);
    // As on the CP, an error says where it happened: here, this DP (not linked to a CP yet).
    expect(contexts).toEqual([{ nodeId: dp.status.nodeId }]);
    expect(dp.currentConfig?.source).toBe('empty');
  });

  it('keeps its node id across restarts, so the CP sees one DP', async () => {
    cluster = await createTestCluster();
    const storage = new MemoryConfigStore();
    const first = cluster.dataPlane({ storage });
    await first.start();
    await connected(first);
    const id = first.status.nodeId;
    await first.stop();
    const second = cluster.dataPlane({ storage });
    await second.start();
    await connected(second);
    expect(second.status.nodeId).toBe(id);
    expect(cluster.cp.dataPlanes().map((d) => d.id)).toEqual([id]);
  });
});

describe('CP pushes config', () => {
  it('pushes a config change immediately to every connected DP', async () => {
    cluster = await createTestCluster();
    const dps = [cluster.dataPlane(), cluster.dataPlane(), cluster.dataPlane()];
    for (const dp of dps) await dp.start();
    await Promise.all(dps.map(connected));
    const { hash, version } = await cluster.cp.setConfig(configA);
    const snapshots = await Promise.all(dps.map((dp) => dp.waitForConfig({ hash })));
    expect(snapshots.map((s) => [s.version, s.source])).toEqual([
      [version, 'control-plane'],
      [version, 'control-plane'],
      [version, 'control-plane'],
    ]);
  });

  it('encodes and compresses each version once, whatever the number of DPs', async () => {
    cluster = await createTestCluster();
    const dps = Array.from({ length: 5 }, () => cluster.dataPlane());
    for (const dp of dps) await dp.start();
    await Promise.all(dps.map(connected));
    await cluster.cp.setConfig(configA);
    const { hash } = await cluster.cp.setConfig(configB);
    await cluster.clock.advance(1_000); // the end of the push window
    await Promise.all(dps.map((dp) => dp.waitForConfig({ hash })));
    expect(cluster.cp.counters.configsEncoded).toBe(2);
  });

  it('encodes only the newest of setConfig calls queued behind one another; each still gets its version', async () => {
    cluster = await createTestCluster();
    const dp = cluster.dataPlane();
    await dp.start();
    await connected(dp);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        cluster.cp.setConfig({ _format_version: '3.0', marker: i }),
      ),
    );
    expect(results.map((r) => r.version)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    await dp.waitForConfig({ hash: results[19]!.hash });
    expect(cluster.cp.counters.configsEncoded).toBeLessThanOrEqual(2);
  });

  it('a version superseded in the queue is still pushed when the call that superseded it fails', async () => {
    cluster = await createTestCluster();
    const dp = cluster.dataPlane();
    await dp.start();
    await connected(dp);
    const [good, bad] = await Promise.allSettled([
      cluster.cp.setConfig(configA),
      cluster.cp.setConfig({ _format_version: '3.0', services: [{ name: 'x', port: -1 }] }),
    ]);
    expect(bad).toMatchObject({ status: 'rejected', reason: { code: 'CONFIG_INVALID' } });
    const { hash } = (good as PromiseFulfilledResult<{ hash: string }>).value;
    await dp.waitForConfig({ hash });
    expect(cluster.cp.counters.configsEncoded).toBe(1);
  });

  it('creates no new version when the hash is unchanged', async () => {
    cluster = await createTestCluster();
    const first = await cluster.cp.setConfig(configA);
    const again = await cluster.cp.setConfig(structuredClone(configA));
    expect(again).toEqual(first);
    expect(cluster.cp.counters.configsEncoded).toBe(1);
  });

  it('pushes only the latest on reconnect, never a replay of older versions', async () => {
    cluster = await createTestCluster();
    const tapped = tap(
      cluster.transport.client({ certificates: [cluster.certificate] }),
      cluster.clock,
    );
    const dp = cluster.dataPlane({ transport: tapped.client, random: () => 0 });
    await dp.start();
    await connected(dp);
    await cluster.cp.setConfig(configA);
    await dp.waitForConfig({ hash: hashOf(configA) });
    await cluster.cp.stop(); // the CP goes down
    await cluster.cp.setConfig(configB);
    const latest = await cluster.cp.setConfig(configC);
    tapped.received.length = 0;
    const applied: ConfigSnapshot[] = [];
    dp.on('config', (snapshot) => applied.push(snapshot));
    await cluster.cp.start();
    await cluster.clock.advance(5_000);
    await dp.waitForConfig({ hash: latest.hash });
    // One frame, the newest: whole, or a delta from the version the DP kept (planesync/2).
    expect(tapped.received.filter((type) => type === 'config' || type === 'delta')).toHaveLength(1);
    expect(applied.map((s) => s.version)).toEqual([latest.version]);
  });

  it('sends nothing when the DP already has the latest hash', async () => {
    cluster = await createTestCluster();
    const storage = new MemoryConfigStore();
    const { hash } = await cluster.cp.setConfig(configA);
    const dp = cluster.dataPlane({ storage });
    await dp.start();
    await dp.waitForConfig({ hash });
    await dp.stop();
    const tapped = tap(
      cluster.transport.client({ certificates: [cluster.certificate] }),
      cluster.clock,
    );
    const restarted = cluster.dataPlane({ storage, transport: tapped.client });
    await restarted.start();
    await connected(restarted);
    await cluster.clock.advance(60_000);
    expect(restarted.currentConfig).toMatchObject({ source: 'cache', hash });
    expect(tapped.received).not.toContain('config');
  });

  it('coalesces rapid changes: a DP still receiving gets only the newest next, nothing queued', async () => {
    cluster = await createTestCluster();
    // A DP whose socket is full: it reads nothing until the CP is done changing the config.
    const slow = memoryTransport({
      clock: cluster.clock,
      certificates: [cluster.certificate],
      highWaterMark: 1,
    });
    const cp = new ControlPlane({
      transport: slow.server,
      trust: cluster.trust,
      version: '3.10.0',
      clock: cluster.clock,
      pushIntervalMs: 0,
    });
    await cp.start();
    cleanups.push(() => cp.stop());
    const raw = await slow.client({ certificates: [cluster.certificate] }).connect();
    await raw.send(helloFrame('slow-dp'));
    const frames = raw[Symbol.asyncIterator]();
    expect(decodeFrame((await frames.next()).value).type).toBe('welcome');
    const results = [];
    for (let i = 0; i < 20; i++)
      results.push(await cp.setConfig({ _format_version: '3.0', marker: i }));
    const received: number[] = [];
    // Bounded: a regression that sends other frames fails below instead of looping for ever.
    for (let read = 0; received.at(-1) !== 20 && read < 25; read++) {
      const message = decodeFrame((await frames.next()).value);
      if (message.type !== 'config') continue;
      received.push(message.body.header.version);
      const { version, hash } = message.body.header;
      await raw.send(encodeMessage('ack', { version, hash }));
    }
    expect(received.length).toBeLessThanOrEqual(2);
    expect(received.at(-1)).toBe(results.at(-1)?.version);
    expect(cp.counters.configsEncoded).toBe(20);
  });

  it('one config frame in flight per DP: versions published before its ack reach it as one frame, the newest', async () => {
    cluster = await createTestCluster();
    const raw = await cluster.transport.client({ certificates: [cluster.certificate] }).connect();
    await raw.send(helloFrame('acking-dp'));
    const frames = raw[Symbol.asyncIterator]();
    expect(decodeFrame((await frames.next()).value).type).toBe('welcome');
    const first = await cluster.cp.setConfig({ _format_version: '3.0', marker: 0 });
    const firstFrame = decodeFrame((await frames.next()).value);
    expect(firstFrame).toMatchObject({ type: 'config', body: { header: first } });
    let newest = first;
    for (let i = 1; i < 10; i++)
      newest = await cluster.cp.setConfig({ _format_version: '3.0', marker: i });
    // Nothing more is sent while the first frame is unanswered: a heartbeat sent after
    // 29.999 s is answered before any config frame (the link keeps frames in order)…
    await cluster.clock.advance(29_999);
    await raw.send(encodeMessage('ping', { version: 0, hash: EMPTY_CONFIG_HASH }));
    expect(decodeFrame((await frames.next()).value).type).toBe('pong');
    // …and its ack releases exactly one frame: the newest.
    await raw.send(encodeMessage('ack', first));
    const second = decodeFrame((await frames.next()).value);
    expect(second).toMatchObject({ type: 'config', body: { header: newest } });
    await raw.close();
  });

  it('a DP that never answers a config frame still gets the newest after configAckTimeoutMs', async () => {
    cluster = await createTestCluster({ controlPlane: { configAckTimeoutMs: 5_000 } });
    const raw = await cluster.transport.client({ certificates: [cluster.certificate] }).connect();
    await raw.send(helloFrame('silent-dp'));
    const frames = raw[Symbol.asyncIterator]();
    expect(decodeFrame((await frames.next()).value).type).toBe('welcome');
    await cluster.cp.setConfig({ _format_version: '3.0', marker: 0 });
    expect(decodeFrame((await frames.next()).value).type).toBe('config');
    const newest = await cluster.cp.setConfig({ _format_version: '3.0', marker: 1 });
    await cluster.clock.advance(4_999);
    // Not yet: a heartbeat sent now is answered before any config frame (frames stay in order).
    await raw.send(encodeMessage('ping', { version: 0, hash: EMPTY_CONFIG_HASH }));
    expect(decodeFrame((await frames.next()).value).type).toBe('pong');
    await cluster.clock.advance(1);
    expect(decodeFrame((await frames.next()).value)).toMatchObject({
      type: 'config',
      body: { header: newest },
    });
    await raw.close();
  });

  it.each([
    { when: 'by default', options: {}, window: 1_000, every: 40 },
    { when: 'with pushIntervalMs: 100', options: { pushIntervalMs: 100 }, window: 100, every: 5 },
  ])(
    '$when, 20 changes within the push window reach a DP as 2 frames: the first at once, the newest when the window ends',
    async ({ options, window, every }) => {
      cluster = await createTestCluster({ controlPlane: options });
      const tapped = tap(
        cluster.transport.client({ certificates: [cluster.certificate] }),
        cluster.clock,
      );
      const dp = cluster.dataPlane({ transport: tapped.client });
      await dp.start();
      await connected(dp);
      const first = await cluster.cp.setConfig({ _format_version: '3.0', marker: 0 });
      await dp.waitForConfig({ hash: first.hash }); // pushed immediately
      let newest = first;
      for (let i = 1; i < 20; i++) {
        await cluster.clock.advance(every);
        newest = await cluster.cp.setConfig({ _format_version: '3.0', marker: i });
      }
      await cluster.clock.advance(window - 19 * every - 1);
      expect(dp.currentConfig?.hash).toBe(first.hash);
      await cluster.clock.advance(1);
      await dp.waitForConfig({ hash: newest.hash });
      expect(tapped.received.filter((type) => type === 'config')).toHaveLength(2);
    },
  );

  it('a DP busy applying a version applies only the newest that arrived meanwhile', async () => {
    cluster = await createTestCluster();
    const dp = cluster.dataPlane();
    await dp.start();
    await connected(dp);
    const applied: number[] = [];
    dp.on('config', (snapshot) => applied.push(snapshot.version));
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        cluster.cp.setConfig({ _format_version: '3.0', marker: i }),
      ),
    );
    await dp.waitForConfig({ hash: results.at(-1)!.hash });
    expect(applied.at(-1)).toBe(20);
    expect(applied).toEqual([...applied].sort((a, b) => a - b)); // never an older one after a newer
  });
});

describe('heartbeats and reconnects', () => {
  it('sends a heartbeat every 30 s, which the CP sees', async () => {
    cluster = await createTestCluster();
    const dp = cluster.dataPlane();
    await dp.start();
    await connected(dp);
    const seen: number[] = [];
    for (let i = 0; i < 3; i++) {
      await cluster.clock.advance(30_000);
      seen.push(cluster.cp.dataPlanes()[0]!.lastSeen);
    }
    const start = seen[0]! - 30_000;
    expect(seen.map((t) => t - start)).toEqual([30_000, 60_000, 90_000]);
  });

  it('reconnects after a uniformly random 5–10 s delay, every attempt, until stopped', async () => {
    cluster = await createTestCluster();
    await cluster.cp.stop();
    const tapped = tap(
      cluster.transport.client({ certificates: [cluster.certificate] }),
      cluster.clock,
    );
    const dp = cluster.dataPlane({ transport: tapped.client });
    await dp.start();
    await cluster.clock.advance(60 * 60_000);
    const gaps = tapped.attempts.slice(1).map((t, i) => t - tapped.attempts[i]!);
    expect(gaps.length).toBeGreaterThan(300);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(5_000);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(10_000);
    expect(Math.min(...gaps)).toBeLessThan(5_500); // spread over the whole range
    expect(Math.max(...gaps)).toBeGreaterThan(9_500);
    await dp.stop();
    const attempts = tapped.attempts.length;
    await cluster.clock.advance(60_000);
    expect(tapped.attempts.length).toBe(attempts);
  });

  it('treats 45 s without a frame from the CP as a dead link and reconnects', async () => {
    const clock = new FakeClock();
    const { certificate } = await generateClusterCertificate({ clock });
    const trust = new TrustVerifier({ mode: 'pinned', certificates: [certificate], clock });
    cluster = await createTestCluster({ clock });
    // A CP that accepts the link and then says nothing at all.
    const silent = (await import('../src/index.ts')).memoryTransport({
      clock,
      certificates: [certificate],
    });
    await silent.server.listen(() => undefined);
    const tapped = tap(silent.client({ certificates: [certificate] }), clock);
    const dp = new DataPlane({
      transport: tapped.client,
      trust,
      version: '3.10.0',
      clock,
      random: () => 0,
    });
    const errors: string[] = [];
    dp.on('error', (error) => errors.push(error.code));
    cleanups.push(() => dp.stop());
    await dp.start();
    await clock.advance(44_999);
    expect(tapped.attempts).toHaveLength(1);
    await clock.advance(1 + 5_000);
    expect(errors).toContain('HEARTBEAT_TIMEOUT');
    expect(tapped.attempts).toHaveLength(2);
  });

  it('disconnects a DP that sends nothing for 45 s', async () => {
    cluster = await createTestCluster();
    const raw = await cluster.transport.client({ certificates: [cluster.certificate] }).connect();
    await raw.send(helloFrame('silent-dp'));
    await cluster.clock.advance(44_999);
    expect(raw.isClosed).toBe(false);
    await cluster.clock.advance(1);
    expect((await raw.closed).code).toBe(1001);
    expect(cluster.cp.dataPlanes()[0]).toMatchObject({ id: 'silent-dp', connected: false });
  });
});

describe('CP outage', () => {
  it('the DP keeps serving its config while the CP is gone, for as long as it takes', async () => {
    cluster = await createTestCluster();
    const dp = cluster.dataPlane();
    await dp.start();
    const { hash } = await cluster.cp.setConfig(configA);
    await dp.waitForConfig({ hash });
    const disconnected = once(dp, 'disconnected');
    await cluster.cp.stop();
    await disconnected;
    await cluster.clock.advance(24 * 60 * 60_000); // a simulated day
    expect(dp.status.connection).not.toBe('connected');
    expect(dp.currentConfig).toMatchObject({ hash, source: 'control-plane' });
  });

  it('a DP restarted during the outage serves its cache without the CP', async () => {
    cluster = await createTestCluster();
    const storage = new MemoryConfigStore();
    const dp = cluster.dataPlane({ storage });
    await dp.start();
    const { hash } = await cluster.cp.setConfig(configA);
    await dp.waitForConfig({ hash });
    await cluster.cp.stop();
    await dp.stop();
    const restarted = cluster.dataPlane({ storage });
    await restarted.start();
    expect(restarted.currentConfig).toMatchObject({ hash, source: 'cache' });
  });

  it('a manual config is served until the CP pushes again', async () => {
    cluster = await createTestCluster();
    const dp = cluster.dataPlane();
    await dp.start();
    await connected(dp);
    await dp.loadConfig(configB);
    expect(dp.currentConfig).toMatchObject({ source: 'manual', hash: hashOf(configB) });
    const { hash } = await cluster.cp.setConfig(configA);
    expect((await dp.waitForConfig({ hash })).source).toBe('control-plane');
  });
});

describe('compatibility', () => {
  const cases: Array<[string, boolean]> = [
    ['3.10.0', true],
    ['3.9.2', true],
    ['3.11.0', false],
    ['4.0.0', false],
    ['2.8.0', false],
  ];
  for (const [version, ok] of cases) {
    it(`${ok ? 'serves' : 'refuses'} a ${version} DP from a 3.10.0 CP`, async () => {
      cluster = await createTestCluster();
      await cluster.cp.setConfig(configA);
      const dp = cluster.dataPlane({ version });
      const outcome = Promise.race([
        once(dp, 'connected').then(() => 'connected'),
        once(dp, 'rejected').then(([rejection]) => {
          const { code, syncStatus } = rejection as { code: string; syncStatus?: string };
          return `${code} ${syncStatus}`;
        }),
      ]);
      await dp.start();
      // One vocabulary: the error code, and the sync status the CP records for the DP.
      expect(await outcome).toBe(
        ok ? 'connected' : 'VERSION_INCOMPATIBLE kong_version_incompatible',
      );
      if (!ok) {
        expect(cluster.cp.dataPlanes()[0]).toMatchObject({
          syncStatus: 'kong_version_incompatible',
          connected: false,
        });
        expect(dp.currentConfig?.source).toBe('empty');
      }
    });
  }

  it('keeps a DP missing a configured plugin connected, answers its pings, sends no config', async () => {
    cluster = await createTestCluster();
    await cluster.cp.setConfig({
      ...configA,
      plugins: [{ name: 'rate-limiting', config: { minute: 5 } }],
    });
    const dp = cluster.dataPlane({ plugins: [{ name: 'key-auth', version: '3.10.0' }] });
    await dp.start();
    await connected(dp);
    await cluster.clock.advance(120_000);
    expect(dp.status).toMatchObject({
      connection: 'connected',
      syncStatus: 'plugin_set_incompatible',
    });
    expect(dp.currentConfig?.source).toBe('empty');
    expect(cluster.cp.dataPlanes()[0]?.syncStatus).toBe('plugin_set_incompatible');
  });

  it('marks a plugin of another major version plugin_version_incompatible', async () => {
    cluster = await createTestCluster({
      controlPlane: { plugins: [{ name: 'rate-limiting', version: '3.10.0' }] },
    });
    await cluster.cp.setConfig({ ...configA, plugins: [{ name: 'rate-limiting' }] });
    const dp = cluster.dataPlane({ plugins: [{ name: 'rate-limiting', version: '2.8.0' }] });
    await dp.start();
    await connected(dp);
    expect(dp.status.syncStatus).toBe('plugin_version_incompatible');
  });

  it('sends the config once a compatible config exists', async () => {
    cluster = await createTestCluster();
    await cluster.cp.setConfig({ ...configA, plugins: [{ name: 'rate-limiting' }] });
    const dp = cluster.dataPlane({ plugins: [] });
    await dp.start();
    await connected(dp);
    const { hash } = await cluster.cp.setConfig(configA);
    await cluster.clock.advance(1_000); // the end of the push window
    await dp.waitForConfig({ hash });
    expect(cluster.cp.dataPlanes()[0]?.syncStatus).toBe('normal');
  });
});

describe('trust', () => {
  it('rejects a DP with an untrusted certificate; it receives no config', async () => {
    cluster = await createTestCluster();
    await cluster.cp.setConfig(configA);
    const stranger = await generateClusterCertificate({ clock: cluster.clock });
    const rejected = once(cluster.cp, 'dataPlaneRejected');
    const tapped = tap(
      cluster.transport.client({ certificates: [stranger.certificate] }),
      cluster.clock,
    );
    const dp = cluster.dataPlane({ transport: tapped.client });
    await dp.start();
    const [rejection] = await rejected;
    expect(rejection).toMatchObject({ code: 'TRUST_PIN_MISMATCH' });
    await cluster.clock.advance(1);
    expect(tapped.received).toEqual([]);
    expect(dp.currentConfig?.source).toBe('empty');
    expect(cluster.cp.dataPlanes()).toEqual([]);
  });

  it('a DP refuses a CP whose certificate it does not trust', async () => {
    cluster = await createTestCluster();
    const other = await generateClusterCertificate({ clock: cluster.clock });
    const dp = cluster.dataPlane({
      trust: new TrustVerifier({
        mode: 'pinned',
        certificates: [other.certificate],
        clock: cluster.clock,
      }),
    });
    const rejected = once(dp, 'rejected');
    await dp.start();
    expect((await rejected)[0]).toMatchObject({ code: 'TRUST_PIN_MISMATCH' });
    expect(cluster.cp.dataPlanes()).toEqual([]);
  });
});

describe('the DP cache write', () => {
  /** A memory store that remembers the bytes it was handed with each save. */
  class RecordingStore extends MemoryConfigStore {
    readonly handed: Array<Uint8Array | undefined> = [];
    override async save(snapshot: ConfigSnapshot, options: SaveOptions = {}) {
      this.handed.push(options.json);
      await super.save(snapshot, options);
    }
  }

  it('caches the config bytes it received instead of serializing the config again', async () => {
    cluster = await createTestCluster();
    const storage = new RecordingStore();
    const dp = cluster.dataPlane({ storage });
    await dp.start();
    const { hash } = await cluster.cp.setConfig(configA);
    const applied = await dp.waitForConfig({ hash });
    await cluster.clock.advance(1);
    const json = storage.handed.at(-1);
    expect(json).toBeInstanceOf(Uint8Array);
    expect(JSON.parse(new TextDecoder().decode(json))).toEqual(applied.config);
    expect((await storage.load())?.config).toEqual(applied.config);
  });

  it('serializes the config when its schema changed it (the received bytes are not what it applied)', async () => {
    cluster = await createTestCluster();
    const storage = new RecordingStore();
    const stamped = {
      safeParse: (value: unknown) => ({
        success: true as const,
        data: { ...(value as object), stamped: true },
      }),
    };
    const dp = cluster.dataPlane({ storage, schema: stamped });
    await dp.start();
    const { hash } = await cluster.cp.setConfig(configA);
    await dp.waitForConfig({ hash });
    await cluster.clock.advance(1);
    expect(storage.handed.at(-1)).toBeUndefined();
    expect((await storage.load())?.config).toMatchObject({ stamped: true });
  });
});

describe('bad input loses nothing', () => {
  it('a DP that nacks keeps its last good config; the CP hears why', async () => {
    cluster = await createTestCluster();
    const strict = {
      safeParse: (value: unknown) =>
        (value as { services?: Array<{ name: string }> }).services?.some((s) => s.name === 'b')
          ? {
              success: false as const,
              error: {
                issues: [
                  {
                    code: 'custom' as const,
                    path: ['services', 0, 'name'],
                    message: 'b is banned here',
                    input: value,
                  },
                ],
              },
            }
          : { success: true as const, data: value },
    };
    const dp = cluster.dataPlane({ schema: strict });
    await dp.start();
    const good = await cluster.cp.setConfig(configA);
    await dp.waitForConfig({ hash: good.hash });
    const rejected = once(cluster.cp, 'configRejected');
    await cluster.cp.setConfig(configB);
    await cluster.clock.advance(1_000); // the end of the push window
    const [event] = await rejected;
    expect(event).toMatchObject({
      version: 2,
      errors: [{ path: 'services[0].name', message: 'b is banned here' }],
    });
    expect(dp.currentConfig?.hash).toBe(good.hash);
  });

  it('a DP whose cache cannot be written keeps the config applied in memory and reports it', async () => {
    cluster = await createTestCluster();
    const storage = new MemoryConfigStore();
    storage.save = async () => {
      throw new StoreWriteFailedError('disk full');
    };
    const dp = cluster.dataPlane({ storage });
    const errors: string[] = [];
    dp.on('error', (error) => errors.push(error.code));
    await dp.start();
    const applied = once(cluster.cp, 'configApplied');
    const { hash } = await cluster.cp.setConfig(configA);
    await dp.waitForConfig({ hash });
    expect((await applied)[0]).toMatchObject({ hash });
    expect(errors).toContain('STORE_WRITE_FAILED');
    expect(dp.currentConfig?.hash).toBe(hash);
  });

  it.each([
    'maxConfigFrameBytes',
    'maxPayloadBytes', // its deprecated name
  ])(
    'the CP refuses a config whose compressed frame exceeds %s, keeping its version',
    async (option) => {
      cluster = await createTestCluster({ controlPlane: { [option]: 4096 } });
      await cluster.cp.setConfig(configA);
      const random = Array.from({ length: 400 }, (_, i) => ({
        name: `s${i}`,
        host: `${Math.random().toString(36)}.internal`,
      }));
      await expect(
        cluster.cp.setConfig({ _format_version: '3.0', services: random }),
      ).rejects.toMatchObject({
        code: 'PAYLOAD_TOO_LARGE',
      });
      expect(cluster.cp.currentConfig?.version).toBe(1);
    },
  );

  it('the CP keeps its version when setConfig gets an invalid config', async () => {
    cluster = await createTestCluster();
    await cluster.cp.setConfig(configA);
    await expect(
      cluster.cp.setConfig({ _format_version: '3.0', services: [{ host: 'x', port: -1 }] }),
    ).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
    });
    expect(cluster.cp.currentConfig?.version).toBe(1);
  });

  it('a malformed frame closes only that DP with PROTOCOL_VIOLATION; other DPs are unaffected', async () => {
    cluster = await createTestCluster();
    const good = cluster.dataPlane();
    await good.start();
    await connected(good);
    const errors: string[] = [];
    cluster.cp.on('error', (error) => errors.push(error.code));
    for (const garbage of [
      Uint8Array.of(0xff, 1, 2),
      Uint8Array.of(0x07, 0x7b),
      new Uint8Array(0),
    ]) {
      const raw = await cluster.transport.client({ certificates: [cluster.certificate] }).connect();
      await raw.send(helloFrame(`raw-${garbage.length}`));
      await raw.send(garbage);
      expect((await raw.closed).code).toBe(1002);
    }
    const config = encodeMessage('ack', { version: 1, hash: hashOf(configA) });
    const early = await cluster.transport.client({ certificates: [cluster.certificate] }).connect();
    await early.send(config); // out of order: before hello
    expect((await early.closed).code).toBe(1002);
    expect(errors.filter((code) => code === 'PROTOCOL_VIOLATION')).toHaveLength(4);
    const { hash } = await cluster.cp.setConfig(configA);
    await good.waitForConfig({ hash });
    expect(good.status.connection).toBe('connected');
  });

  it.each([
    'maxConfigBytes',
    'maxInflatedBytes', // its deprecated name
  ])(
    'a gzip bomb past %s closes the link with PAYLOAD_TOO_LARGE and the DP keeps its config',
    async (option) => {
      const bomb = { _format_version: '3.0', padding: 'x'.repeat(5_000_000) };
      const { dp, error } = await dataPlaneSent(
        () => encodeConfigFrame({ version: 1, hash: 'a'.repeat(32) }, bomb),
        'PAYLOAD_TOO_LARGE',
        { [option]: 1024 * 1024 },
      );
      cleanups.push(() => dp.stop());
      expect(error.code).toBe('PAYLOAD_TOO_LARGE');
      expect(dp.currentConfig?.source).toBe('empty');
    },
  );
});

describe('DP status on the CP', () => {
  it('records id, hostname, ip, version, labels, sync status, hash, last seen and cert expiry', async () => {
    cluster = await createTestCluster();
    const { hash, version } = await cluster.cp.setConfig(configA);
    const dp = cluster.dataPlane({
      hostname: 'dp-1.internal',
      labels: { region: 'eu' },
      version: '3.9.0',
    });
    await dp.start();
    await dp.waitForConfig({ hash });
    await cluster.clock.advance(30_000);
    const [status] = cluster.cp.dataPlanes() as [DataPlaneStatus];
    expect(status).toMatchObject({
      id: dp.status.nodeId,
      hostname: 'dp-1.internal',
      version: '3.9.0',
      labels: { region: 'eu' },
      syncStatus: 'normal',
      configHash: hash,
      configVersion: version,
      connected: true,
    });
    expect(status.ip).toMatch(/^memory:/);
    expect(status.certExpiresAt).toBeGreaterThan(cluster.clock.now());
  });

  it('purges a DP 14 days after it was last seen', async () => {
    cluster = await createTestCluster();
    const dp = cluster.dataPlane();
    await dp.start();
    await connected(dp);
    await dp.stop();
    await cluster.clock.advance(1);
    expect(cluster.cp.dataPlanes()).toHaveLength(1);
    await cluster.clock.advance(14 * 86_400_000 - 60_000);
    expect(cluster.cp.dataPlanes()).toHaveLength(1);
    await cluster.clock.advance(2 * 3_600_000);
    expect(cluster.cp.dataPlanes()).toHaveLength(0);
  });
});

describe('licence', () => {
  it('a DP reports itself unlicensed once the licence from the CP expires', async () => {
    cluster = await createTestCluster();
    cluster.cp.setLicense({ expiresAt: cluster.clock.now() + 86_400_000 });
    const { hash } = await cluster.cp.setConfig(configA);
    const dp = cluster.dataPlane();
    await dp.start();
    await dp.waitForConfig({ hash });
    expect(dp.status.licensed).toBe(true);
    const expired = once(dp, 'licenseExpired');
    await cluster.clock.advance(86_400_000);
    await expired;
    expect(dp.status.licensed).toBe(false);
    expect(dp.currentConfig?.hash).toBe(hash); // it still has its config; the host decides
  });

  it('a licence change reaches DPs that already have the latest config', async () => {
    cluster = await createTestCluster();
    const { hash } = await cluster.cp.setConfig(configA);
    const dp = cluster.dataPlane();
    await dp.start();
    await dp.waitForConfig({ hash });
    const expired = once(dp, 'licenseExpired');
    cluster.cp.setLicense({ expiresAt: cluster.clock.now() - 1 });
    await expired;
    expect(dp.status.licensed).toBe(false);
  });
});

function helloFrame(nodeId: string): Uint8Array {
  return encodeMessage('hello', {
    protocol: 'planesync/1',
    nodeId,
    hostname: nodeId,
    version: '3.10.0',
    labels: {},
    plugins: [],
    configHash: '0'.repeat(32),
    configVersion: 0,
  });
}
