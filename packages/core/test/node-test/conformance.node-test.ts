// Both conformance suites under node:test, on core's in-memory adapters. Run as a child
// process by conformance-runners.test.ts: `node --test` must exit 0.
import { afterEach, beforeEach, describe, it } from 'node:test';
import { MemoryConfigStore, memoryTransport } from '@planesync/core';
import { configStoreConformance, transportConformance } from '@planesync/core/testing';

const nodeTest = { describe, it, beforeEach, afterEach };

transportConformance(nodeTest, {
  name: 'memory transport under node:test',
  async setup() {
    const { server, client } = memoryTransport({ maxPayloadBytes: 1 << 20 });
    return {
      server,
      client: () => client(),
      maxPayloadBytes: 1 << 20,
      clientCertificates: [],
      serverCertificates: [],
    };
  },
  features: { request: true, controlFrames: true },
});

configStoreConformance(nodeTest, {
  name: 'memory store under node:test',
  setup: async () => ({ store: new MemoryConfigStore() }),
  skip: [
    {
      reason: 'a memory store lives and dies with its process',
      tests: ['keeps the snapshot and node id for a new instance on the same storage'],
    },
  ],
});
