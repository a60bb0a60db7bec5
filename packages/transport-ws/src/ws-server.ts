import { createServer, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import {
  type AbortOptions,
  type ConnectionHandler,
  DEFAULT_MAX_PAYLOAD_BYTES,
  type ListenInfo,
  TransportFailedError,
  type TransportServer,
  throwIfAborted,
} from '@planesync/core';
import {
  closeServer,
  listenOn,
  peerCertificateChain,
  type TlsIdentity,
  tlsIdentityOptions,
} from '@planesync/transport-tcp';
import { WebSocketServer } from 'ws';
import { WsConnection } from './ws-connection.ts';

/** The query parameters every upgrade request must carry, as Kong's `/v1/outlet`. */
export const REQUIRED_QUERY = ['node_id', 'node_hostname', 'node_version'] as const;

/** Options of {@link wsServer}. */
export interface WsServerOptions {
  /** Default `127.0.0.1`. */
  host?: string;
  /** `0` picks a free port. Default 8005, Kong's `cluster_listen`. */
  port?: number;
  /** The CP's certificate (chain) and key. */
  tls: TlsIdentity;
  /** Default `/planesync/v1`. */
  path?: string;
  /** Largest message accepted (ws's own `maxPayload`); default 16 MiB. */
  maxPayloadBytes?: number;
}

/** A WebSocket server, with the port it bound (kept after `close`). */
export interface WsTransportServer extends TransportServer {
  readonly port: number | undefined;
}

/**
 * The CP side of WebSocket over mutual TLS: `wss://host:port/planesync/v1?node_id=…&node_hostname=…&node_version=…`.
 * Requests every client's certificate and hands the chain to core; refuses a wrong path
 * (404) or an upgrade without the node's query parameters (400).
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
  let server: Server | undefined;
  let sockets: WebSocketServer | undefined;
  let boundPort: number | undefined;
  const connections = new Set<WsConnection>();

  return {
    get port() {
      return boundPort;
    },

    async listen(
      onConnection: ConnectionHandler,
      listenOptions: AbortOptions = {},
    ): Promise<ListenInfo> {
      throwIfAborted(listenOptions.signal);
      if (server?.listening)
        throw new TransportFailedError('the WebSocket server is already listening');
      const https = createServer({
        ...identity,
        requestCert: true,
        rejectUnauthorized: false,
        minVersion: 'TLSv1.2',
      });
      const wss = new WebSocketServer({
        noServer: true,
        maxPayload: maxPayloadBytes,
        perMessageDeflate: false,
      });
      https.on('request', (_request, response) => {
        response.writeHead(426, { Upgrade: 'websocket' }).end();
      });
      https.on('upgrade', (request, socket, head) => {
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
        wss.handleUpgrade(request, socket, head, (ws) => {
          const tlsSocket = request.socket as TLSSocket;
          const metadata = Object.fromEntries(
            REQUIRED_QUERY.map((name) => [name, url.searchParams.get(name)!]),
          );
          const connection = new WsConnection(ws, {
            remoteAddress: `${tlsSocket.remoteAddress}:${tlsSocket.remotePort}`,
            peerCertificates: peerCertificateChain(tlsSocket),
            metadata,
            maxPayloadBytes,
          });
          connections.add(connection);
          void connection.closed.then(() => connections.delete(connection));
          onConnection(connection);
        });
      });
      https.on('tlsClientError', (_error, socket) => socket.destroy());
      const info = await listenOn(https, options.port ?? 8005, options.host ?? '127.0.0.1');
      server = https;
      sockets = wss;
      boundPort = info.port;
      return info;
    },

    async close(): Promise<void> {
      const closing = server;
      server = undefined;
      const done = closeServer(closing, connections);
      sockets?.close();
      // HTTPS sockets that never upgraded would hold the server open.
      closing?.closeAllConnections();
      await done;
    },
  };
}

function refuse(
  socket: { end(data: string): void },
  status: number,
  text: string,
  body = text,
): void {
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
