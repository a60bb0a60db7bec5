import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { type Clock, systemClock } from '../clock.ts';
import type { ConfigSnapshot } from '../config/snapshot.ts';
import {
  InvalidArgumentError,
  StoreCorruptError,
  StoreWriteFailedError,
  throwIfAborted,
} from '../errors.ts';
import { renamedOption } from '../host/deprecation.ts';
import type { AbortOptions } from '../transport/contract.ts';
import { writeFileAtomic } from './atomic-file.ts';
import type { ConfigStore, SaveOptions, StoreAccess, StoredSnapshot } from './contract.ts';
import { assertNodeId } from './node-id.ts';
import { fromStoredRecord, serializeStoredRecord, toStoredRecord } from './stored-snapshot.ts';
import { acquireWriterLock, type WriterLock } from './writer-lock.ts';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** Options of {@link FileConfigStore}. */
export interface FileConfigStoreOptions {
  /** The node's prefix directory (Kong's `prefix`); created on first save. */
  prefix: string;
  /**
   * The largest config it inflates when loading (a bigger one is `STORE_CORRUPT`), as the
   * DP's `maxConfigBytes`. Default 256 MiB.
   */
  maxConfigBytes?: number;
  /** @deprecated since 0.2: `maxConfigBytes`, the same limit. */
  maxInflatedBytes?: number;
  clock?: Clock;
}

/**
 * A {@link ConfigStore} in `<prefix>/config.json.gz` (the snapshot, gzip-compressed JSON) and
 * `<prefix>/node_id`, each replaced atomically (temporary file, fsync, rename). One process
 * writes: the first write (or `open`) takes `<prefix>/planesync.pid`, and a second writer is
 * refused with `STORE_LOCKED`; reading takes no lock and creates nothing.
 *
 * @example
 * ```ts
 * import { fileStore } from '@planesync/core';
 * const store = fileStore({ prefix: '/usr/local/kong' });
 * const cached = await store.load(); // undefined until the first save
 * ```
 */
export function fileStore(options: FileConfigStoreOptions): FileConfigStore {
  return new FileConfigStore(options);
}

/** The store {@link fileStore} makes. */
export class FileConfigStore implements ConfigStore {
  /** `<prefix>/config.json.gz` */
  readonly path: string;
  readonly #nodeIdPath: string;
  readonly #lockPath: string;
  readonly #maxInflatedBytes: number;
  readonly #clock: Clock;
  #lock: Promise<WriterLock | 'read-only'> | undefined;

  constructor(options: FileConfigStoreOptions) {
    if (typeof options?.prefix !== 'string' || options.prefix === '') {
      throw new InvalidArgumentError('FileConfigStore needs a prefix directory');
    }
    this.path = join(options.prefix, 'config.json.gz');
    this.#nodeIdPath = join(options.prefix, 'node_id');
    this.#lockPath = join(options.prefix, 'planesync.pid');
    this.#maxInflatedBytes =
      options.maxConfigBytes ??
      renamedOption(options, 'maxInflatedBytes', 'maxConfigBytes', 'fileStore') ??
      256 * 1024 * 1024;
    this.#clock = options.clock ?? systemClock;
  }

  /** Takes the prefix's writer lock (`STORE_LOCKED` when another DP holds it). */
  async open(options: AbortOptions = {}): Promise<StoreAccess> {
    throwIfAborted(options.signal);
    return { writable: (await this.#acquire()) !== 'read-only' };
  }

  /** Gives up the writer lock. */
  async close(): Promise<void> {
    const lock = await this.#lock?.catch(() => undefined);
    this.#lock = undefined;
    if (lock && lock !== 'read-only') await lock.release();
  }

  async load(options: AbortOptions = {}): Promise<StoredSnapshot | undefined> {
    throwIfAborted(options.signal);
    const compressed = await readIfExists(this.path);
    if (compressed === undefined) return undefined;
    let text: string;
    try {
      text = (await gunzipAsync(compressed, { maxOutputLength: this.#maxInflatedBytes })).toString(
        'utf8',
      );
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
        throw new StoreCorruptError(
          `${this.path} inflates past ${this.#maxInflatedBytes} bytes (maxConfigBytes)`,
          { cause: error },
        );
      throw new StoreCorruptError(`${this.path} is not a complete gzip file`, { cause: error });
    }
    let record: unknown;
    try {
      record = JSON.parse(text);
    } catch (error) {
      throw new StoreCorruptError(`${this.path} does not hold valid JSON`, { cause: error });
    }
    return fromStoredRecord(record, this.path);
  }

  async save(snapshot: ConfigSnapshot, options: SaveOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    const record = toStoredRecord({ ...snapshot, savedAt: this.#clock.now() });
    const compressed = await gzipAsync(serializeStoredRecord(record, options.json));
    throwIfAborted(options.signal);
    await this.#writable();
    await writeFileAtomic(this.path, compressed);
  }

  async clear(options: AbortOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    await this.#writable();
    await rm(this.path, { force: true });
  }

  async loadNodeId(options: AbortOptions = {}): Promise<string | undefined> {
    throwIfAborted(options.signal);
    const bytes = await readIfExists(this.#nodeIdPath);
    if (bytes === undefined) return undefined;
    const nodeId = bytes.toString('utf8').trim();
    try {
      assertNodeId(nodeId);
    } catch (error) {
      throw new StoreCorruptError(`${this.#nodeIdPath} does not hold a node id`, { cause: error });
    }
    return nodeId;
  }

  async saveNodeId(nodeId: string, options: AbortOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    assertNodeId(nodeId);
    await this.#writable();
    await writeFileAtomic(this.#nodeIdPath, Buffer.from(`${nodeId}\n`, 'utf8'));
  }

  #acquire(): Promise<WriterLock | 'read-only'> {
    this.#lock ??= acquireWriterLock(this.#lockPath).catch((error: unknown) => {
      this.#lock = undefined;
      throw error;
    });
    return this.#lock;
  }

  async #writable(): Promise<void> {
    if ((await this.#acquire()) === 'read-only')
      throw new StoreWriteFailedError(
        `${this.path} is read-only: the cache can be read, not saved`,
      );
  }
}

async function readIfExists(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StoreCorruptError(`cannot read ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}
