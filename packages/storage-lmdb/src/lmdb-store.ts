import { lstatSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  type AbortOptions,
  type Clock,
  type ConfigSnapshot,
  type ConfigStore,
  InvalidArgumentError,
  type SaveOptions,
  type StoreAccess,
  StoreCorruptError,
  type StoredSnapshot,
  StoreWriteFailedError,
  systemClock,
} from '@planesync/core';
import {
  acquireWriterLock,
  appendToChain,
  assertNodeId,
  type DeltaChain,
  type DeltaChainLimits,
  fromStoredRecord,
  loadChain,
  serializeStoredRecord,
  startChain,
  throwIfAborted,
  toStoredRecord,
  type WriterLock,
} from '@planesync/core/storage';
import { open, type RootDatabase } from 'lmdb';
import {
  isCompressedRecord,
  packCompressedRecord,
  unpackCompressedRecord,
} from './compressed-record.ts';
import { decrypt, encrypt, toKey } from './encryption.ts';
import { readEnvironment } from './environment-file.ts';
import { seal, unseal } from './sealed-value.ts';

/** Options of {@link lmdbStore}. */
export interface LmdbStoreOptions {
  /** The node's prefix directory (Kong's `prefix`); the cache is `<prefix>/dbless.lmdb`. */
  prefix: string;
  /** The initial map size in bytes; the map grows by itself when a save needs more. Default 64 MiB. */
  mapSize?: number;
  /** 32 bytes (or 64 hex digits) to encrypt the stored config with AES-256-GCM. Default: none, as Kong. */
  encryptionKey?: Uint8Array | string;
  /**
   * When the deltas kept beside the snapshot are folded into it (a save written whole):
   * after 16 deltas, or when they reach a quarter of the snapshot's bytes.
   */
  deltaChain?: DeltaChainLimits;
  /**
   * The largest config it inflates when loading one kept compressed (a bigger one is
   * `STORE_CORRUPT`), as the DP's `maxConfigBytes`. Default 256 MiB.
   */
  maxConfigBytes?: number;
  clock?: Clock;
}

const SNAPSHOT_KEY = 'snapshot';
/** The deltas applied to the snapshot since it was written (see `stored-deltas.ts` in core). */
const DELTAS_KEY = 'deltas';
const NODE_ID_KEY = 'node_id';
const LOCK_FILE = 'planesync.pid';
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * The DP config cache in `<prefix>/dbless.lmdb`, where Kong keeps it. One save is one LMDB
 * write transaction holding the whole snapshot (config, version, hash, per-entity hashes,
 * source, save time), so a reader — in this process or another — sees the old snapshot or the
 * new one, never a mix, and a crash mid-save leaves the old one. A config that came as a delta
 * (planesync/2) is saved as the delta, beside the snapshot it applies to, in one transaction
 * too; `load` applies the deltas, and every 16th save (or once they reach a quarter of the
 * snapshot's bytes) writes the snapshot whole again. The node id lives in the same
 * environment.
 *
 * Reading never maps the file: a checked reader walks it with plain reads, and every value
 * carries a SHA-256, so a damaged page is `STORE_CORRUPT` — never a crash, never a silent
 * empty cache — and reading creates nothing (a read-only prefix is served as it is). One
 * process writes: the first write (or `open`) takes `dbless.lmdb/planesync.pid`, and a second
 * writer is refused with `STORE_LOCKED`. A damaged environment is moved aside to
 * `data.mdb.corrupt` before the next write starts a fresh one.
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
  readonly #chainLimits: DeltaChainLimits;
  readonly #maxConfigBytes: number;
  /** What the store holds, as a delta may extend it; `undefined` until a load or save says. */
  #chain: DeltaChain | undefined;
  /** Saves and clears begun, so that a load finishing after one leaves `#chain` to it. */
  #saves = 0;
  /**
   * Saves and clears not yet landed: a load that reads the file meanwhile may read what they
   * replace, and finish after them, so it leaves `#chain` to them.
   */
  #writing = 0;
  #lock: Promise<WriterLock | 'read-only'> | undefined;
  #db: Promise<RootDatabase<Uint8Array, string>> | undefined;

  constructor(options: LmdbStoreOptions) {
    if (typeof options?.prefix !== 'string' || options.prefix === '') {
      throw new InvalidArgumentError('lmdbStore needs a prefix directory');
    }
    this.path = join(options.prefix, 'dbless.lmdb');
    this.#file = join(this.path, 'data.mdb');
    this.#mapSize = options.mapSize ?? 64 * 1024 * 1024;
    this.#key = options.encryptionKey === undefined ? undefined : toKey(options.encryptionKey);
    this.#clock = options.clock ?? systemClock;
    this.#chainLimits = options.deltaChain ?? {};
    this.#maxConfigBytes = options.maxConfigBytes ?? 256 * 1024 * 1024;
    if (!Number.isSafeInteger(this.#maxConfigBytes) || this.#maxConfigBytes < 1)
      throw new InvalidArgumentError(
        `lmdbStore's maxConfigBytes is a whole number of bytes, got ${this.#maxConfigBytes}`,
      );
  }

  /**
   * Takes the cache's writer lock for this process: `STORE_LOCKED` when another DP writes
   * it. `writable: false` when the prefix is read-only — the cache can be served, not saved.
   */
  async open(options: AbortOptions = {}): Promise<StoreAccess> {
    throwIfAborted(options.signal);
    this.#refuseLinks();
    return { writable: (await this.#acquire()) !== 'read-only' };
  }

  async load(options: AbortOptions = {}): Promise<StoredSnapshot | undefined> {
    throwIfAborted(options.signal);
    const saves = this.#saves;
    const idle = this.#writing === 0;
    // One read of the file: the snapshot and its deltas as one transaction left them.
    const [value, deltas] = this.#readAll([SNAPSHOT_KEY, DELTAS_KEY]);
    if (value === undefined) return undefined;
    const plaintext = decrypt(this.#key, value, this.path);
    let record: unknown;
    // The bytes of the snapshot's JSON, kept compressed or not: what its deltas are weighed by.
    let jsonBytes = plaintext.byteLength;
    if (isCompressedRecord(plaintext)) {
      ({ record, jsonBytes } = await unpackCompressedRecord(
        plaintext,
        this.#maxConfigBytes,
        this.path,
      ));
    } else {
      try {
        record = JSON.parse(decoder.decode(plaintext));
      } catch (error) {
        throw new StoreCorruptError(`${this.path} holds a snapshot that is not JSON`, {
          cause: error,
        });
      }
    }
    const base = fromStoredRecord(record, this.path);
    // A save that began while this load inflated knows better what the store holds.
    // So does one that was being written when this load read the file.
    const current = idle && saves === this.#saves;
    if (deltas === undefined) {
      if (current) this.#chain = startChain(base.hash, jsonBytes);
      return base;
    }
    const chainBytes = decrypt(this.#key, deltas, this.path);
    const { snapshot, chain } = loadChain(base, jsonBytes, chainBytes, this.path);
    if (current) this.#chain = chain;
    return snapshot;
  }

  async save(snapshot: ConfigSnapshot, options: SaveOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    this.#saves++;
    this.#writing++;
    try {
      await this.#save(snapshot, options);
    } finally {
      this.#writing--;
    }
  }

  async #save(snapshot: ConfigSnapshot, options: SaveOptions): Promise<void> {
    const stored = { ...snapshot, savedAt: this.#clock.now() };
    const appended = appendToChain(this.#chain, stored, options.delta, this.#chainLimits);
    if (appended) {
      const { bytes } = appended;
      await this.#writeAll([[DELTAS_KEY, this.#key ? encrypt(this.#key, bytes) : bytes]]);
      this.#chain = appended.chain;
      return;
    }
    const record = toStoredRecord(stored);
    let bytes: Uint8Array;
    let jsonBytes: number;
    const compressed = options.gzip
      ? ({ encoding: 'gzip', bytes: options.gzip } as const)
      : options.zstd
        ? ({ encoding: 'zstd', bytes: options.zstd } as const)
        : undefined;
    if (options.json && compressed) {
      // Kept as the DP received it: a quarter of the bytes, and none compressed again.
      const { config: _config, ...rest } = record;
      const head = encoder.encode(JSON.stringify(rest));
      bytes = packCompressedRecord(head, compressed);
      jsonBytes = head.byteLength + options.json.byteLength;
    } else {
      bytes = serializeStoredRecord(record, options.json);
      jsonBytes = bytes.byteLength;
    }
    // Forgotten until the write is known to have landed (a failed one may have, or not).
    this.#chain = undefined;
    await this.#writeAll([
      [SNAPSHOT_KEY, this.#key ? encrypt(this.#key, bytes) : bytes],
      [DELTAS_KEY, undefined],
    ]);
    this.#chain = startChain(snapshot.hash, jsonBytes);
  }

  async clear(options: AbortOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    this.#saves++;
    this.#writing++;
    this.#chain = undefined;
    try {
      await this.#writeAll([
        [SNAPSHOT_KEY, undefined],
        [DELTAS_KEY, undefined],
      ]);
    } finally {
      this.#writing--;
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

  /** Closes the environment and gives up the writer lock. */
  async close(): Promise<void> {
    const db = this.#db;
    const lock = this.#lock;
    this.#db = undefined;
    this.#lock = undefined;
    await (await db?.catch(() => undefined))?.close();
    const held = await lock?.catch(() => undefined);
    if (held && held !== 'read-only') await held.release();
  }

  /** One value, read with the checked reader and its checksum verified; never creates anything. */
  #read(key: string): Buffer | undefined {
    return this.#readAll([key])[0];
  }

  /** Values of one read of the file, each checked as `#read` does. */
  #readAll(keys: readonly string[]): (Buffer | undefined)[] {
    this.#refuseLinks();
    const contents = readEnvironment(this.#file, this.path, new Set(keys));
    return keys.map((key) => {
      const value = contents?.values.get(key);
      return value === undefined ? undefined : unseal(value, this.path);
    });
  }

  async #write(key: string, value: Uint8Array): Promise<void> {
    await this.#writeAll([[key, value]]);
  }

  /** Puts (or, for `undefined`, removes) values in one write transaction. */
  async #writeAll(entries: readonly (readonly [string, Uint8Array | undefined])[]): Promise<void> {
    const db = await this.#openForWriting();
    const sealed = entries.map(([key, value]) => [key, value && seal(value)] as const);
    try {
      // One write transaction: readers see the previous values until it commits.
      await db.transaction(() => {
        for (const [key, value] of sealed) {
          if (value) db.put(key, value);
          else db.remove(key);
        }
      });
    } catch (error) {
      throw writeFailed(this.path, error);
    }
  }

  #acquire(): Promise<WriterLock | 'read-only'> {
    this.#lock ??= acquireWriterLock(join(this.path, LOCK_FILE)).catch((error: unknown) => {
      this.#lock = undefined;
      throw error;
    });
    return this.#lock;
  }

  #openForWriting(): Promise<RootDatabase<Uint8Array, string>> {
    this.#db ??= this.#openEnvironment().catch((error: unknown) => {
      this.#db = undefined;
      throw error;
    });
    return this.#db;
  }

  async #openEnvironment(): Promise<RootDatabase<Uint8Array, string>> {
    this.#refuseLinks('write');
    if ((await this.#acquire()) === 'read-only')
      throw new StoreWriteFailedError(
        `${this.path} is read-only: the cache can be read, not saved`,
      );
    try {
      // LMDB walks the tree and the free list on a write: a damaged file must not reach it.
      readEnvironment(this.#file, this.path, new Set());
    } catch (error) {
      if (!(error instanceof StoreCorruptError)) throw error;
      this.#quarantine(error);
    }
    try {
      return open<Uint8Array, string>({
        path: this.#file,
        encoding: 'binary',
        compression: false,
        mapSize: this.#mapSize,
        // lmdb's event-turn batching starts each batch with a write of its own whose promise
        // nobody holds: a failed commit (a full disk) rejects it unhandled and ends the process.
        // One save is one put, so there is nothing to batch.
        eventTurnBatching: false,
      });
    } catch (error) {
      throw new StoreWriteFailedError(`cannot open ${this.path}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  /** Moves a damaged environment aside (for a post-mortem) so the next write starts afresh. */
  #quarantine(damage: StoreCorruptError): void {
    try {
      renameSync(this.#file, `${this.#file}.corrupt`);
      rmSync(`${this.#file}-lock`, { force: true });
    } catch (error) {
      throw new StoreWriteFailedError(
        `${this.path} is damaged and cannot be moved aside: ${(error as Error).message}`,
        { cause: damage },
      );
    }
  }

  /** A symbolic link in place of the cache could send writes anywhere: refused. */
  #refuseLinks(purpose: 'read' | 'write' = 'read'): void {
    for (const path of [this.path, this.#file]) {
      let link = false;
      try {
        link = lstatSync(path).isSymbolicLink();
      } catch {
        // missing: nothing to refuse
      }
      if (!link) continue;
      const message = `${path} is a symbolic link; planesync does not follow links in its cache`;
      throw purpose === 'read'
        ? new StoreCorruptError(message)
        : new StoreWriteFailedError(message);
    }
  }
}

/** A failed LMDB write as `STORE_WRITE_FAILED`, its commit error handled. */
function writeFailed(where: string, error: unknown): StoreWriteFailedError {
  // lmdb rejects a failed commit twice: this error, and `commitError`, a promise nobody else
  // handles — unhandled, it would end the process.
  const commit = (error as { commitError?: Promise<unknown> } | undefined)?.commitError;
  commit?.catch(() => undefined);
  const message = (error as Error)?.message ?? String(error);
  return new StoreWriteFailedError(
    `could not write ${where}${commit ? ' (the disk may be full or failing)' : ''}: ${message}`,
    { cause: error },
  );
}
