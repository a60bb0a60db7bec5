import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, connect as netConnect, type Socket } from 'node:net';

/**
 * A forward proxy fixture for the TCP and WebSocket tests: node's http (or https)
 * server answering CONNECT, optionally with Basic auth; `tunnels` records each target.
 */
export async function startProxy(
  stops: Array<() => Promise<void>>,
  credentials?: string,
  tls?: { cert: string; key: string },
) {
  const tunnels: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = tls ? createHttpsServer(tls) : createHttpServer();
  server.on('connect', (request, client: Socket, head) => {
    sockets.add(client);
    const auth = request.headers['proxy-authorization'];
    if (credentials && auth !== `Basic ${Buffer.from(credentials).toString('base64')}`) {
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n');
      return;
    }
    tunnels.push(`${request.url} host=${request.headers.host}`);
    const [host, port] = (request.url ?? '').split(':');
    const upstream = netConnect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stops.push(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return { port: (server.address() as AddressInfo).port, tunnels };
}
