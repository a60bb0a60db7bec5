import { createServer, type Server, type TLSSocket } from 'node:tls';
import {
  type AbortOptions,
  type ConnectionHandler,
  DEFAULT_MAX_PAYLOAD_BYTES,
  type ListenInfo,
  TransportFailedError,
  type TransportServer,
  throwIfAborted,
} from '@planesync/core';
import { FrameDecoder, type FrameEvent } from './framing.ts';
import { closeServer, listenOn } from './server-lifecycle.ts';
import { TcpConnection } from './tcp-connection.ts';
import { type TlsIdentity, tlsIdentityOptions } from './tls-options.ts';

/** Options of {@link tcpServer}. */
export interface TcpServerOptions {
  /** Default `127.0.0.1`. */
  host?: string;
  /** `0` picks a free port (see `port` once listening). Default 8005, Kong's `cluster_listen`. */
  port?: number;
  /** The CP's certificate (chain) and key. */
  tls: TlsIdentity;
  /** Largest frame accepted; default 16 MiB. */
  maxPayloadBytes?: number;
  /** A client that has not sent its preface after this long is dropped. Default 10 000 ms. */
  handshakeTimeoutMs?: number;
}

/** A TCP server, with the port it bound (kept after `close`, so a restart can reuse it). */
export interface TcpTransportServer extends TransportServer {
  readonly port: number | undefined;
}

/**
 * The CP side of TLS over TCP: asks every client for its certificate and hands the chain to
 * core (the acceptance decision is the TrustVerifier's), reads length-prefixed frames.
 *
 * @example
 * ```ts
 * import { tcpServer } from '@planesync/transport-tcp';
 * const transport = tcpServer({ port: 8005, tls: { cert: '/cluster/cluster.crt', key: '/cluster/cluster.key' } });
 * ```
 */
export function tcpServer(options: TcpServerOptions): TcpTransportServer {
  const identity = tlsIdentityOptions(options.tls);
  const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  const handshakeTimeoutMs = options.handshakeTimeoutMs ?? 10_000;
  let server: Server | undefined;
  let boundPort: number | undefined;
  const connections = new Set<TcpConnection>();
  const awaitingPreface = new Set<TLSSocket>();

  return {
    get port() {
      return boundPort;
    },

    async listen(
      onConnection: ConnectionHandler,
      listenOptions: AbortOptions = {},
    ): Promise<ListenInfo> {
      throwIfAborted(listenOptions.signal);
      if (server?.listening) throw new TransportFailedError('the TCP server is already listening');
      const created = createServer({
        ...identity,
        requestCert: true,
        rejectUnauthorized: false,
        minVersion: 'TLSv1.2',
      });
      created.on('secureConnection', (socket) => {
        awaitingPreface.add(socket);
        socket.once('close', () => awaitingPreface.delete(socket));
        acceptPreface(socket, maxPayloadBytes, handshakeTimeoutMs, (metadata, pending, decoder) => {
          awaitingPreface.delete(socket);
          const connection = new TcpConnection(
            socket,
            decoder,
            { metadata, maxPayloadBytes },
            pending,
          );
          connections.add(connection);
          void connection.closed.then(() => connections.delete(connection));
          onConnection(connection);
        });
      });
      created.on('tlsClientError', (_error, socket) => socket.destroy());
      const info = await listenOn(created, options.port ?? 8005, options.host ?? '127.0.0.1');
      server = created;
      boundPort = info.port;
      return info;
    },

    async close(): Promise<void> {
      const closing = server;
      server = undefined;
      // Clients still owing their preface hold no connection: drop them, or close never ends.
      for (const socket of awaitingPreface) socket.destroy();
      await closeServer(closing, connections);
    },
  };
}

/** Reads the client's first frame — its metadata as JSON — then hands the connection over. */
function acceptPreface(
  socket: TLSSocket,
  maxPayloadBytes: number,
  timeoutMs: number,
  accept: (metadata: Record<string, string>, pending: FrameEvent[], decoder: FrameDecoder) => void,
): void {
  const decoder = new FrameDecoder(maxPayloadBytes);
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  const onData = (chunk: Buffer) => {
    const events = decoder.push(chunk);
    if (events.length === 0) return;
    socket.off('data', onData);
    socket.pause();
    clearTimeout(timer);
    const [first, ...rest] = events;
    const metadata = first?.kind === 'frame' ? parseMetadata(first.frame) : undefined;
    if (!metadata) {
      socket.destroy();
      return;
    }
    accept(metadata, rest, decoder);
    socket.resume();
  };
  socket.on('data', onData);
  socket.once('close', () => clearTimeout(timer));
}

function parseMetadata(frame: Uint8Array): Record<string, string> | undefined {
  try {
    const value = JSON.parse(Buffer.from(frame).toString('utf8')) as unknown;
    if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length > 64 || entries.some(([, v]) => typeof v !== 'string' || v.length > 1024))
      return undefined;
    return Object.fromEntries(entries) as Record<string, string>;
  } catch {
    return undefined;
  }
}
