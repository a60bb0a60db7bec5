import { STATUS_CODES } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import {
  type ConnectionHandler,
  defaultLogger,
  type ListenInfo,
  type ListenOptions,
  type Route,
  TransportFailedError,
  type TransportServer,
} from '@planesync/core';
import {
  type ConnectionInit,
  type ConnectionRequest,
  checkRequestPath,
  checkRoutes,
  DEFAULT_MAX_PAYLOAD_BYTES,
  logSafely,
  queryRecord,
  throwIfAborted,
} from '@planesync/core/transport';
import {
  checkedIdentityOptions,
  closeServer,
  formatAddress,
  HandshakeGuard,
  type HandshakeLimits,
  listenOn,
  localCertificateChain,
  replaceServerIdentity,
  serverPeerCertificateChain,
  TLS_HARDENING,
  type TlsIdentity,
} from '@planesync/node-tls';
import { WebSocketServer } from 'ws';
import { WS_FEATURES } from './ws-client.ts';
import { WsConnection } from './ws-connection.ts';

/**
 * The query parameters Kong's `/v1/outlet` carries.
 *
 * @deprecated since 0.2: the server no longer requires them (nothing reads them: the hello
 * carries the same facts), and a protocol declares its query in a connect's `request.query`.
 * Removed in 0.3.0.
 */
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
  /** The path of the one route when `listen` names no `routes`. Default `/planesync/v1`. */
  path?: string;
  /** Largest message accepted from an admitted peer (ws's own `maxPayload`); default 16 MiB. */
  maxPayloadBytes?: number;
}

/** A WebSocket server, with the port it bound (kept after `close`). */
export interface WsTransportServer extends TransportServer {
  readonly port: number | undefined;
}

/** A route and the ws server that upgrades its requests (ws answers pings per server). */
interface Endpoint {
  route: Route;
  sockets: WebSocketServer;
}

/**
 * The CP side of WebSocket over mutual TLS: `wss://host:port/planesync/v1`, or the paths
 * `listen`'s `routes` name, each with the subprotocol it agrees to (none by default) and who
 * answers its pings. Requests every client's certificate and hands the chain, with the
 * upgrade's path and query, to core's pre-accept step (`admit`) as soon as the upgrade request
 * has arrived (at most 8 KiB of headers, within the handshake timeout): a refused peer gets an
 * HTTP answer (403, 503, or the status core names) with the reason as its body — or, for a
 * silent refusal, no answer at all — and is never upgraded or read from again. Answers a path
 * no route names with 404, a subprotocol other than the route's with 400, request headers
 * over 8 KiB with 431. A peer has `handshakeTimeoutMs` from its TCP accept to its upgrade;
 * renegotiation is refused.
 *
 * @example
 * ```ts
 * import { wsServer } from '@planesync/transport-ws';
 * const transport = wsServer({ port: 8005, tls: { cert: '/cluster/cp.crt', key: '/cluster/cp.key' } });
 * ```
 */
export function wsServer(options: WsServerOptions): WsTransportServer {
  let identity = checkedIdentityOptions(options.tls);
  const path = options.path ?? '/planesync/v1';
  checkRequestPath(path);
  const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  const logger = options.logger ?? defaultLogger;
  let server: Server | undefined;
  let endpoints: ReadonlyMap<string, Endpoint> = new Map();
  let guard: HandshakeGuard | undefined;
  let boundPort: number | undefined;
  const connections = new Set<WsConnection>();

  return {
    features: WS_FEATURES,

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
      if (server?.listening)
        throw new TransportFailedError('the WebSocket server is already listening');
      const routes = checkRoutes(WS_FEATURES, listenOptions.routes, [{ path }], 'wsServer');
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
      const byPath = new Map<string, Endpoint>(
        routes.map((route) => [
          route.path,
          {
            route,
            sockets: new WebSocketServer({
              noServer: true,
              maxPayload: maxPayloadBytes,
              perMessageDeflate: false,
              // The server's own set of open connections tracks them; ws's would add a set
              // entry and a close listener (an array of two) for every DP.
              clientTracking: false,
              autoPong: route.pings !== 'manual',
              handleProtocols: () => route.subprotocol ?? false,
            }),
          },
        ]),
      );
      https.on('request', (_request, response) => {
        response.writeHead(426, { Upgrade: 'websocket', Connection: 'close' }).end();
      });
      https.on('upgrade', (request, socket, head) => {
        const tlsSocket = request.socket as TLSSocket;
        watch.settled(tlsSocket);
        const target = request.url ?? '/';
        const url = new URL(target, 'https://planesync');
        const endpoint = byPath.get(url.pathname);
        if (!endpoint) return refuse(socket, watch, 404);
        const refusal = subprotocolRefusal(
          endpoint.route,
          request.headers['sec-websocket-protocol'],
        );
        if (refusal) return refuse(socket, watch, 400, refusal);
        const at = target.indexOf('?');
        const rawQuery = at === -1 ? '' : target.slice(at + 1);
        const query = queryRecord(rawQuery);
        const remoteAddress = formatAddress(tlsSocket.remoteAddress, tlsSocket.remotePort);
        const peerCertificates = serverPeerCertificateChain(tlsSocket);
        const admission = listenOptions.admit?.({
          remoteAddress,
          peerCertificates,
          request: { path: url.pathname, query, rawQuery },
        });
        if (admission && !admission.accept) {
          logSafely(
            logger,
            'debug',
            { remoteAddress, reason: admission.reason, silent: admission.silent === true },
            'refused a peer',
          );
          if (admission.silent) return void socket.destroy();
          return refuse(socket, watch, admission.status ?? 403, admission.reason);
        }
        const connectionRequest: {
          -readonly [K in keyof ConnectionRequest]: ConnectionRequest[K];
        } = {
          // The route's own string (equal to the URL's path): a slice of the URL would keep
          // the whole URL alive for as long as the connection.
          path: endpoint.route.path,
          rawQuery,
        };
        const init: ConnectionInit = {
          remoteAddress,
          peerCertificates,
          localCertificates: localCertificateChain(tlsSocket),
          metadata: query,
          request: connectionRequest,
          maxPayloadBytes,
        };
        const pings = endpoint.route.pings ?? 'auto';
        // Only this callback sees the request's pieces: nothing kept per connection holds them.
        endpoint.sockets.handleUpgrade(request, socket, head, (ws) => {
          connectionRequest.subprotocol = ws.protocol || undefined;
          onConnection(new WsConnection(ws, tlsSocket, init, { pings, logger }, connections));
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
      endpoints = byPath;
      guard = watch;
      boundPort = info.port;
      return info;
    },

    async close(): Promise<void> {
      const closing = server;
      server = undefined;
      const done = closeServer(closing, connections);
      for (const { sockets } of endpoints.values()) sockets.close();
      endpoints = new Map();
      guard?.dropAll();
      // HTTPS sockets that never upgraded would hold the server open.
      closing?.closeAllConnections();
      await done;
    },
  };
}

/**
 * Why the subprotocols a client offers do not fit `route`, or `undefined` when they do: the
 * route's own must be among them, and a route without one takes a client offering none.
 */
function subprotocolRefusal(route: Route, header: string | undefined): string | undefined {
  const offered = (header ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  if (route.subprotocol === undefined)
    return offered.length === 0
      ? undefined
      : `${route.path} agrees to no subprotocol; the client asked for ${offered.join(', ')}`;
  return offered.includes(route.subprotocol)
    ? undefined
    : `${route.path} speaks subprotocol ${route.subprotocol}; the client asked for ${offered.join(', ') || 'none'}`;
}

/** Answers a refused upgrade over HTTP and drops the socket without reading more from it. */
function refuse(
  socket: Duplex,
  guard: HandshakeGuard,
  status: number,
  body = STATUS_CODES[status] ?? 'Refused',
): void {
  socket.pause();
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Refused'}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  guard.dropLater(socket as Socket);
}
