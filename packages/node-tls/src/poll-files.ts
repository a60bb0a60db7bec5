import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  type Clock,
  defaultLogger,
  InvalidArgumentError,
  type Logger,
  PlanesyncError,
  systemClock,
  type TimerId,
} from '@planesync/core';
import { logSafely } from '@planesync/core/transport';

/** A poll of files; `close()` ends it. */
export interface FilePoll {
  /** Resolves once the files were first read: changes from then on are followed. */
  readonly ready: Promise<void>;
  close(): void;
}

/**
 * Reads `files` every `intervalMs` (a small poll: operators replace such files by rename, and
 * a poll sees that where a file watcher may not), and when their content changed gives it to
 * `take`. The first read is what is in use already, and is not taken — unless the files could
 * not be read then (a rotation half-way), in which case the first content read is. `take`
 * throws for content it cannot use; that error, and files that cannot be read, go to `report`
 * once per distinct content, and the next change is tried again. Nothing is taken or reported
 * after `close()`, even by a read in flight.
 */
export function pollFiles(
  files: readonly string[],
  take: (contents: Buffer[]) => void,
  report: (error: unknown) => void,
  options: { clock?: Clock; intervalMs?: number } = {},
): FilePoll {
  const clock = options.clock ?? systemClock;
  const intervalMs = options.intervalMs ?? 1_000;
  let seen: string | undefined;
  let timer: TimerId | undefined;
  let closed = false;
  let first = true;

  const read = async () => {
    let contents: Buffer[];
    try {
      // Bytes, not text: a DER file's bytes that are not UTF-8 still count, and reach `take`.
      contents = await Promise.all(files.map((file) => readFile(file)));
    } catch (error) {
      const digest = `unreadable:${(error as NodeJS.ErrnoException).code ?? ''}`;
      if (digest !== seen && !closed) report(error);
      first = false;
      seen = digest;
      return;
    }
    const hash = createHash('sha256');
    for (const content of contents) hash.update(content).update('\0');
    const digest = hash.digest('hex');
    if (first) {
      first = false;
      seen = digest;
      return;
    }
    if (digest === seen || closed) return;
    seen = digest;
    try {
      take(contents);
    } catch (error) {
      if (!closed) report(error);
    }
  };

  const tick = (): Promise<void> =>
    read().finally(() => {
      if (!closed) timer = clock.setTimeout(() => void tick(), intervalMs);
    });
  const ready = tick();
  return {
    ready,
    close() {
      closed = true;
      if (timer !== undefined) clock.clearTimeout(timer);
    },
  };
}

/**
 * What a watch reports with: `onError` when the host gave one, else a warning in `logger`;
 * every error typed (a file that cannot be read is `INVALID_ARGUMENT`). A listener that throws
 * changes nothing.
 */
export function reporter(
  options: { onError?: ((error: PlanesyncError) => void) | undefined; logger?: Logger | undefined },
  files: readonly string[],
  what: string,
): (error: unknown) => void {
  const logger = options.logger ?? defaultLogger;
  return (error) => {
    const typed =
      error instanceof PlanesyncError
        ? error
        : new InvalidArgumentError(`cannot read the ${what} files: ${(error as Error).message}`, {
            cause: error,
          });
    try {
      if (options.onError) options.onError(typed);
      else
        logSafely(
          logger,
          'warn',
          { err: typed, files },
          `the ${what} files cannot be taken yet; what is in use stays`,
        );
    } catch {
      // a listener that throws changes nothing here
    }
  };
}
