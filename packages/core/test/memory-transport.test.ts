import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { memoryTransport, silentLogger } from '../src/index.ts';
import { FakeClock, transportConformance } from '../src/testing/index.ts';
import type { Connection } from '../src/transport/contract.ts';

const clientChain = [Uint8Array.of(0x30, 0x82, 1, 2, 3), Uint8Array.of(0x30, 0x82, 4, 5)];
const serverChain = [Uint8Array.of(0x30, 0x82, 9, 9)];
const limit = 4 * 1024 * 1024;

const vitest = { describe, it, beforeEach, afterEach };

transportConformance(vitest, {
  name: 'memory transport conformance',
  async setup() {
    const { server, client } = memoryTransport({
      maxPayloadBytes: limit,
      certificates: serverChain,
    });
    return {
      server,
      client: () => client({ certificates: clientChain }),
      maxPayloadBytes: limit,
      clientCertificates: clientChain,
      serverCertificates: serverChain,
    };
  },
  features: { request: true, controlFrames: true },
});

transportConformance(vitest, {
  name: 'memory transport conformance with latency and a small high-water mark',
  async setup() {
    const { server, client } = memoryTransport({
      maxPayloadBytes: limit,
      latencyMs: 1,
      highWaterMark: 64 * 1024,
    });
    return {
      server,
      client: () => client(),
      maxPayloadBytes: limit,
      clientCertificates: [],
      serverCertificates: [],
    };
  },
  features: { request: true, controlFrames: true },
});

async function connectPair(transport: ReturnType<typeof memoryTransport>) {
  let accepted: Connection | undefined;
  await transport.server.listen((connection) => {
    accepted = connection;
  });
  const client = await transport.client().connect();
  return { client, server: accepted! };
}

describe('memory transport', () => {
  it('delivers a frame only after the configured latency on the injected clock', async () => {
    const clock = new FakeClock();
    const transport = memoryTransport({ clock, latencyMs: 250 });
    const connecting = connectPair(transport);
    await clock.advance(250);
    const { client, server } = await connecting;
    const reader = server[Symbol.asyncIterator]();
    const next = reader.next();
    let arrived = false;
    void next.then(() => {
      arrived = true;
    });
    await client.send(Uint8Array.of(1));
    await clock.advance(249);
    expect(arrived).toBe(false);
    await clock.advance(1);
    expect(arrived).toBe(true);
    expect((await next).value).toEqual(Uint8Array.of(1));
  });

  it('makes send wait while the reader is behind, bounding buffered bytes', async () => {
    const transport = memoryTransport({ highWaterMark: 1000 });
    const { client, server } = await connectPair(transport);
    const sent: number[] = [];
    const sending = (async () => {
      for (let i = 0; i < 10; i++) {
        await client.send(new Uint8Array(400).fill(i));
        sent.push(i);
      }
    })();
    await new Promise((resolve) => setImmediate(resolve));
    // 400 + 400 + 400 > 1000: the third frame pauses the reader, the fourth send waits.
    expect(sent).toEqual([0, 1, 2]);
    // Each held frame counts its bytes and a fixed 64 for itself.
    expect((server as unknown as { bufferedBytes: number }).bufferedBytes).toBe(3 * (400 + 64));
    const received: number[] = [];
    for await (const frame of server) {
      received.push(frame[0]!);
      if (received.length === 10) break;
    }
    await sending;
    expect(received).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('rejects a send blocked by backpressure with ABORTED and never delivers it', async () => {
    const transport = memoryTransport({ highWaterMark: 10 });
    const { client, server } = await connectPair(transport);
    await client.send(new Uint8Array(20).fill(1));
    const controller = new AbortController();
    const blocked = client.send(new Uint8Array(20).fill(2), { signal: controller.signal });
    controller.abort();
    await expect(blocked).rejects.toMatchObject({ code: 'ABORTED' });
    const after = client.send(new Uint8Array(20).fill(3));
    const received: number[] = [];
    for await (const frame of server) {
      received.push(frame[0]!);
      if (received.length === 2) break;
    }
    await after;
    expect(received).toEqual([1, 3]);
  });

  it('copies frames, so the sender may reuse its buffer at once', async () => {
    const { client, server } = await connectPair(memoryTransport());
    const buffer = Uint8Array.of(1, 2, 3);
    await client.send(buffer);
    buffer.fill(0);
    const { value } = await server[Symbol.asyncIterator]().next();
    expect(value).toEqual(Uint8Array.of(1, 2, 3));
  });

  it('accepts PEM certificates and presents them as DER', async () => {
    const der = Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x07);
    const pem = `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64')}\n-----END CERTIFICATE-----\n`;
    const transport = memoryTransport();
    let accepted: Connection | undefined;
    await transport.server.listen((connection) => {
      accepted = connection;
    });
    await transport.client({ certificates: [pem] }).connect();
    expect(accepted?.peerCertificates).toEqual([der]);
  });

  it('rejects a second reader while one is waiting', async () => {
    const { server } = await connectPair(memoryTransport());
    void server[Symbol.asyncIterator]().next();
    await expect(server[Symbol.asyncIterator]().next()).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });

  it('accepts connections again after the server closes and listens anew (a CP restart)', async () => {
    const transport = memoryTransport();
    const first = await connectPair(transport);
    await transport.server.close();
    expect((await first.client.closed).code).toBe(1001);
    expect(transport.server.connectionCount).toBe(0);
    const second = await connectPair(transport);
    expect(second.client.isClosed).toBe(false);
    expect(transport.server.connectionCount).toBe(1);
  });
});

describe('memory transport control frames', () => {
  it("logs an onControl listener that throws to the transport's logger, and the link stays", async () => {
    const logged: string[] = [];
    const logger = {
      ...silentLogger,
      error: (_fields: object, message?: string) => {
        logged.push(message ?? '');
      },
    };
    const { server, client } = memoryTransport({ logger });
    const accepted: Connection[] = [];
    await server.listen((connection) => accepted.push(connection), {
      routes: [{ path: '/', pings: 'manual' }],
    });
    const connection = await client().connect({ pings: 'manual' });
    await expect.poll(() => accepted.length).toBe(1);
    let heard = 0;
    accepted[0]!.onControl!(() => {
      heard++;
      throw new Error('a listener of the host');
    });
    await connection.sendControl!({ kind: 'ping', payload: new Uint8Array([1]) });
    await expect.poll(() => heard).toBe(1);
    expect(logged).toEqual(['an onControl listener threw']);
    await connection.send(new Uint8Array([9]));
    await connection.close();
    await server.close();
  });
});
