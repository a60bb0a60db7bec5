import {
  type Connection,
  type ConnectOptions,
  DEFAULT_MAX_PAYLOAD_BYTES,
  type TransportClient,
} from '@planesync/core';
import { dialedName, dialTls } from './dial.ts';
import { FrameDecoder, frameHeader } from './framing.ts';
import { TcpConnection } from './tcp-connection.ts';
import type { TlsIdentity } from './tls-options.ts';
import type { ProxyOptions } from './tunnel.ts';

/** Options of {@link tcpClient}. */
export interface TcpClientOptions {
  host: string;
  port: number;
  /** This DP's certificate (chain, leaf first: include the intermediates) and key. */
  tls: TlsIdentity;
  /** TLS server name (SNI); default the host, or `kong_clustering` when the host is an IP. */
  serverName?: string;
  /** Reach the CP through an HTTP CONNECT forward proxy. */
  proxy?: ProxyOptions;
  /** Largest frame accepted from the CP; default 16 MiB. */
  maxPayloadBytes?: number;
}

/**
 * The DP side of TLS over TCP: dials the CP (through a forward proxy when asked), presents
 * its certificate chain, sends its metadata as the first frame.
 *
 * @example
 * ```ts
 * import { tcpClient } from '@planesync/transport-tcp';
 * const transport = tcpClient({
 *   host: 'cp.cluster.internal', port: 8005,
 *   tls: { cert: '/cluster/dp.crt', key: '/cluster/dp.key' },
 *   proxy: { url: 'http://user:secret@proxy.internal:3128' },
 * });
 * ```
 */
export function tcpClient(options: TcpClientOptions): TransportClient {
  const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  return {
    async connect(connectOptions: ConnectOptions = {}): Promise<Connection> {
      const socket = await dialTls({
        host: options.host,
        port: options.port,
        tls: options.tls,
        ...(options.serverName ? { serverName: options.serverName } : {}),
        ...(options.proxy ? { proxy: options.proxy } : {}),
        ...(connectOptions.signal ? { signal: connectOptions.signal } : {}),
      });
      const metadata = { ...(connectOptions.metadata ?? {}) };
      const preface = Buffer.from(JSON.stringify(metadata), 'utf8');
      socket.write(Buffer.concat([frameHeader(preface.length), preface]));
      return new TcpConnection(socket, new FrameDecoder(maxPayloadBytes), {
        metadata,
        maxPayloadBytes,
        serverName: dialedName(options),
      });
    },
  };
}
