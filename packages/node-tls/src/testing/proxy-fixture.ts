import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, connect as netConnect, type Socket } from 'node:net';

/** One CONNECT request as the proxy fixture received it. */
export interface ConnectRequest {
  /** The request target, `host:port`. */
  readonly target: string;
  /** The request's headers, names in lower case (`host`, `proxy-authorization`, …). */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Whether the proxy opened the tunnel (`false`: it answered 407). */
  readonly tunnelled: boolean;
}

/** A running proxy fixture. */
export interface ProxyFixture {
  readonly port: number;
  /** Every CONNECT request received, in order, refused ones included. */
  readonly requests: readonly ConnectRequest[];
  /** Closes the proxy and every tunnel through it. */
  close(): Promise<void>;
}

/**
 * A forward proxy on loopback for transport tests: node's http (or, given `tls`, https)
 * server answering CONNECT by piping to the target, recording each request with its headers.
 * With `credentials` (`user:password`) it answers 407 unless the request carries them as
 * `Proxy-Authorization: Basic`.
 *
 * @example
 * ```ts
 * import { startProxy } from '@planesync/node-tls/testing';
 * const proxy = await startProxy({ credentials: 'kong:s3cret' });
 * // dial through `http://kong:s3cret@127.0.0.1:${proxy.port}`, then:
 * console.log(proxy.requests[0]?.headers['proxy-authorization']);
 * await proxy.close();
 * ```
 */
export async function startProxy(
  options: { credentials?: string; tls?: { cert: string; key: string } } = {},
): Promise<ProxyFixture> {
  const requests: ConnectRequest[] = [];
  const sockets = new Set<Socket>();
  const server: Server = options.tls ? createHttpsServer(options.tls) : createHttpServer();
  const expected =
    options.credentials === undefined
      ? undefined
      : `Basic ${Buffer.from(options.credentials).toString('base64')}`;
  server.on('connect', (request, client: Socket, head) => {
    sockets.add(client);
    client.on('error', () => undefined);
    const target = request.url ?? '';
    const allowed = expected === undefined || request.headers['proxy-authorization'] === expected;
    requests.push({ target, headers: { ...request.headers }, tunnelled: allowed });
    if (!allowed) {
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n');
      return;
    }
    const at = target.lastIndexOf(':');
    const host = target.slice(0, at).replace(/^\[(.*)\]$/, '$1');
    const upstream = netConnect(Number(target.slice(at + 1)), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
