import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import { CliError, type CliIo } from './io.ts';

/** A FILE argument as messages name it: `-` is standard input. */
export function fileName(file: string): string {
  return file === '-' ? 'standard input' : file;
}

/** Why a file could not be read, in words: "no such file", not `ENOENT`. */
export function readFailure(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'ENOTDIR') return 'a part of the path is not a directory';
  if (code === 'EISDIR') return 'it is a directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'ELOOP') return 'too many symbolic links';
  if (code === 'ENAMETOOLONG') return 'the name is too long';
  return (error as Error)?.message ?? String(error);
}

/**
 * Reads FILE (`-`: standard input) whole, at most `maxBytes`. Every failure is a
 * {@link CliError} naming the file and, when given, what it was for ("the issuer key").
 */
export async function readInput(
  file: string,
  io: CliIo,
  options: { what?: string; maxBytes: number },
): Promise<Buffer> {
  const named = options.what ? `${options.what} ${fileName(file)}` : fileName(file);
  if (file === '-') {
    if (!io.stdin) throw new CliError(`cannot read ${named}: there is none here`);
    return Buffer.from(await io.stdin(options.maxBytes));
  }
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(resolve(io.cwd, file), 'r');
  } catch (error) {
    throw new CliError(`cannot read ${named}: ${readFailure(error)}`);
  }
  try {
    const stats = await handle.stat();
    if (stats.isDirectory()) throw new CliError(`cannot read ${named}: it is a directory`);
    if (stats.isFile() && stats.size > options.maxBytes)
      throw new CliError(`${named} is larger than ${options.maxBytes} bytes; refusing to read it`);
    // Read in pieces, so a file that grows, or a device without a size, is bounded too.
    const chunks: Buffer[] = [];
    let total = 0;
    const size = Math.min(1024 * 1024, Math.max(stats.size + 1, 16 * 1024));
    for (;;) {
      const chunk = Buffer.allocUnsafe(size);
      const { bytesRead } = await handle.read(chunk, 0, chunk.byteLength, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > options.maxBytes)
        throw new CliError(
          `${named} is larger than ${options.maxBytes} bytes; refusing to read it`,
        );
      chunks.push(chunk.subarray(0, bytesRead));
    }
    return Buffer.concat(chunks);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`cannot read ${named}: ${readFailure(error)}`);
  } finally {
    await handle.close();
  }
}
