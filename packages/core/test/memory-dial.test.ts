import { describe, expect, it } from 'vitest';
import { CloseCode, type Connection, memoryTransport } from '../src/index.ts';

describe('a memory connect and its abort signal', () => {
  it('closes the connection when the signal aborts as the connect completes, before the caller resumed', async () => {
    const { server, client } = memoryTransport();
    let accepted!: Connection;
    await server.listen((connection) => {
      accepted = connection;
    });
    const controller = new AbortController();
    const connecting = client().connect({ signal: controller.signal });
    // a few microtasks, not a turn of the event loop: the caller's `await` has not resumed
    for (let n = 0; n < 10 && accepted === undefined; n++) await Promise.resolve();
    expect(accepted).toBeDefined(); // the dial is done, the caller has not resumed
    controller.abort();
    const connection = await connecting;
    expect((await connection.closed).code).toBe(CloseCode.GOING_AWAY);
    expect((await accepted.closed).initiator).toBe('remote');
  });

  it('leaves the connection alone once the caller had it: the signal is for the dial only', async () => {
    const { server, client } = memoryTransport();
    await server.listen(() => undefined);
    const controller = new AbortController();
    const connection = await client().connect({ signal: controller.signal });
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort();
    await connection.send(Uint8Array.of(1));
    expect(connection.isClosed).toBe(false);
    await connection.close();
  });
});
