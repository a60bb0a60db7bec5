import type { ConfigSnapshot } from '../config/snapshot.ts';
import type { AbortOptions } from '../transport/contract.ts';

/** A snapshot as a store gives it back, with the time it was saved. */
export interface StoredSnapshot<TConfig = unknown> extends ConfigSnapshot<TConfig> {
  /** When the store wrote it (ms since the epoch, from the store's clock). */
  readonly savedAt: number;
}

/** Options of {@link ConfigStore.save}. */
export interface SaveOptions extends AbortOptions {
  /**
   * The UTF-8 JSON of `snapshot.config` when the caller already holds it (a DP has the bytes
   * it inflated): a store may write these bytes instead of serializing the config again.
   */
  json?: Uint8Array;
  /**
   * With `json`: a gzip of exactly those bytes (one member or several), when the caller holds
   * one (a DP has the body it inflated). A store may keep these instead of the JSON: a
   * quarter of the bytes to write, and nothing compressed again.
   */
  gzip?: Uint8Array;
  /** With `json`: a zstd frame of exactly those bytes, when the caller holds one (as `gzip`). */
  zstd?: Uint8Array;
  /**
   * When `snapshot` came as a delta (planesync/2) applied to the snapshot hashed `base`: the
   * delta's JSON, as `applyDelta` reads it. A store that holds `base` may keep it and add the
   * delta rather than write the whole config again, as long as `load` gives back exactly
   * `snapshot` (`applyDelta` rebuilds it, key and entity order included) and the save stays
   * atomic; a store that holds anything else, or keeps only whole configs, writes `snapshot`
   * whole.
   */
  delta?: { base: string; json: Uint8Array };
}

/** What {@link ConfigStore.open} found. */
export interface StoreAccess {
  /** `false` when the store can be read but not written (a read-only prefix). */
  readonly writable: boolean;
}

/**
 * Where a DP keeps its last good config and its node id across restarts: Kong's
 * `<prefix>/dbless.lmdb`, a `config.json.gz`, memory. `configStoreConformance` from
 * `@planesync/core/testing` checks every rule below.
 *
 * @example
 * ```ts
 * import { MemoryConfigStore, type ConfigStore } from '@planesync/core';
 * const store: ConfigStore = new MemoryConfigStore();
 * const cached = await store.load(); // undefined: nothing saved yet
 * ```
 */
export interface ConfigStore {
  /**
   * Optional: readies the store for one DP process before anything else, and says whether it
   * can be written. A store kept on disk takes its one-writer lock here: a second DP on the
   * same prefix is refused with `STORE_LOCKED` (its `start()` rejects), as Kong refuses a
   * second instance on a prefix. A read-only location answers `{ writable: false }`: the DP
   * serves what is cached and reports that it cannot save.
   */
  open?(options?: AbortOptions): Promise<StoreAccess>;
  /**
   * The last saved snapshot, or `undefined` when nothing was ever saved (or after `clear`).
   * Rejects with `STORE_CORRUPT` (cause attached) when something is stored but cannot be read
   * back whole; a DP then falls through to its declarative file or an empty config.
   */
  load(options?: AbortOptions): Promise<StoredSnapshot | undefined>;
  /**
   * Replaces the stored snapshot atomically: a concurrent or later `load` sees the old one or
   * the new one, never a mix, and a crash mid-save leaves the old one. Rejects with
   * `STORE_WRITE_FAILED` when it cannot write; the previous snapshot is then still stored.
   */
  save(snapshot: ConfigSnapshot, options?: SaveOptions): Promise<void>;
  /** Forgets the stored snapshot (the node id stays). */
  clear(options?: AbortOptions): Promise<void>;
  /** The DP's node id saved earlier, or `undefined`. */
  loadNodeId(options?: AbortOptions): Promise<string | undefined>;
  /** Keeps the DP's node id, so a restart does not create a new DP record on the CP. */
  saveNodeId(nodeId: string, options?: AbortOptions): Promise<void>;
  /** Releases files or handles; optional. */
  close?(): Promise<void>;
}
