import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { PlanesyncError } from '../errors.ts';
import {
  CloseCode,
  type Connection,
  type ConnectOptions,
  type ControlFrame,
  FRAMES_ONLY,
  type ListenOptions,
  type PeerInfo,
  type TransportClient,
  type TransportFeatures,
  type TransportServer,
} from '../transport/contract.ts';
import { assertMatches } from './assertions.ts';
import { type ConformanceSkip, registerCases } from './skip.ts';
import { globalTestApi, type TestApi } from './test-api.ts';

/** What a transport's `setup` hands the suite: a server (not yet listening) and clients. */
export interface TransportFixture {
  server: TransportServer;
  /** A new client each call; each connects to `server`. */
  client(): TransportClient;
  /** The largest frame the server accepts. */
  maxPayloadBytes: number;
  /** The DER chain (leaf first) each client presents; the server must report exactly this. */
  clientCertificates: readonly Uint8Array[];
  /** The DER chain (leaf first) the server presents; clients must report exactly this. */
  serverCertificates: readonly Uint8Array[];
}

/** Options of {@link transportConformance}. */
export interface TransportConformanceOptions {
  /** The `describe` title; default `'transport conformance'`. */
  name?: string;
  /** Builds a fresh fixture for every case. */
  setup(): Promise<TransportFixture>;
  /** Releases what `setup` built (the suite already closed the server). */
  teardown?(fixture: TransportFixture): Promise<void>;
  /** Cases this transport cannot run, each with its reason; printed in the case name. */
  skip?: ConformanceSkip;
  /**
   * What the transport's client and server declare (their `features`; default
   * `FRAMES_ONLY`). Cases of a request step (path, query, subprotocol, routes) run when
   * `request` is true, cases of control frames when `controlFrames` is; otherwise cases that
   * check the transport refuses them run instead. A case checks the transport declares
   * exactly this, so a mismatch cannot skip cases unseen.
   */
  features?: TransportFeatures;
  /**
   * Whether `ConnectOptions.metadata` reaches the server's `Connection.metadata`; default
   * what `features.request` says. A frames-only transport may carry it (TCP does, in its
   * preface) or not; the case that checks it runs only when it does.
   */
  carriesMetadata?: boolean;
}

/** The path the request-step cases dial and route. */
const PATH = '/conformance/v1';

/**
 * Registers the transport contract's cases with your test runner: frames whole and in order,
 * frames up to the payload limit, large frames, the oversized-frame close, close both ways
 * with code and reason, abort (of a dial in flight, of a send blocked by backpressure),
 * backpressure itself, listening again after close, the pre-accept step (refusals with a
 * reason, silent ones), the peer chain, metadata, concurrent sends — and, as the transport's
 * declared `features` say, the request step (path, raw and encoded query, subprotocol,
 * routes) and control frames (manual and automatic pings), or their refusal. Every transport
 * runs it — the memory transport in core, WebSocket and TCP over real loopback TLS.
 *
 * `test` is `{ describe, it, beforeEach, afterEach }` from vitest, `node:test`, jest or
 * mocha; the cases assert with `node:assert`, so the suite needs no particular runner.
 *
 * @example
 * ```ts
 * import { memoryTransport } from '@planesync/core';
 * import { transportConformance } from '@planesync/core/testing';
 * import { afterEach, beforeEach, describe, it } from 'vitest'; // or 'node:test'
 *
 * transportConformance({ describe, it, beforeEach, afterEach }, {
 *   name: 'memory transport',
 *   async setup() {
 *     const { server, client } = memoryTransport({ maxPayloadBytes: 1 << 20 });
 *     return { server, client: () => client(), maxPayloadBytes: 1 << 20,
 *              clientCertificates: [], serverCertificates: [] };
 *   },
 *   features: { request: true, controlFrames: true },
 * });
 * ```
 */
export function transportConformance(test: TestApi, options: TransportConformanceOptions): void;
/**
 * The 0.1 form: the runner's functions must be globals (vitest with `globals: true`, jest,
 * mocha); otherwise it throws `INVALID_ARGUMENT`.
 *
 * @deprecated Pass the test API first: `transportConformance({ describe, it, beforeEach,
 * afterEach }, options)`. This form goes in 0.3.0.
 */
export function transportConformance(options: TransportConformanceOptions): void;
export function transportConformance(
  first: TestApi | TransportConformanceOptions,
  second?: TransportConformanceOptions,
): void {
  const [test, options] =
    second === undefined
      ? [globalTestApi('transportConformance'), first as TransportConformanceOptions]
      : [first as TestApi, second];
  const features = options.features ?? FRAMES_ONLY;
  test.describe(options.name ?? 'transport conformance', () => {
    let fixture: TransportFixture;
    let accepted: ConnectionQueue;
    const opened: Connection[] = [];
    const onConnection = (connection: Connection) => {
      opened.push(connection);
      accepted.push(connection);
    };

    test.beforeEach(async () => {
      fixture = await options.setup();
      accepted = new ConnectionQueue();
      await fixture.server.listen(onConnection);
    });

    test.afterEach(async () => {
      await Promise.all(opened.splice(0).map((connection) => connection.close()));
      await fixture.server.close();
      await options.teardown?.(fixture);
    });

    /** Connects one client and returns both ends. */
    async function pair(metadata?: Record<string, string>) {
      return dial(metadata ? { metadata } : {});
    }

    /** Connects one client with `connect` options and returns both ends. */
    async function dial(connectOptions: ConnectOptions) {
      const client = await fixture.client().connect(connectOptions);
      opened.push(client);
      const server = await accepted.next();
      return { client, server };
    }

    /** Listens again with `listenOptions`; returns the peers the admit step was asked about. */
    async function relisten(listenOptions: Omit<ListenOptions, 'admit'> = {}) {
      await fixture.server.close();
      const asked: PeerInfo[] = [];
      await fixture.server.listen(onConnection, {
        ...listenOptions,
        admit: (peer) => {
          asked.push(peer);
          return { accept: true };
        },
      });
      return asked;
    }

    /**
     * Sends `pattern` frames of 64 KiB to a peer that reads nothing until a send waits: one
     * still pending after 2 × 64 turns of the event loop. Resolves with how many frames went
     * out before it, that send and its abort controller; `undefined` when 64 MiB went out and
     * no send ever waited.
     */
    async function sendUntilBlocked(client: Connection) {
      for (let n = 0; n < BACKPRESSURE_FRAMES; n++) {
        const controller = new AbortController();
        const sending = client.send(pattern(1000 + n, BACKPRESSURE_FRAME_BYTES), {
          signal: controller.signal,
        });
        sending.catch(() => undefined);
        if (!(await settlesWithin(sending, 64)) && !(await settlesWithin(sending, 64)))
          return { sent: n, sending, controller };
      }
      return undefined;
    }

    const requestCases: Record<string, () => Promise<void>> = {
      'carries the request path, encoded query and subprotocol to the server, then the deprecated metadata':
        async () => {
          const asked = await relisten({
            routes: [{ path: PATH, subprotocol: 'planesync.conformance' }],
          });
          const query: Array<[string, string]> = [
            ['node_id', 'a b&c=d#e'],
            ['label', 'ü+%'],
            ['node_id', 'second'],
          ];
          const { client, server } = await dial({
            request: { path: PATH, query, subprotocol: 'planesync.conformance' },
            metadata: { legacy: 'yes' },
          });
          const sent = [...query, ['legacy', 'yes']];
          assertMatches(server.request, { path: PATH, subprotocol: 'planesync.conformance' });
          assert.deepEqual([...new URLSearchParams(server.request!.rawQuery)], sent);
          assert.deepEqual(
            { ...server.metadata },
            { node_id: 'second', label: 'ü+%', legacy: 'yes' },
          );
          assert.deepEqual({ ...client.request }, { ...server.request });
          assert.deepEqual({ ...client.metadata }, { ...server.metadata });
          assert.equal(asked.length, 1);
          assertMatches(asked[0]!.request, {
            path: PATH,
            rawQuery: server.request!.rawQuery,
            query: { ...server.metadata },
          });
        },

      'sends raw query values as given with encodeQuery: false, and refuses one a URL cannot carry':
        async () => {
          const asked = await relisten({ routes: [{ path: PATH }] });
          const query: Array<[string, string]> = [
            ['node_id', '9f8e1b2c-0000-4000-8000-000000000001'],
            ['node_hostname', 'dp-1.example'],
            ['node_version', '3.10.0.0+enterprise'],
            ['sig', 'a%2Fb=c'],
          ];
          const { server } = await dial({ request: { path: PATH, query, encodeQuery: false } });
          assert.equal(
            server.request?.rawQuery,
            'node_id=9f8e1b2c-0000-4000-8000-000000000001&node_hostname=dp-1.example&node_version=3.10.0.0+enterprise&sig=a%2Fb=c',
          );
          assert.equal(server.metadata.sig, 'a/b=c');
          for (const value of ['a&b', 'a#b', 'a b', 'a\u0000b']) {
            await assert.rejects(
              fixture.client().connect({
                request: { path: PATH, query: [['k', value]], encodeQuery: false },
              }),
              { code: 'INVALID_ARGUMENT' },
            );
          }
          assert.equal(asked.length, 1);
        },

      'routes each path to its route and refuses an unknown path before the admit step':
        async () => {
          const asked = await relisten({
            routes: [{ path: `${PATH}/a` }, { path: `${PATH}/b`, subprotocol: 'planesync.b' }],
          });
          const a = await dial({ request: { path: `${PATH}/a` } });
          const b = await dial({ request: { path: `${PATH}/b`, subprotocol: 'planesync.b' } });
          assertMatches(a.server.request, { path: `${PATH}/a`, subprotocol: undefined });
          assertMatches(b.server.request, { path: `${PATH}/b`, subprotocol: 'planesync.b' });
          assertMatches(b.client.request, { subprotocol: 'planesync.b' });
          await assert.rejects(fixture.client().connect({ request: { path: `${PATH}/c` } }), {
            code: 'TRANSPORT_FAILED',
          });
          assert.deepEqual(
            asked.map((peer) => peer.request?.path),
            [`${PATH}/a`, `${PATH}/b`],
          );
          const next = await dial({ request: { path: `${PATH}/a` } });
          assertMatches(next.server.request, { path: `${PATH}/a` });
        },

      'refuses a subprotocol other than the route’s, and none where the route names one':
        async () => {
          const asked = await relisten({
            routes: [{ path: PATH, subprotocol: 'planesync.b' }, { path: `${PATH}/plain` }],
          });
          for (const request of [
            { path: PATH, subprotocol: 'planesync.other' },
            { path: PATH },
            { path: `${PATH}/plain`, subprotocol: 'planesync.b' },
          ]) {
            await assert.rejects(fixture.client().connect({ request }), {
              code: 'TRANSPORT_FAILED',
            });
          }
          assert.equal(asked.length, 0);
        },
    };

    const controlCases: Record<string, () => Promise<void>> = {
      'hands manual pings and pongs over with their payload, in order, kept until a listener is set':
        async () => {
          await relisten({ routes: [{ path: PATH, pings: 'manual' }] });
          const { client, server } = await dial({ request: { path: PATH }, pings: 'manual' });
          const clientControl = controlFrames(client);
          await client.sendControl!({ kind: 'ping', payload: Uint8Array.of(1, 2, 3) });
          await client.sendControl!({ kind: 'ping', payload: new Uint8Array(0) });
          await client.sendControl!({ kind: 'pong', payload: Uint8Array.of(9) });
          // a data frame after them: once it is read, the control frames have arrived
          const marker = collect(server, 1);
          await client.send(pattern(12, 8));
          await marker;
          const serverControl = controlFrames(server);
          assert.deepEqual(await serverControl.take(3), ['ping:010203', 'ping:', 'pong:09']);
          // nothing was answered for the protocol: the client's first control frame is this
          await server.sendControl!({ kind: 'pong', payload: new Uint8Array(0) });
          assert.deepEqual(await clientControl.take(1), ['pong:']);
        },

      'answers each ping itself in auto mode, echoing the payload': async () => {
        // a manual client and an auto server
        const first = await dial({ pings: 'manual' });
        const fromServer = controlFrames(first.client);
        await first.client.sendControl!({ kind: 'ping', payload: Uint8Array.of(7, 7) });
        assert.deepEqual(await fromServer.take(1), ['pong:0707']);
        // an auto client and a manual server
        await relisten({ routes: [{ path: PATH, pings: 'manual' }] });
        const second = await dial({ request: { path: PATH } });
        const fromClient = controlFrames(second.server);
        await second.server.sendControl!({ kind: 'ping', payload: Uint8Array.of(5) });
        assert.deepEqual(await fromClient.take(1), ['pong:05']);
      },

      'refuses a control frame over 125 bytes, and after close': async () => {
        const { client } = await dial({ pings: 'manual' });
        await assert.rejects(client.sendControl!({ kind: 'ping', payload: new Uint8Array(126) }), {
          code: 'INVALID_ARGUMENT',
        });
        await client.close();
        await assert.rejects(client.sendControl!({ kind: 'ping', payload: new Uint8Array(1) }), {
          code: 'CONNECTION_CLOSED',
        });
      },
    };

    const framesOnlyCases: Record<string, () => Promise<void>> = {
      'refuses a dial request or routes it cannot carry (frames only), before dialing':
        async () => {
          for (const connectOptions of [
            { request: { path: PATH } },
            { request: { subprotocol: 'planesync.b' } },
          ]) {
            await assert.rejects(fixture.client().connect(connectOptions), {
              code: 'INVALID_ARGUMENT',
            });
          }
          await fixture.server.close();
          await assert.rejects(
            fixture.server.listen(onConnection, { routes: [{ path: '/a' }, { path: '/b' }] }),
            { code: 'INVALID_ARGUMENT' },
          );
          await assert.rejects(
            fixture.server.listen(onConnection, { routes: [{ path: '/a', subprotocol: 'x' }] }),
            { code: 'INVALID_ARGUMENT' },
          );
          await fixture.server.listen(onConnection);
          const { client, server } = await pair();
          const received = collect(server, 1);
          await client.send(pattern(15, 16));
          assert.deepEqual((await received).map(hex), [hex(pattern(15, 16))]);
        },
    };

    const noControlCases: Record<string, () => Promise<void>> = {
      'refuses manual pings it cannot carry, and offers no sendControl': async () => {
        await assert.rejects(fixture.client().connect({ pings: 'manual' }), {
          code: 'INVALID_ARGUMENT',
        });
        const { client, server } = await pair();
        assert.equal(typeof client.sendControl, 'undefined');
        assert.equal(typeof server.sendControl, 'undefined');
      },
    };

    const notApplicable = new Map<string, string>();
    for (const name of Object.keys(requestCases))
      if (!features.request) notApplicable.set(name, 'the transport declares no request step');
    for (const name of Object.keys(framesOnlyCases))
      if (features.request) notApplicable.set(name, 'the transport carries a request step');
    for (const name of Object.keys(controlCases))
      if (!features.controlFrames)
        notApplicable.set(name, 'the transport declares no control frames');
    for (const name of Object.keys(noControlCases))
      if (features.controlFrames) notApplicable.set(name, 'the transport carries control frames');
    if (!(options.carriesMetadata ?? features.request))
      notApplicable.set(
        'carries connect metadata to the server',
        'the transport carries no metadata (carriesMetadata)',
      );

    registerCases(
      test,
      {
        'declares the features the suite was given, on its client and its server': async () => {
          for (const [side, declared] of [
            ['client', fixture.client().features],
            ['server', fixture.server.features],
          ] as const) {
            assert.deepEqual(
              { ...FRAMES_ONLY, ...declared },
              { ...features },
              `the ${side} declares features ${JSON.stringify(declared ?? FRAMES_ONLY)}, but transportConformance was given ${JSON.stringify(features)}: pass the transport's features so their cases run`,
            );
          }
        },

        'delivers frames whole and in order in both directions': async () => {
          const { client, server } = await pair();
          const frames = Array.from({ length: 200 }, (_, i) => pattern(i, 1 + ((i * 7919) % 5000)));
          const echoed = echo(server);
          const received = collect(client, frames.length);
          for (const frame of frames) await client.send(frame);
          assert.deepEqual((await received).map(fingerprint), frames.map(fingerprint));
          await client.close();
          await echoed;
        },

        'delivers a frame of exactly maxPayloadBytes whole': async () => {
          const { client, server } = await pair();
          const frame = pattern(1, fixture.maxPayloadBytes);
          const received = collect(server, 1);
          await client.send(frame);
          assert.deepEqual((await received).map(fingerprint), [fingerprint(frame)]);
        },

        'delivers large frames whole, each in one piece': async () => {
          const { client, server } = await pair();
          const size = Math.min(fixture.maxPayloadBytes, 3 * 1024 * 1024 + 17);
          const frames = [pattern(2, size), pattern(3, size - 1), pattern(4, 1)];
          const received = collect(server, frames.length);
          await Promise.all(frames.map((frame) => client.send(frame)));
          assert.deepEqual((await received).map(fingerprint), frames.map(fingerprint));
        },

        'closes with PAYLOAD_TOO_LARGE when a frame exceeds the receiver limit': async () => {
          const { client, server } = await pair();
          const frames: Uint8Array[] = [];
          const reading = (async () => {
            for await (const frame of server) frames.push(frame);
          })();
          await client.send(pattern(5, fixture.maxPayloadBytes + 1)).catch(() => undefined);
          const info = await server.closed;
          assert.equal(info.code, CloseCode.PAYLOAD_TOO_LARGE);
          assert.equal(info.initiator, 'local');
          await reading;
          assert.deepEqual(frames, []);
          await client.closed;
          assert.equal(client.isClosed, true);
        },

        'propagates a close by the client with its code and reason': async () => {
          const { client, server } = await pair();
          await client.close(4001, 'client is done');
          assertMatches(await client.closed, {
            code: 4001,
            reason: 'client is done',
            initiator: 'local',
          });
          assertMatches(await server.closed, {
            code: 4001,
            reason: 'client is done',
            initiator: 'remote',
          });
        },

        'propagates a close by the server with its code and reason': async () => {
          const { client, server } = await pair();
          await server.close(CloseCode.POLICY_VIOLATION, 'untrusted');
          assertMatches(await server.closed, {
            code: CloseCode.POLICY_VIOLATION,
            initiator: 'local',
          });
          assertMatches(await client.closed, {
            code: CloseCode.POLICY_VIOLATION,
            reason: 'untrusted',
            initiator: 'remote',
          });
        },

        'keeps frames received before the close readable, then ends the iteration': async () => {
          const { client, server } = await pair();
          const frames = [pattern(6, 10), pattern(7, 20), pattern(8, 30)];
          for (const frame of frames) await client.send(frame);
          await client.close();
          await server.closed;
          const received: Uint8Array[] = [];
          for await (const frame of server) received.push(frame);
          assert.deepEqual(received.map(hex), frames.map(hex));
        },

        'ends the frame iteration of both sides on close': async () => {
          const { client, server } = await pair();
          const serverDone = drain(server);
          const clientDone = drain(client);
          await client.close();
          assert.equal(await serverDone, 0);
          assert.equal(await clientDone, 0);
        },

        'closes every open connection with GOING_AWAY when the server closes': async () => {
          const first = await pair();
          const second = await pair();
          await fixture.server.close();
          for (const end of [first.client, second.client]) {
            assert.equal((await end.closed).code, CloseCode.GOING_AWAY);
          }
          assert.equal((await first.server.closed).initiator, 'local');
        },

        'refuses to connect when no server listens, with TRANSPORT_FAILED': async () => {
          await fixture.server.close();
          await assert.rejects(fixture.client().connect(), { code: 'TRANSPORT_FAILED' });
        },

        'rejects send on a closed connection with CONNECTION_CLOSED': async () => {
          const { client } = await pair();
          await client.close();
          assert.equal(client.isClosed, true);
          await assert.rejects(client.send(pattern(9, 4)), { code: 'CONNECTION_CLOSED' });
        },

        'close is idempotent and keeps the first code': async () => {
          const { client } = await pair();
          await Promise.all([client.close(4002, 'first'), client.close(4003, 'second')]);
          await client.close();
          assertMatches(await client.closed, { code: 4002, reason: 'first' });
        },

        'aborts connect with ABORTED when the signal is already aborted': async () => {
          const controller = new AbortController();
          controller.abort(new Error('stop'));
          const attempt = fixture.client().connect({ signal: controller.signal });
          await assert.rejects(attempt, PlanesyncError);
          await assert.rejects(attempt, { code: 'ABORTED' });
        },

        'aborts connect with ABORTED while dialing, leaving no connection behind': async () => {
          const controller = new AbortController();
          const attempt = fixture.client().connect({ signal: controller.signal });
          controller.abort(new Error('stop'));
          await assert.rejects(attempt, { code: 'ABORTED' });
          // The server goes on serving; whatever it accepted of the aborted dial is closed.
          // The probe is told apart by its first frame (metadata may not travel).
          const probe = await fixture.client().connect();
          opened.push(probe);
          const marker = pattern(16, 16);
          await probe.send(marker);
          for (let n = 0; n < 16; n++) {
            const server = await accepted.next();
            const first = await server[Symbol.asyncIterator]().next();
            if (!first.done && hex(first.value) === hex(marker)) return;
            assert.ok(first.done, 'a connection that was not the probe delivered a frame');
          }
          assert.fail('the probe never reached the server');
        },

        'makes send wait while the peer reads nothing, instead of buffering without bound':
          async () => {
            const { client, server } = await pair();
            const blocked = await sendUntilBlocked(client);
            assert.ok(
              blocked,
              `${BACKPRESSURE_FRAMES} frames of ${BACKPRESSURE_FRAME_BYTES} bytes went to a peer that reads nothing and no send ever waited`,
            );
            // Once the peer reads, the waiting send completes and every frame arrives, in order.
            const received = collect(server, blocked.sent + 1);
            await blocked.sending;
            const frames = await received;
            assert.equal(frames.length, blocked.sent + 1);
            assert.deepEqual(
              frames.map(fingerprint),
              Array.from({ length: blocked.sent + 1 }, (_, n) =>
                fingerprint(pattern(1000 + n, BACKPRESSURE_FRAME_BYTES)),
              ),
            );
          },

        'aborts a send blocked by backpressure with ABORTED and never delivers it': async () => {
          const { client, server } = await pair();
          const blocked = await sendUntilBlocked(client);
          assert.ok(blocked, 'no send ever waited for a peer that reads nothing');
          blocked.controller.abort();
          await assert.rejects(blocked.sending, { code: 'ABORTED' });
          const marker = pattern(13, 8);
          const received = collect(server, blocked.sent + 1);
          const sendingMarker = client.send(marker);
          const frames = await received;
          await sendingMarker;
          assert.deepEqual(frames.at(-1) && hex(frames.at(-1)!), hex(marker));
          assert.equal(frames.length, blocked.sent + 1, 'the aborted frame was delivered');
        },

        'listens again after close and serves new connections': async () => {
          await pair();
          await fixture.server.close();
          await fixture.server.listen(onConnection);
          const { client, server } = await pair();
          const received = collect(server, 1);
          await client.send(pattern(14, 32));
          assert.deepEqual((await received).map(hex), [hex(pattern(14, 32))]);
        },

        'drops a peer refused silently without telling it the code or reason': async () => {
          await fixture.server.close();
          const reached: Connection[] = [];
          let asked = 0;
          await fixture.server.listen((connection) => reached.push(connection), {
            admit: () => {
              asked++;
              return {
                accept: false,
                code: CloseCode.POLICY_VIOLATION,
                reason: 'SILENT_REFUSAL',
                silent: true,
              };
            },
          });
          const outcome = await fixture
            .client()
            .connect()
            .then(
              async (connection) => {
                opened.push(connection);
                await drain(connection);
                return connection.closed;
              },
              (error: unknown) => error,
            );
          assert.equal(asked, 1);
          assert.equal(reached.length, 0);
          // Refused at connect without a verdict, or connected and then lost: never told why.
          if (outcome instanceof PlanesyncError) {
            assert.notEqual(outcome.code, 'PEER_REFUSED');
            assert.doesNotMatch(outcome.message, /SILENT_REFUSAL/);
          } else {
            assertMatches(outcome, { code: CloseCode.ABNORMAL });
            assert.doesNotMatch((outcome as { reason: string }).reason, /SILENT_REFUSAL/);
          }
        },

        ...requestCases,
        ...framesOnlyCases,
        ...controlCases,
        ...noControlCases,

        'aborts send with ABORTED and delivers nothing for it': async () => {
          const { client, server } = await pair();
          const controller = new AbortController();
          controller.abort();
          await assert.rejects(client.send(pattern(10, 8), { signal: controller.signal }), {
            code: 'ABORTED',
          });
          const marker = pattern(11, 8);
          const received = collect(server, 1);
          await client.send(marker);
          assert.deepEqual((await received).map(hex), [hex(marker)]);
        },

        'asks the admit step with the peer chain before anything reaches onConnection, and a refused peer learns why':
          async () => {
            await fixture.server.close();
            const asked: PeerInfo[] = [];
            const reached: Connection[] = [];
            await fixture.server.listen(
              (connection) => {
                opened.push(connection);
                reached.push(connection);
              },
              {
                admit: (peer) => {
                  asked.push(peer);
                  return {
                    accept: false,
                    code: CloseCode.POLICY_VIOLATION,
                    reason: 'REFUSED_HERE',
                  };
                },
              },
            );
            const outcome = await fixture
              .client()
              .connect()
              .then(
                async (connection) => {
                  opened.push(connection);
                  for await (const _ of connection) {
                    // a refused peer is sent nothing but the close
                  }
                  return connection.closed;
                },
                (error: unknown) => error,
              );
            assert.equal(asked.length, 1);
            assert.deepEqual(
              asked[0]!.peerCertificates.map(fingerprint),
              fixture.clientCertificates.map(fingerprint),
            );
            assert.equal(reached.length, 0);
            // Refused at connect (PEER_REFUSED), or connected and then closed with the refusal.
            if (outcome instanceof PlanesyncError) {
              assertMatches(outcome, { code: 'PEER_REFUSED', reason: 'REFUSED_HERE' });
            } else {
              assertMatches(outcome, { code: CloseCode.POLICY_VIOLATION, reason: 'REFUSED_HERE' });
            }
          },
        'presents each side the peer certificate chain as DER, leaf first': async () => {
          const { client, server } = await pair();
          assert.deepEqual(server.peerCertificates.map(hex), fixture.clientCertificates.map(hex));
          assert.deepEqual(client.peerCertificates.map(hex), fixture.serverCertificates.map(hex));
        },

        'reports the remote address': async () => {
          const { client, server } = await pair();
          assert.match(server.remoteAddress, /\S/);
          assert.match(client.remoteAddress, /\S/);
        },

        'carries connect metadata to the server': async () => {
          const metadata = {
            node_id: '7e1d5c42-6d3e-4b61-9a8f-2f7a0b1c9d10',
            node_hostname: 'dp-1',
            node_version: '3.10.0',
          };
          const { server } = await pair(metadata);
          assert.deepEqual({ ...server.metadata }, metadata);
        },

        'keeps each caller’s frames in order under concurrent sends': async () => {
          const { client, server } = await pair();
          const callers = 8;
          const perCaller = 40;
          const received = collect(server, callers * perCaller);
          await Promise.all(
            Array.from({ length: callers }, async (_, caller) => {
              for (let n = 0; n < perCaller; n++) {
                await client.send(
                  Uint8Array.of(caller, n, ...pattern(caller * 1000 + n, 100 + n * 50)),
                );
              }
            }),
          );
          const frames = await received;
          for (let caller = 0; caller < callers; caller++) {
            const mine = frames.filter((frame) => frame[0] === caller);
            assert.deepEqual(
              mine.map((frame) => frame[1]),
              Array.from({ length: perCaller }, (_, n) => n),
            );
            for (const frame of mine) assert.equal(frame.byteLength, 2 + 100 + frame[1]! * 50);
          }
        },
      },
      options.skip,
      notApplicable,
    );
  });
}

/** The backpressure cases send up to this many frames of this size (64 MiB) before failing. */
const BACKPRESSURE_FRAMES = 1024;
const BACKPRESSURE_FRAME_BYTES = 64 * 1024;

/** Whether `promise` settles within `turns` turns of the event loop (no timer, no sleep). */
async function settlesWithin(promise: Promise<unknown>, turns: number): Promise<boolean> {
  let settled = false;
  promise.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  for (let turn = 0; turn < turns && !settled; turn++)
    await new Promise((resolve) => setImmediate(resolve));
  return settled;
}

/** Sets `connection`'s control listener; `take(n)` resolves with the next n as `kind:hex`. */
function controlFrames(connection: Connection) {
  assert.equal(typeof connection.onControl, 'function', 'the connection has no onControl');
  const frames: string[] = [];
  let wake: (() => void) | undefined;
  connection.onControl!((frame: ControlFrame) => {
    frames.push(`${frame.kind}:${hex(frame.payload)}`);
    wake?.();
  });
  return {
    async take(count: number): Promise<string[]> {
      while (frames.length < count) await new Promise<void>((resolve) => (wake = resolve));
      return frames.splice(0, count);
    },
  };
}

/** Deterministic bytes: frame `seed` of `size` bytes. */
function pattern(seed: number, size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

/** Size and SHA-256: compares megabyte frames quickly and prints readably when they differ. */
function fingerprint(bytes: Uint8Array): string {
  return `${bytes.byteLength}:${createHash('sha256').update(bytes).digest('hex')}`;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

async function collect(connection: Connection, count: number): Promise<Uint8Array[]> {
  const frames: Uint8Array[] = [];
  if (count === 0) return frames;
  for await (const frame of connection) {
    frames.push(frame);
    if (frames.length === count) break;
  }
  return frames;
}

async function echo(connection: Connection): Promise<void> {
  for await (const frame of connection) await connection.send(frame).catch(() => undefined);
}

async function drain(connection: Connection): Promise<number> {
  let count = 0;
  for await (const _ of connection) count++;
  return count;
}

/** Accepted connections, handed out in arrival order. */
class ConnectionQueue {
  #ready: Connection[] = [];
  #waiting: Array<(connection: Connection) => void> = [];

  push(connection: Connection): void {
    const waiter = this.#waiting.shift();
    if (waiter) waiter(connection);
    else this.#ready.push(connection);
  }

  next(): Promise<Connection> {
    const connection = this.#ready.shift();
    if (connection) return Promise.resolve(connection);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }
}
