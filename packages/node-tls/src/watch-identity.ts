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
import type { TlsIdentity } from './tls-identity.ts';

/** The files of a node's identity: its certificate (the chain's files, leaf first) and key. */
export interface IdentityFiles {
  cert: string | readonly string[];
  key: string;
}

/** Options of {@link watchIdentity}. */
export interface WatchIdentityOptions {
  /** How often the files are read. Default 1 000 ms. */
  intervalMs?: number;
  clock?: Clock;
  /** Told each time a new pair was taken. */
  onChange?: (identity: TlsIdentity) => void;
  /**
   * Told when the files hold a pair that cannot be taken (a certificate replaced before its
   * key, a file missing); the pair in use stays, and the files are read again. Once per
   * distinct content. Default: a warning in `logger`.
   */
  onError?: (error: PlanesyncError) => void;
  logger?: Logger;
}

/** A watch on an identity's files; `close()` ends it. */
export interface IdentityWatch {
  /** Resolves once the files were first read: changes from then on are followed. */
  readonly ready: Promise<void>;
  close(): void;
}

/**
 * Follows a node's certificate and key on disk, as operators replace them: every `intervalMs`
 * it reads the files, and when their content changed it gives the pair to
 * `target.setIdentity` — a `ControlPlane`, a `DataPlane` or a transport. New connections then
 * present the new pair; established ones keep theirs. A pair that does not belong together
 * (the certificate replaced, the key not yet) is refused by the target and reported once, the
 * pair in use stays, and the next read tries again: replace the files in either order.
 *
 * @example
 * ```ts
 * import { watchIdentity } from '@planesync/node-tls';
 *
 * declare const cp: import('@planesync/core').ControlPlane;
 * const watch = watchIdentity(cp, { cert: ['/cluster/cp.crt', '/cluster/intermediate.crt'], key: '/cluster/cp.key' });
 * // … at shutdown
 * watch.close();
 * ```
 */
export function watchIdentity(
  target: { setIdentity(identity: TlsIdentity): void },
  files: IdentityFiles,
  options: WatchIdentityOptions = {},
): IdentityWatch {
  const clock = options.clock ?? systemClock;
  const intervalMs = options.intervalMs ?? 1_000;
  const logger = options.logger ?? defaultLogger;
  const certFiles = typeof files.cert === 'string' ? [files.cert] : [...files.cert];
  // What the files held when the watch began is what the target presents already.
  let seen: string | undefined;
  let timer: TimerId | undefined;
  let closed = false;
  let first = true;

  const report = (error: PlanesyncError) => {
    // A read that was in flight when the watch closed says nothing.
    if (closed) return;
    try {
      if (options.onError) options.onError(error);
      else
        logSafely(
          logger,
          'warn',
          { err: error, files: [...certFiles, files.key] },
          'the identity files hold a pair that cannot be taken yet; the one in use stays',
        );
    } catch {
      // a listener that throws changes nothing here
    }
  };

  const read = async () => {
    let texts: string[];
    try {
      texts = await Promise.all([...certFiles, files.key].map((file) => readFile(file, 'utf8')));
    } catch (error) {
      const digest = `unreadable:${(error as NodeJS.ErrnoException).code ?? ''}`;
      if (digest !== seen)
        report(
          new InvalidArgumentError(`cannot read the identity files: ${(error as Error).message}`, {
            cause: error,
          }),
        );
      // Files unreadable when the watch begins (a rotation half-way, a wrong path) say nothing
      // of what the target presents: the first pair read after is given to it, not taken as
      // what it has already — else a rotation caught half-way would never be applied.
      first = false;
      seen = digest;
      return;
    }
    const digest = createHash('sha256').update(texts.join('\0')).digest('hex');
    if (first) {
      first = false;
      seen = digest;
      return;
    }
    if (digest === seen || closed) return;
    seen = digest;
    const identity: TlsIdentity = { cert: texts.slice(0, -1), key: texts.at(-1)! };
    try {
      target.setIdentity(identity);
    } catch (error) {
      report(
        error instanceof PlanesyncError
          ? error
          : new InvalidArgumentError(`the identity was refused: ${String(error)}`, {
              cause: error,
            }),
      );
      return;
    }
    try {
      options.onChange?.(identity);
    } catch {
      // a listener that throws changes nothing here
    }
  };

  const tick = () =>
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
