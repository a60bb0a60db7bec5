import { afterEach, describe, expect, it } from 'vitest';
import { DataPlaneRegistry, type RegistryHolder } from '../src/control-plane/registry.ts';
import { ConnectionMachine } from '../src/data-plane/connection-machine.ts';
import {
  type Connection,
  ControlPlane,
  DataPlane,
  type DataPlaneStatus,
  ErrorCode,
  InvalidArgumentError,
  type License,
  memoryTransport,
  type PlanesyncError,
  PROTOCOL_VERSION,
  ProtocolViolationError,
  planesyncProtocol,
  type Route,
  silentLogger,
  type TransportClient,
  type WireProtocol,
} from '../src/index.ts';
import type {
  ControlPlaneMessage,
  DataPlaneMessage,
  EncodedConfig,
} from '../src/protocol/index.ts';
import { createTestCluster, FakeClock, type TestCluster } from '../src/testing/index.ts';

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const send = (connection: Connection, value: unknown) =>
  connection.send(encoder.encode(JSON.stringify(value)));
function parse(frame: Uint8Array): Record<string, unknown> {
  try {
    return JSON.parse(decoder.decode(frame));
  } catch (error) {
    throw new ProtocolViolationError('not JSON', { cause: error });
  }
}

/**
 * A second protocol, written as a user would, against the seam only: every frame is plain
 * JSON, the config travels uncompressed, there is no welcome (a DP is accepted once it has
 * said who it is), no ack (the heartbeat carrying the new hash is the answer, as in Kong's
 * protocol) and no telemetry.
 */
function jsonProtocol(requires: WireProtocol['requires'] = {}, route?: Route): WireProtocol {
  return {
    name: 'json',
    requires,
    // Only a heartbeat carrying the new hash says a config was applied.
    answersConfigs: false,
    ...(route ? { route } : {}),
    controlPlane: {
      encodeConfig: (config) => ({
        async seal(header) {
          const sealed = (license: License | undefined): EncodedConfig => ({
            ...header,
            frame: encoder.encode(JSON.stringify({ t: 'config', ...header, license, config })),
            relicense: sealed,
          });
          return sealed(header.license);
        },
      }),
      open: (connection) => ({
        identify(frame) {
          const hi = parse(frame);
          if (hi.t !== 'hi') throw new ProtocolViolationError('expected hi');
          return {
            protocol: 'json/1',
            identity: {
              nodeId: String(hi.id),
              hostname: String(hi.host),
              version: String(hi.ver),
              labels: {},
              plugins: [],
              configHash: String(hi.hash),
              configVersion: Number(hi.version),
            },
          };
        },
        accept: async () => undefined,
        refuse: async () => undefined,
        read(frame): DataPlaneMessage {
          const message = parse(frame);
          if (message.t !== 'beat') throw new ProtocolViolationError(`unexpected ${message.t}`);
          return {
            type: 'heartbeat',
            report: { version: Number(message.version), hash: String(message.hash) },
          };
        },
        // The DP counts its link dead after 45 s without a frame from the CP.
        answerHeartbeat: () => send(connection, { t: 'beat-ok' }),
        acknowledgeTelemetry: async () => undefined,
        sendConfig: (config, options) => connection.send(config.frame, options),
      }),
    },
    dataPlane: {
      dial: () => (route ? { request: { path: route.path } } : {}),
      open(connection) {
        let deliver: ((message: ControlPlaneMessage) => void) | undefined;
        return {
          async identify(identity) {
            await send(connection, {
              t: 'hi',
              id: identity.nodeId,
              host: identity.hostname,
              ver: identity.version,
              hash: identity.configHash,
              version: identity.configVersion,
            });
            // No welcome in this protocol: said who it is, the DP is in.
            queueMicrotask(() =>
              deliver?.({ type: 'accepted', protocol: 'json/1', syncStatus: 'normal' }),
            );
          },
          listen(handler) {
            deliver = handler;
          },
          read(frame): ControlPlaneMessage {
            const { t, config, version, hash } = parse(frame);
            if (t === 'beat-ok') return { type: 'heartbeatAnswered' };
            if (t !== 'config') throw new ProtocolViolationError(`unexpected ${t}`);
            return {
              type: 'config',
              offer: {
                version: Number(version),
                hash: String(hash),
                read: async () => ({ config }),
              },
            };
          },
          applied: (report) => send(connection, { t: 'beat', ...report }),
          refused: async () => undefined,
          heartbeat: (report) => send(connection, { t: 'beat', ...report }),
        };
      },
    },
  };
}

describe('the wire-protocol seam: a second protocol is a new module, not edits across the CP and DP', () => {
  it('a DP speaking another protocol syncs from a CP serving it, and each side names the protocol', async () => {
    const protocol = jsonProtocol();
    cluster = await createTestCluster({ controlPlane: { protocols: [protocol] } });
    const dp = cluster.dataPlane({ protocol, nodeId: 'json-dp' });
    await dp.start();
    const { hash } = await cluster.cp.setConfig({
      _format_version: '3.0',
      services: [{ name: 's', url: 'http://a.test' }],
    });
    await dp.waitForConfig({ hash });
    const [record] = await cluster.cp.waitForSync({ nodeId: 'json-dp', hash });
    expect(record).toMatchObject({ protocol: 'json/1', connected: true, configHash: hash });
    expect(dp.status).toMatchObject({ connection: 'connected', protocol: 'json/1' });
  });

  it('without acks, the heartbeat carrying the new hash answers a push, and a later change follows it', async () => {
    const protocol = jsonProtocol();
    cluster = await createTestCluster({
      controlPlane: { protocols: [protocol], pushIntervalMs: 0 },
    });
    const dp = cluster.dataPlane({ protocol });
    await dp.start();
    const started = cluster.clock.now();
    await cluster.cp.setConfig({
      _format_version: '3.0',
      services: [{ name: 'a', url: 'http://a.test' }],
    });
    const { hash } = await cluster.cp.setConfig({
      _format_version: '3.0',
      services: [{ name: 'b', url: 'http://b.test' }],
    });
    // No ack will ever come; the newer version must not wait for the 30 s ack timeout.
    await dp.waitForConfig({ hash });
    expect(cluster.clock.now() - started).toBeLessThan(30_000);
  });

  it('a protocol that needs ping frames and a transport without them are refused together, on both sides', async () => {
    const protocol = jsonProtocol({ controlFrames: true });
    const clock = new FakeClock();
    const transport = memoryTransport({ clock, certificates: [] });
    const framesOnly: TransportClient = {
      connect: (options) => transport.client().connect(options),
    };
    const build = [
      () =>
        new ControlPlane({
          transport: { listen: transport.server.listen, close: transport.server.close },
          trust: cluster?.trust ?? ({} as never),
          version: '3.10.0',
          protocols: [protocol],
        }),
      () =>
        new DataPlane({
          transport: framesOnly,
          trust: {} as never,
          version: '3.10.0',
          protocol,
        }),
    ];
    for (const make of build) {
      const error = (() => {
        try {
          make();
        } catch (thrown) {
          return thrown;
        }
        return undefined;
      })();
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect((error as PlanesyncError).code).toBe(ErrorCode.INVALID_ARGUMENT);
      expect((error as Error).message).toMatch(/cannot carry the json protocol.*ping and pong/);
    }
  });

  it('a DP judges what its protocol’s dial asks for, not only what it declares, at construction', () => {
    const base = jsonProtocol();
    // Declares nothing, but dials with manual pings: a frames-only transport cannot carry that.
    const undeclared: WireProtocol = {
      ...base,
      dataPlane: { ...base.dataPlane, dial: () => ({ pings: 'manual' }) },
    };
    const transport = memoryTransport({ certificates: [] });
    const framesOnly: TransportClient = {
      connect: (options) => transport.client().connect(options),
    };
    expect(
      () =>
        new DataPlane({
          transport: framesOnly,
          trust: {} as never,
          version: '3.10.0',
          protocol: undeclared,
        }),
    ).toThrow(/cannot carry the json protocol: it has no ping and pong control frames/);
  });

  it('a CP serving several protocols needs a route for each, and distinct ones', () => {
    const transport = memoryTransport({ certificates: [] });
    const make = (protocols: WireProtocol[]) => () =>
      new ControlPlane({
        transport: transport.server,
        trust: {} as never,
        version: '3.10.0',
        protocols,
        logger: silentLogger,
      });
    expect(make([planesyncProtocol(), jsonProtocol({}, { path: '/json/v1' })])).toThrow(
      /serves each on its own path: give planesync a route/,
    );
    const route = { path: '/v1' };
    expect(make([planesyncProtocol({ route }), jsonProtocol({}, route)])).toThrow(
      /two protocols on \/v1/,
    );
  });

  it('one listener serves two protocols, each on its path: DPs of both sync, and an unknown path is refused', async () => {
    const planesync = planesyncProtocol({ route: { path: '/planesync/v1' } });
    const json = jsonProtocol({}, { path: '/json/v1' });
    cluster = await createTestCluster({ controlPlane: { protocols: [planesync, json] } });
    const own = cluster.dataPlane({ protocol: planesync, nodeId: 'planesync-dp' });
    const other = cluster.dataPlane({ protocol: json, nodeId: 'json-dp' });
    await Promise.all([own.start(), other.start()]);
    const { hash } = await cluster.cp.setConfig({
      _format_version: '3.0',
      services: [{ name: 's', url: 'http://a.test' }],
    });
    await Promise.all([own.waitForConfig({ hash }), other.waitForConfig({ hash })]);
    const byId = Object.fromEntries(cluster.cp.dataPlanes().map((r) => [r.id, r.protocol]));
    expect(byId).toEqual({ 'planesync-dp': PROTOCOL_VERSION, 'json-dp': 'json/1' });
    const client = cluster.transport.client({ certificates: [cluster.certificate] });
    await expect(client.connect({ request: { path: '/elsewhere' } })).rejects.toThrow(
      /404|elsewhere/,
    );
  });

  it('an adaptation made after its DP has gone is not offered to it: no frame too large is reported for a DP no longer there', async () => {
    const protocol = jsonProtocol();
    // The adapted config's encoding waits for the test (a large config, a slow encoder).
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const adapted = new WeakSet<object>();
    const encode = protocol.controlPlane.encodeConfig;
    protocol.controlPlane.encodeConfig = (config, options) => {
      const pending = encode(config, options);
      if (!adapted.has(config as object)) return pending;
      return {
        async seal(header) {
          await gate;
          return pending.seal(header);
        },
      };
    };
    // Every DP gets an adapted config, and takes no frame over 10 bytes.
    protocol.controlPlane.adaptFor = () => ({
      key: 'older',
      adapt(config) {
        const copy = { ...(config as object) };
        adapted.add(copy);
        return { config: copy };
      },
      maxFrameBytes: 10,
    });
    cluster = await createTestCluster({ controlPlane: { protocols: [protocol] } });
    const errors: string[] = [];
    cluster.cp.on('error', (error) => errors.push(error.code));
    const dp = cluster.dataPlane({ protocol, nodeId: 'adapted-dp' });
    const connected = new Promise((resolve) => cluster!.cp.once('dataPlaneConnected', resolve));
    await dp.start();
    await connected;
    await cluster.cp.setConfig({
      _format_version: '3.0',
      services: [{ name: 's', url: 'http://a.test' }],
    });
    const gone = new Promise((resolve) => cluster!.cp.once('dataPlaneDisconnected', resolve));
    await dp.stop();
    await gone;
    expect(errors).toEqual([]);
    release();
    await cluster.clock.advance(1_000);
    expect(errors).not.toContain('PAYLOAD_TOO_LARGE');
  });

  it('a message a protocol delivers outside the frame stream after its DP has gone is dropped, not taken as a sign of life', async () => {
    // A protocol's own channel (Kong's pings) may deliver late, on a transport of the user's.
    const protocol = jsonProtocol();
    const delivers: Array<(message: DataPlaneMessage) => void> = [];
    const open = protocol.controlPlane.open;
    protocol.controlPlane.open = (connection, context) => {
      const link = open(connection, context);
      return { ...link, listen: (deliver) => void delivers.push(deliver) };
    };
    cluster = await createTestCluster({ controlPlane: { protocols: [protocol] } });
    const errors: string[] = [];
    cluster.cp.on('error', (error) => errors.push(error.code));
    const dp = cluster.dataPlane({ protocol, nodeId: 'late-dp' });
    const connected = new Promise((resolve) => cluster!.cp.once('dataPlaneConnected', resolve));
    await dp.start();
    await connected;
    const gone = new Promise((resolve) => cluster!.cp.once('dataPlaneDisconnected', resolve));
    await dp.stop();
    await gone;
    await cluster.clock.advance(1_000);
    delivers[0]!({ type: 'heartbeat', report: { version: 0, hash: '0'.repeat(32) } });
    // Past the heartbeat timeout: nothing is watched, so nothing times out.
    await cluster.clock.advance(120_000);
    expect(errors).not.toContain('HEARTBEAT_TIMEOUT');
  });
});

describe('protocol version negotiation with real data planes (a rolling upgrade)', () => {
  const config = (n: number) => ({
    _format_version: '3.0',
    services: [{ name: `s${n}`, url: 'http://a.test' }],
  });

  it('old and new DPs sync from an old CP, then from its upgraded successor, each link on the newest version both speak', async () => {
    const older = planesyncProtocol({ versions: ['planesync/1'] });
    const newer = planesyncProtocol({ versions: ['planesync/2', 'planesync/1'] });
    cluster = await createTestCluster({ controlPlane: { protocols: [older] } });
    const oldDp = cluster.dataPlane({ protocol: older, nodeId: 'old' });
    const newDp = cluster.dataPlane({ protocol: newer, nodeId: 'new' });
    await Promise.all([oldDp.start(), newDp.start()]);
    const first = await cluster.cp.setConfig(config(1));
    await Promise.all([oldDp.waitForConfig(first), newDp.waitForConfig(first)]);
    expect([oldDp.status.protocol, newDp.status.protocol]).toEqual(['planesync/1', 'planesync/1']);

    // The CP is replaced by the next release; the DPs reconnect on their own.
    await cluster.cp.stop();
    const upgraded = new ControlPlane({
      transport: cluster.transport.server,
      trust: cluster.trust,
      version: '3.10.0',
      clock: cluster.clock,
      logger: silentLogger,
      protocols: [newer],
    });
    await upgraded.start();
    try {
      const second = await upgraded.setConfig(config(2));
      for (
        let step = 0;
        step < 30 && upgraded.dataPlanes().filter((r) => r.connected).length < 2;
        step++
      )
        await cluster.clock.advance(1_000);
      await Promise.all([oldDp.waitForConfig(second), newDp.waitForConfig(second)]);
      const byId = Object.fromEntries(upgraded.dataPlanes().map((r) => [r.id, r.protocol]));
      expect(byId).toEqual({ old: 'planesync/1', new: 'planesync/2' });
      expect([oldDp.status.protocol, newDp.status.protocol]).toEqual([
        'planesync/1',
        'planesync/2',
      ]);
    } finally {
      await upgraded.stop();
    }
  });
});

describe('DP status records have one owner', () => {
  const holder = (certificate: number) => ({
    certificate,
    sameCertificate(other: RegistryHolder) {
      return (other as { certificate?: number }).certificate === certificate;
    },
    replaced: 0,
    async replace() {
      this.replaced++;
    },
  });
  const status = (id: string): DataPlaneStatus => ({
    id,
    hostname: 'h',
    ip: '127.0.0.1',
    version: '3.10.0',
    labels: {},
    syncStatus: 'normal',
    configHash: '0'.repeat(32),
    configVersion: 0,
    cacheHash: undefined,
    lastSeen: 0,
    connected: false,
    certExpiresAt: undefined,
    protocol: 'planesync/1',
  });

  it('a record handed out never changes afterwards, and a replaced session cannot write over its successor', () => {
    const registry = new DataPlaneRegistry(new FakeClock(), {
      maxDataPlaneRecords: 10,
      dataPlanePurgeDelayMs: 1_000,
    });
    const first = holder(1);
    const second = holder(1);
    expect(registry.claim(status('dp'), first)).toBe(true);
    const before = registry.get('dp');
    registry.update('dp', first, { configHash: 'a'.repeat(32) });
    expect(before?.configHash).toBe('0'.repeat(32));
    expect(registry.get('dp')?.configHash).toBe('a'.repeat(32));

    expect(registry.claim(status('dp'), second)).toBe(true);
    expect(first.replaced).toBe(1);
    registry.update('dp', first, { configHash: 'b'.repeat(32) }); // a late ack of the old link
    expect(registry.get('dp')?.configHash).toBe('0'.repeat(32));
    expect(registry.release('dp', first)).toBeUndefined();
    expect(registry.get('dp')?.connected).toBe(true);
    expect(registry.release('dp', second)?.connected).toBe(false);
  });

  it('a node id held under another certificate is refused and the holder kept', () => {
    const registry = new DataPlaneRegistry(new FakeClock(), {
      maxDataPlaneRecords: 10,
      dataPlanePurgeDelayMs: 1_000,
    });
    const holderOne = holder(1);
    expect(registry.claim(status('dp'), holderOne)).toBe(true);
    expect(registry.claim(status('dp'), holder(2))).toBe(false);
    expect(holderOne.replaced).toBe(0);
  });
});

describe('the DP connection machine', () => {
  it('counts an attempt that never connected as failed, clears the count on connecting, and refuses a skipped step', () => {
    const machine = new ConnectionMachine();
    machine.connecting();
    expect(machine.disconnected()).toEqual({ wasConnected: false });
    machine.connecting();
    machine.disconnected();
    expect(machine.failedAttempts).toBe(2);
    machine.connecting();
    machine.connected();
    expect(machine.failedAttempts).toBe(0);
    expect(machine.disconnected()).toEqual({ wasConnected: true });
    expect(machine.failedAttempts).toBe(0);
    expect(machine.disconnected()).toEqual({ wasConnected: false }); // idempotent
    expect(() => machine.connected()).toThrow(/no transition from disconnected to connected/);
  });
});
