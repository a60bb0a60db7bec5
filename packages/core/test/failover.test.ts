import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ControlPlane,
  DataPlane,
  failoverClient,
  generateClusterCertificate,
  memoryClusterState,
  memoryTransport,
  silentLogger,
  TransportFailedError,
  TrustVerifier,
} from '../src/index.ts';
import { FakeClock } from '../src/testing/index.ts';
import type { Connection, ConnectOptions, TransportClient } from '../src/transport/index.ts';

/** A client that records its dials and answers each with what `answer` gives. */
function recorded(
  name: string,
  dials: string[],
  answer: () => Promise<Connection>,
): TransportClient {
  return {
    connect: async (_options?: ConnectOptions) => {
      dials.push(name);
      return answer();
    },
  };
}
const unreachable = () => Promise.reject(new TransportFailedError('connection refused'));
const fakeConnection = (name: string) => Promise.resolve({ name } as unknown as Connection);

describe('failoverClient: several control planes, one after another', () => {
  it('moves on to the next CP when one cannot be reached, and starts with the one that answered next time', async () => {
    const dials: string[] = [];
    const client = failoverClient(
      [
        recorded('a', dials, unreachable),
        recorded('b', dials, () => fakeConnection('b')),
        recorded('c', dials, () => fakeConnection('c')),
      ],
      { random: () => 0 },
    );
    expect(await client.connect()).toMatchObject({ name: 'b' });
    expect(await client.connect()).toMatchObject({ name: 'b' });
    expect(dials).toEqual(['a', 'b', 'b']);
  });

  it("spreads a dead CP's DPs over the others: each tries them from a random one, in list order", async () => {
    const landed: string[] = [];
    for (const draw of [0, 0.3, 0.5, 0.7, 0.99]) {
      const dials: string[] = [];
      const client = failoverClient(
        [
          recorded('a', dials, unreachable),
          recorded('b', dials, unreachable),
          recorded('c', dials, () => fakeConnection('c')),
          recorded('d', dials, () => fakeConnection('d')),
        ],
        { random: () => draw },
      );
      landed.push(((await client.connect()) as unknown as { name: string }).name);
      expect(dials[0]).toBe('a');
    }
    // b, c, d from offsets 0, 1, 2: b is down, so it goes on to c; c and d taken directly.
    expect(landed).toEqual(['c', 'c', 'c', 'd', 'd']);
  });

  it('fails with the last error only when every CP failed, and starts the next round further on', async () => {
    const dials: string[] = [];
    const client = failoverClient([
      recorded('a', dials, unreachable),
      recorded('b', dials, () => Promise.reject(new TransportFailedError('b is down'))),
    ]);
    await expect(client.connect()).rejects.toMatchObject({
      code: 'TRANSPORT_FAILED',
      message: 'b is down',
    });
    await expect(client.connect()).rejects.toBeDefined();
    expect(dials).toEqual(['a', 'b', 'b', 'a']);
  });

  it('an aborted connect ends at once, trying no other CP', async () => {
    const dials: string[] = [];
    const controller = new AbortController();
    const client = failoverClient([
      recorded('a', dials, () => {
        controller.abort();
        return unreachable();
      }),
      recorded('b', dials, () => fakeConnection('b')),
    ]);
    await expect(client.connect({ signal: controller.signal })).rejects.toBeDefined();
    expect(dials).toEqual(['a']);
  });

  it('carries only what every client carries, and refuses an empty list', () => {
    const full = { features: { request: true, controlFrames: true }, connect: unreachable };
    const framesOnly = { connect: unreachable };
    expect(failoverClient([full, framesOnly]).features).toEqual({
      request: false,
      controlFrames: false,
    });
    expect(() => failoverClient([])).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});

describe('a DataPlane given several CP addresses', () => {
  const stops: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });

  /**
   * Two CPs on one state (A presenting a certificate the DP does not trust, when asked) and
   * a DP given both addresses, A first.
   */
  async function twoCpsAndADp(options: { wrongCertificateOnA?: boolean } = {}) {
    const clock = new FakeClock();
    const { certificate } = await generateClusterCertificate({ clock });
    const { certificate: wrong } = await generateClusterCertificate({ clock });
    const trust = new TrustVerifier({ mode: 'pinned', certificates: [certificate], clock });
    const state = memoryClusterState();
    const planes = [
      memoryTransport({ clock, certificates: [options.wrongCertificateOnA ? wrong : certificate] }),
      memoryTransport({ clock, certificates: [certificate] }),
    ];
    const [a, b] = planes.map(
      (transport) =>
        new ControlPlane({
          transport: transport.server,
          trust,
          version: '3.10.0',
          clock,
          state,
          logger: silentLogger,
          pushIntervalMs: 0,
        }),
    ) as [ControlPlane, ControlPlane];
    for (const cp of [a, b]) {
      await cp.start();
      stops.push(() => cp.stop());
    }
    const dp = new DataPlane({
      transport: planes.map((plane) => plane.client({ certificates: [certificate] })),
      trust,
      version: '3.10.0',
      clock,
      logger: silentLogger,
      reconnectDelayMs: [5_000, 10_000],
    });
    stops.unshift(() => dp.stop());
    return { a, b, dp, clock };
  }

  it('when its CP goes away, reconnects to another CP of the cluster within the reconnect window, and is sent no config when its hash is current', async () => {
    const { a, b, dp, clock } = await twoCpsAndADp();
    await dp.start();
    const { hash } = await a.setConfig({
      _format_version: '3.0',
      services: [{ name: 's', host: 'h' }],
    });
    await dp.waitForConfig({ hash });
    await vi.waitFor(() => expect(b.currentConfig?.hash).toBe(hash));
    expect(a.dataPlanes()).toMatchObject([{ connected: true }]);

    await a.stop(); // the CP goes away
    await clock.advance(10_000); // the reconnect window
    await vi.waitFor(() =>
      expect(b.dataPlanes()).toMatchObject([{ connected: true, configHash: hash }]),
    );
    expect(b.counters).toMatchObject({ wholeConfigsSent: 0, deltasSent: 0 });
    expect(dp.currentConfig?.hash).toBe(hash);
  });

  it('a CP that answers but is not trusted (a wrong certificate deployed) does not hold the DP: it goes on to the next', async () => {
    const { b, dp, clock } = await twoCpsAndADp({ wrongCertificateOnA: true });
    const rejected: unknown[] = [];
    dp.on('rejected', (rejection) => rejected.push(rejection));
    await dp.start();
    await vi.waitFor(() => expect(rejected.length).toBeGreaterThan(0));
    await clock.advance(10_000); // one reconnect window
    await vi.waitFor(() => expect(b.dataPlanes()).toMatchObject([{ connected: true }]));
  });
});
