import { InvalidArgumentError } from '../errors.ts';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;

/** A certificate as planesync accepts it in memory: DER bytes, or PEM text (one or more). */
export type CertificateData = Uint8Array | string;

/**
 * Decodes every `CERTIFICATE` block of a PEM text to DER, in order.
 * Throws `INVALID_ARGUMENT` when the text holds none.
 *
 * @example
 * ```ts
 * import { decodePemCertificates } from '@planesync/core';
 * const pem = '-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n';
 * decodePemCertificates(pem); // [Uint8Array [1, 2, 3]]
 * ```
 */
export function decodePemCertificates(pem: string): Uint8Array[] {
  const ders: Uint8Array[] = [];
  for (const match of pem.matchAll(PEM_CERTIFICATE)) {
    const body = (match[1] ?? '').replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length === 0) {
      throw new InvalidArgumentError('a PEM CERTIFICATE block is not valid base64');
    }
    ders.push(new Uint8Array(Buffer.from(body, 'base64')));
  }
  if (ders.length === 0) throw new InvalidArgumentError('no PEM CERTIFICATE block found');
  return ders;
}

/** DER bytes as they are, PEM text decoded; a PEM text may hold a whole chain. */
export function toDerChain(certificates: readonly CertificateData[]): Uint8Array[] {
  return certificates.flatMap((certificate) =>
    typeof certificate === 'string' ? decodePemCertificates(certificate) : [certificate],
  );
}
