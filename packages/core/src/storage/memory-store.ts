import { type Clock, systemClock } from '../clock.ts';
import type { ConfigSnapshot } from '../config/snapshot.ts';
import { throwIfAborted } from '../errors.ts';
import type { AbortOptions } from '../transport/contract.ts';
import type { ConfigStore, StoredSnapshot } from './contract.ts';
import { assertNodeId } from './node-id.ts';
import { toStoredRecord } from './stored-snapshot.ts';

/**
 * A {@link ConfigStore} in memory: what a test or a DP without a cache directory uses.
 * Snapshots are copied in and out, so a caller mutating its object changes nothing stored.
 * Every store is made by a function, as transports are: `memoryStore()`, `fileStore()`,
 * `lmdbStore()` from `@planesync/storage-lmdb`.
 *
 * @example
 * ```ts
 * import { memoryStore } from '@planesync/core';
 * const store = memoryStore();
 * await store.saveNodeId('8f1d…');
 * await store.loadNodeId(); // '8f1d…'
 * ```
 */
export function memoryStore(options: { clock?: Clock } = {}): MemoryConfigStore {
  return new MemoryConfigStore(options);
}

/** The store {@link memoryStore} makes. */
export class MemoryConfigStore implements ConfigStore {
  #snapshot: StoredSnapshot | undefined;
  #nodeId: string | undefined;
  readonly #clock: Clock;

  constructor(options: { clock?: Clock } = {}) {
    this.#clock = options.clock ?? systemClock;
  }

  async load(options: AbortOptions = {}): Promise<StoredSnapshot | undefined> {
    throwIfAborted(options.signal);
    return this.#snapshot && structuredClone(this.#snapshot);
  }

  async save(snapshot: ConfigSnapshot, options: AbortOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    const stored = { ...snapshot, savedAt: this.#clock.now() };
    toStoredRecord(stored); // the same validation a persistent store applies
    this.#snapshot = structuredClone(stored);
  }

  async clear(options: AbortOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    this.#snapshot = undefined;
  }

  async loadNodeId(options: AbortOptions = {}): Promise<string | undefined> {
    throwIfAborted(options.signal);
    return this.#nodeId;
  }

  async saveNodeId(nodeId: string, options: AbortOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    assertNodeId(nodeId);
    this.#nodeId = nodeId;
  }
}
