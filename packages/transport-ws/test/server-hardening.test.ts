// What a CP's socket server does with peers that are not DPs yet — anonymous, silent,
// numerous, renegotiating — over real TLS on loopback, for both socket transports.
import { connect as netConnect, type Socket } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import {
  type CertificateKeyPair,
  ControlPlane,
  DataPlane,
  generateClusterCertificate,
  type Logger,
  silentLogger,
  type TransportClient,
  type TransportServer,
  TrustVerifier,
} from '@planesync/core';
import { tcpClient, tcpServer } from '@planesync/transport-tcp';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { wsClient, wsServer } from '../src/index.ts';

let cluster: CertificateKeyPair;
let trust: TrustVerifier;
beforeAll(async () => {
  cluster = await generateClusterCertificate();
  trust = new TrustVerifier({ mode: 'pinned', certificates: [cluster.certificate] });
});

const stops: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

const TIMEOUT_MS = 300;

/** A TCP frame's 4-byte big-endian length. */
function frameHeader(length: number): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(length);
  return header;
}

interface Kind {
  server(options: {
    handshakeTimeoutMs?: number;
    maxPendingConnections?: number;
    logger?: Logger;
  }): TransportServer & {
    readonly port: number | undefined;
  };
  client(port: number): TransportClient;
  /** What a trusted peer sends right after its TLS handshake to become a connection. */
  opening(): Buffer;
}

const kinds: Record<'tcp' | 'ws', Kind> = {
  tcp: {
    server: (options) =>
      tcpServer({
        host: '127.0.0.1',
        port: 0,
        tls: { cert: cluster.certificate, key: cluster.privateKey },
        logger: silentLogger,
        ...options,
      }),
    client: (port) =>
      tcpClient({
        host: '127.0.0.1',
        port,
        tls: { cert: cluster.certificate, key: cluster.privateKey },
      }),
    opening: () => {
      const preface = Buffer.from('{}');
      return Buffer.concat([frameHeader(preface.length), preface]);
    },
  },
  ws: {
    server: (options) =>
      wsServer({
        host: '127.0.0.1',
        port: 0,
        tls: { cert: cluster.certificate, key: cluster.privateKey },
        logger: silentLogger,
        ...options,
      }),
    client: (port) =>
      wsClient({
        url: `wss://127.0.0.1:${port}/planesync/v1`,
        tls: { cert: cluster.certificate, key: cluster.privateKey },
      }),
    opening: () =>
      Buffer.from(
        'GET /planesync/v1?node_id=n&node_hostname=h&node_version=3.10.0 HTTP/1.1\r\nHost: x\r\n' +
          'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
      ),
  },
};

async function startCp(kind: Kind, options: Parameters<Kind['server']>[0] = {}) {
  const transport = kind.server(options);
  const cp = new ControlPlane({ transport, trust, version: '3.10.0', logger: silentLogger });
  const refusals: string[] = [];
  cp.on('dataPlaneRejected', (rejection) => refusals.push(rejection.code));
  await cp.start();
  stops.push(() => cp.stop());
  return { cp, port: transport.port!, refusals };
}

/** Resolves with what the server sent before it closed `socket`, and when it closed. */
function untilClosed(socket: Socket): Promise<{ received: Buffer; afterMs: number }> {
  const started = Date.now();
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined);
  return new Promise((resolve) =>
    socket.once('close', () =>
      resolve({ received: Buffer.concat(chunks), afterMs: Date.now() - started }),
    ),
  );
}

function tlsPeer(port: number, options: { withCertificate: boolean; maxVersion?: 'TLSv1.2' }) {
  return new Promise<TLSSocket>((resolve, reject) => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port,
      servername: 'kong_clustering',
      rejectUnauthorized: false,
      ...(options.maxVersion ? { maxVersion: options.maxVersion } : {}),
      ...(options.withCertificate ? { cert: cluster.certificate, key: cluster.privateKey } : {}),
    });
    stops.push(() => socket.destroy());
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', reject);
  });
}

describe.each(Object.entries(kinds))('the %s server before a peer is a DP', (name, kind) => {
  it('refuses a peer without a certificate before its first frame and reads nothing more from it', async () => {
    const { port, refusals } = await startCp(kind);
    const socket = await tlsPeer(port, { withCertificate: false });
    const closed = untilClosed(socket);
    // Over WebSocket the verdict comes with the upgrade request (at most 8 KiB of headers).
    if (name === 'ws') socket.write(kind.opening());
    // A 16 MiB frame announced, then streamed: none of it may be buffered by the server.
    socket.write(frameHeader(16 * 1024 * 1024));
    socket.write(Buffer.alloc(1024 * 1024, 0x41));
    const { received } = await closed;
    expect(refusals).toEqual(['TRUST_NO_CERTIFICATE']);
    // TCP: a close frame naming the refusal; WebSocket: an HTTP 403 naming it.
    expect(received.toString('latin1')).toContain('TRUST_NO_CERTIFICATE');
    if (name === 'ws') expect(received.toString('latin1')).toMatch(/^HTTP\/1\.1 403/);
  });

  it('drops a socket that never sends a ClientHello after handshakeTimeoutMs', async () => {
    const { port } = await startCp(kind, { handshakeTimeoutMs: TIMEOUT_MS });
    const socket = netConnect({ host: '127.0.0.1', port });
    stops.push(() => socket.destroy());
    const { afterMs } = await untilClosed(socket);
    expect(afterMs).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    expect(afterMs).toBeLessThan(TIMEOUT_MS + 2_000);
  });

  it('drops a trusted peer that completes TLS and then says nothing, after handshakeTimeoutMs', async () => {
    const { port } = await startCp(kind, { handshakeTimeoutMs: TIMEOUT_MS });
    const socket = await tlsPeer(port, { withCertificate: true });
    const { afterMs } = await untilClosed(socket);
    expect(afterMs).toBeLessThan(TIMEOUT_MS + 2_000);
  });

  it('keeps at most maxPendingConnections peers handshaking, dropping the oldest; a DP still connects', async () => {
    const { cp, port } = await startCp(kind, { maxPendingConnections: 5 });
    const idle = Array.from({ length: 20 }, () => netConnect({ host: '127.0.0.1', port }));
    for (const socket of idle) stops.push(() => socket.destroy());
    const closes = idle.map((socket) => untilClosed(socket));
    await Promise.all(closes.slice(0, 15));
    const dp = new DataPlane({
      transport: kind.client(port),
      trust,
      version: '3.10.0',
      logger: silentLogger,
    });
    stops.push(() => dp.stop());
    const connected = new Promise((resolve) => dp.once('connected', resolve));
    await dp.start();
    await connected;
    expect(cp.dataPlanes()).toHaveLength(1);
  });

  it('a host logger that throws never ends the server: a peer that is not TLS at all is dropped', async () => {
    const boom = () => {
      throw new Error('logger sink is broken');
    };
    const logger: Logger = { error: boom, warn: boom, info: boom, debug: boom };
    const { port } = await startCp(kind, { logger, handshakeTimeoutMs: TIMEOUT_MS });
    const socket = netConnect({ host: '127.0.0.1', port });
    stops.push(() => socket.destroy());
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await untilClosed(socket);
    const refused = await tlsPeer(port, { withCertificate: false });
    if (name === 'ws') refused.write(kind.opening());
    await untilClosed(refused);
  });

  it('refuses TLS renegotiation', async () => {
    const { port } = await startCp(kind);
    const socket = await tlsPeer(port, { withCertificate: true, maxVersion: 'TLSv1.2' });
    socket.resume(); // read what the server answers: the refusal is an alert
    socket.on('error', () => undefined);
    socket.write(kind.opening());
    const outcome = await new Promise<string>((resolve) => {
      socket.once('close', () => resolve('closed'));
      const asked = socket.renegotiate({}, (error) => resolve(error ? 'refused' : 'renegotiated'));
      if (!asked) resolve('refused');
    });
    expect(outcome).not.toBe('renegotiated');
  });
});

describe('the WebSocket server before the upgrade', () => {
  it('answers request headers over 8 KiB with 431 and never upgrades', async () => {
    const { port } = await startCp(kinds.ws);
    const socket = await tlsPeer(port, { withCertificate: true });
    const closed = untilClosed(socket);
    socket.write(
      `GET /planesync/v1 HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(16 * 1024)}\r\n\r\n`,
    );
    expect((await closed).received.toString('latin1')).toMatch(/^HTTP\/1\.1 431/);
  });
});

describe('the TCP server before the preface', () => {
  it('refuses a preface over 8 KiB without buffering it', async () => {
    const { cp, port } = await startCp(kinds.tcp);
    const socket = await tlsPeer(port, { withCertificate: true });
    const closed = untilClosed(socket);
    socket.write(frameHeader(64 * 1024));
    socket.write(Buffer.alloc(64 * 1024, 0x7b));
    await closed;
    expect(cp.dataPlanes()).toEqual([]);
  });
});
