import type { Clock, Logger, PlanesyncError } from '@planesync/core';
import { pollFiles, reporter } from './poll-files.ts';
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
  const certFiles = typeof files.cert === 'string' ? [files.cert] : [...files.cert];
  return pollFiles(
    [...certFiles, files.key],
    (contents) => {
      // PEM as text; DER (a certificate file without a BEGIN line) as its bytes.
      const read = (bytes: Buffer) =>
        bytes.includes('-----BEGIN') ? bytes.toString('utf8') : new Uint8Array(bytes);
      const identity: TlsIdentity = {
        cert: contents.slice(0, -1).map(read),
        key: read(contents.at(-1)!),
      };
      target.setIdentity(identity);
      try {
        options.onChange?.(identity);
      } catch {
        // a listener that throws changes nothing here
      }
    },
    reporter(options, [...certFiles, files.key], 'identity'),
    {
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.intervalMs !== undefined ? { intervalMs: options.intervalMs } : {}),
    },
  );
}
