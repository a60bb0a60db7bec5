import {
  type Clock,
  type Connection,
  type ConnectOptions,
  InvalidArgumentError,
  type TransportClient,
} from '@planesync/core';
import {
  checkConnectOptions,
  DEFAULT_MAX_PAYLOAD_BYTES,
  FRAMES_ONLY,
} from '@planesync/core/transport';
import {
  checkedIdentityOptions,
  dialedName,
  dialTls,
  type ProxyOptions,
  type TlsIdentity,
} from '@planesync/node-tls';
import { FrameDecoder, frameHeader, MAX_PREFACE_BYTES } from './framing.ts';
import { TcpConnection } from './tcp-connection.ts';

/** Options of {@link tcpClient}. */
export interface TcpClientOptions {
  /** The CP's host — or its address as Kong's `cluster_control_plane` writes it, `host:port`. */
  host: string;
  /** Default: the port in `host` (`cp.internal:8005`); required otherwise. */
  port?: number;
  /** This DP's certificate (chain, leaf first: include the intermediates) and key. */
  tls: TlsIdentity;
  /** TLS server name (SNI); default the host, or `kong_clustering` when the host is an IP. */
  serverName?: string;
  /** Reach the CP through an HTTP CONNECT forward proxy. */
  proxy?: ProxyOptions;
  /** Largest frame accepted from the CP; default 16 MiB. */
  maxPayloadBytes?: number;
  /** The whole dial — proxy tunnel and TLS handshake — at most this long. Default 30 000 ms. */
  connectTimeoutMs?: number;
  /** The clock `connectTimeoutMs` reads; a `FakeClock` in tests. Default the system clock. */
  clock?: Clock;
}

/**
 * The DP side of TLS over TCP: dials the CP (through a forward proxy when asked), presents
 * its certificate chain, sends its metadata as the first frame (the preface: a connect's
 * `request.query` pairs, then the deprecated `metadata`, as a JSON object of strings). It
 * carries frames only (`features` is `FRAMES_ONLY`): a connect asking for a request path, a
 * subprotocol or manual pings is refused with `INVALID_ARGUMENT`.
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
  const { host, port } = hostAndPort(options.host, options.port);
  // Read at each dial (a file path is read again), replaced by setIdentity.
  let tls: TlsIdentity = options.tls;
  return {
    features: FRAMES_ONLY,

    setIdentity(next: TlsIdentity) {
      checkedIdentityOptions(next);
      tls = next;
    },

    async connect(connectOptions: ConnectOptions = {}): Promise<Connection> {
      checkConnectOptions(FRAMES_ONLY, connectOptions, 'tcpClient');
      const metadata = {
        ...Object.fromEntries(connectOptions.request?.query ?? []),
        ...(connectOptions.metadata ?? {}),
      };
      const preface = Buffer.from(JSON.stringify(metadata), 'utf8');
      if (preface.length > MAX_PREFACE_BYTES)
        throw new InvalidArgumentError(
          `the metadata takes ${preface.length} bytes; a TCP preface holds at most ${MAX_PREFACE_BYTES}`,
        );
      const socket = await dialTls({
        host,
        port,
        tls,
        ...(options.serverName ? { serverName: options.serverName } : {}),
        ...(options.proxy ? { proxy: options.proxy } : {}),
        ...(options.connectTimeoutMs ? { timeoutMs: options.connectTimeoutMs } : {}),
        ...(options.clock ? { clock: options.clock } : {}),
        ...(connectOptions.signal ? { signal: connectOptions.signal } : {}),
      });
      socket.write(Buffer.concat([frameHeader(preface.length), preface]));
      return new TcpConnection(socket, new FrameDecoder(maxPayloadBytes), {
        metadata,
        maxPayloadBytes,
        serverName: dialedName({ host, serverName: options.serverName }),
      });
    },
  };
}

/** `host` and `port`, or both from a `host:port` (`[::1]:8005` for IPv6). */
function hostAndPort(host: string, port: number | undefined): { host: string; port: number } {
  const joined = /^(\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(host);
  if (joined && port === undefined)
    return { host: joined[2] ?? joined[3]!, port: Number(joined[4]) };
  if (port === undefined || !Number.isInteger(port) || port < 1 || port > 65_535)
    throw new InvalidArgumentError(
      `tcpClient needs a port: give port, or host as host:port (got host ${JSON.stringify(host)})`,
    );
  return { host, port };
}
