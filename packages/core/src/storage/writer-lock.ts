import { constants } from 'node:fs';
import { lstat, mkdir, open, unlink } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { StoreLockedError, StoreWriteFailedError } from '../errors.ts';

/** Lock files held by this process, so two stores in one process are told apart too. */
const heldHere = new Set<string>();

/** A writer lock taken with {@link acquireWriterLock}. */
export interface WriterLock {
  readonly path: string;
  /** Gives the lock up (removes its file). Idempotent. */
  release(): Promise<void>;
}

/**
 * Takes the one-writer lock of a cache: a pid file at `path`, as Kong refuses a second
 * instance on its prefix. Two DPs writing one cache would share its node id and evict each
 * other from the CP forever; the second is refused with `STORE_LOCKED`, naming the holder.
 * Readers (a `planesync cache inspect` of a running DP) never take it.
 *
 * A lock whose process is gone (killed, crashed) is taken over. A pid reused by an unrelated
 * process after a crash holds the lock until that file is removed: the error says which file.
 * Resolves `'read-only'` when the directory cannot be written at all: there is nothing to
 * protect, and the store can still be read.
 *
 * @example
 * ```ts
 * import { acquireWriterLock } from '@planesync/core/storage';
 * const lock = await acquireWriterLock('/usr/local/kong/my-cache/planesync.pid');
 * if (lock !== 'read-only') await lock.release();
 * ```
 */
export async function acquireWriterLock(file: string): Promise<WriterLock | 'read-only'> {
  // One spelling per file: `./p/planesync.pid` and `/abs/p/planesync.pid` are one lock here.
  const path = resolve(file);
  try {
    await mkdir(dirname(path), { recursive: true });
  } catch (error) {
    if (isReadOnly(error)) return 'read-only';
    throw new StoreWriteFailedError(`cannot create ${dirname(path)}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const file = await open(path, 'wx', 0o644);
      try {
        await file.writeFile(`${process.pid}\n`);
      } finally {
        await file.close();
      }
      heldHere.add(path);
      return lockAt(path);
    } catch (error) {
      if (isReadOnly(error)) return 'read-only';
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new StoreWriteFailedError(`cannot create ${path}: ${(error as Error).message}`, {
          cause: error,
        });
      }
    }
    const found = await lstat(path).catch(() => undefined);
    if (found && !found.isFile())
      throw new StoreWriteFailedError(
        `${path} is not a regular file (a link, a pipe, a directory?): remove it to let a data plane write this cache`,
      );
    const holder = await readHolder(path);
    if (holder !== undefined && holder === process.pid && heldHere.has(path)) {
      throw new StoreLockedError(
        path,
        holder,
        `another store in this process is writing this cache (lock ${path}); close it first`,
      );
    }
    if (holder !== undefined && holder !== process.pid && isAlive(holder)) {
      throw new StoreLockedError(
        path,
        holder,
        `process ${holder} is writing this cache (lock ${path}): two data planes on one prefix would share a node id and evict each other; give each its own prefix`,
      );
    }
    // The holder is gone (or it was this process, before a restart in a fresh container).
    await unlink(path).catch(() => undefined);
  }
  throw new StoreWriteFailedError(`cannot take the lock ${path}: another process keeps taking it`);
}

function lockAt(path: string): WriterLock {
  let released = false;
  return {
    path,
    async release() {
      if (released) return;
      released = true;
      heldHere.delete(path);
      if ((await readHolder(path)) === process.pid) await unlink(path).catch(() => undefined);
    },
  };
}

/** The pid in a lock file: its first bytes only, never following a link, never blocking. */
async function readHolder(path: string): Promise<number | undefined> {
  try {
    const file = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const { buffer, bytesRead } = await file.read(Buffer.alloc(32), 0, 32, 0);
      const pid = Number.parseInt(buffer.subarray(0, bytesRead).toString('latin1'), 10);
      return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
    } finally {
      await file.close();
    }
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isReadOnly(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'EROFS' || code === 'EACCES' || code === 'EPERM';
}
