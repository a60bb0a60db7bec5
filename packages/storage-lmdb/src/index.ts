/**
 * `@planesync/storage-lmdb`: `lmdbStore({ prefix })`, the DP config cache in
 * `<prefix>/dbless.lmdb`, crash-safe, optionally encrypted.
 *
 * @module
 */

export { LmdbConfigStore, type LmdbStoreOptions, lmdbStore } from './lmdb-store.ts';
