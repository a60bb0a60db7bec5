import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.ts';
import type { ConfigSnapshot } from '../config/snapshot.ts';
import { PlanesyncError } from '../errors.ts';
import { type Logger, logSafely } from '../host/logger.ts';
import type { ConfigStore, SaveOptions } from '../storage/contract.ts';

/**
 * The DP's view of its storage: whether it can be written, which config it holds, and the
 * saves — a failed save (a full disk) is reported, leaves the config served, and is tried
 * again at each heartbeat until it succeeds.
 */
export class ConfigCache {
  /** `false` when the storage cannot be written (a read-only prefix). */
  writable = true;
  /** The hash of the config the storage holds, `undefined` when none. */
  hash: string | undefined;

  constructor(
    private readonly storage: ConfigStore,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly report: (error: unknown) => void,
  ) {}

  /**
   * Readies the store: a second DP on the same prefix is refused (`STORE_LOCKED` is thrown);
   * a read-only one is served, and said to be.
   */
  async open(): Promise<void> {
    let writable = true;
    try {
      writable = (await this.storage.open?.())?.writable ?? true;
    } catch (error) {
      if (error instanceof PlanesyncError && error.code === 'STORE_LOCKED') throw error;
      this.report(error);
    }
    this.writable = writable;
    if (!writable)
      logSafely(
        this.logger,
        'warn',
        {},
        'the config cache is read-only: the cached config is served, new configs are not saved',
      );
  }

  /** The node id: `given`, else the one in storage, else a new UUID (saved when possible). */
  async nodeId(given: string | undefined): Promise<string> {
    const keep = (nodeId: string) =>
      this.writable
        ? this.storage.saveNodeId(nodeId).catch((error) => this.report(error))
        : undefined;
    if (given) {
      await keep(given);
      return given;
    }
    const stored = await this.storage.loadNodeId().catch((error) => {
      this.report(error);
      return undefined;
    });
    if (stored) return stored;
    const fresh = randomUUID();
    await keep(fresh);
    return fresh;
  }

  /** The cached config as a snapshot (source `cache`), or `undefined` (a failure reported). */
  async load(): Promise<ConfigSnapshot | undefined> {
    let stored: Awaited<ReturnType<ConfigStore['load']>>;
    try {
      stored = await this.storage.load();
    } catch (error) {
      this.report(error);
      return undefined;
    }
    if (!stored) return undefined;
    // Only configs this DP validated are ever saved (the CLI's import validates too), and the
    // store has checked the snapshot's shape: the cache is served as it is, as Kong serves
    // dbless.lmdb. Re-validating 25 000 entities would triple a cold start.
    const { savedAt: _savedAt, ...snapshot } = stored;
    this.hash = snapshot.hash;
    return { ...snapshot, source: 'cache', appliedAt: this.clock.now() };
  }

  /**
   * Saves `snapshot` (with its JSON when the bytes are the config's alone, and the gzip or
   * zstd they were decompressed from, and the delta it came as when the store holds its base). Never throws.
   */
  async save(
    snapshot: ConfigSnapshot,
    given: {
      json?: Uint8Array | undefined;
      gzip?: Uint8Array | undefined;
      zstd?: Uint8Array | undefined;
      delta?: SaveOptions['delta'] | undefined;
    } = {},
  ): Promise<void> {
    if (!this.writable) return;
    const options: SaveOptions = {};
    if (given.json) {
      options.json = given.json;
      if (given.gzip) options.gzip = given.gzip;
      if (given.zstd) options.zstd = given.zstd;
    }
    // Only a delta from what the store holds: after a failed save it holds an older config.
    if (given.delta && given.delta.base === this.hash) options.delta = given.delta;
    try {
      await this.storage.save(snapshot, options);
      this.hash = snapshot.hash;
    } catch (error) {
      // The config stays applied in memory; only the cache is behind (acks and pings say so).
      this.report(error);
    }
  }

  /** At a heartbeat: saves `active` again if it is a config the DP saves and the last save failed. */
  retry(active: ConfigSnapshot | undefined): void {
    // Only what the DP saves is tried again: configs from the CP and those loaded by hand.
    const saved = active?.source === 'control-plane' || active?.source === 'manual';
    if (saved && active.hash !== this.hash) void this.save(active);
  }
}
