import type { AddressInfo, Server } from 'node:net';
import { CloseCode, type Connection, type ListenInfo, TransportFailedError } from '@planesync/core';

/**
 * Starts `server` listening and reports where, as a transport's `listen` resolves; rejects
 * with `TRANSPORT_FAILED` when it cannot (the port is taken).
 *
 * @example
 * ```ts
 * import { createServer } from 'node:net';
 * import { listenOn } from '@planesync/node-tls';
 * const { address, port } = await listenOn(createServer(), 0, '127.0.0.1');
 * ```
 */
export async function listenOn(
  server: Server,
  port: number,
  host: string,
): Promise<ListenInfo & { port: number }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) =>
      reject(new TransportFailedError(`cannot listen: ${error.message}`, { cause: error })),
    );
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return { address: `${shown}:${address.port}`, port: address.port };
}

/**
 * Closes every accepted connection with GOING_AWAY and stops `server` accepting, as a
 * transport's `close` must; resolves once both are done.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:net';
 * import type { Connection } from '@planesync/core';
 * import { closeServer, listenOn } from '@planesync/node-tls';
 * const server = createServer();
 * const connections = new Set<Connection>();
 * await listenOn(server, 0, '127.0.0.1');
 * await closeServer(server, connections);
 * ```
 */
export async function closeServer(
  server: Server | undefined,
  connections: ReadonlySet<Connection>,
): Promise<void> {
  const stopped = server
    ? new Promise<void>((resolve) => server.close(() => resolve()))
    : Promise.resolve();
  await Promise.all(
    [...connections].map((connection) => connection.close(CloseCode.GOING_AWAY, 'server closing')),
  );
  await stopped;
}
