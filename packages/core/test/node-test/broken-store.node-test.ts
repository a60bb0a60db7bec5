// A store that forgets nothing on clear(), under node:test: the suite must fail exactly the
// clear case (conformance-runners.test.ts checks the exit code and the TAP report).
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type AbortOptions, MemoryConfigStore } from '@planesync/core';
import { configStoreConformance } from '@planesync/core/testing';
import { throwIfAborted } from '@planesync/core/transport';

class StoreThatNeverClears extends MemoryConfigStore {
  override async clear(options: AbortOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
  }
}

configStoreConformance(
  { describe, it, beforeEach, afterEach },
  {
    name: 'a store that never clears',
    setup: async () => ({ store: new StoreThatNeverClears() }),
    skip: [
      {
        reason: 'a memory store lives and dies with its process',
        tests: ['keeps the snapshot and node id for a new instance on the same storage'],
      },
    ],
  },
);
