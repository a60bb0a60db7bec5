import { Agent } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import {
  AbortedError,
  CloseCode,
  type Connection,
  type ConnectOptions,
  DEFAULT_MAX_PAYLOAD_BYTES,
  InvalidArgumentError,
  PeerRefusedError,
  PlanesyncError,
  type TransportClient,
  TransportFailedError,
  throwIfAborted,
} from '@planesync/core';
import {
  dialedName,
  dialTls,
  formatAddress,
  type ProxyOptions,
  peerCertificateChain,
  type TlsIdentity,
} from '@planesync/node-tls';
import { WebSocket } from 'ws';
import { WsConnection } from './ws-connection.ts';

/** Options of {@link wsClient}. */
export interface WsClientOptions {
  /**
   * `wss://cp.cluster.internal:8005/planesync/v1`, or the CP's address as Kong's
   * `cluster_control_plane` writes it — `cp.cluster.internal:8005` — for the default path.
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
  /** Allow a plain `ws://` URL (tests only: no TLS, no certificates). */
  insecure?: boolean;
}

/**
 * The DP side of WebSocket over mutual TLS. The TLS socket (and the proxy tunnel) is dialed
 * by the same `dialTls` the TCP transport uses; the node id, hostname and version travel as
 * query parameters of the upgrade, as Kong's `/v1/outlet?node_id=…` does.
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

  return {
    async connect(connectOptions: ConnectOptions = {}): Promise<Connection> {
      const { signal } = connectOptions;
      throwIfAborted(signal);
      const url = new URL(base);
      for (const [key, value] of Object.entries(connectOptions.metadata ?? {}))
        url.searchParams.set(key, value);
      let dialed: TLSSocket | undefined;
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
                  tls: options.tls,
                  ...(options.serverName ? { serverName: options.serverName } : {}),
                  ...(options.proxy ? { proxy: options.proxy } : {}),
                  ...(options.connectTimeoutMs ? { timeoutMs: options.connectTimeoutMs } : {}),
                  ...(signal ? { signal } : {}),
                }).then(
                  (socket) => {
                    dialed = socket;
                    callback?.(null, socket);
                  },
                  (error: Error) => callback?.(error, undefined as unknown as Socket),
                );
                return undefined as unknown as Socket;
              }
            })({ keepAlive: false })
          : undefined;
      const ws = new WebSocket(url, {
        ...(agent ? { agent } : {}),
        perMessageDeflate: false,
        maxPayload: maxPayloadBytes,
        handshakeTimeout: options.connectTimeoutMs ?? 30_000,
      });
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          ws.terminate();
          reject(new AbortedError(undefined, { cause: signal?.reason }));
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        ws.once('open', () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        });
        ws.once('unexpected-response', (_request, response) => {
          signal?.removeEventListener('abort', onAbort);
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
        ws.once('error', (error) => {
          signal?.removeEventListener('abort', onAbort);
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
      return new WsConnection(ws, {
        remoteAddress: formatAddress(host, port),
        peerCertificates: dialed ? peerCertificateChain(dialed) : [],
        metadata: { ...(connectOptions.metadata ?? {}) },
        maxPayloadBytes,
        serverName: dialedName({ host, serverName: options.serverName }),
      });
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
