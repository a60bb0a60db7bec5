import { createServer, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import {
  type ConnectionHandler,
  DEFAULT_MAX_PAYLOAD_BYTES,
  defaultLogger,
  type ListenInfo,
  type ListenOptions,
  logSafely,
  TransportFailedError,
  type TransportServer,
  throwIfAborted,
} from '@planesync/core';
import {
  closeServer,
  formatAddress,
  HandshakeGuard,
  type HandshakeLimits,
  listenOn,
  peerCertificateChain,
  TLS_HARDENING,
  type TlsIdentity,
  tlsIdentityOptions,
} from '@planesync/node-tls';
import { WebSocketServer } from 'ws';
import { WsConnection } from './ws-connection.ts';

/** The query parameters every upgrade request must carry, as Kong's `/v1/outlet`. */
export const REQUIRED_QUERY = ['node_id', 'node_hostname', 'node_version'] as const;

/** The upgrade request's headers are small: a bigger request is refused (431). */
export const MAX_REQUEST_HEADER_BYTES = 8 * 1024;

/** Options of {@link wsServer}. */
export interface WsServerOptions extends HandshakeLimits {
  /** Default `127.0.0.1`. */
  host?: string;
  /** `0` picks a free port. Default 8005, Kong's `cluster_listen`. */
  port?: number;
  /** The CP's certificate (chain) and key. */
  tls: TlsIdentity;
  /** Default `/planesync/v1`. */
  path?: string;
  /** Largest message accepted from an admitted peer (ws's own `maxPayload`); default 16 MiB. */
  maxPayloadBytes?: number;
}

/** A WebSocket server, with the port it bound (kept after `close`). */
export interface WsTransportServer extends TransportServer {
  readonly port: number | undefined;
}

/**
 * The CP side of WebSocket over mutual TLS: `wss://host:port/planesync/v1?node_id=…&node_hostname=…&node_version=…`.
 * Requests every client's certificate and hands the chain, with the upgrade's path and query,
 * to core's pre-accept step (`admit`) as soon as the upgrade request has arrived (at most
 * 8 KiB of headers, within the handshake timeout): a refused peer gets an HTTP answer (403,
 * 503) naming the reason and is never upgraded or read from again. Refuses a wrong path (404), an upgrade
 * without the node's query parameters (400) and request headers over 8 KiB (431). A peer has
 * `handshakeTimeoutMs` from its TCP accept to its upgrade; renegotiation is refused.
 *
 * @example
 * ```ts
 * import { wsServer } from '@planesync/transport-ws';
 * const transport = wsServer({ port: 8005, tls: { cert: '/cluster/cp.crt', key: '/cluster/cp.key' } });
 * ```
 */
export function wsServer(options: WsServerOptions): WsTransportServer {
  const identity = tlsIdentityOptions(options.tls);
  const path = options.path ?? '/planesync/v1';
  const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  const logger = options.logger ?? defaultLogger;
  let server: Server | undefined;
  let sockets: WebSocketServer | undefined;
  let guard: HandshakeGuard | undefined;
  let boundPort: number | undefined;
  const connections = new Set<WsConnection>();

  return {
    get port() {
      return boundPort;
    },

    async listen(
      onConnection: ConnectionHandler,
      listenOptions: ListenOptions = {},
    ): Promise<ListenInfo> {
      throwIfAborted(listenOptions.signal);
      if (server?.listening)
        throw new TransportFailedError('the WebSocket server is already listening');
      const watch = new HandshakeGuard(options);
      const https = createServer({
        ...identity,
        ...TLS_HARDENING,
        requestCert: true,
        rejectUnauthorized: false,
        handshakeTimeout: watch.timeoutMs,
        maxHeaderSize: MAX_REQUEST_HEADER_BYTES,
        headersTimeout: watch.timeoutMs,
        requestTimeout: watch.timeoutMs,
      });
      watch.watch(https);
      const wss = new WebSocketServer({
        noServer: true,
        maxPayload: maxPayloadBytes,
        perMessageDeflate: false,
      });
      https.on('request', (_request, response) => {
        response.writeHead(426, { Upgrade: 'websocket', Connection: 'close' }).end();
      });
      https.on('upgrade', (request, socket, head) => {
        const tlsSocket = request.socket as TLSSocket;
        watch.settled(tlsSocket);
        const url = new URL(request.url ?? '/', 'https://planesync');
        if (url.pathname !== path) return refuse(socket, 404, 'Not Found');
        const missing = REQUIRED_QUERY.filter((name) => !url.searchParams.get(name));
        if (missing.length > 0)
          return refuse(
            socket,
            400,
            'Bad Request',
            `missing query parameters: ${missing.join(', ')}`,
          );
        const remoteAddress = formatAddress(tlsSocket.remoteAddress, tlsSocket.remotePort);
        const peerCertificates = peerCertificateChain(tlsSocket);
        const admission = listenOptions.admit?.({
          remoteAddress,
          peerCertificates,
          request: { path: url.pathname, query: Object.fromEntries(url.searchParams) },
        });
        if (admission && !admission.accept) {
          logSafely(logger, 'debug', { remoteAddress, reason: admission.reason }, 'refused a peer');
          const status = admission.status ?? 403;
          return refuse(socket, status, STATUS_TEXT[status] ?? 'Forbidden', admission.reason);
        }
        wss.handleUpgrade(request, socket, head, (ws) => {
          const metadata = Object.fromEntries(
            REQUIRED_QUERY.map((name) => [name, url.searchParams.get(name)!]),
          );
          const connection = new WsConnection(ws, {
            remoteAddress,
            peerCertificates,
            metadata,
            maxPayloadBytes,
          });
          connections.add(connection);
          void connection.closed.then(() => connections.delete(connection));
          onConnection(connection);
        });
      });
      https.on('clientError', (error, socket) => {
        if (socket.writableEnded) return; // refused already: its answer is on its way
        // A malformed or oversized request before any upgrade: answer if possible, then drop.
        const tooLarge = (error as { code?: string }).code === 'HPE_HEADER_OVERFLOW';
        if (socket.writable)
          socket.end(
            tooLarge
              ? 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n'
              : 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n',
          );
        socket.destroy();
      });
      const info = await listenOn(https, options.port ?? 8005, options.host ?? '127.0.0.1');
      server = https;
      sockets = wss;
      guard = watch;
      boundPort = info.port;
      return info;
    },

    async close(): Promise<void> {
      const closing = server;
      server = undefined;
      const done = closeServer(closing, connections);
      sockets?.close();
      guard?.dropAll();
      // HTTPS sockets that never upgraded would hold the server open.
      closing?.closeAllConnections();
      await done;
    },
  };
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  503: 'Service Unavailable',
};

/** Answers a refused upgrade over HTTP and drops the socket without reading more from it. */
function refuse(
  socket: { end(data: string): void; pause(): void; destroy(): void },
  status: number,
  text: string,
  body = text,
): void {
  socket.pause();
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  setTimeout(() => socket.destroy(), 1_000).unref();
}
