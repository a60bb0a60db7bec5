import { existsSync, readFileSync } from 'node:fs';
import { InvalidArgumentError } from '../errors.ts';
import { type CertificateData, decodePemCertificates } from './pem.ts';

/**
 * A certificate (or a bundle) in any form Kong's `lua_ssl_trusted_certificate` takes:
 * PEM text, DER bytes, a file path (PEM or DER; absolute, or relative to the working
 * directory as in `cluster/cluster.crt`), base64-encoded PEM, or `'system'` for the operating
 * system's bundle.
 */
export type CertificateInput = CertificateData;

/** Where distributions keep the system bundle, in the order Kong searches them. */
export const SYSTEM_BUNDLE_PATHS: readonly string[] = [
  '/etc/ssl/certs/ca-certificates.crt',
  '/etc/pki/tls/certs/ca-bundle.crt',
  '/etc/ssl/ca-bundle.pem',
  '/etc/pki/tls/cacert.pem',
  '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem',
  '/etc/ssl/cert.pem',
];

/**
 * Every certificate `inputs` name, as DER, in order. Throws `INVALID_ARGUMENT` naming the
 * input that holds no certificate.
 *
 * @example
 * ```ts
 * import { readCertificates } from '@planesync/core';
 * const anchors = readCertificates(['system']); // the OS bundle, as Kong's "system"
 * ```
 */
export function readCertificates(inputs: readonly CertificateInput[]): Uint8Array[] {
  return inputs.flatMap((input) => readOne(input));
}

function readOne(input: CertificateInput): Uint8Array[] {
  if (typeof input !== 'string') return [input];
  const text = input.trim();
  if (text === 'system') {
    const path = SYSTEM_BUNDLE_PATHS.find((candidate) => existsSync(candidate));
    if (!path) throw new InvalidArgumentError('no system certificate bundle found');
    return decodePemCertificates(readFileSync(path, 'utf8'));
  }
  if (text.includes('-----BEGIN')) return decodePemCertificates(text);
  if (looksLikePath(text)) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(text);
    } catch (error) {
      throw new InvalidArgumentError(
        `cannot read certificate file ${text}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    const asText = bytes.toString('latin1');
    return asText.includes('-----BEGIN') ? decodePemCertificates(asText) : [new Uint8Array(bytes)];
  }
  if (/^[A-Za-z0-9+/=\s]+$/.test(text)) {
    const decoded = Buffer.from(text, 'base64').toString('latin1');
    if (decoded.includes('-----BEGIN')) return decodePemCertificates(decoded);
  }
  throw new InvalidArgumentError(
    `${JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text)} is not a certificate: expected PEM text, DER bytes, a file path, base64 PEM or "system"`,
  );
}

/** A path: absolute, `./…`, `dir/file`, `file.crt`, or an existing file of that name. */
function looksLikePath(text: string): boolean {
  if (text.includes('\n')) return false;
  return (
    text.startsWith('/') ||
    text.startsWith('.') ||
    text.includes('/') ||
    /\.(crt|pem|cer|der|ca-bundle)$/i.test(text) ||
    existsSync(text)
  );
}
