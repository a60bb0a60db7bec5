import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { StoreWriteFailedError } from '../errors.ts';

/**
 * Writes `data` to `path` so that a reader or a crash sees the old file or the new one,
 * never half of one: write a temporary file beside it, fsync it, rename it over `path`,
 * then fsync the directory so the rename itself survives a power cut.
 * Any failure is `STORE_WRITE_FAILED` and leaves `path` as it was.
 */
export async function writeFileAtomic(path: string, data: Uint8Array): Promise<void> {
  const directory = dirname(path);
  const temporary = join(
    directory,
    `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`,
  );
  try {
    await mkdir(directory, { recursive: true });
    const file = await open(temporary, 'w', 0o600);
    try {
      await file.writeFile(data);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, path);
    await syncDirectory(directory);
  } catch (error) {
    await rm(temporary, { force: true }).catch(() => undefined);
    throw new StoreWriteFailedError(`could not write ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } catch (error) {
    // Some file systems refuse fsync on a directory; the rename is still atomic there.
    if ((error as NodeJS.ErrnoException).code !== 'EINVAL') throw error;
  } finally {
    await handle.close();
  }
}
