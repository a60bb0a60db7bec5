import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  type AbortOptions,
  assertNodeId,
  type Clock,
  type ConfigSnapshot,
  type ConfigStore,
  fromStoredRecord,
  InvalidArgumentError,
  PlanesyncError,
  type SaveOptions,
  StoreCorruptError,
  type StoredSnapshot,
  StoreWriteFailedError,
  serializeStoredRecord,
  systemClock,
  throwIfAborted,
  toStoredRecord,
} from '@planesync/core';
import { open, type RootDatabase } from 'lmdb';
import { decrypt, encrypt, toKey } from './encryption.ts';
import { checkEnvironmentFile } from './environment-check.ts';

/** Options of {@link lmdbStore}. */
export interface LmdbStoreOptions {
  /** The node's prefix directory (Kong's `prefix`); the cache is `<prefix>/dbless.lmdb`. */
  prefix: string;
  /** The initial map size in bytes; the map grows by itself when a save needs more. Default 64 MiB. */
  mapSize?: number;
  /** 32 bytes (or 64 hex digits) to encrypt the stored config with AES-256-GCM. Default: none, as Kong. */
  encryptionKey?: Uint8Array | string;
  clock?: Clock;
}

const SNAPSHOT_KEY = 'snapshot';
const NODE_ID_KEY = 'node_id';
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * The DP config cache in `<prefix>/dbless.lmdb`, where Kong keeps it. One save is one LMDB
 * write transaction holding the whole snapshot (config, version, hash, per-entity hashes,
 * source, save time), so a reader — in this process or another — sees the old snapshot or the
 * new one, never a mix, and a crash mid-save leaves the old one. The node id lives in the same
 * environment.
 *
 * @example
 * ```ts
 * import { DataPlane } from '@planesync/core';
 * import { lmdbStore } from '@planesync/storage-lmdb';
 * declare const transport: import('@planesync/core').TransportClient;
 * declare const trust: import('@planesync/core').TrustVerifier;
 * const dp = new DataPlane({ transport, trust, version: '3.10.0',
 *   storage: lmdbStore({ prefix: '/usr/local/kong' }) });
 * ```
 */
export function lmdbStore(options: LmdbStoreOptions): LmdbConfigStore {
  return new LmdbConfigStore(options);
}

/** The store {@link lmdbStore} returns. */
export class LmdbConfigStore implements ConfigStore {
  /** `<prefix>/dbless.lmdb` */
  readonly path: string;
  readonly #file: string;
  readonly #mapSize: number;
  readonly #key: Buffer | undefined;
  readonly #clock: Clock;
  #db: RootDatabase<Uint8Array, string> | undefined;

  constructor(options: LmdbStoreOptions) {
    if (typeof options?.prefix !== 'string' || options.prefix === '') {
      throw new InvalidArgumentError('lmdbStore needs a prefix directory');
    }
    this.path = join(options.prefix, 'dbless.lmdb');
    this.#file = join(this.path, 'data.mdb');
    this.#mapSize = options.mapSize ?? 64 * 1024 * 1024;
    this.#key = options.encryptionKey === undefined ? undefined : toKey(options.encryptionKey);
    this.#clock = options.clock ?? systemClock;
  }

  async load(options: AbortOptions = {}): Promise<StoredSnapshot | undefined> {
    throwIfAborted(options.signal);
    const value = this.#read(SNAPSHOT_KEY);
    if (value === undefined) return undefined;
    const plaintext = decrypt(this.#key, value, this.path);
    let record: unknown;
    try {
      record = JSON.parse(decoder.decode(plaintext));
    } catch (error) {
      throw new StoreCorruptError(`${this.path} holds a snapshot that is not JSON`, {
        cause: error,
      });
    }
    return fromStoredRecord(record, this.path);
  }

  async save(snapshot: ConfigSnapshot, options: SaveOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    const record = toStoredRecord({ ...snapshot, savedAt: this.#clock.now() });
    const bytes = serializeStoredRecord(record, options.json);
    await this.#write(SNAPSHOT_KEY, this.#key ? encrypt(this.#key, bytes) : bytes);
  }

  async clear(options: AbortOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    const db = this.#open('write');
    try {
      await db.remove(SNAPSHOT_KEY);
    } catch (error) {
      throw new StoreWriteFailedError(`could not clear ${this.path}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  async loadNodeId(options: AbortOptions = {}): Promise<string | undefined> {
    throwIfAborted(options.signal);
    const value = this.#read(NODE_ID_KEY);
    if (value === undefined) return undefined;
    const nodeId = Buffer.from(value).toString('utf8');
    try {
      assertNodeId(nodeId);
    } catch (error) {
      throw new StoreCorruptError(`${this.path} holds a damaged node id`, { cause: error });
    }
    return nodeId;
  }

  async saveNodeId(nodeId: string, options: AbortOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    assertNodeId(nodeId);
    await this.#write(NODE_ID_KEY, encoder.encode(nodeId));
  }

  async close(): Promise<void> {
    const db = this.#db;
    this.#db = undefined;
    await db?.close();
  }

  #read(key: string): Uint8Array | undefined {
    const db = this.#open('read');
    try {
      return db.getBinary(key) ?? undefined;
    } catch (error) {
      throw new StoreCorruptError(`cannot read ${this.path}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  async #write(key: string, value: Uint8Array): Promise<void> {
    const db = this.#open('write');
    try {
      // One write transaction: readers see the previous value until it commits.
      await db.put(key, value);
    } catch (error) {
      throw new StoreWriteFailedError(`could not write ${this.path}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  #open(purpose: 'read' | 'write'): RootDatabase<Uint8Array, string> {
    if (this.#db) return this.#db;
    try {
      mkdirSync(this.path, { recursive: true });
      checkEnvironmentFile(this.#file);
      this.#db = open<Uint8Array, string>({
        path: this.#file,
        encoding: 'binary',
        compression: false,
        mapSize: this.#mapSize,
      });
      return this.#db;
    } catch (error) {
      if (error instanceof PlanesyncError && purpose === 'read') throw error;
      const message = `cannot open ${this.path}: ${(error as Error).message}`;
      throw purpose === 'read'
        ? new StoreCorruptError(message, { cause: error })
        : new StoreWriteFailedError(message, { cause: error });
    }
  }
}
