import type * as zlib from 'node:zlib';
import { zstdCompressSync } from 'node:zlib';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type Connection,
  ControlPlane,
  DataPlane,
  decodeFrame,
  EMPTY_CONFIG_HASH,
  encodeMessage,
  generateClusterCertificate,
  hashConfig,
  kongProtocol,
  memoryTransport,
  planesyncProtocol,
  silentLogger,
  type TransportClient,
  TrustVerifier,
} from '../src/index.ts';
import { assembleConfigFrame, encodeConfigFrame, inflate } from '../src/protocol/codec.ts';
import { zstdAvailable, zstdDecompress } from '../src/protocol/zstd.ts';
import { createTestCluster, FakeClock, type TestCluster } from '../src/testing/index.ts';
import { dataPlaneSent } from './hostile-control-plane.ts';

/**
 * Every zstd compression the CP starts and finishes, a switch to make the next ones fail, and
 * one to hold the finished ones back until the test lets them go (a zstd that takes long).
 */
const compressions = vi.hoisted(() => ({
  count: 0,
  finished: 0,
  failing: 0,
  holding: false,
  held: [] as Array<() => void>,
}));
vi.mock('node:zlib', async (original) => {
  const real = await original<typeof zlib>();
  // Before Node 22.15 there is none: the mock says so (its every name must be there to read).
  if (typeof real.zstdCompress !== 'function')
    return { ...real, zstdCompress: undefined, zstdDecompress: undefined };
  return {
    ...real,
    zstdCompress(bytes: never, options: never, done: (error: Error | null, out?: Buffer) => void) {
      compressions.count++;
      if (compressions.failing > 0) {
        compressions.failing--;
        setImmediate(() => done(new Error('zstd: out of memory (as the test says)')));
        return;
      }
      real.zstdCompress(bytes, options, (error, out) => {
        const finish = () => {
          compressions.finished++;
          done(error, out);
        };
        if (compressions.holding) compressions.held.push(finish);
        else finish();
      });
    },
  };
});

const config = {
  _format_version: '3.0',
  services: Array.from({ length: 300 }, (_, i) => ({
    name: `service-${i}`,
    host: `backend-${i % 7}.internal`,
    port: 8000 + i,
  })),
};

describe.skipIf(!zstdAvailable)(
  'whole configs in zstd to DPs that read it (planesync/3; skipped where node:zlib has no zstd, before Node 22.15)',
  () => {
    let cluster: TestCluster | undefined;
    const cleanups: Array<() => Promise<unknown>> = [];
    afterEach(async () => {
      compressions.count = 0;
      compressions.finished = 0;
      compressions.failing = 0;
      compressions.holding = false;
      for (const finish of compressions.held.splice(0)) finish();
      for (const cleanup of cleanups.splice(0)) await cleanup();
      await cluster?.stop();
      cluster = undefined;
    });

    /**
     * A DP by hand offering `protocols` and `compression`: the config frames it is sent (with
     * `acks`, each answered as applied, so the next version follows at once).
     */
    async function handMade(
      protocols: string[],
      compression?: string[],
      name = 'hand',
      { acks = false } = {},
    ) {
      const connection = await cluster!.transport
        .client({ certificates: [cluster!.certificate] })
        .connect();
      cleanups.push(() => connection.close());
      await connection.send(
        encodeMessage('hello', {
          protocol: protocols[0]!,
          protocols,
          ...(compression ? { compression } : {}),
          nodeId: `${name}-${protocols[0]}-${compression?.join() ?? 'gzip'}`,
          hostname: 'h',
          version: '3.10.0',
          configHash: EMPTY_CONFIG_HASH,
          configVersion: 0,
        } as never),
      );
      const frames = connection[Symbol.asyncIterator]();
      return async () => {
        for (;;) {
          const { value } = await frames.next();
          const message = decodeFrame(value as Uint8Array);
          if (message.type !== 'config') continue;
          const { version, hash } = message.body.header;
          if (acks) await connection.send(encodeMessage('ack', { version, hash }));
          return { frame: value as Uint8Array, ...message.body };
        }
      };
    }

    it('a DP that offers zstd is sent the whole config in zstd, smaller; a DP that does not, or speaks planesync/2, gets gzip', async () => {
      cluster = await createTestCluster();
      const zstdDp = await handMade(['planesync/3'], ['zstd']);
      const gzipDp = await handMade(['planesync/3']);
      const olderDp = await handMade(['planesync/2'], ['zstd']);
      const { hash } = await cluster.cp.setConfig(config);
      const [zstd, gzip, older] = await Promise.all([zstdDp(), gzipDp(), olderDp()]);
      expect(zstd.header).toMatchObject({ hash, encoding: 'zstd' });
      expect(gzip.header.encoding).toBeUndefined();
      expect(older.header.encoding).toBeUndefined();
      expect(zstd.frame.byteLength).toBeLessThan(gzip.frame.byteLength);
      // The same JSON bytes either way.
      const json = new TextDecoder().decode(await zstdDecompress(zstd.payload, 1 << 24));
      expect(hashConfig(JSON.parse(json)).config_hash).toBe(hash);
    });

    it('a CP whose DPs read no zstd never compresses a config again in zstd; the first DP that reads it is sent it, made once for all', async () => {
      cluster = await createTestCluster();
      const gzipDp = await handMade(['planesync/3']);
      const olderDp = await handMade(['planesync/2'], ['zstd']);
      // A DP that reads zstd and left before any config: nobody waits for one.
      await handMade(['planesync/3'], ['zstd'], 'left');
      await vi.waitFor(() =>
        expect(cluster!.cp.dataPlanes().some((dp) => dp.id.startsWith('left'))).toBe(true),
      );
      await cleanups.pop()!();
      await vi.waitFor(() =>
        expect(cluster!.cp.dataPlanes().find((dp) => dp.id.startsWith('left'))?.connected).toBe(
          false,
        ),
      );
      const { hash } = await cluster.cp.setConfig(config);
      await Promise.all([gzipDp(), olderDp()]);
      expect(compressions.count).toBe(0);
      const [first, second] = await Promise.all([
        handMade(['planesync/3'], ['zstd'], 'first'),
        handMade(['planesync/3'], ['zstd'], 'second'),
      ]).then(([a, b]) => Promise.all([a(), b()]));
      expect(first.header).toMatchObject({ hash, encoding: 'zstd' });
      expect(second.header).toMatchObject({ hash, encoding: 'zstd' });
      expect(compressions.count).toBe(1);
    });

    it('a DP that reads zstd, connected when the config is set, has its zstd made before setConfig resolves: the push goes out with the rest', async () => {
      cluster = await createTestCluster();
      const zstdDp = await handMade(['planesync/3'], ['zstd']);
      const gzipDp = await handMade(['planesync/3'], undefined, 'gzip');
      const { hash } = await cluster.cp.setConfig(config);
      expect(compressions.finished).toBe(1);
      expect((await zstdDp()).header).toMatchObject({ hash, encoding: 'zstd' });
      expect((await gzipDp()).header.encoding).toBeUndefined();
    });

    it('a DP that reads zstd and is never sent a config (its plugins do not match) costs one zstd, not one for every version after', async () => {
      cluster = await createTestCluster({ controlPlane: { pushIntervalMs: 0 } });
      const withPlugin = { ...config, plugins: [{ name: 'rate-limiting', config: { minute: 5 } }] };
      await cluster.cp.setConfig(withPlugin);
      await handMade(['planesync/3'], ['zstd'], 'no-plugins'); // offers no plugins
      await vi.waitFor(() =>
        expect(cluster!.cp.dataPlanes()[0]).toMatchObject({
          connected: true,
          syncStatus: 'plugin_set_incompatible',
        }),
      );
      compressions.count = 0;
      for (let port = 1; port <= 5; port++) {
        const next = structuredClone(withPlugin);
        next.services[0]!.port = port;
        await cluster.cp.setConfig(next);
      }
      // The first version after it joined was made for it (it might have been sent it); none since.
      expect(compressions.count).toBe(1);
    });

    it('versions coming faster than zstd is made: a DP whose send was dropped while its zstd was made is sent the next at once, in gzip, as gzip readers are', async () => {
      // Whole configs only (a delta needs no zstd), to DPs that ack each.
      cluster = await createTestCluster({
        controlPlane: { pushIntervalMs: 0, deltaHistory: { versions: 0 } },
      });
      const zstdDp = await handMade(['planesync/3'], ['zstd'], 'zstd', { acks: true });
      const gzipDp = await handMade(['planesync/3'], undefined, 'gzip', { acks: true });
      await cluster.cp.setConfig(config);
      await Promise.all([zstdDp(), gzipDp()]);
      // From now on a zstd takes longer than versions take to come.
      compressions.holding = true;
      const versions = [2, 3].map((port) => {
        const next = structuredClone(config);
        next.services[0]!.port = port;
        return next;
      });
      const second = await cluster.cp.setConfig(versions[0]!);
      expect((await gzipDp()).header).toMatchObject({ hash: second.hash });
      const third = await cluster.cp.setConfig(versions[1]!);
      expect((await gzipDp()).header).toMatchObject({ hash: third.hash });
      // The second version's zstd is made at last: its send was dropped for the third.
      let got: Awaited<ReturnType<typeof zstdDp>> | undefined;
      void zstdDp().then((frame) => {
        got = frame;
      });
      await vi.waitFor(() => expect(compressions.held).toHaveLength(1));
      for (const finish of compressions.held.splice(0)) finish();
      // The third's zstd is still being made: the DP does not wait for it a second time.
      await vi.waitFor(() => expect(got).toBeDefined());
      expect(got!.header).toMatchObject({ hash: third.hash });
      expect(got!.header.encoding).toBeUndefined();
    });

    it('a licence set while a DP waits for its zstd: the DP is sent the licensed version in zstd, made once', async () => {
      cluster = await createTestCluster({ controlPlane: { pushIntervalMs: 0 } });
      const gzipDp = await handMade(['planesync/3'], undefined, 'gzip');
      await cluster.cp.setConfig(config); // no zstd reader yet: no zstd made
      await gzipDp();
      compressions.holding = true; // the zstd takes a while
      const zstdDp = await handMade(['planesync/3'], ['zstd'], 'zstd');
      const got = zstdDp();
      await vi.waitFor(() => expect(compressions.held).toHaveLength(1));
      // The same version, licensed: its send waiting for the zstd is dropped for this one.
      cluster.cp.setLicense({ expiresAt: cluster.clock.now() + 86_400_000, customer: 'x' });
      compressions.holding = false;
      for (const finish of compressions.held.splice(0)) finish();
      const frame = await got;
      expect(frame.header.license).toMatchObject({ customer: 'x' });
      expect(frame.header.encoding).toBe('zstd');
      expect(compressions.count).toBe(1);
    });

    it('one planesyncProtocol() serving two CPs: a version of the other CP does not take this CP’s waiting zstd reader out of its early zstd', async () => {
      const protocol = planesyncProtocol();
      const other = await createTestCluster({ controlPlane: { protocols: [protocol] } });
      cleanups.push(() => other.stop());
      cluster = await createTestCluster({ controlPlane: { protocols: [protocol] } });
      const zstdDp = await handMade(['planesync/3'], ['zstd']); // this CP has no config yet
      await vi.waitFor(() => expect(cluster!.cp.dataPlanes()[0]?.connected).toBe(true));
      await other.cp.setConfig(config); // none of its DPs reads zstd
      expect(compressions.count).toBe(0);
      const { hash } = await cluster.cp.setConfig(config);
      expect(compressions.finished).toBe(1); // made before setConfig resolved
      expect((await zstdDp()).header).toMatchObject({ hash, encoding: 'zstd' });
    });

    it('a version licensed again goes to a zstd reader with the gzip frame’s header and JSON, the licence included', async () => {
      cluster = await createTestCluster({ controlPlane: { pushIntervalMs: 0 } });
      const zstdDp = await handMade(['planesync/3'], ['zstd'], 'zstd');
      const gzipDp = await handMade(['planesync/3'], undefined, 'gzip');
      await cluster.cp.setConfig(config);
      await Promise.all([zstdDp(), gzipDp()]);
      cluster.cp.setLicense({ expiresAt: cluster.clock.now() + 86_400_000, customer: 'x' });
      await cluster.clock.advance(60_000); // no ack comes: the ack timeout lets it go
      const [z, g] = await Promise.all([zstdDp(), gzipDp()]);
      expect(z.header.encoding).toBe('zstd');
      const { encoding: _encoding, ...header } = z.header;
      expect(header).toEqual(g.header);
      expect(g.header.license).toMatchObject({ customer: 'x' });
      const json = new TextDecoder().decode(await zstdDecompress(z.payload, 1 << 24));
      expect(json).toBe(new TextDecoder().decode(await inflate(g.payload, 1 << 24)));
    });

    it('a zstd that cannot be made sends that DP the gzip frame, and the next DP sent the version gets zstd', async () => {
      cluster = await createTestCluster();
      const { hash } = await cluster.cp.setConfig(config);
      compressions.failing = 1;
      const unlucky = await handMade(['planesync/3'], ['zstd'], 'unlucky');
      const gzip = await unlucky();
      expect(gzip.header).toMatchObject({ hash });
      expect(gzip.header.encoding).toBeUndefined();
      const later = await handMade(['planesync/3'], ['zstd'], 'later');
      expect((await later()).header).toMatchObject({ hash, encoding: 'zstd' });
      expect(compressions.count).toBe(2);
    });

    it('a DataPlane of this release offers zstd, is sent zstd, and serves the config under the CP hash', async () => {
      cluster = await createTestCluster();
      const encodings: Array<string | undefined> = [];
      const noting = notingEncodings(cluster, encodings);
      const dp = cluster.dataPlane({ transport: noting });
      const connected = new Promise((resolve) => dp.once('connected', resolve));
      await dp.start();
      await connected;
      const { hash } = await cluster.cp.setConfig(config);
      await dp.waitForConfig({ hash });
      expect(encodings).toEqual(['zstd']);
      expect(dp.status).toMatchObject({ hash, protocol: 'planesync/3' });
      // The CP counts the bytes it sent: the zstd frame's, below the gzip frame's.
      await cluster.cp.waitForSync({ hash });
      const gzipFrame = await encodeConfigFrame(
        { version: 1, hash },
        cluster.cp.currentConfig!.config,
      );
      expect(cluster.cp.counters.wholeConfigsSent).toBe(1);
      expect(cluster.cp.counters.wholeConfigBytesSent).toBeLessThan(gzipFrame.byteLength);
      expect(dp.currentConfig?.config).toEqual(config);
    });

    it('a zstd bomb past maxConfigBytes closes the link with PAYLOAD_TOO_LARGE, and zstd that is not closes it with PROTOCOL_VIOLATION; the DP keeps its config', async () => {
      for (const [payload, code] of [
        [zstdCompressSync(Buffer.alloc(5_000_000, 0x20)), 'PAYLOAD_TOO_LARGE'],
        [Buffer.from('not zstd at all'), 'PROTOCOL_VIOLATION'],
      ] as const) {
        const { dp, error } = await dataPlaneSent(
          () =>
            assembleConfigFrame({ version: 1, hash: 'a'.repeat(32), encoding: 'zstd' }, payload),
          code,
          { maxConfigBytes: 1024 * 1024 },
        );
        cleanups.push(() => dp.stop());
        expect(error.code).toBe(code);
        expect(dp.currentConfig?.source).toBe('empty');
      }
    });

    it('deltas stay gzip (a few hundred bytes), whatever the DP reads', async () => {
      cluster = await createTestCluster({ controlPlane: { pushIntervalMs: 0 } });
      const encodings: Array<string | undefined> = [];
      const dp = cluster.dataPlane({ transport: notingEncodings(cluster, encodings) });
      const connected = new Promise((resolve) => dp.once('connected', resolve));
      await dp.start();
      await connected;
      const first = await cluster.cp.setConfig(config);
      await dp.waitForConfig({ hash: first.hash });
      const next = structuredClone(config);
      next.services[3]!.port = 9999;
      const second = await cluster.cp.setConfig(next);
      await dp.waitForConfig({ hash: second.hash });
      await cluster.cp.waitForSync({ hash: second.hash });
      expect(cluster.cp.counters).toMatchObject({ wholeConfigsSent: 1, deltasSent: 1 });
      expect(encodings).toEqual(['zstd', undefined]);
      // Made for the first version, which the DP was sent whole; the delta's version made none.
      expect(compressions.count).toBe(1);
      expect(dp.currentConfig?.config).toEqual(next);
    });

    it('a hello offering encodings this CP does not know (more of them, longer names) is accepted, and zstd still sent', async () => {
      cluster = await createTestCluster();
      const future = Array.from({ length: 8 }, (_, i) => `later-encoding-${i}x`);
      const dp = await handMade(['planesync/3'], [...future, 'zstd']);
      const { hash } = await cluster.cp.setConfig(config);
      expect((await dp()).header).toMatchObject({ hash, encoding: 'zstd' });
    });
  },
);

/** The cluster's DP transport, noting each config or delta frame's encoding as it reaches the DP. */
function notingEncodings(
  cluster: TestCluster,
  encodings: Array<string | undefined>,
): TransportClient {
  const client = cluster.transport.client({ certificates: [cluster.certificate] });
  return {
    async connect(options) {
      const connection = await client.connect(options);
      return new Proxy(connection, {
        get(target, property, receiver) {
          if (property === Symbol.asyncIterator)
            return async function* () {
              for await (const frame of target) {
                const message = decodeFrame(frame);
                if (message.type === 'config' || message.type === 'delta')
                  encodings.push(message.body.header.encoding);
                yield frame;
              }
            };
          const value = Reflect.get(target, property, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    },
  };
}

describe("the CP's counters, whatever a transport's send resolves with", () => {
  it('count the bytes of the frame a protocol sent, not the value its connection resolved with', async () => {
    // `Promise<number>` and `Promise<boolean>` are both a `Promise<void>` to TypeScript: a
    // transport's send may resolve with anything, and Kong's link passes it on.
    for (const resolvedWith of [true, 1] as const) {
      const clock = new FakeClock();
      const { certificate } = await generateClusterCertificate({ clock });
      const transport = memoryTransport({ clock, certificates: [certificate] });
      const server = new Proxy(transport.server, {
        get(target, property, receiver) {
          if (property === 'listen')
            return (handler: (connection: Connection) => void, ...rest: never[]) =>
              target.listen(
                (connection) =>
                  handler(
                    new Proxy(connection, {
                      get(inner, key) {
                        const value = Reflect.get(inner, key, inner);
                        if (key === 'send')
                          return (...args: Parameters<Connection['send']>) =>
                            value.apply(inner, args).then(() => resolvedWith);
                        return typeof value === 'function' ? value.bind(inner) : value;
                      },
                    }),
                  ),
                ...rest,
              );
          const value = Reflect.get(target, property, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      const trust = new TrustVerifier({ mode: 'pinned', certificates: [certificate], clock });
      const cp = new ControlPlane({
        transport: server,
        trust,
        version: '3.10.0',
        clock,
        protocols: [kongProtocol()],
        logger: silentLogger,
      });
      await cp.start();
      const dp = new DataPlane({
        transport: transport.client({ certificates: [certificate] }),
        trust,
        version: '3.10.0',
        clock,
        protocol: kongProtocol(),
        logger: silentLogger,
      });
      try {
        await dp.start();
        const { hash } = await cp.setConfig(config);
        await dp.waitForConfig({ hash });
        await cp.waitForSync({ hash });
        expect(cp.counters.wholeConfigsSent).toBe(1);
        // The config's frame is some kilobytes: not `true` (1), nor 1.
        expect(cp.counters.wholeConfigBytesSent).toBeGreaterThan(1000);
      } finally {
        await dp.stop();
        await cp.stop();
      }
    }
  });
});
