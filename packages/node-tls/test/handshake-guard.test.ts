import { connect, createServer, type Server, type Socket } from 'node:net';
import { type Logger, silentLogger } from '@planesync/core';
import { FakeClock } from '@planesync/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { HandshakeGuard } from '../src/index.ts';
import { Arrivals, closedOf } from './helpers.ts';

const stops: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

/** A plain TCP server watched by a guard; `accepted` yields each socket after the guard saw it. */
async function guarded(guard: HandshakeGuard) {
  const server: Server = createServer();
  guard.watch(server);
  const accepted = new Arrivals<Socket>();
  server.on('connection', (socket) => accepted.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stops.push(async () => {
    guard.dropAll();
    await new Promise((resolve) => server.close(resolve));
  });
  const port = (server.address() as { port: number }).port;
  return {
    accepted,
    /** A client socket, and its server side once the guard watches it. */
    async peer() {
      const client = connect(port, '127.0.0.1');
      client.on('error', () => undefined);
      client.resume();
      stops.push(() => client.destroy());
      return { client, server: await accepted.next() };
    },
  };
}

describe('HandshakeGuard', () => {
  it('drops a peer still handshaking after handshakeTimeoutMs on its clock', async () => {
    const clock = new FakeClock();
    const guard = new HandshakeGuard({ handshakeTimeoutMs: 10_000, clock, logger: silentLogger });
    const { peer } = await guarded(guard);
    const { client } = await peer();
    expect(guard.pending).toBe(1);
    await clock.advance(9_999);
    expect(client.closed).toBe(false);
    await clock.advance(1);
    await closedOf(client);
    expect(guard.pending).toBe(0);
  });

  it('forgets a peer once it is settled: no deadline any more', async () => {
    const clock = new FakeClock();
    const guard = new HandshakeGuard({ handshakeTimeoutMs: 10_000, clock, logger: silentLogger });
    const { peer } = await guarded(guard);
    const { client, server } = await peer();
    guard.settled(server);
    expect(guard.pending).toBe(0);
    expect(clock.pendingTimers).toBe(0);
    await clock.advance(60_000);
    expect(client.closed).toBe(false);
  });

  it('leaves nothing of its own on a settled socket: a connection that lives for days holds no listener of the guard', async () => {
    const guard = new HandshakeGuard({ logger: silentLogger });
    const { peer } = await guarded(guard);
    const { server } = await peer();
    const before = server.listenerCount('close');
    guard.settled(server);
    expect(server.listenerCount('close')).toBe(before - 1);
    // The guard still forgets a socket that closes while it is watched.
    const other = await peer();
    other.client.destroy();
    await closedOf(other.server);
    expect(guard.pending).toBe(0);
  });

  it('keeps at most maxPendingConnections, dropping the one waiting longest', async () => {
    const guard = new HandshakeGuard({ maxPendingConnections: 2, logger: silentLogger });
    const { peer } = await guarded(guard);
    const first = await peer();
    const second = await peer();
    const third = await peer();
    await closedOf(first.client);
    expect(guard.pending).toBe(2);
    expect([second.client.closed, third.client.closed]).toEqual([false, false]);
  });

  it('dropAll drops every peer still handshaking', async () => {
    const guard = new HandshakeGuard({ logger: silentLogger });
    const { peer } = await guarded(guard);
    const peers = [await peer(), await peer()];
    guard.dropAll();
    await Promise.all(peers.map(({ client }) => closedOf(client)));
  });

  it('drops a refused peer after its grace on the clock, or at once when the server closes', async () => {
    const clock = new FakeClock();
    const guard = new HandshakeGuard({ clock, logger: silentLogger });
    const { peer } = await guarded(guard);
    const first = await peer();
    const second = await peer();
    guard.settled(first.server);
    guard.settled(second.server);
    guard.dropLater(first.server, 1_000);
    guard.dropLater(second.server, 60_000);
    await clock.advance(999);
    expect([first.client.closed, second.client.closed]).toEqual([false, false]);
    await clock.advance(1);
    await closedOf(first.client);
    expect(second.client.closed).toBe(false);
    guard.dropAll();
    await closedOf(second.client);
  });

  it('a throwing logger never breaks the drop', async () => {
    const boom = () => {
      throw new Error('logger sink is broken');
    };
    const logger: Logger = { error: boom, warn: boom, info: boom, debug: boom };
    const clock = new FakeClock();
    const guard = new HandshakeGuard({ handshakeTimeoutMs: 1_000, clock, logger });
    const { peer } = await guarded(guard);
    const { client } = await peer();
    await clock.advance(1_000);
    await closedOf(client);
  });
});
