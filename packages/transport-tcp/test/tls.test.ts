// The TLS and proxy cases every planesync socket transport passes, over real TLS on loopback.
import { tlsTransportSuite } from '@planesync/node-tls/testing';
import { afterEach, beforeEach, describe, it } from 'vitest';
import { frameHeader } from '../src/framing.ts';
import { tcpClient, tcpServer } from '../src/index.ts';

const preface = Buffer.from('{}');

tlsTransportSuite(
  { describe, it, beforeEach, afterEach },
  {
    name: 'TCP transport over loopback TLS and proxies',
    fixture: {
      server: (settings) => tcpServer({ host: '127.0.0.1', port: 0, ...settings }),
      client: (settings) => tcpClient(settings),
      opening: Buffer.concat([frameHeader(preface.length), preface]),
    },
  },
);
