import { readFileSync } from 'node:fs';
import type { SecureContextOptions } from 'node:tls';
import { type CertificateInput, InvalidArgumentError, readCertificates } from '@planesync/core';
import { checkIdentity } from '@planesync/core/transport';
import { TLS_HARDENING } from './handshake-guard.ts';

/** A node's own certificate (chain, leaf first) and key, in any form the verifier accepts. */
export interface TlsIdentity {
  /** The certificate, or the chain leaf first (PEM text, DER, a file path, base64 PEM). */
  cert: CertificateInput | readonly CertificateInput[];
  /** The private key: PEM text or a file path. */
  key: string | Uint8Array;
  /** CAs to name in the client-certificate request (server) — acceptance is core's decision. */
  ca?: readonly CertificateInput[];
}

/**
 * PEM certificates joined with newlines, as node's TLS wants a chain; throws
 * `INVALID_ARGUMENT` when `inputs` hold no certificate.
 *
 * @example
 * ```ts
 * import { toPemChain } from '@planesync/node-tls';
 * const chain = toPemChain(['/cluster/dp.crt', '/cluster/intermediate.crt']);
 * ```
 */
export function toPemChain(inputs: CertificateInput | readonly CertificateInput[]): string {
  const list = (Array.isArray(inputs) ? inputs : [inputs]) as readonly CertificateInput[];
  const ders = readCertificates(list);
  if (ders.length === 0) throw new InvalidArgumentError('a TLS identity needs a certificate');
  return ders
    .map(
      (der) =>
        `-----BEGIN CERTIFICATE-----\n${Buffer.from(der)
          .toString('base64')
          .replace(/(.{64})/g, '$1\n')
          .trimEnd()}\n-----END CERTIFICATE-----`,
    )
    .join('\n');
}

/**
 * The private key as PEM text (node's TLS takes PEM, not a KeyObject), from PEM text or bytes
 * or a PEM file's path; throws `INVALID_ARGUMENT` for anything else.
 *
 * @example
 * ```ts
 * import { toPemKey } from '@planesync/node-tls';
 * const key = toPemKey('/cluster/dp.key');
 * ```
 */
export function toPemKey(key: string | Uint8Array): string {
  const text = typeof key === 'string' ? key : Buffer.from(key).toString('utf8');
  if (text.includes('-----BEGIN')) return text;
  try {
    const fromFile = readFileSync(text.trim(), 'utf8');
    if (fromFile.includes('-----BEGIN')) return fromFile;
  } catch (error) {
    throw new InvalidArgumentError(`cannot read the private key file ${text.trim()}`, {
      cause: error,
    });
  }
  throw new InvalidArgumentError('the private key must be PEM text or a PEM file path');
}

/**
 * The `cert`/`key`/`ca` options of node's `tls` for an identity.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:tls';
 * import { TLS_HARDENING, tlsIdentityOptions } from '@planesync/node-tls';
 * const server = createServer({
 *   ...tlsIdentityOptions({ cert: '/cluster/cp.crt', key: '/cluster/cp.key' }),
 *   ...TLS_HARDENING,
 *   requestCert: true,
 *   rejectUnauthorized: false, // core's TrustVerifier judges the chain
 * });
 * ```
 */
export function tlsIdentityOptions(identity: TlsIdentity): {
  cert: string;
  key: string;
  ca?: string[];
} {
  return {
    cert: toPemChain(identity.cert),
    key: toPemKey(identity.key),
    ...(identity.ca ? { ca: [toPemChain(identity.ca)] } : {}),
  };
}

/**
 * {@link tlsIdentityOptions}, once the key is checked to be the leaf certificate's: what a
 * transport takes at `setIdentity`, so a pair replaced half-way (a new certificate, the old
 * key) is refused with `INVALID_ARGUMENT` and the pair in use stays.
 */
export function checkedIdentityOptions(
  identity: TlsIdentity,
): ReturnType<typeof tlsIdentityOptions> {
  checkIdentity(identity, toPemKey);
  return tlsIdentityOptions(identity);
}

/**
 * A TLS server's new identity, taken at run time (a transport's `setIdentity`): checked
 * (`INVALID_ARGUMENT`, the pair in use staying), presented by `server` from its next handshake
 * on while sockets already up keep theirs, and returned for the server's next `listen`. The
 * CAs named in the client-certificate request stay those of `current`, unless `next` names
 * its own.
 */
export function replaceServerIdentity(
  server: { setSecureContext(options: SecureContextOptions): void } | undefined,
  next: TlsIdentity,
  current: TlsIdentity,
): ReturnType<typeof tlsIdentityOptions> {
  const checked = checkedIdentityOptions(
    next.ca === undefined && current.ca !== undefined ? { ...next, ca: current.ca } : next,
  );
  server?.setSecureContext({ ...checked, ...TLS_HARDENING });
  return checked;
}
