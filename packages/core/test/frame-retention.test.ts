import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import {
  type Connection,
  ControlPlane,
  consoleLogger,
  DataPlane,
  generateClusterCertificate,
  memoryTransport,
  TrustVerifier,
} from '../src/index.ts';
import { FakeClock } from '../src/testing/index.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Records a weak reference to every frame `connection` is handed. */
function watch(connection: Connection, frames: Array<WeakRef<Uint8Array>>): Connection {
  const receiving = connection as unknown as { receive(frame: Uint8Array): void };
  const receive = receiving.receive;
  receiving.receive = function (this: unknown, frame: Uint8Array) {
    frames.push(new WeakRef(frame));
    receive.call(this, frame);
  };
  return connection;
}

/**
 * A cluster in memory whose CP and DP record a weak reference to every frame they are handed,
 * so a test can tell which of them each still holds.
 */
async function watchedCluster() {
  const clock = new FakeClock();
  const { certificate } = await generateClusterCertificate({ clock });
  const transport = memoryTransport({ clock, certificates: [certificate] });
  const trust = new TrustVerifier({ mode: 'pinned', certificates: [certificate], clock });
  const atControlPlane: Array<WeakRef<Uint8Array>> = [];
  const atDataPlane: Array<WeakRef<Uint8Array>> = [];
  const listen = transport.server.listen.bind(transport.server);
  transport.server.listen = (onConnection, options) =>
    listen((connection) => onConnection(watch(connection, atControlPlane)), options);
  const logger = consoleLogger({ level: 'error' });
  const cp = new ControlPlane({
    transport: transport.server,
    trust,
    version: '3.10.0',
    clock,
    logger,
  });
  await cp.start();
  const client = transport.client({ certificates: [certificate] });
  const dp = new DataPlane({
    transport: { connect: async (options) => watch(await client.connect(options), atDataPlane) },
    trust,
    version: '3.10.0',
    clock,
    logger,
    random: () => 0,
  });
  const held = (frames: Array<WeakRef<Uint8Array>>) => {
    gc();
    return frames.filter((frame) => frame.deref() !== undefined).length;
  };
  return { clock, cp, dp, atControlPlane, atDataPlane, held };
}

describe('what each side keeps of the frames it has handled', () => {
  it('a CP lets go of a quiet DP’s last telemetry batch, not holding it until the DP speaks again', async () => {
    const { clock, cp, dp, atControlPlane, held } = await watchedCluster();
    try {
      const analytics = new Promise((resolve) => cp.once('analytics', resolve));
      await dp.start();
      for (let i = 0; i < 2_000; i++)
        dp.recordRequest({ service: `service-${i}`, status: 200, latencyMs: i });
      await clock.advance(1_000); // the DP's flush
      await analytics;
      await new Promise((resolve) => setImmediate(resolve)); // the ack goes out
      expect(atControlPlane.length).toBeGreaterThanOrEqual(2); // the hello, then the batch
      expect(held(atControlPlane)).toBe(0);
    } finally {
      await dp.stop();
      await cp.stop();
    }
  });

  it('a DP lets go of the config frame it applied, not holding it until the CP speaks again', async () => {
    const { cp, dp, atDataPlane, held } = await watchedCluster();
    try {
      await dp.start();
      const services = Array.from({ length: 500 }, (_, i) => ({
        name: `service-${i}`,
        host: `upstream-${i}.example`,
      }));
      const { hash } = await cp.setConfig({ _format_version: '3.0', services });
      await dp.waitForConfig({ hash });
      await new Promise((resolve) => setImmediate(resolve)); // the ack goes out
      expect(atDataPlane.length).toBeGreaterThanOrEqual(2); // the welcome, then the config
      expect(held(atDataPlane)).toBe(0);
    } finally {
      await dp.stop();
      await cp.stop();
    }
  });
});

describe('what a DP keeps of the requests it records', () => {
  it('a name cut to 256 characters keeps only those, not the host’s longer string (the buffer’s bound holds)', async () => {
    const clock = new FakeClock();
    const { certificate } = await generateClusterCertificate({ clock });
    const dp = new DataPlane({
      transport: memoryTransport({ clock, certificates: [certificate] }).client(),
      trust: new TrustVerifier({ mode: 'pinned', certificates: [certificate], clock }),
      version: '3.10.0',
      clock,
      logger: consoleLogger({ level: 'error' }),
    });
    try {
      gc();
      const before = process.memoryUsage().heapUsed;
      // 200 requests, each naming its service with a string of its own of a million characters.
      for (let i = 0; i < 200; i++)
        expect(
          dp.recordRequest({ service: `${i}`.padEnd(1_000_000, 'x'), status: 200, latencyMs: 1 }),
        ).toBe(true);
      gc();
      const kept = process.memoryUsage().heapUsed - before;
      // Held as cut, 200 × 256 characters; slices of the host's strings would hold 200 MB.
      expect(kept).toBeLessThan(20_000_000);
    } finally {
      await dp.stop();
    }
  });
});
