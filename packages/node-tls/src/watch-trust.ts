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
  type TrustVerifier,
} from '@planesync/core';
import { logSafely } from '@planesync/core/transport';

/** Options of {@link watchTrust}. */
export interface WatchTrustOptions {
  /** How often the files are read. Default 1 000 ms. */
  intervalMs?: number;
  clock?: Clock;
  /**
   * Whether links already up are judged again by the new verifier (a certificate a new CRL
   * revokes is closed). Default `true`.
   */
  recheck?: boolean;
  /** Told each time a new verifier was taken. */
  onChange?: (trust: TrustVerifier) => void;
  /**
   * Told when the files changed but no verifier could be made of them (a CRL half written,
   * a file missing): the verifier in use stays, and the files are read again. Once per
   * distinct content. Default: a warning in `logger`.
   */
  onError?: (error: PlanesyncError) => void;
  logger?: Logger;
}

/** A watch on trust files; `close()` ends it. */
export interface TrustWatch {
  /** Resolves once the files were first read: changes from then on are followed. */
  readonly ready: Promise<void>;
  close(): void;
}

/**
 * Follows the files a node's trust is made of — CRLs a CA publishes, trust anchors — as they
 * are replaced on disk: every `intervalMs` it reads them, and when their content changed it
 * calls `make()` (which reads them again into a `TrustVerifier`) and gives the result to
 * `target.setTrust`, with `recheck` (by default), so a certificate a new CRL revokes is closed
 * on the links already up. When `make()` throws (a CRL half written), the verifier in use
 * stays and the next read tries again.
 *
 * @example
 * ```ts
 * import { TrustVerifier } from '@planesync/core';
 * import { watchTrust } from '@planesync/node-tls';
 *
 * declare const cp: import('@planesync/core').ControlPlane;
 * const files = { anchors: '/cluster/root.crt', crl: '/cluster/intermediate.crl' };
 * const trust = () =>
 *   new TrustVerifier({ mode: 'pki', trustAnchors: [files.anchors], crls: [files.crl] });
 * cp.setTrust(trust());
 * const watch = watchTrust(cp, [files.anchors, files.crl], trust);
 * ```
 */
export function watchTrust(
  target: { setTrust(trust: TrustVerifier, options?: { recheck?: boolean }): void },
  files: readonly string[],
  make: () => TrustVerifier,
  options: WatchTrustOptions = {},
): TrustWatch {
  const clock = options.clock ?? systemClock;
  const intervalMs = options.intervalMs ?? 1_000;
  const logger = options.logger ?? defaultLogger;
  let seen: string | undefined;
  let reported: string | undefined;
  let timer: TimerId | undefined;
  let closed = false;
  let first = true;

  const report = (error: unknown, digest: string) => {
    if (digest === reported) return;
    reported = digest;
    const typed =
      error instanceof PlanesyncError
        ? error
        : new InvalidArgumentError(`the trust files cannot be read: ${String(error)}`, {
            cause: error,
          });
    try {
      if (options.onError) options.onError(typed);
      else
        logSafely(
          logger,
          'warn',
          { err: typed, files },
          'the trust files cannot be taken yet; the verifier in use stays',
        );
    } catch {
      // a listener that throws changes nothing here
    }
  };

  const read = async () => {
    let digest: string;
    try {
      const texts = await Promise.all(files.map((file) => readFile(file)));
      const hash = createHash('sha256');
      for (const text of texts) hash.update(text).update('\0');
      digest = hash.digest('hex');
    } catch (error) {
      if (!first) report(error, `unreadable:${(error as NodeJS.ErrnoException).code ?? ''}`);
      return;
    }
    if (first) {
      first = false;
      seen = digest;
      return;
    }
    if (digest === seen || closed) return;
    let trust: TrustVerifier;
    try {
      trust = make();
      target.setTrust(trust, { recheck: options.recheck ?? true });
    } catch (error) {
      report(error, digest);
      return;
    }
    seen = digest;
    reported = undefined;
    try {
      options.onChange?.(trust);
    } catch {
      // a listener that throws changes nothing here
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
