import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { PlanesyncError } from '../errors.ts';
import {
  CloseCode,
  type Connection,
  type PeerInfo,
  type TransportClient,
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
}

/**
 * Registers the transport contract's cases with your test runner: frames whole and in order,
 * frames up to the payload limit, large frames, the oversized-frame close, close both ways
 * with code and reason, abort, the peer chain, metadata, concurrent sends. Every transport
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
  test.describe(options.name ?? 'transport conformance', () => {
    let fixture: TransportFixture;
    let accepted: ConnectionQueue;
    const opened: Connection[] = [];

    test.beforeEach(async () => {
      fixture = await options.setup();
      accepted = new ConnectionQueue();
      await fixture.server.listen((connection) => {
        opened.push(connection);
        accepted.push(connection);
      });
    });

    test.afterEach(async () => {
      await Promise.all(opened.splice(0).map((connection) => connection.close()));
      await fixture.server.close();
      await options.teardown?.(fixture);
    });

    /** Connects one client and returns both ends. */
    async function pair(metadata?: Record<string, string>) {
      const client = await fixture.client().connect(metadata ? { metadata } : {});
      opened.push(client);
      const server = await accepted.next();
      return { client, server };
    }

    registerCases(
      test,
      {
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
    );
  });
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
