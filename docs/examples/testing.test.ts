import { delay, memoryTransport } from '@planesync/core';
import { FakeClock } from '@planesync/core/testing';
import { expect, it } from 'vitest';

it('delivers after the simulated latency', async () => {
  const clock = new FakeClock();
  const { server, client } = memoryTransport({ clock, latencyMs: 100 });
  const received: Uint8Array[] = [];
  await server.listen((connection) => {
    void (async () => {
      for await (const frame of connection) received.push(frame);
    })();
  });
  const connecting = client().connect();
  await clock.advance(100); // the connect handshake takes one latency
  const connection = await connecting;
  await connection.send(Uint8Array.of(42));
  await clock.advance(99);
  expect(received).toHaveLength(0);
  await clock.advance(1);
  expect(received).toEqual([Uint8Array.of(42)]);
});
