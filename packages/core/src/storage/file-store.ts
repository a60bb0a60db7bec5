import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { type Clock, systemClock } from '../clock.ts';
import type { ConfigSnapshot } from '../config/snapshot.ts';
import { InvalidArgumentError, StoreCorruptError, throwIfAborted } from '../errors.ts';
import type { AbortOptions } from '../transport/contract.ts';
import { writeFileAtomic } from './atomic-file.ts';
import type { ConfigStore, SaveOptions, StoredSnapshot } from './contract.ts';
import { assertNodeId } from './node-id.ts';
import { fromStoredRecord, serializeStoredRecord, toStoredRecord } from './stored-snapshot.ts';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** Options of {@link FileConfigStore}. */
export interface FileConfigStoreOptions {
  /** The node's prefix directory (Kong's `prefix`); created on first save. */
  prefix: string;
  clock?: Clock;
}

/**
 * A {@link ConfigStore} in `<prefix>/config.json.gz` (the snapshot, gzip-compressed JSON) and
 * `<prefix>/node_id`, each replaced atomically (temporary file, fsync, rename).
 *
 * @example
 * ```ts
 * import { FileConfigStore } from '@planesync/core';
 * const store = new FileConfigStore({ prefix: '/usr/local/kong' });
 * const cached = await store.load(); // undefined until the first save
 * ```
 */
export class FileConfigStore implements ConfigStore {
  /** `<prefix>/config.json.gz` */
  readonly path: string;
  readonly #nodeIdPath: string;
  readonly #clock: Clock;

  constructor(options: FileConfigStoreOptions) {
    if (typeof options?.prefix !== 'string' || options.prefix === '') {
      throw new InvalidArgumentError('FileConfigStore needs a prefix directory');
    }
    this.path = join(options.prefix, 'config.json.gz');
    this.#nodeIdPath = join(options.prefix, 'node_id');
    this.#clock = options.clock ?? systemClock;
  }

  async load(options: AbortOptions = {}): Promise<StoredSnapshot | undefined> {
    throwIfAborted(options.signal);
    const compressed = await readIfExists(this.path);
    if (compressed === undefined) return undefined;
    let text: string;
    try {
      text = (await gunzipAsync(compressed)).toString('utf8');
    } catch (error) {
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
    await writeFileAtomic(this.path, compressed);
  }

  async clear(options: AbortOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
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
    await writeFileAtomic(this.#nodeIdPath, Buffer.from(`${nodeId}\n`, 'utf8'));
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
