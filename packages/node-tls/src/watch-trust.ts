import type { Clock, Logger, PlanesyncError, TrustVerifier } from '@planesync/core';
import { pollFiles, reporter } from './poll-files.ts';

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
  return pollFiles(
    files,
    () => {
      const trust = make();
      target.setTrust(trust, { recheck: options.recheck ?? true });
      try {
        options.onChange?.(trust);
      } catch {
        // a listener that throws changes nothing here
      }
    },
    reporter(options, files, 'trust'),
    {
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.intervalMs !== undefined ? { intervalMs: options.intervalMs } : {}),
    },
  );
}
