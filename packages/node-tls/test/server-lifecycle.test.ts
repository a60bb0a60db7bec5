import { createServer } from 'node:net';
import { CloseCode, type Connection, memoryTransport } from '@planesync/core';
import { describe, expect, it } from 'vitest';
import { closeServer, formatAddress, listenOn } from '../src/index.ts';

describe('server start and stop', () => {
  it('listenOn reports the bound address and port', async () => {
    const server = createServer();
    const info = await listenOn(server, 0, '127.0.0.1');
    expect(info).toEqual({ address: `127.0.0.1:${info.port}`, port: expect.any(Number) });
    await closeServer(server, new Set());
    expect(server.listening).toBe(false);
  });

  it('listenOn rejects TRANSPORT_FAILED when the port is taken', async () => {
    const first = createServer();
    const { port } = await listenOn(first, 0, '127.0.0.1');
    try {
      await expect(listenOn(createServer(), port, '127.0.0.1')).rejects.toMatchObject({
        code: 'TRANSPORT_FAILED',
      });
    } finally {
      await closeServer(first, new Set());
    }
  });

  it('closeServer closes every connection with GOING_AWAY', async () => {
    const { server, client } = memoryTransport();
    const accepted = new Set<Connection>();
    await server.listen((connection) => accepted.add(connection));
    const dialed = [await client().connect(), await client().connect()];
    await closeServer(undefined, accepted);
    for (const connection of dialed) {
      expect((await connection.closed).code).toBe(CloseCode.GOING_AWAY);
    }
  });

  it('formatAddress writes IPv6 in brackets', () => {
    expect(formatAddress('::1', 8005)).toBe('[::1]:8005');
    expect(formatAddress('10.0.0.7', 52344)).toBe('10.0.0.7:52344');
    expect(formatAddress(undefined, undefined)).toBe('unknown:0');
  });
});
