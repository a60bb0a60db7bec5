// The TLS and proxy cases every planesync socket transport passes, over real TLS on loopback.
import { tlsTransportSuite } from '@planesync/node-tls/testing';
import { afterEach, beforeEach, describe, it } from 'vitest';
import { wsClient, wsServer } from '../src/index.ts';

tlsTransportSuite(
  { describe, it, beforeEach, afterEach },
  {
    name: 'WebSocket transport over loopback TLS and proxies',
    fixture: {
      server: (settings) => wsServer({ host: '127.0.0.1', port: 0, ...settings }),
      client: ({ host, port, ...settings }) =>
        wsClient({ url: `wss://${host}:${port}/planesync/v1`, ...settings }),
      opening: Buffer.from(
        'GET /planesync/v1 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
      ),
    },
  },
);
