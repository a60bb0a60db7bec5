import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type CloseInfo,
  type Connection,
  DataPlane,
  generateClusterCertificate,
  hashConfig,
  MemoryConfigStore,
  memoryTransport,
  silentLogger,
  TrustVerifier,
} from '../src/index.ts';
import {
  assembleConfigFrame,
  decodeFrame,
  encodeConfigFrame,
  encodeMessage,
  type Message,
} from '../src/protocol/index.ts';
import { createTestCluster, type TestCluster } from '../src/testing/index.ts';

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

const configA = { _format_version: '3.0', services: [{ name: 'a', host: 'a.internal' }] };
const configB = { _format_version: '3.0', services: [{ name: 'b', host: 'b.internal' }] };

/**
 * A control plane that speaks planesync/1 by hand over a memory transport: it welcomes the DP,
 * sends the frames it is given and hands back every message the DP sends.
 */
async function handMadeControlPlane() {
  const { certificate } = await generateClusterCertificate();
  const transport = memoryTransport({ certificates: [certificate] });
  const received: Message[] = [];
  let link: Connection | undefined;
  const waiters: Array<() => void> = [];
  await transport.server.listen((connection) => {
    link = connection;
    void (async () => {
      for await (const frame of connection) {
        const message = decodeFrame(frame);
        received.push(message);
        if (message.type === 'hello')
          await connection.send(
            encodeMessage('welcome', {
              protocol: 'planesync/1',
              controlPlaneVersion: '3.10.0',
              syncStatus: 'normal',
            }),
          );
        for (const wake of waiters.splice(0)) wake();
      }
    })();
  });
  const storage = new MemoryConfigStore();
  const dp = new DataPlane({
    transport: transport.client({ certificates: [certificate] }),
    trust: new TrustVerifier({ mode: 'pinned', certificates: [certificate] }),
    version: '3.10.0',
    storage,
    declarativeConfig: configA,
    logger: silentLogger,
  });
  const next = async (type: Message['type']): Promise<Message> => {
    for (;;) {
      const found = received.find((message) => message.type === type);
      if (found) {
        received.splice(received.indexOf(found), 1);
        return found;
      }
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  return {
    dp,
    storage,
    next,
    send: (frame: Uint8Array) => link!.send(frame),
    link: () => link!,
    stop: async () => {
      await dp.stop();
      await transport.server.close();
    },
  };
}

describe('the config hash is the one truth both sides compare', () => {
  it('a DP refuses a config that does not hash to the hash sent with it: a nack, nothing applied, nothing cached', async () => {
    const cp = await handMadeControlPlane();
    try {
      const errors: string[] = [];
      cp.dp.on('error', (error) => errors.push(error.code));
      await cp.dp.start();
      await cp.next('hello');
      const claimed = hashConfig({ ...configB, services: [{ name: 'c', host: 'c.internal' }] });
      // The header says another config's hash; the payload is configB.
      await cp.send(await encodeConfigFrame({ version: 2, hash: claimed.config_hash }, configB));
      const answer = await cp.next('nack');
      expect(answer.type === 'nack' && answer.body.errors[0]?.message).toContain(
        hashConfig(configB).config_hash,
      );
      await expect.poll(() => errors).toContain('CONFIG_HASH_MISMATCH');
      expect(cp.dp.currentConfig?.hash).toBe(hashConfig(configA).config_hash); // still A
      expect(await cp.storage.load()).toBeUndefined();
      expect(cp.link().isClosed).toBe(false);
    } finally {
      await cp.stop();
    }
  });

  it('a DP computes the per-entity hashes itself rather than take the header’s', async () => {
    const cp = await handMadeControlPlane();
    try {
      await cp.dp.start();
      await cp.next('hello');
      const { config_hash } = hashConfig(configB);
      const lies = Object.fromEntries(
        ['config', 'routes', 'services', 'plugins', 'upstreams', 'targets'].map((k) => [
          k,
          'f'.repeat(32),
        ]),
      ) as never;
      await cp.send(
        await encodeConfigFrame({ version: 2, hash: config_hash, hashes: lies }, configB),
      );
      await cp.next('ack');
      expect(cp.dp.currentConfig?.hashes).toEqual(hashConfig(configB).hashes);
    } finally {
      await cp.stop();
    }
  });

  it('sees a top-level __proto__ key: two different configs never share a hash', () => {
    const withProto = JSON.parse('{"_format_version":"3.0","__proto__":{"x":1}}');
    const without = { _format_version: '3.0' };
    expect(hashConfig(withProto).config_hash).not.toBe(hashConfig(without).config_hash);
    const nested = JSON.parse('{"_format_version":"3.0","a":{"__proto__":{"x":1}}}');
    expect(hashConfig(nested).config_hash).not.toBe(
      hashConfig({ _format_version: '3.0', a: {} }).config_hash,
    );
  });
});

describe('bounded before anything recursive runs', () => {
  const deepJson = (levels: number) =>
    `{"_format_version":"3.0","deep":${'['.repeat(levels)}${']'.repeat(levels)}}`;

  it('a DP refuses a config nested 100 000 levels deep with CONFIG_INVALID, and caches nothing', async () => {
    const cp = await handMadeControlPlane();
    try {
      const errors: string[] = [];
      cp.dp.on('error', (error) => errors.push(error.code));
      await cp.dp.start();
      await cp.next('hello');
      await cp.send(
        assembleConfigFrame(
          { version: 2, hash: 'a'.repeat(32) },
          gzipSync(Buffer.from(deepJson(100_000))),
        ),
      );
      const answer = await cp.next('nack');
      expect(answer.type === 'nack' && answer.body.errors[0]?.message).toContain('maxDepth');
      await expect.poll(() => errors).toEqual(['CONFIG_INVALID']);
      expect(await cp.storage.load()).toBeUndefined();
    } finally {
      await cp.stop();
    }
  });

  it('a CP refuses to publish a config deeper than its limit', async () => {
    cluster = await createTestCluster({ controlPlane: { limits: { maxDepth: 50 } } });
    await expect(cluster.cp.setConfig(JSON.parse(deepJson(60)))).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
    });
    await expect(cluster.cp.setConfig(JSON.parse(deepJson(100_000)))).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
    });
    expect(cluster.cp.currentConfig).toBeUndefined();
  });

  it('a DP refuses a config with more entities than maxEntities, nested ones counted', async () => {
    cluster = await createTestCluster();
    const dp = cluster.dataPlane({ limits: { maxEntities: 100 }, logger: silentLogger });
    await dp.start();
    const rejected = new Promise<{ errors: ReadonlyArray<{ message: string }> }>((resolve) =>
      cluster!.cp.once('configRejected', resolve),
    );
    // 60 services with one route each: 120 entities.
    await cluster.cp.setConfig({
      _format_version: '3.0',
      services: Array.from({ length: 60 }, (_, i) => ({
        name: `s${i}`,
        host: `s${i}.internal`,
        routes: [{ name: `r${i}`, paths: [`/${i}`] }],
      })),
    });
    expect((await rejected).errors[0]?.message).toContain('maxEntities');
    expect(dp.currentConfig?.source).toBe('empty');
  });

  it('a CP refuses to publish more entities than its limit', async () => {
    cluster = await createTestCluster({ controlPlane: { limits: { maxEntities: 10 } } });
    await expect(
      cluster.cp.setConfig({
        _format_version: '3.0',
        services: Array.from({ length: 11 }, (_, i) => ({ name: `s${i}`, host: 'h' })),
      }),
    ).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });
});

describe('a refusal never breaks the link', () => {
  it('a nack with more and longer problems than the protocol carries is trimmed: configRejected fires, the DP stays connected', async () => {
    cluster = await createTestCluster();
    const problems = Array.from({ length: 500 }, (_, i) => ({
      path: `services[${i}].${'x'.repeat(5_000)}`,
      message: 'y'.repeat(10_000),
    }));
    const dp = cluster.dataPlane({
      logger: silentLogger,
      schema: {
        safeParse: (value: unknown) =>
          (value as { services?: unknown[] }).services?.length
            ? {
                success: false as const,
                error: {
                  issues: problems.map((p) => ({
                    code: 'custom' as const,
                    path: [p.path],
                    message: p.message,
                    input: undefined,
                  })),
                },
              }
            : { success: true as const, data: value },
      },
    });
    const disconnects: CloseInfo[] = [];
    dp.on('disconnected', (close) => disconnects.push(close));
    await dp.start();
    const rejected = new Promise<{ errors: ReadonlyArray<{ path: string; message: string }> }>(
      (resolve) => cluster!.cp.once('configRejected', resolve),
    );
    await cluster.cp.setConfig(configB);
    const { errors } = await rejected;
    expect(errors).toHaveLength(100);
    expect(Math.max(...errors.map((e) => e.message.length))).toBeLessThanOrEqual(4096);
    expect(Math.max(...errors.map((e) => e.path.length))).toBeLessThanOrEqual(1024);
    expect(errors.at(-1)?.message).toBe('401 more problems not shown');
    await cluster.clock.advance(60_000);
    expect(disconnects).toEqual([]);
  });
});

describe('a config the host hands over is input like any other', () => {
  it('a config whose getter throws is CONFIG_INVALID, not a raw exception', async () => {
    cluster = await createTestCluster();
    const config = {
      _format_version: '3.0',
      get services(): never {
        throw new Error('host bug');
      },
    };
    await expect(cluster.cp.setConfig(config)).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining('host bug'),
    });
  });
});
