import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type CertificateKeyPair,
  type CloseInfo,
  ControlPlane,
  createCertificateAuthority,
  DataPlane,
  type DataPlaneOptions,
  EMPTY_CONFIG_HASH,
  issueCertificate,
  memoryClusterState,
  memoryTransport,
  silentLogger,
  TrustVerifier,
} from '../src/index.ts';
import { encodeMessage } from '../src/protocol/index.ts';
import { createTestCluster, FakeClock, type TestCluster } from '../src/testing/index.ts';

let cluster: TestCluster | undefined;
const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
  await cluster?.stop();
  cluster = undefined;
});

function hello(overrides: Record<string, unknown> = {}) {
  return encodeMessage('hello', {
    protocol: 'planesync/1',
    nodeId: 'hand-made',
    hostname: 'h',
    version: '3.10.0',
    labels: {},
    plugins: [],
    configHash: EMPTY_CONFIG_HASH,
    configVersion: 0,
    ...overrides,
  } as never);
}

/** Connects to the test cluster's CP by hand, sends `frame`, and resolves with how it closed. */
async function sendFirst(frame: Uint8Array): Promise<CloseInfo> {
  const connection = await cluster!.transport
    .client({ certificates: [cluster!.certificate] })
    .connect();
  await connection.send(frame);
  for await (const _ of connection) {
    // drain until the CP closes
  }
  return connection.closed;
}

describe('a hello is bounded before it is trusted', () => {
  it('refuses more than 10 labels, as Kong does, and records nothing', async () => {
    cluster = await createTestCluster({ controlPlane: { logger: silentLogger } });
    const labels = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, 'v']));
    const close = await sendFirst(hello({ labels }));
    expect(close).toMatchObject({ code: 1002, reason: 'PROTOCOL_VIOLATION' });
    expect(cluster.cp.dataPlanes()).toEqual([]);
  });

  it.each([
    ['a reserved key', { 'kong-zone': 'eu' }],
    ['a key of 64 characters', { ['k'.repeat(64)]: 'v' }],
    ['a value ending in a dash', { zone: 'eu-' }],
  ])('refuses a hello with %s', async (_, labels) => {
    cluster = await createTestCluster({ controlPlane: { logger: silentLogger } });
    expect(await sendFirst(hello({ labels }))).toMatchObject({ code: 1002 });
  });

  it('refuses a first frame over 256 KiB before parsing it', async () => {
    cluster = await createTestCluster({ controlPlane: { logger: silentLogger } });
    const big = new Uint8Array(300 * 1024);
    big.set(hello());
    expect(await sendFirst(big)).toMatchObject({ code: 1002 });
  });

  it('a DataPlane checks its own labels when it is created', async () => {
    cluster = await createTestCluster();
    expect(() => cluster!.dataPlane({ labels: { 'kong.internal': 'x' } })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    expect(() =>
      cluster!.dataPlane({ labels: { region: 'eu-west-1', 'tier.a': 'gold' } }),
    ).not.toThrow();
  });
});

describe('the registry of DPs is bounded', () => {
  it('keeps at most maxDataPlaneRecords records, forgetting the DP gone longest first', async () => {
    cluster = await createTestCluster({ controlPlane: { maxDataPlaneRecords: 3 } });
    const start = async (nodeId: string) => {
      const dp = cluster!.dataPlane({ nodeId });
      await dp.start();
      await cluster!.clock.advance(0);
      return dp;
    };
    const a = await start('a');
    const b = await start('b');
    await start('c');
    await a.stop();
    await cluster.clock.advance(1_000);
    await b.stop();
    await cluster.clock.advance(1_000);
    await start('d');
    expect(
      cluster.cp
        .dataPlanes()
        .map((record) => record.id)
        .sort(),
    ).toEqual(['b', 'c', 'd']);
  });

  it('never forgets a connected DP, even past the limit', async () => {
    cluster = await createTestCluster({ controlPlane: { maxDataPlaneRecords: 1 } });
    for (const nodeId of ['a', 'b']) {
      await cluster.dataPlane({ nodeId }).start();
      await cluster.clock.advance(0);
    }
    expect(
      cluster.cp
        .dataPlanes()
        .map((record) => record.id)
        .sort(),
    ).toEqual(['a', 'b']);
  });
});

describe('a node id belongs to one certificate while it is connected (PKI mode)', () => {
  async function pkiCluster() {
    const clock = new FakeClock();
    const ca = await createCertificateAuthority({ commonName: 'Cluster CA', clock });
    const cpPair = await issueCertificate({
      issuer: ca,
      commonName: 'cp.cluster',
      usage: 'server',
      altNames: ['cp.cluster'],
      clock,
    });
    const transport = memoryTransport({ clock, certificates: [cpPair.certificate] });
    const trust = new TrustVerifier({ mode: 'pki', trustAnchors: [ca.certificate], clock });
    const cp = new ControlPlane({ transport: transport.server, trust, version: '3.10.0', clock });
    await cp.start();
    stops.push(() => cp.stop());
    const dataPlane = (pair: CertificateKeyPair, options: Partial<DataPlaneOptions> = {}) => {
      const dp = new DataPlane({
        transport: transport.client({ certificates: [pair.certificate] }),
        trust,
        ...(options.serverName ? {} : { expectedServerName: 'cp.cluster' }),
        version: '3.10.0',
        clock,
        random: () => 0,
        logger: silentLogger,
        ...options,
      });
      stops.push(() => dp.stop());
      return dp;
    };
    const dpPair = (name: string) =>
      issueCertificate({ issuer: ca, commonName: name, usage: 'client', clock });
    return { clock, cp, dataPlane, dpPair };
  }

  it('refuses a hello under another certificate with NODE_ID_IN_USE; the connected DP keeps its link and record', async () => {
    const { clock, cp, dataPlane, dpPair } = await pkiCluster();
    const owner = dataPlane(await dpPair('dp-1'), { nodeId: 'shared-id', hostname: 'owner' });
    const ownerCloses: CloseInfo[] = [];
    owner.on('disconnected', (close) => ownerCloses.push(close));
    await owner.start();
    await clock.advance(0);
    const impostor = dataPlane(await dpPair('dp-2'), { nodeId: 'shared-id', hostname: 'impostor' });
    const rejected = new Promise<{ code: string }>((resolve) => impostor.once('rejected', resolve));
    await impostor.start();
    expect((await rejected).code).toBe('NODE_ID_IN_USE');
    await clock.advance(60_000);
    expect(ownerCloses).toEqual([]);
    expect(owner.status.connection).toBe('connected');
    expect(cp.dataPlanes()).toEqual([
      expect.objectContaining({ id: 'shared-id', hostname: 'owner', connected: true }),
    ]);
    // Once the owner is gone, the id moves: a renewed certificate comes back this way.
    await owner.stop();
    await clock.advance(10_000);
    expect(impostor.status.connection).toBe('connected');
    expect(cp.dataPlanes()[0]).toMatchObject({ hostname: 'impostor', connected: true });
  });

  it('a refused hello never overwrites a connected DP’s record', async () => {
    const { clock, cp, dataPlane, dpPair } = await pkiCluster();
    const pair = await dpPair('dp-1');
    const owner = dataPlane(pair, { nodeId: 'x', hostname: 'owner' });
    await owner.start();
    await clock.advance(0);
    const old = dataPlane(pair, { nodeId: 'x', hostname: 'old', version: '2.8.0' });
    const rejected = new Promise<{ code: string; syncStatus?: string | undefined }>((resolve) =>
      old.once('rejected', resolve),
    );
    await old.start();
    expect(await rejected).toMatchObject({
      code: 'VERSION_INCOMPATIBLE',
      syncStatus: 'kong_version_incompatible',
    });
    expect(cp.dataPlanes()).toEqual([
      expect.objectContaining({ id: 'x', hostname: 'owner', version: '3.10.0', connected: true }),
    ]);
    expect(owner.status.connection).toBe('connected');
  });

  it('the deprecated serverName option still names what the CP certificate must carry', async () => {
    const { clock, dataPlane, dpPair } = await pkiCluster();
    const wrong = dataPlane(await dpPair('dp-1'), { serverName: 'elsewhere' });
    const rejected = new Promise<{ code: string }>((resolve) => wrong.once('rejected', resolve));
    await wrong.start();
    expect((await rejected).code).toBe('TRUST_NAME_MISMATCH');
    const right = dataPlane(await dpPair('dp-2'), { serverName: 'cp.cluster' });
    await right.start();
    await clock.advance(0);
    expect(right.status.connection).toBe('connected');
  });

  it('the same certificate reconnecting replaces its old connection, as Kong does', async () => {
    const { clock, cp, dataPlane, dpPair } = await pkiCluster();
    const pair = await dpPair('dp-1');
    const first = dataPlane(pair, { nodeId: 'same' });
    const closes: CloseInfo[] = [];
    first.on('disconnected', (close) => closes.push(close));
    await first.start();
    await clock.advance(0);
    const second = dataPlane(pair, { nodeId: 'same', hostname: 'second' });
    await second.start();
    await clock.advance(0);
    expect(closes[0]).toMatchObject({ code: 4000 });
    expect(cp.dataPlanes()[0]).toMatchObject({ hostname: 'second', connected: true });
  });
});

describe('protocol version negotiation (a rolling upgrade)', () => {
  /** Sends a hand-made hello and returns the CP's answer. */
  async function answerTo(overrides: Record<string, unknown>) {
    const { decodeFrame } = await import('../src/index.ts');
    const connection = await cluster!.transport
      .client({ certificates: [cluster!.certificate] })
      .connect();
    await connection.send(hello({ nodeId: `n-${Math.random()}`, ...overrides }));
    for await (const frame of connection) {
      const message = decodeFrame(frame);
      await connection.close();
      return message;
    }
    return undefined;
  }

  it('a DP offering a newer protocol and this one is served in the newest both speak', async () => {
    const { pickProtocol } = await import('../src/protocol/index.ts');
    cluster = await createTestCluster({ controlPlane: { logger: silentLogger } });
    const answer = await answerTo({
      protocol: 'planesync/4',
      protocols: ['planesync/4', 'planesync/3', 'planesync/2', 'planesync/1'],
    });
    expect(answer).toMatchObject({ type: 'welcome', body: { protocol: 'planesync/3' } });
    expect(
      pickProtocol(['planesync/1', 'planesync/3', 'planesync/2'], ['planesync/2', 'planesync/1']),
    ).toBe('planesync/2');
  });

  it('a DP of the first release (no list, only its protocol) is served as before', async () => {
    cluster = await createTestCluster({ controlPlane: { logger: silentLogger } });
    expect(await answerTo({ protocol: 'planesync/1' })).toMatchObject({
      type: 'welcome',
      body: { protocol: 'planesync/1' },
    });
  });

  it('a DP that speaks none of this CP’s protocols is refused, told which it speaks', async () => {
    cluster = await createTestCluster({ controlPlane: { logger: silentLogger } });
    const answer = await answerTo({ protocol: 'planesync/9', protocols: ['planesync/9'] });
    expect(answer).toMatchObject({
      type: 'reject',
      body: { code: 'VERSION_INCOMPATIBLE', message: expect.stringContaining('planesync/1') },
    });
  });

  it('a mixed fleet — DPs of this release and a DP that offers more — all end on one config', async () => {
    cluster = await createTestCluster();
    const current = cluster.dataPlane({ nodeId: 'current' });
    await current.start();
    const { hash } = await cluster.cp.setConfig({
      _format_version: '3.0',
      services: [{ name: 'a', host: 'a.internal' }],
    });
    expect(
      await answerTo({
        nodeId: 'newer',
        protocol: 'planesync/2',
        protocols: ['planesync/2', 'planesync/1'],
      }),
    ).toMatchObject({ type: 'welcome' });
    await current.waitForConfig({ hash });
  });
});

describe('a node id belongs to one certificate while it is connected, across the CPs of a cluster', () => {
  /** Two CPs on one cluster state (PKI mode), each on its own transport, one fake clock. */
  async function twoControlPlanes() {
    const clock = new FakeClock();
    const ca = await createCertificateAuthority({ commonName: 'Cluster CA', clock });
    const trust = new TrustVerifier({ mode: 'pki', trustAnchors: [ca.certificate], clock });
    const state = memoryClusterState();
    const controlPlane = async (name: string) => {
      const pair = await issueCertificate({
        issuer: ca,
        commonName: name,
        usage: 'server',
        altNames: [name],
        clock,
      });
      const transport = memoryTransport({ clock, certificates: [pair.certificate] });
      const cp = new ControlPlane({
        transport: transport.server,
        trust,
        version: '3.10.0',
        clock,
        state,
        logger: silentLogger,
      });
      await cp.start();
      stops.push(() => cp.stop());
      const dataPlane = (dpPair: CertificateKeyPair, options: Partial<DataPlaneOptions>) => {
        const dp = new DataPlane({
          transport: transport.client({ certificates: [dpPair.certificate] }),
          trust,
          expectedServerName: name,
          version: '3.10.0',
          clock,
          random: () => 0,
          logger: silentLogger,
          ...options,
        });
        stops.push(() => dp.stop());
        return dp;
      };
      return { cp, dataPlane };
    };
    const dpPair = (name: string) =>
      issueCertificate({ issuer: ca, commonName: name, usage: 'client', clock });
    return { clock, a: await controlPlane('cp-a'), b: await controlPlane('cp-b'), dpPair };
  }

  it('CP B refuses a node id connected to CP A under another certificate with NODE_ID_IN_USE', async () => {
    const { clock, a, b, dpPair } = await twoControlPlanes();
    const owner = a.dataPlane(await dpPair('dp-1'), { nodeId: 'shared-id', hostname: 'owner' });
    await owner.start();
    await clock.advance(0);
    const impostor = b.dataPlane(await dpPair('dp-2'), {
      nodeId: 'shared-id',
      hostname: 'impostor',
    });
    const rejections: string[] = [];
    b.cp.on('dataPlaneRejected', ({ code }) => rejections.push(code));
    const rejected = new Promise<{ code: string }>((resolve) => impostor.once('rejected', resolve));
    await impostor.start();
    expect((await rejected).code).toBe('NODE_ID_IN_USE');
    await vi.waitFor(() => expect(rejections).toEqual(['NODE_ID_IN_USE']));
    expect(owner.status.connection).toBe('connected');
    await clock.advance(1_000); // a sync: A's record stays the owner's
    expect((await a.cp.listDataPlanes()).find((record) => record.id === 'shared-id')).toMatchObject(
      { hostname: 'owner', connected: true, controlPlaneId: a.cp.id },
    );

    // Once the owner is gone (A tells the cluster at its next sync), the id moves.
    await owner.stop();
    await clock.advance(1_000);
    await clock.advance(10_000); // the impostor's reconnect delay
    expect(impostor.status.connection).toBe('connected');
    expect((await b.cp.listDataPlanes()).find((record) => record.id === 'shared-id')).toMatchObject(
      { hostname: 'impostor', connected: true, controlPlaneId: b.cp.id },
    );
  });

  it('the same certificate moves from CP A to CP B at once (a DP failing over)', async () => {
    const { clock, a, b, dpPair } = await twoControlPlanes();
    const pair = await dpPair('dp-1');
    const first = a.dataPlane(pair, { nodeId: 'mover' });
    await first.start();
    await clock.advance(1_000);
    const second = b.dataPlane(pair, { nodeId: 'mover' });
    await second.start();
    await clock.advance(0);
    expect(second.status.connection).toBe('connected');
  });

  it('two certificates connecting to CP A at once under one node id: the one refused leaves no claim CP B would honour', async () => {
    const { a, b, dpPair } = await twoControlPlanes();
    const pairs = { one: await dpPair('dp-1'), two: await dpPair('dp-2') };
    const first = a.dataPlane(pairs.one, { nodeId: 'shared-id', hostname: 'one' });
    const second = a.dataPlane(pairs.two, { nodeId: 'shared-id', hostname: 'two' });
    const refused: string[] = [];
    first.once('rejected', () => refused.push('one'));
    second.once('rejected', () => refused.push('two'));
    // Both hellos reach A before either has been asked of the cluster.
    await Promise.all([first.start(), second.start()]);
    await vi.waitFor(() => expect(refused).toHaveLength(1));
    const loser = refused[0] as 'one' | 'two';
    const holder = loser === 'one' ? second : first;
    await vi.waitFor(() => expect(holder.status.connection).toBe('connected'));
    // Before A's next sync, the refused certificate tries CP B.
    const again = b.dataPlane(pairs[loser], { nodeId: 'shared-id', hostname: 'again' });
    const outcome = new Promise<string>((resolve) => {
      again.once('rejected', ({ code }) => resolve(code));
      again.once('connected', () => resolve('admitted'));
    });
    await again.start();
    expect(await outcome).toBe('NODE_ID_IN_USE');
  });
});

describe('the CP drops a DP that falls silent for the heartbeat timeout', () => {
  it('however many frames came before, it is dropped 45 s after its last one, not before', async () => {
    cluster = await createTestCluster({ controlPlane: { logger: silentLogger } });
    const { clock, cp } = cluster;
    const errors: string[] = [];
    cp.on('error', (error) => errors.push(error.code));
    const connection = await cluster.transport
      .client({ certificates: [cluster.certificate] })
      .connect();
    stops.push(() => connection.close());
    await connection.send(hello());
    await vi.waitFor(() => expect(cp.dataPlanes()[0]?.connected).toBe(true));
    // A heartbeat every 30 s for five minutes, each one moving the deadline on.
    for (let beat = 0; beat < 10; beat++) {
      await clock.advance(30_000);
      await connection.send(encodeMessage('ping', { version: 0, hash: EMPTY_CONFIG_HASH }));
      await vi.waitFor(() => expect(cp.dataPlanes()[0]?.lastSeen).toBe(clock.now()));
    }
    await clock.advance(44_999);
    expect(connection.isClosed).toBe(false);
    expect(errors).toEqual([]);
    await clock.advance(1);
    expect(await connection.closed).toMatchObject({ code: 1001, reason: 'heartbeat timeout' });
    expect(errors).toEqual(['HEARTBEAT_TIMEOUT']);
  });
});
