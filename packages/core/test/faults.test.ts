import { afterEach, describe, expect, it } from 'vitest';
import { generateClusterCertificate, type PlanesyncError, TrustVerifier } from '../src/index.ts';
import { MessageType } from '../src/protocol/index.ts';
import {
  createTestCluster,
  type Fault,
  type FrameInfo,
  faultyClient,
  type TestCluster,
} from '../src/testing/index.ts';

let cluster: TestCluster;
afterEach(async () => {
  await cluster?.stop();
});

const configA = { _format_version: '3.0', services: [{ name: 'a', host: 'a.internal' }] };
const configB = { _format_version: '3.0', services: [{ name: 'b', host: 'b.internal' }] };
const pass: Fault = { kind: 'pass' };

function once<T extends unknown[]>(
  emitter: { once(event: string, fn: (...args: T) => void): unknown },
  event: string,
) {
  return new Promise<T>((resolve) => emitter.once(event, (...args: T) => resolve(args)));
}

/** A DP whose link to the CP misbehaves as `decide` says. */
function flakyDp(decide: (frame: FrameInfo) => Fault, options = {}) {
  const client = faultyClient(
    cluster.transport.client({ certificates: [cluster.certificate] }),
    decide,
  );
  return cluster.dataPlane({
    transport: client,
    random: () => 0,
    declarativeConfig: configA,
    ...options,
  });
}

describe('fault injection: the DP keeps its last good config and ends on the latest', () => {
  it('a connection cut in the middle of a config: the old config stays, the latest arrives after reconnect', async () => {
    cluster = await createTestCluster();
    const dp = flakyDp((frame) =>
      frame.direction === 'in' && frame.type === MessageType.config && frame.connection === 0
        ? { kind: 'cut' }
        : pass,
    );
    await dp.start();
    await cluster.cp.setConfig(configB);
    await once(dp, 'disconnected');
    expect(dp.currentConfig?.source).toBe('declarative');
    const latest = await cluster.cp.setConfig({
      ...configB,
      services: [{ name: 'c', host: 'c.internal' }],
    });
    await cluster.clock.advance(5_000);
    await dp.waitForConfig({ hash: latest.hash });
  });

  it('a truncated config frame is a protocol violation: the DP reconnects and gets the whole config', async () => {
    cluster = await createTestCluster();
    const errors: string[] = [];
    const dp = flakyDp((frame) =>
      frame.direction === 'in' && frame.type === MessageType.config && frame.connection === 0
        ? { kind: 'truncate', bytes: 12 }
        : pass,
    );
    dp.on('error', (error: PlanesyncError) => errors.push(error.code));
    await dp.start();
    const { hash } = await cluster.cp.setConfig(configB);
    await once(dp, 'disconnected');
    expect(dp.currentConfig?.source).toBe('declarative');
    await cluster.clock.advance(5_000);
    await dp.waitForConfig({ hash });
    expect(errors).toContain('PROTOCOL_VIOLATION');
  });

  it('a duplicated config frame is applied once', async () => {
    cluster = await createTestCluster();
    const dp = flakyDp((frame) =>
      frame.direction === 'in' && frame.type === MessageType.config ? { kind: 'duplicate' } : pass,
    );
    const applied: number[] = [];
    dp.on('config', (snapshot) => applied.push(snapshot.version));
    await dp.start();
    const { hash } = await cluster.cp.setConfig(configB);
    await dp.waitForConfig({ hash });
    await cluster.clock.advance(1);
    expect(applied).toEqual([0, 1]);
  });

  it('a link that silently drops everything is declared dead after 45 s and replaced', async () => {
    cluster = await createTestCluster();
    const dp = flakyDp((frame) =>
      frame.direction === 'in' && frame.connection === 0 && frame.index > 0
        ? { kind: 'drop' }
        : pass,
    );
    const errors: string[] = [];
    dp.on('error', (error: PlanesyncError) => errors.push(error.code));
    await dp.start();
    await once(dp, 'connected');
    const { hash } = await cluster.cp.setConfig(configB); // dropped on the way
    await cluster.clock.advance(45_000);
    expect(errors).toContain('HEARTBEAT_TIMEOUT');
    await cluster.clock.advance(5_000);
    await dp.waitForConfig({ hash });
  });

  it('reordered configs: a version overtaken by a newer one arrives late and is ignored', async () => {
    // The CP sends the second version only once the first is answered or its ack times out.
    cluster = await createTestCluster({ controlPlane: { configAckTimeoutMs: 1_000 } });
    let configs = 0;
    const dp = flakyDp((frame) =>
      frame.direction === 'in' && frame.type === MessageType.config && configs++ === 0
        ? { kind: 'reorder' }
        : pass,
    );
    const applied: number[] = [];
    dp.on('config', (snapshot) => applied.push(snapshot.version));
    await dp.start();
    await once(dp, 'connected');
    await cluster.cp.setConfig(configB);
    const latest = await cluster.cp.setConfig({
      ...configB,
      services: [{ name: 'e', host: 'e.internal' }],
    });
    await cluster.clock.advance(1_000);
    await dp.waitForConfig({ hash: latest.hash });
    await cluster.clock.advance(1);
    expect(applied).toEqual([0, 2]);
    expect(dp.currentConfig?.hash).toBe(latest.hash);
  });

  it('a delayed config: the DP serves its old config until it arrives, then applies it', async () => {
    cluster = await createTestCluster();
    const dp = flakyDp((frame) =>
      frame.direction === 'in' && frame.type === MessageType.config
        ? { kind: 'delay', ms: 20_000, clock: cluster.clock }
        : pass,
    );
    await dp.start();
    await once(dp, 'connected');
    const { hash } = await cluster.cp.setConfig(configB);
    await cluster.clock.advance(19_999);
    expect(dp.currentConfig?.source).toBe('declarative');
    await cluster.clock.advance(1);
    await dp.waitForConfig({ hash });
  });

  it('a CP restarted while pushing: the DP ends on the latest version', async () => {
    cluster = await createTestCluster();
    const dp = flakyDp(() => pass);
    await dp.start();
    await once(dp, 'connected');
    const pushing = cluster.cp.setConfig(configB);
    await cluster.cp.stop();
    await pushing;
    const latest = await cluster.cp.setConfig({
      ...configB,
      services: [{ name: 'd', host: 'd.internal' }],
    });
    await cluster.cp.start();
    await cluster.clock.advance(5_000);
    await dp.waitForConfig({ hash: latest.hash });
  });
});

describe('revocation', () => {
  it('removing a pin stops new connections; with recheck it closes the connected DP too', async () => {
    cluster = await createTestCluster();
    const next = await generateClusterCertificate({ clock: cluster.clock });
    const dp = cluster.dataPlane({ random: () => 0 });
    await dp.start();
    await once(dp, 'connected');
    const rejected = once(cluster.cp, 'dataPlaneRejected');
    cluster.cp.setTrust(
      new TrustVerifier({ mode: 'pinned', certificates: [next.certificate], clock: cluster.clock }),
      { recheck: true },
    );
    expect((await rejected)[0]).toMatchObject({
      code: 'TRUST_PIN_MISMATCH',
      nodeId: dp.status.nodeId,
    });
    await once(dp, 'disconnected');
    const again = once(cluster.cp, 'dataPlaneRejected');
    await cluster.clock.advance(5_000);
    expect((await again)[0]).toMatchObject({ code: 'TRUST_PIN_MISMATCH' });
    expect(dp.status.connection).not.toBe('connected');
  });
});
