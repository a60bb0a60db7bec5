import { Agent } from 'node:https';
import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import {
  AbortedError,
  type Clock,
  CloseCode,
  type Connection,
  type ConnectOptions,
  defaultLogger,
  InvalidArgumentError,
  type Logger,
  PeerRefusedError,
  PlanesyncError,
  type TransportClient,
  TransportFailedError,
  type TransportFeatures,
} from '@planesync/core';
import {
  checkConnectOptions,
  DEFAULT_MAX_PAYLOAD_BYTES,
  dialRequestQuery,
  queryRecord,
  throwIfAborted,
} from '@planesync/core/transport';
import {
  checkedIdentityOptions,
  dialedName,
  dialTls,
  formatAddress,
  localCertificateChain,
  type ProxyOptions,
  peerCertificateChain,
  type TlsIdentity,
  withDeadline,
} from '@planesync/node-tls';
import { WebSocket } from 'ws';
import { WsConnection } from './ws-connection.ts';

/** What a WebSocket carries besides binary frames: an upgrade request, ping and pong frames. */
export const WS_FEATURES: TransportFeatures = Object.freeze({ request: true, controlFrames: true });

/** Options of {@link wsClient}. */
export interface WsClientOptions {
  /**
   * `wss://cp.cluster.internal:8005/planesync/v1`, or the CP's address as Kong's
   * `cluster_control_plane` writes it — `cp.cluster.internal:8005` — for the default path.
   * A connect's `request.path` replaces the path; its query follows the URL's own.
   */
  url: string;
  /** This DP's certificate (chain, leaf first: include the intermediates) and key. */
  tls: TlsIdentity;
  /** TLS server name (SNI); default the URL's host, or `kong_clustering` when it is an IP. */
  serverName?: string;
  /** Reach the CP through an HTTP CONNECT forward proxy. */
  proxy?: ProxyOptions;
  /** Largest message accepted from the CP (ws's `maxPayload`); default 16 MiB. */
  maxPayloadBytes?: number;
  /** The dial — proxy tunnel, TLS handshake, upgrade — at most this long. Default 30 000 ms. */
  connectTimeoutMs?: number;
  /** The clock `connectTimeoutMs` reads; a `FakeClock` in tests. Default the system clock. */
  clock?: Clock;
  /** Allow a plain `ws://` URL (tests only: no TLS, no certificates). */
  insecure?: boolean;
  /** Where an `onControl` listener that throws is logged. Default `defaultLogger`. */
  logger?: Logger;
}

/**
 * The DP side of WebSocket over mutual TLS. The TLS socket (and the proxy tunnel) is dialed
 * by `@planesync/node-tls`'s `dialTls`, as the TCP transport's is. A connect's `request`
 * sets the upgrade's path, query (percent-encoded, or raw with `encodeQuery: false`, as
 * Kong's `/v1/outlet?node_id=…` is) and subprotocol; `pings: 'manual'` turns ws's automatic
 * pongs off and hands every ping and pong to `onControl`. The deprecated `metadata` travels as
 * query parameters after `request.query`'s.
 *
 * @example
 * ```ts
 * import { wsClient } from '@planesync/transport-ws';
 * const transport = wsClient({
 *   url: 'wss://cp.cluster.internal:8005/planesync/v1',
 *   tls: { cert: ['/cluster/dp.crt', '/cluster/intermediate.crt'], key: '/cluster/dp.key' },
 * });
 * ```
 */
export function wsClient(options: WsClientOptions): TransportClient {
  const base = controlPlaneUrl(options.url);
  if (base.protocol !== 'wss:' && !(base.protocol === 'ws:' && options.insecure)) {
    throw new InvalidArgumentError(
      `a planesync WebSocket URL is wss:// (ws:// only with insecure: true), got ${base.protocol}`,
    );
  }
  const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  const host = base.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(base.port || (base.protocol === 'wss:' ? 443 : 80));
  const timeoutMs = options.connectTimeoutMs ?? 30_000;
  const logger = options.logger ?? defaultLogger;

  /** Dials, upgrades and resolves with the WebSocket and the socket under it. */
  async function open(
    target: string,
    subprotocol: string | undefined,
    pings: 'auto' | 'manual',
    signal: AbortSignal,
  ): Promise<{ ws: WebSocket; socket: Writable | undefined; dialed: TLSSocket | undefined }> {
    let dialed: TLSSocket | undefined;
    let socket: Writable | undefined;
    const agent =
      base.protocol === 'wss:'
        ? new (class extends Agent {
            override createConnection(
              _: unknown,
              callback?: (error: Error | null, socket: Socket) => void,
            ) {
              dialTls({
                host,
                port,
                tls,
                ...(options.serverName ? { serverName: options.serverName } : {}),
                ...(options.proxy ? { proxy: options.proxy } : {}),
                // the deadline is the whole connect's, held by `signal`
                timeoutMs: Number.POSITIVE_INFINITY,
                signal,
              }).then(
                (tlsSocket) => {
                  dialed = tlsSocket;
                  callback?.(null, tlsSocket);
                },
                (error: Error) => callback?.(error, undefined as unknown as Socket),
              );
              return undefined as unknown as Socket;
            }
          })({ keepAlive: false })
        : undefined;
    const ws = new WebSocket(target, subprotocol === undefined ? [] : [subprotocol], {
      ...(agent ? { agent } : {}),
      perMessageDeflate: false,
      maxPayload: maxPayloadBytes,
      autoPong: pings === 'auto',
    });
    ws.once('upgrade', (response) => {
      socket = response.socket;
    });
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        ws.terminate();
        reject(new AbortedError(undefined, { cause: signal.reason }));
      };
      if (signal.aborted) onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      ws.once('open', () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
      ws.once('unexpected-response', (_request, response) => {
        signal.removeEventListener('abort', onAbort);
        const status = response.statusCode ?? 0;
        // The body names the refusal (a TRUST_* code …); read at most 1 KiB of it.
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          if (body.length < 1024) body += chunk;
        });
        const settle = () => {
          ws.terminate();
          const reason = body.slice(0, 123).trim();
          if (status === 403 || status === 503)
            reject(
              new PeerRefusedError(
                status === 503 ? CloseCode.TRY_AGAIN_LATER : CloseCode.POLICY_VIOLATION,
                reason || `HTTP ${status}`,
              ),
            );
          else
            reject(
              new TransportFailedError(
                `the control plane refused the upgrade: HTTP ${status}${reason ? ` (${reason})` : ''}`,
              ),
            );
        };
        response.once('end', settle);
        response.once('error', settle);
        response.once('close', settle);
      });
      // `on`, not `once`: a terminated handshake may report more than one error.
      ws.on('error', (error) => {
        signal.removeEventListener('abort', onAbort);
        // dialTls already speaks planesync errors (TRANSPORT_FAILED, PROXY_REFUSED, ABORTED).
        reject(
          error instanceof PlanesyncError
            ? error
            : new TransportFailedError(`cannot connect to ${base.host}: ${error.message}`, {
                cause: error,
              }),
        );
      });
    });
    return { ws, socket: socket ?? dialed, dialed };
  }

  // Read at each dial (a file path is read again), replaced by setIdentity.
  let tls: TlsIdentity = options.tls;
  return {
    features: WS_FEATURES,

    setIdentity(next: TlsIdentity) {
      checkedIdentityOptions(next);
      tls = next;
    },

    async connect(connectOptions: ConnectOptions = {}): Promise<Connection> {
      throwIfAborted(connectOptions.signal);
      checkConnectOptions(WS_FEATURES, connectOptions, 'wsClient');
      const path = connectOptions.request?.path ?? base.pathname;
      const rawQuery = dialRequestQuery(connectOptions, base.search.slice(1));
      const pathAndQuery = rawQuery === '' ? path : `${path}?${rawQuery}`;
      const target = `${base.protocol}//${base.host}${pathAndQuery}`;
      // ws parses the URL again: it must carry the path and query exactly as they were built.
      const parsed = new URL(target);
      if (`${parsed.pathname}${parsed.search}` !== pathAndQuery)
        throw new InvalidArgumentError(
          `the upgrade request ${pathAndQuery} would be sent as ${parsed.pathname}${parsed.search}`,
        );
      const pings = connectOptions.pings ?? 'auto';
      const { ws, socket, dialed } = await withDeadline(
        { timeoutMs, clock: options.clock, signal: connectOptions.signal },
        (signal) => open(target, connectOptions.request?.subprotocol, pings, signal),
        (cause) =>
          new TransportFailedError(
            `cannot connect to ${base.host}: no WebSocket upgrade within ${timeoutMs} ms`,
            { cause },
          ),
      );
      if (!socket) {
        ws.terminate();
        throw new TransportFailedError(
          `cannot connect to ${base.host}: no socket under the upgrade`,
        );
      }
      return new WsConnection(
        ws,
        socket,
        {
          remoteAddress: formatAddress(host, port),
          peerCertificates: dialed ? peerCertificateChain(dialed) : [],
          localCertificates: dialed ? localCertificateChain(dialed) : [],
          metadata: queryRecord(rawQuery),
          request: { path, rawQuery, subprotocol: ws.protocol || undefined },
          maxPayloadBytes,
          serverName: dialedName({ host, serverName: options.serverName }),
        },
        { pings, logger },
      );
    },
  };
}

/** A `wss://` URL, or Kong's `host:port` (then `wss://host:port/planesync/v1`). */
function controlPlaneUrl(url: string): URL {
  if (typeof url === 'string' && !/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    if (/^(\[[^\]]+\]|[^:/\s]+):\d{1,5}$/.test(url)) return new URL(`wss://${url}/planesync/v1`);
    throw new InvalidArgumentError(
      `the control plane is a wss:// URL or host:port, got ${JSON.stringify(url)}`,
    );
  }
  try {
    return new URL(url);
  } catch (error) {
    throw new InvalidArgumentError(`${JSON.stringify(url)} is not a URL`, { cause: error });
  }
}
