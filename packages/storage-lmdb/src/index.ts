/**
 * `@planesync/storage-lmdb`: `lmdbStore({ prefix })`, the DP config cache in
 * `<prefix>/dbless.lmdb`.
 *
 * @module
 */

export {};
