import { afterEach, describe, expect, it } from 'vitest';
import {
  CloseCode,
  type CloseInfo,
  type Connection,
  ControlPlane,
  type ControlPlaneEvents,
  type DataPlane,
  type Logger,
  MemoryConfigStore,
  type PlanesyncError,
  type TransportServer,
} from '../src/index.ts';
import { createTestCluster, type TestCluster } from '../src/testing/index.ts';

const config = { _format_version: '3.0', services: [{ name: 'a', host: 'a.internal' }] };

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

/** A logger that keeps what it is told. */
function recordingLogger() {
  const entries: Array<{ level: string; msg: string; obj: Record<string, unknown> }> = [];
  const method = (level: string) => (obj: Record<string, unknown>, msg?: string) =>
    entries.push({ level, obj, msg: msg ?? '' });
  const logger: Logger = {
    error: method('error'),
    warn: method('warn'),
    info: method('info'),
    debug: method('debug'),
  };
  return { logger, entries };
}

function next<T>(emitter: { once(event: never, fn: (value: T) => void): unknown }, event: string) {
  return new Promise<T>((resolve) => emitter.once(event as never, resolve));
}

async function connected(dp: DataPlane) {
  if (dp.status.connection !== 'connected') await next(dp, 'connected');
}

const boom = () => {
  throw new Error('host bug');
};

describe('host callbacks are strangers: a throwing listener breaks nothing', () => {
  it('a throwing dataPlaneConnected listener is logged; the DP stays connected and gets its config', async () => {
    const cp = recordingLogger();
    cluster = await createTestCluster({ controlPlane: { logger: cp.logger } });
    cluster.cp.on('dataPlaneConnected', boom);
    const { hash } = await cluster.cp.setConfig(config);
    const dp = cluster.dataPlane();
    const disconnects: CloseInfo[] = [];
    dp.on('disconnected', (close) => disconnects.push(close));
    await dp.start();
    await dp.waitForConfig({ hash });
    expect(dp.status.connection).toBe('connected');
    expect(disconnects).toEqual([]);
    expect(cp.entries).toContainEqual(
      expect.objectContaining({
        level: 'error',
        msg: expect.stringContaining("'dataPlaneConnected' listener threw"),
      }),
    );
  });

  it('a throwing config listener on the DP: the config is still cached and acknowledged', async () => {
    cluster = await createTestCluster();
    const storage = new MemoryConfigStore();
    const dp = cluster.dataPlane({ storage, logger: recordingLogger().logger });
    await dp.start();
    await connected(dp);
    dp.on('config', boom);
    const applied = next<{ hash: string }>(cluster.cp, 'configApplied');
    const { hash } = await cluster.cp.setConfig(config);
    expect((await applied).hash).toBe(hash);
    expect(dp.currentConfig?.hash).toBe(hash);
    expect((await storage.load())?.hash).toBe(hash);
  });

  it('a listener throwing during start(): start completes and the DP connects', async () => {
    cluster = await createTestCluster();
    const dp = cluster.dataPlane({ logger: recordingLogger().logger });
    dp.on('config', boom);
    dp.on('connected', boom);
    await dp.start();
    expect(dp.currentConfig?.source).toBe('empty');
    await cluster.clock.advance(0);
    await connected(dp);
    expect(dp.status.connection).toBe('connected');
  });

  it('the other listeners of the same event still run, in order', async () => {
    cluster = await createTestCluster();
    const dp = cluster.dataPlane({ logger: recordingLogger().logger });
    const seen: string[] = [];
    dp.on('config', () => seen.push('first'));
    dp.on('config', boom);
    dp.on('config', () => seen.push('third'));
    await dp.start();
    expect(seen).toEqual(['first', 'third']);
  });

  it('a throwing logger loses its line and nothing else', async () => {
    const throwing: Logger = { error: boom, warn: boom, info: boom, debug: boom };
    cluster = await createTestCluster({ controlPlane: { logger: throwing } });
    cluster.cp.on('dataPlaneConnected', boom);
    const dp = cluster.dataPlane({ logger: throwing });
    dp.on('config', boom);
    const { hash } = await cluster.cp.setConfig(config);
    await dp.start();
    await dp.waitForConfig({ hash });
  });
});

describe('errors never vanish', () => {
  it('an error event nobody listens to goes to the logger', async () => {
    cluster = await createTestCluster();
    await cluster.cp.stop(); // the DP finds nobody to talk to
    const { logger, entries } = recordingLogger();
    const dp = cluster.dataPlane({ logger });
    await dp.start();
    await cluster.clock.advance(0);
    expect(entries).toContainEqual(
      expect.objectContaining({
        level: 'error',
        msg: expect.stringContaining('cannot connect to the control plane'),
      }),
    );
  });

  it('a DP retrying a dead CP logs the failure once, not at every attempt', async () => {
    cluster = await createTestCluster();
    await cluster.cp.stop();
    const { logger, entries } = recordingLogger();
    const dp = cluster.dataPlane({ logger });
    await dp.start();
    await cluster.clock.advance(10 * 60_000);
    expect(dp.status.failedAttempts).toBeGreaterThan(50);
    expect(entries.filter((entry) => entry.level === 'error')).toHaveLength(1);
    expect(entries.filter((entry) => entry.msg === 'connection attempt failed again').length).toBe(
      dp.status.failedAttempts - 1,
    );
  });

  it('with an error listener, every failure goes to the listener and none to the logger', async () => {
    cluster = await createTestCluster();
    await cluster.cp.stop();
    const { logger, entries } = recordingLogger();
    const dp = cluster.dataPlane({ logger });
    const errors: PlanesyncError[] = [];
    dp.on('error', (error) => errors.push(error));
    await dp.start();
    await cluster.clock.advance(60_000);
    expect(errors.length).toBe(dp.status.failedAttempts);
    expect(errors[0]?.code).toBe('TRANSPORT_FAILED');
    expect(entries.filter((entry) => entry.level === 'error')).toEqual([]);
  });

  it('logs the link to the CP and each config served', async () => {
    const { logger, entries } = recordingLogger();
    cluster = await createTestCluster();
    const dp = cluster.dataPlane({ logger });
    await dp.start();
    await connected(dp);
    const { hash } = await cluster.cp.setConfig(config);
    await dp.waitForConfig({ hash });
    const messages = entries.map((entry) => `${entry.level} ${entry.msg}`);
    expect(messages).toContain('info connected to the control plane');
    expect(entries).toContainEqual(
      expect.objectContaining({
        msg: 'serving a new config',
        obj: expect.objectContaining({ hash }),
      }),
    );
  });
});

describe('a failure of our own (or the host\u2019s) is never blamed on the peer', () => {
  it('a host schema that throws is an INTERNAL_ERROR: the config is nacked and the link stays', async () => {
    cluster = await createTestCluster();
    const dp = cluster.dataPlane({
      logger: recordingLogger().logger,
      schema: {
        safeParse: (value: unknown) => {
          if ((value as { services?: unknown }).services) throw new Error('schema bug');
          return { success: true as const, data: value };
        },
      },
    });
    const errors: PlanesyncError[] = [];
    dp.on('error', (error) => errors.push(error));
    const disconnects: CloseInfo[] = [];
    dp.on('disconnected', (close) => disconnects.push(close));
    await dp.start();
    await connected(dp);
    const rejected = next<{ errors: Array<{ message: string }> }>(cluster.cp, 'configRejected');
    await cluster.cp.setConfig(config);
    expect((await rejected).errors[0]?.message).toContain('schema bug');
    await cluster.clock.advance(60_000);
    expect(errors.map((error) => error.code)).toEqual(['INTERNAL_ERROR']);
    expect(disconnects).toEqual([]);
    expect(dp.status.connection).toBe('connected');
  });

  it('a host transport whose connection throws is closed with 1011; the CP serves others', async () => {
    let accept: ((connection: Connection) => void) | undefined;
    const transport: TransportServer = {
      async listen(onConnection) {
        accept = onConnection;
        return { address: 'host' };
      },
      async close() {},
    };
    const { logger } = recordingLogger();
    const cluster2 = await createTestCluster();
    cluster = cluster2;
    const cp = new ControlPlane({ transport, trust: cluster2.trust, version: '3.10.0', logger });
    const errors: Parameters<ControlPlaneEvents['error']>[] = [];
    cp.on('error', (...args) => errors.push(args));
    await cp.start();
    const closes: number[] = [];
    const broken = {
      remoteAddress: 'broken:1',
      get peerCertificates(): readonly Uint8Array[] {
        throw new Error('transport bug');
      },
      metadata: {},
      isClosed: false,
      close: async (code?: number) => {
        closes.push(code ?? 0);
      },
      send: async () => {},
      closed: new Promise<CloseInfo>(() => {}),
      [Symbol.asyncIterator]: () => ({
        next: () => new Promise<IteratorResult<Uint8Array>>(() => {}),
      }),
    } satisfies Connection;
    expect(() => accept?.(broken)).not.toThrow();
    expect(closes).toEqual([CloseCode.INTERNAL_ERROR]);
    expect(errors[0]?.[0].code).toBe('INTERNAL_ERROR');
    expect(errors[0]?.[1]).toEqual({ remoteAddress: 'broken:1' });
    await cp.stop();
  });
});
