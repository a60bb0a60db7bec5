// The TLS/proxy suite under node:test, against the TCP transport: run as a child process by
// node-test.test.ts (from source, in a process that cannot load vitest) and by
// scripts/consumers.mjs (from the packed tarballs, as ESM and as CommonJS).
import { afterEach, beforeEach, describe, it } from 'node:test';
import { tlsTransportSuite } from '@planesync/node-tls/testing';
import { tcpClient, tcpServer } from '@planesync/transport-tcp';

const preface = Buffer.from('{}');
const header = Buffer.alloc(4);
header.writeUInt32BE(preface.length);

tlsTransportSuite(
  { describe, it, beforeEach, afterEach },
  {
    name: 'TCP transport over TLS and proxies, under node:test',
    fixture: {
      server: (settings) => tcpServer({ host: '127.0.0.1', port: 0, ...settings }),
      client: (settings) => tcpClient(settings),
      opening: Buffer.concat([header, preface]),
    },
  },
);
