import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Connection,
  type ControlFrame,
  KONG_PROTOCOL,
  kongProtocol,
  PeerRefusedError,
  PROTOCOL_VERSION,
  planesyncProtocol,
  silentLogger,
} from '../src/index.ts';
import { createTestCluster, faultyClient, type TestCluster } from '../src/testing/index.ts';

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

const encoder = new TextEncoder();
const config = (name: string) => ({
  _format_version: '3.0',
  services: [{ name, url: 'http://upstream.test' }],
});

/** A CP serving planesync/1 DPs and Kong DPs on one listener, as a mixed fleet needs. */
async function mixedCluster() {
  return createTestCluster({
    controlPlane: {
      protocols: [planesyncProtocol({ route: { path: '/planesync/v1' } }), kongProtocol()],
      logger: silentLogger,
    },
  });
}

/** Dials as a Kong 3.x DP does: `/v1/outlet`, the node in a raw query, pings by hand. */
async function kongDataPlane(
  cluster: TestCluster,
  query = 'node_id=6a1f0c2e-0000-4000-8000-000000000001&node_hostname=kong-dp-1&node_version=3.10.0',
) {
  const connection = await cluster.transport
    .client({ certificates: [cluster.certificate] })
    .connect({
      request: {
        path: '/v1/outlet',
        query: query.split('&').map((pair) => pair.split('=') as [string, string]),
        encodeQuery: false,
      },
      pings: 'manual',
    });
  const control: ControlFrame[] = [];
  connection.onControl?.((frame) => control.push(frame));
  return { connection, control, frames: connection[Symbol.asyncIterator]() };
}

const basicInfo = (plugins: Array<{ name: string; version: string }> = []) =>
  encoder.encode(JSON.stringify({ type: 'basic_info', plugins, labels: { region: 'eu' } }));

async function closed(connection: Connection) {
  for await (const _ of connection) {
    // drain until the CP closes
  }
  return connection.closed;
}

describe("Kong's sync v1 wire: a Kong DP as the CP sees it", () => {
  it('gets the gzip of a reconfigure message after basic_info, and its ping carrying the hash marks it in sync', async () => {
    cluster = await mixedCluster();
    const { hash } = await cluster.cp.setConfig(config('a'));
    const dp = await kongDataPlane(cluster);
    await dp.connection.send(basicInfo([{ name: 'key-auth', version: '3.10.0' }]));
    const frame = (await dp.frames.next()).value as Uint8Array;
    const message = JSON.parse(gunzipSync(frame).toString('utf8'));
    expect(message).toMatchObject({
      type: 'reconfigure',
      config_table: cluster.cp.currentConfig?.config,
      config_hash: hash,
      hashes: {
        config: expect.stringMatching(/^[0-9a-f]{32}$/),
        routes: expect.any(String),
        services: expect.any(String),
        plugins: expect.any(String),
        upstreams: expect.any(String),
        targets: expect.any(String),
      },
    });
    expect(typeof message.timestamp).toBe('number');
    await dp.connection.sendControl!({ kind: 'ping', payload: encoder.encode(hash) });
    const [record] = await cluster.cp.waitForSync({ hash });
    expect(record).toMatchObject({
      id: '6a1f0c2e-0000-4000-8000-000000000001',
      hostname: 'kong-dp-1',
      version: '3.10.0',
      labels: { region: 'eu' },
      protocol: KONG_PROTOCOL,
      configHash: hash,
      configVersion: 1,
      connected: true,
    });
    // Each ping is answered with an empty pong.
    await cluster.clock.advance(0);
    expect(dp.control).toEqual([{ kind: 'pong', payload: new Uint8Array(0) }]);
    await dp.connection.close();
  });

  it('stays connected on pings alone, and a change made meanwhile follows its ping', async () => {
    cluster = await mixedCluster();
    const first = await cluster.cp.setConfig(config('a'));
    const dp = await kongDataPlane(cluster);
    await dp.connection.send(basicInfo());
    await dp.frames.next();
    for (let second = 0; second < 120; second += 30) {
      await dp.connection.sendControl!({ kind: 'ping', payload: encoder.encode(first.hash) });
      await cluster.clock.advance(30_000);
    }
    expect(dp.connection.isClosed).toBe(false);
    const next = await cluster.cp.setConfig(config('b'));
    await cluster.clock.advance(1_000); // the push window
    const message = JSON.parse(gunzipSync((await dp.frames.next()).value).toString('utf8'));
    expect(message.config_hash).toBe(next.hash);
    await dp.connection.close();
  });

  it.each([
    ['a ping whose payload is not a 32-character hash', 'ping'],
    ['a data frame after basic_info', 'data'],
    ['a pong (the CP never pings)', 'pong'],
  ])('closes the link on %s (1002)', async (_, what) => {
    cluster = await mixedCluster();
    const dp = await kongDataPlane(cluster);
    await dp.connection.send(basicInfo());
    if (what === 'ping')
      await dp.connection.sendControl!({ kind: 'ping', payload: encoder.encode('short') });
    else if (what === 'pong')
      await dp.connection.sendControl!({ kind: 'pong', payload: new Uint8Array(0) });
    else await dp.connection.send(encoder.encode('{"type":"basic_info","plugins":[]}'));
    expect(await closed(dp.connection)).toMatchObject({ code: 1002 });
  });

  it.each([
    ['not JSON', encoder.encode('hello')],
    ['another type', encoder.encode(JSON.stringify({ type: 'hello', plugins: [] }))],
    [
      'plugins that are not a list',
      encoder.encode(JSON.stringify({ type: 'basic_info', plugins: 'x' })),
    ],
  ])('closes the link when the first frame is %s', async (_, frame) => {
    cluster = await mixedCluster();
    const dp = await kongDataPlane(cluster);
    await dp.connection.send(frame);
    expect(await closed(dp.connection)).toMatchObject({ code: 1002 });
    expect(cluster.cp.dataPlanes()).toEqual([]);
  });

  it('takes the query values as nginx does: raw, not URL-decoded, the first of a repeated one', async () => {
    cluster = await mixedCluster();
    await cluster.cp.setConfig(config('a'));
    const dp = await kongDataPlane(
      cluster,
      'node_id=raw-1&node_hostname=dp%20one+x&node_hostname=second&node_version=3.10.0',
    );
    await dp.connection.send(basicInfo());
    await dp.frames.next();
    expect(cluster.cp.dataPlanes()[0]).toMatchObject({ id: 'raw-1', hostname: 'dp%20one+x' });
  });

  it('drops a DP that has not sent basic_info within 5 s, as Kong does', async () => {
    cluster = await mixedCluster();
    const dp = await kongDataPlane(cluster);
    await cluster.clock.advance(4_999);
    expect(dp.connection.isClosed).toBe(false);
    await cluster.clock.advance(1);
    expect(await closed(dp.connection)).toMatchObject({ code: 1001 });
    expect(cluster.cp.dataPlanes()).toEqual([]);
  });

  it('refuses an upgrade without node_id or node_version before any frame (HTTP 400 over WebSocket)', async () => {
    cluster = await mixedCluster();
    const refused = await kongDataPlane(cluster, 'node_hostname=kong-dp-1').catch(
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(PeerRefusedError);
    expect((refused as PeerRefusedError).reason).toBe(
      'missing node_id and node_version in the query',
    );
    expect(cluster.cp.dataPlanes()).toEqual([]);
  });
});

describe("Kong's sync v1 wire: a planesync DP speaking it", () => {
  it('syncs from a planesync CP beside a planesync/1 DP, both on one listener', async () => {
    cluster = await mixedCluster();
    const kong = cluster.dataPlane({ protocol: kongProtocol(), nodeId: 'kong-mode' });
    const own = cluster.dataPlane({
      protocol: planesyncProtocol({ route: { path: '/planesync/v1' } }),
      nodeId: 'planesync-mode',
    });
    await Promise.all([kong.start(), own.start()]);
    const first = await cluster.cp.setConfig(config('a'));
    await Promise.all([kong.waitForConfig(first), own.waitForConfig(first)]);
    const second = await cluster.cp.setConfig(config('b'));
    await cluster.clock.advance(1_000);
    await Promise.all([kong.waitForConfig(second), own.waitForConfig(second)]);
    await cluster.cp.waitForSync({ hash: second.hash });
    const byId = Object.fromEntries(
      cluster.cp.dataPlanes().map((record) => [record.id, [record.protocol, record.configVersion]]),
    );
    expect(byId).toEqual({
      'kong-mode': [KONG_PROTOCOL, 2],
      'planesync-mode': [PROTOCOL_VERSION, 2],
    });
    expect(kong.status).toMatchObject({ connection: 'connected', protocol: KONG_PROTOCOL });
  });

  it('keeps its config when the CP goes away and takes the newest when it is back', async () => {
    cluster = await mixedCluster();
    const dp = cluster.dataPlane({ protocol: kongProtocol(), random: () => 0 });
    await dp.start();
    const first = await cluster.cp.setConfig(config('a'));
    await dp.waitForConfig(first);
    await cluster.cp.stop();
    await cluster.clock.advance(60_000);
    expect(dp.currentConfig?.hash).toBe(first.hash);
    const second = await cluster.cp.setConfig(config('b'));
    await cluster.cp.start();
    await cluster.clock.advance(10_000);
    await dp.waitForConfig(second);
  });
});

describe("Older Kong DPs: the config adapted as Kong's compat/ adapts it", () => {
  const upstreams = {
    _format_version: '3.0',
    upstreams: [{ name: 'shop', algorithm: 'latency', use_srv_name: true }],
  };
  const reconfigure = async (dp: Awaited<ReturnType<typeof kongDataPlane>>) =>
    JSON.parse(gunzipSync((await dp.frames.next()).value as Uint8Array).toString('utf8'));
  const kongDp = (id: string, version: string) =>
    kongDataPlane(cluster!, `node_id=${id}&node_hostname=${id}&node_version=${version}`);

  it('sends a 3.0 DP the config without what it does not know, under the original hash; a 3.10 DP gets it whole', async () => {
    cluster = await mixedCluster();
    const { hash } = await cluster.cp.setConfig(upstreams);
    const old = await kongDp('old', '3.0.1');
    const current = await kongDp('current', '3.10.0');
    await Promise.all([old.connection.send(basicInfo()), current.connection.send(basicInfo())]);
    const [forOld, forCurrent] = await Promise.all([reconfigure(old), reconfigure(current)]);
    // Kong's checkers.lua: `latency` is round-robin before 3.2, use_srv_name unknown before 3.1.
    expect(forOld.config_table.upstreams).toEqual([{ name: 'shop', algorithm: 'round-robin' }]);
    expect(forCurrent.config_table.upstreams).toEqual(upstreams.upstreams);
    expect([forOld.config_hash, forCurrent.config_hash]).toEqual([hash, hash]);
    // The old DP's ping of the pushed hash marks it in sync.
    await old.connection.sendControl!({ kind: 'ping', payload: encoder.encode(hash) });
    await cluster.cp.waitForSync({ nodeId: 'old', hash });
  });

  it('adapts and encodes once per version and class of DP release (the rules it falls under), however many DPs of it are connected', async () => {
    cluster = await mixedCluster();
    const dps = await Promise.all([
      kongDp('a', '3.0.0'),
      kongDp('b', '3.0.1'),
      kongDp('c', '3.0.1.0-enterprise-edition'),
      kongDp('d', '3.10.0'),
    ]);
    for (const dp of dps) await dp.connection.send(basicInfo());
    await cluster.clock.advance(0);
    const before = cluster.cp.counters.configsEncoded;
    await cluster.cp.setConfig(upstreams);
    const frames = await Promise.all(dps.map(reconfigure));
    expect(frames.map((frame) => frame.config_table.upstreams[0].algorithm)).toEqual([
      'round-robin',
      'round-robin',
      'round-robin',
      'latency',
    ]);
    // planesync's frame, Kong's frame, and one adaptation for 3.0.x: the rules that apply to
    // 3.0.0 apply to 3.0.1 too, so its patch releases share one.
    expect(cluster.cp.counters.configsEncoded - before).toBe(3);
  });

  it('does not send a DP a frame larger than its release takes (4 MiB before 3.4); its status and an error say why', async () => {
    cluster = await createTestCluster({
      controlPlane: {
        protocols: [kongProtocol()],
        logger: silentLogger,
        maxConfigFrameBytes: 32 * 1024 * 1024,
      },
    });
    const errors: string[] = [];
    cluster.cp.on('error', (error, context) => errors.push(`${context.nodeId}: ${error.code}`));
    const old = await kongDp('old', '3.3.0');
    const current = await kongDp('current', '3.4.0');
    await Promise.all([old.connection.send(basicInfo()), current.connection.send(basicInfo())]);
    // 6 MB of random base64 gzips to about 4.5 MB.
    const { randomBytes } = await import('node:crypto');
    const big = {
      _format_version: '3.0',
      services: [{ name: 'big', host: 'big.internal', tags: ['x'] }],
      keyauth_credentials: [{ key: randomBytes(4_500_000).toString('base64') }],
    };
    const { hash } = await cluster.cp.setConfig(big);
    expect((await reconfigure(current)).config_hash).toBe(hash);
    await cluster.clock.advance(0);
    const record = cluster.cp.dataPlanes().find((dp) => dp.id === 'old');
    expect(record?.pushError).toMatch(/^PAYLOAD_TOO_LARGE: .*4194304/);
    expect(errors).toEqual(['old: PAYLOAD_TOO_LARGE']);
    // A config that fits goes out, and clears the status.
    const small = await cluster.cp.setConfig(config('small'));
    await cluster.clock.advance(1_000);
    expect((await reconfigure(old)).config_hash).toBe(small.hash);
    expect(cluster.cp.dataPlanes().find((dp) => dp.id === 'old')?.pushError).toBeUndefined();
  });
});

describe('a licence change, and a protocol that adapts without a key', () => {
  it('resends the config to planesync DPs, whose frames carry the licence, and not to Kong DPs', async () => {
    cluster = await mixedCluster();
    let configFrames = 0;
    const own = cluster.dataPlane({
      protocol: planesyncProtocol({ route: { path: '/planesync/v1' } }),
      transport: faultyClient(
        cluster.transport.client({ certificates: [cluster.certificate] }),
        (frame) => {
          if (frame.direction === 'in' && frame.type === 0x04) configFrames++;
          return { kind: 'pass' };
        },
      ),
    });
    await own.start();
    const { hash } = await cluster.cp.setConfig(config('a'));
    const kong = await kongDataPlane(cluster);
    await kong.connection.send(basicInfo());
    await kong.frames.next();
    await kong.connection.sendControl!({ kind: 'ping', payload: encoder.encode(hash) });
    await cluster.cp.waitForSync({ hash });
    expect(configFrames).toBe(1);
    cluster.cp.setLicense({ expiresAt: cluster.clock.now() + 86_400_000 });
    for (let i = 0; i < 5; i++) await cluster.clock.advance(0);
    expect(configFrames).toBe(2);
    // Nothing more for the Kong DP: the next thing it gets is the next version.
    const next = await cluster.cp.setConfig(config('b'));
    await cluster.clock.advance(1_000);
    const frame = JSON.parse(gunzipSync((await kong.frames.next()).value).toString('utf8'));
    expect(frame.config_hash).toBe(next.hash);
  });

  it('blocks a DP whose protocol adapts configs without naming the adaptation (INTERNAL_ERROR)', async () => {
    const inner = kongProtocol();
    const keyless = {
      ...inner,
      controlPlane: {
        ...inner.controlPlane,
        adaptFor: () => ({ adapt: (config: unknown) => ({ config }) }),
      },
    };
    cluster = await createTestCluster({
      controlPlane: { protocols: [keyless], logger: silentLogger },
    });
    cluster.cp.on('error', () => undefined);
    await cluster.cp.setConfig(config('a'));
    const dp = await kongDataPlane(cluster);
    await dp.connection.send(basicInfo());
    await cluster.clock.advance(0);
    expect(cluster.cp.dataPlanes()[0]?.pushError).toMatch(/^INTERNAL_ERROR: .*without a key/);
  });
});
