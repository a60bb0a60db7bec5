import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';

/** Values handed out in arrival order: `next()` resolves with the next one, now or later. */
export class Arrivals<T> {
  readonly all: T[] = [];
  #ready: T[] = [];
  #waiting: Array<(value: T) => void> = [];

  push(value: T): void {
    this.all.push(value);
    const waiter = this.#waiting.shift();
    if (waiter) waiter(value);
    else this.#ready.push(value);
  }

  next(): Promise<T> {
    const value = this.#ready.shift();
    return value === undefined
      ? new Promise((resolve) => this.#waiting.push(resolve))
      : Promise.resolve(value);
  }
}

/** A TCP server on loopback that accepts, reads, and never says a word (no TLS either). */
export async function silentServer(): Promise<{
  server: Server;
  port: number;
  /** Resolves with the next socket the server accepts. */
  accepted(): Promise<Socket>;
  close(): Promise<void>;
}> {
  const sockets = new Arrivals<Socket>();
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.resume(); // reads (and drops) what comes, so it sees the peer go
    sockets.push(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    accepted: () => sockets.next(),
    close: async () => {
      for (const socket of sockets.all) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Resolves once `socket` has closed. */
export function closedOf(socket: Socket): Promise<void> {
  return socket.closed
    ? Promise.resolve()
    : new Promise((resolve) => socket.once('close', () => resolve()));
}
