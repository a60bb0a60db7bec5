/**
 * `@planesync/core/storage`: for store authors and tools that write a DP's cache. The
 * `ConfigStore` contract (also in `.`), the stored-record format every planesync store
 * writes, the writer lock that keeps a prefix to one process, and the checks a store makes
 * on what it is given — so a new store passes `configStoreConformance` from
 * `@planesync/core/testing`. docs/writing-a-store.md walks through one.
 *
 * @module
 */

export { checkEntityCount } from '../config/limits.ts';
export {
  AbortedError,
  InvalidArgumentError,
  PlanesyncError,
  StoreCorruptError,
  StoreDecryptFailedError,
  StoreLockedError,
  StoreWriteFailedError,
  throwIfAborted,
} from '../errors.ts';
export type { ConfigStore, SaveOptions, StoreAccess, StoredSnapshot } from './contract.ts';
export { assertNodeId } from './node-id.ts';
export {
  appendToChain,
  type DeltaChain,
  type DeltaChainLimits,
  loadChain,
  startChain,
} from './stored-deltas.ts';
export { fromStoredRecord, serializeStoredRecord, toStoredRecord } from './stored-snapshot.ts';
export { acquireWriterLock, type WriterLock } from './writer-lock.ts';
