import { describe, expect, it } from 'vitest';
import { type Connection, type ControlFrame, memoryTransport } from '../src/index.ts';
import { faultyClient } from '../src/testing/index.ts';

describe('faultyClient passes through what it does not fault', () => {
  it('forwards features, the request, the dialed name and control frames', async () => {
    const { server, client } = memoryTransport();
    let accepted!: Connection;
    await server.listen(
      (connection) => {
        accepted = connection;
      },
      { routes: [{ path: '/v1/outlet', pings: 'manual' }] },
    );
    const inner = client({ serverName: 'cp.internal' });
    const faulty = faultyClient(inner, () => ({ kind: 'pass' }));
    expect(faulty.features).toEqual(inner.features);
    const connection = await faulty.connect({
      request: { path: '/v1/outlet', query: [['node_id', 'n1']] },
      pings: 'manual',
    });
    expect(connection.request).toEqual({
      path: '/v1/outlet',
      rawQuery: 'node_id=n1',
      subprotocol: undefined,
    });
    expect(connection.serverName).toBe('cp.internal');
    const seen: ControlFrame[] = [];
    connection.onControl!((frame) => seen.push(frame));
    await connection.sendControl!({ kind: 'ping', payload: Uint8Array.of(1) });
    const atServer: ControlFrame[] = [];
    accepted.onControl!((frame) => atServer.push(frame));
    expect(atServer).toEqual([{ kind: 'ping', payload: Uint8Array.of(1) }]);
    await accepted.sendControl!({ kind: 'pong', payload: new Uint8Array(0) });
    expect(seen).toEqual([{ kind: 'pong', payload: new Uint8Array(0) }]);
    await connection.close();
  });

  it('offers no control members when the transport under it has none', async () => {
    const bare = faultyClient(
      {
        connect: async () => {
          const { server, client } = memoryTransport();
          await server.listen(() => undefined);
          const connection = await client().connect();
          return {
            remoteAddress: connection.remoteAddress,
            peerCertificates: connection.peerCertificates,
            metadata: connection.metadata,
            isClosed: false,
            closed: connection.closed,
            send: (frame) => connection.send(frame),
            close: (code, reason) => connection.close(code, reason),
            [Symbol.asyncIterator]: () => connection[Symbol.asyncIterator](),
          };
        },
      },
      () => ({ kind: 'pass' }),
    );
    expect(bare.features).toBeUndefined();
    const connection = await bare.connect();
    expect(connection.sendControl).toBeUndefined();
    expect(connection.onControl).toBeUndefined();
    expect(connection.request).toBeUndefined();
    await connection.close();
  });
});
