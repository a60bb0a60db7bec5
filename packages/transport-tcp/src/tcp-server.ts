import { createServer, type Server, type TLSSocket } from 'node:tls';
import {
  type ConnectionHandler,
  defaultLogger,
  type ListenInfo,
  type ListenOptions,
  TransportFailedError,
  type TransportServer,
} from '@planesync/core';
import {
  checkRoutes,
  DEFAULT_MAX_PAYLOAD_BYTES,
  FRAMES_ONLY,
  logSafely,
  throwIfAborted,
} from '@planesync/core/transport';
import {
  checkedIdentityOptions,
  closeServer,
  formatAddress,
  HandshakeGuard,
  type HandshakeLimits,
  listenOn,
  replaceServerIdentity,
  serverPeerCertificateChain,
  TLS_HARDENING,
  type TlsIdentity,
} from '@planesync/node-tls';
import { closeFrame, FrameDecoder, type FrameEvent, MAX_PREFACE_BYTES } from './framing.ts';
import { TcpConnection } from './tcp-connection.ts';

/** Options of {@link tcpServer}. */
export interface TcpServerOptions extends HandshakeLimits {
  /** Default `127.0.0.1`. */
  host?: string;
  /** `0` picks a free port (see `port` once listening). Default 8005, Kong's `cluster_listen`. */
  port?: number;
  /** The CP's certificate (chain) and key. */
  tls: TlsIdentity;
  /** Largest frame accepted from an admitted peer; default 16 MiB. */
  maxPayloadBytes?: number;
}

/** A TCP server, with the port it bound (kept after `close`, so a restart can reuse it). */
export interface TcpTransportServer extends TransportServer {
  readonly port: number | undefined;
}

/**
 * The CP side of TLS over TCP: asks every client for its certificate and hands the chain to
 * core's pre-accept step (`admit`) the moment the handshake ends — a peer core refuses gets a
 * close frame and is never read from. An admitted client has `handshakeTimeoutMs` to send its
 * preface (at most 8 KiB) before its connection is handed over; frames after it are
 * length-prefixed, up to `maxPayloadBytes`. Renegotiation is refused. A silent refusal
 * (`silent: true`) drops the socket without the close frame. It carries frames only
 * (`features` is `FRAMES_ONLY`): `listen` refuses more than one route, or a route with a
 * subprotocol or manual pings, with `INVALID_ARGUMENT`.
 *
 * @example
 * ```ts
 * import { tcpServer } from '@planesync/transport-tcp';
 * const transport = tcpServer({ port: 8005, tls: { cert: '/cluster/cluster.crt', key: '/cluster/cluster.key' } });
 * ```
 */
export function tcpServer(options: TcpServerOptions): TcpTransportServer {
  let identity = checkedIdentityOptions(options.tls);
  const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  const logger = options.logger ?? defaultLogger;
  let server: Server | undefined;
  let guard: HandshakeGuard | undefined;
  let boundPort: number | undefined;
  const connections = new Set<TcpConnection>();

  return {
    features: FRAMES_ONLY,

    get port() {
      return boundPort;
    },

    setIdentity(next: TlsIdentity) {
      identity = replaceServerIdentity(server, next, options.tls);
    },

    async listen(
      onConnection: ConnectionHandler,
      listenOptions: ListenOptions = {},
    ): Promise<ListenInfo> {
      throwIfAborted(listenOptions.signal);
      if (server?.listening) throw new TransportFailedError('the TCP server is already listening');
      checkRoutes(FRAMES_ONLY, listenOptions.routes, [], 'tcpServer');
      const watch = new HandshakeGuard(options);
      const created = createServer({
        ...identity,
        ...TLS_HARDENING,
        requestCert: true,
        rejectUnauthorized: false,
        handshakeTimeout: watch.timeoutMs,
      });
      watch.watch(created);
      created.on('secureConnection', (socket) => {
        const admission = listenOptions.admit?.({
          remoteAddress: formatAddress(socket.remoteAddress, socket.remotePort),
          peerCertificates: serverPeerCertificateChain(socket),
        });
        if (admission && !admission.accept) {
          watch.settled(socket);
          if (admission.silent) socket.destroy();
          else refuse(socket, watch, admission.code, admission.reason);
          logSafely(
            logger,
            'debug',
            {
              remoteAddress: socket.remoteAddress,
              reason: admission.reason,
              silent: admission.silent === true,
            },
            'refused a peer',
          );
          return;
        }
        acceptPreface(
          socket,
          (metadata, pending, decoder) => {
            watch.settled(socket);
            const connection = new TcpConnection(
              socket,
              decoder,
              // The chain read at admission: on Node before 26, a second read would see less.
              { metadata, maxPayloadBytes, peerCertificates: serverPeerCertificateChain(socket) },
              pending,
            );
            connections.add(connection);
            void connection.closed.then(() => connections.delete(connection));
            onConnection(connection);
          },
          maxPayloadBytes,
        );
      });
      const info = await listenOn(created, options.port ?? 8005, options.host ?? '127.0.0.1');
      server = created;
      guard = watch;
      boundPort = info.port;
      return info;
    },

    async close(): Promise<void> {
      const closing = server;
      server = undefined;
      // Peers still handshaking hold no connection: drop them, or close never ends.
      guard?.dropAll();
      await closeServer(closing, connections);
    },
  };
}

/** Tells a refused peer why (a close frame), reads nothing more, and lets the socket go. */
function refuse(socket: TLSSocket, guard: HandshakeGuard, code: number, reason: string): void {
  socket.pause();
  socket.end(closeFrame(code, reason));
  guard.dropLater(socket);
}

/**
 * Reads the client's first frame — its metadata as JSON, at most 8 KiB — then hands the
 * connection over with a decoder for frames up to `maxPayloadBytes`. The handshake guard's
 * deadline covers the wait.
 */
function acceptPreface(
  socket: TLSSocket,
  accept: (metadata: Record<string, string>, pending: FrameEvent[], decoder: FrameDecoder) => void,
  maxPayloadBytes: number,
): void {
  const preface = new FrameDecoder(MAX_PREFACE_BYTES, 1);
  const onData = (chunk: Buffer) => {
    const events = preface.push(chunk);
    if (events.length === 0) return;
    socket.off('data', onData);
    socket.pause();
    const [first] = events;
    const metadata = first?.kind === 'frame' ? parseMetadata(first.frame) : undefined;
    if (!metadata) {
      socket.destroy();
      return;
    }
    // Bytes that came with the preface belong to the frames after it.
    const decoder = new FrameDecoder(maxPayloadBytes);
    const pending = decoder.push(preface.rest());
    accept(metadata, pending, decoder);
    socket.resume();
  };
  socket.on('data', onData);
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
