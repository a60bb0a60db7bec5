import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  BasicConstraints,
  Certificate,
  id_ce_basicConstraints,
  id_ce_keyUsage,
  KeyUsage,
  KeyUsageFlags,
} from '@peculiar/asn1-x509';
import { decodePemCertificates } from '@planesync/core';
import { fileName, readInput } from '../files.ts';
import { CliError, type CliIo } from '../io.ts';

/** Certificate and key files are small; a bigger one is not what it claims to be. */
const MAX_CERTIFICATE_FILE_BYTES = 16 * 1024 * 1024;

/** A certificate with the extensions node's `X509Certificate` does not expose. */
export interface Certificate509 {
  der: Uint8Array;
  x509: X509Certificate;
  /** `undefined`: no basicConstraints extension (not a CA). */
  basicConstraints?: { ca: boolean; pathLength?: number };
  /** The keyUsage flags, or `undefined` when the extension is absent (any use). */
  keyUsage?: number;
}

/** The key usage names, in the order openssl prints them. */
export const KEY_USAGE_NAMES: ReadonlyArray<[number, string]> = [
  [KeyUsageFlags.digitalSignature, 'Digital Signature'],
  [KeyUsageFlags.nonRepudiation, 'Non Repudiation'],
  [KeyUsageFlags.keyEncipherment, 'Key Encipherment'],
  [KeyUsageFlags.dataEncipherment, 'Data Encipherment'],
  [KeyUsageFlags.keyAgreement, 'Key Agreement'],
  [KeyUsageFlags.keyCertSign, 'Certificate Sign'],
  [KeyUsageFlags.cRLSign, 'CRL Sign'],
  [KeyUsageFlags.encipherOnly, 'Encipher Only'],
  [KeyUsageFlags.decipherOnly, 'Decipher Only'],
];

export { KeyUsageFlags };

/**
 * Every certificate in FILE (`-`: standard input), PEM (one or more blocks) or DER. `what`
 * names the file's role in messages ("the issuer certificate").
 */
export async function readCertificateFile(
  file: string,
  io: CliIo,
  what?: string,
): Promise<Certificate509[]> {
  const named = what ? `${what} ${fileName(file)}` : fileName(file);
  const bytes = await readInput(file, io, {
    maxBytes: MAX_CERTIFICATE_FILE_BYTES,
    ...(what ? { what } : {}),
  });
  const text = bytes.toString('latin1');
  let ders: Uint8Array[];
  if (text.includes('-----BEGIN')) {
    if (!text.includes('-----BEGIN CERTIFICATE-----'))
      throw new CliError(`${named} does not hold a PEM certificate${otherPem(text)}`);
    try {
      ders = decodePemCertificates(text);
    } catch {
      throw new CliError(`${named} holds a PEM certificate block that is not valid base64`);
    }
  } else ders = [new Uint8Array(bytes)];
  return ders.map((der, index) => {
    const which = ders.length > 1 ? `certificate ${index + 1} of ${named}` : named;
    try {
      return parseCertificate(der);
    } catch {
      throw new CliError(
        ders.length > 1 || text.includes('-----BEGIN')
          ? `${which} cannot be decoded as an X.509 certificate`
          : `${named} does not hold a certificate (PEM or DER)`,
      );
    }
  });
}

/** The private key in FILE: PEM (PKCS#8, SEC1 or PKCS#1) or DER PKCS#8. */
export async function readPrivateKeyFile(
  file: string,
  io: CliIo,
  what: string,
): Promise<KeyObject> {
  const bytes = await readInput(file, io, { maxBytes: MAX_CERTIFICATE_FILE_BYTES, what });
  const text = bytes.toString('latin1');
  try {
    return text.includes('-----BEGIN')
      ? createPrivateKey({ key: text, format: 'pem' })
      : createPrivateKey({ key: bytes, format: 'der', type: 'pkcs8' });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ERR_MISSING_PASSPHRASE' || text.includes('ENCRYPTED'))
      throw new CliError(
        `${what} ${file} is encrypted with a passphrase; give it decrypted (openssl pkey -in ${file} -out plain.key)`,
      );
    throw new CliError(`${what} ${file} does not hold a PEM private key${otherPem(text)}`);
  }
}

function parseCertificate(der: Uint8Array): Certificate509 {
  const x509 = new X509Certificate(der);
  const parsed: Certificate509 = { der, x509 };
  const tbs = AsnConvert.parse(der, Certificate).tbsCertificate;
  for (const extension of tbs.extensions ?? []) {
    const value = extension.extnValue.buffer;
    if (extension.extnID === id_ce_basicConstraints) {
      const constraints = AsnConvert.parse(value, BasicConstraints);
      parsed.basicConstraints = {
        ca: constraints.cA === true,
        ...(constraints.pathLenConstraint === undefined
          ? {}
          : { pathLength: constraints.pathLenConstraint }),
      };
    } else if (extension.extnID === id_ce_keyUsage) {
      parsed.keyUsage = AsnConvert.parse(value, KeyUsage).toNumber();
    }
  }
  return parsed;
}

/** ", but a PRIVATE KEY": what a PEM file holds instead, when it is something else. */
function otherPem(text: string): string {
  const label = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(text)?.[1];
  return label ? ` (it holds a ${label})` : '';
}
