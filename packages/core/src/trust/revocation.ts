import { createHash, verify as verifySignature } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from '../errors.ts';
import { children, type Element, oid, sequence, timeOf } from './der.ts';
import type { ParsedCertificate } from './parsed-certificate.ts';

/** A certificate revocation list decoded once: whose it is, what it revokes, how it is signed. */
export interface ParsedCrl {
  /** DER of the issuer's name, hex: compared with a certificate's `issuerKey`. */
  readonly issuerKey: string;
  readonly fingerprint256: string;
  /** The serial numbers it revokes, as hex without leading zero octets. */
  readonly serials: ReadonlySet<string>;
  readonly thisUpdate: number;
  readonly nextUpdate: number | undefined;
  readonly tbs: Uint8Array;
  readonly signature: Uint8Array;
  /** The hash node's `crypto.verify` takes for its signature algorithm (`null`: EdDSA). */
  readonly hash: string | null;
}

/** Signature algorithms by OID, as node's `crypto.verify` takes them. */
const HASHES: Record<string, string | null> = {
  '1.2.840.10045.4.3.2': 'sha256', // ecdsa-with-SHA256
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.2.840.113549.1.1.11': 'sha256', // sha256WithRSAEncryption
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.3.101.112': null, // Ed25519
  '1.3.101.113': null, // Ed448
};

/**
 * Decodes one DER CRL; throws `INVALID_ARGUMENT` for what is not one, or one signed in a way
 * planesync cannot check. Read with a bounded DER walk over RFC 5280's `CertificateList`:
 * @peculiar/asn1-x509 (2.11) drops the revoked entries of a `TBSCertList`, and its
 * re-encoding is not the bytes that were signed.
 */
export function parseCrl(der: Uint8Array): ParsedCrl {
  try {
    const list = sequence(der, 0, der.length);
    const [tbsCertList, algorithm, signature] = children(der, list);
    if (!tbsCertList || !algorithm || !signature || signature.tag !== 0x03)
      throw new Error('it is not a CertificateList');
    const algorithmOid = oid(der, children(der, algorithm)[0]);
    if (!(algorithmOid in HASHES))
      throw new InvalidArgumentError(
        `a CRL is signed with ${algorithmOid}, which planesync cannot check`,
      );
    const fields = children(der, tbsCertList);
    let next = 0;
    if (fields[next]?.tag === 0x02) next++; // version
    next++; // signature
    const issuer = fields[next++];
    const thisUpdate = fields[next++];
    if (issuer?.tag !== 0x30 || !thisUpdate) throw new Error('its TBSCertList is short');
    let nextUpdate: Element | undefined;
    if (fields[next]?.tag === 0x17 || fields[next]?.tag === 0x18) nextUpdate = fields[next++];
    const serials = new Set<string>();
    if (fields[next]?.tag === 0x30)
      for (const entry of children(der, fields[next]!)) {
        const serial = children(der, entry)[0];
        if (serial?.tag !== 0x02) throw new Error('a revoked entry has no serial number');
        serials.add(serialKey(der.subarray(serial.start, serial.end)));
      }
    return {
      issuerKey: hex(der.subarray(issuer.headerStart, issuer.end)),
      fingerprint256: createHash('sha256').update(der).digest('hex'),
      serials,
      thisUpdate: timeOf(der, thisUpdate),
      nextUpdate: nextUpdate ? timeOf(der, nextUpdate) : undefined,
      tbs: der.subarray(tbsCertList.headerStart, tbsCertList.end),
      // A BIT STRING: its first octet counts the unused bits (0 for a signature).
      signature: der.subarray(signature.start + 1, signature.end),
      hash: HASHES[algorithmOid]!,
    };
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw error;
    throw new InvalidArgumentError(`a CRL cannot be decoded: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** A certificate's serial number as a CRL lists it: hex, without leading zero octets. */
export function serialKey(serial: Uint8Array): string {
  let start = 0;
  while (start < serial.length - 1 && serial[start] === 0) start++;
  return hex(serial.subarray(start));
}

const verified = new Map<string, boolean>();
const CACHE_LIMIT = 1024;

/** Whether `issuer`'s key verifies `crl`'s signature; a pair is checked once. */
export function crlSignedBy(crl: ParsedCrl, issuer: ParsedCertificate): boolean {
  const key = `${crl.fingerprint256}:${issuer.fingerprint256}`;
  let valid = verified.get(key);
  if (valid === undefined) {
    try {
      valid = verifySignature(crl.hash, crl.tbs, issuer.x509.publicKey, crl.signature);
    } catch {
      valid = false;
    }
    if (verified.size >= CACHE_LIMIT) verified.delete(verified.keys().next().value!);
    verified.set(key, valid);
  }
  return valid;
}

function hex(bytes: ArrayBuffer | Uint8Array): string {
  return Buffer.from(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes)).toString('hex');
}

/** OpenSSL's label, and the shorter one some tools write. */
const PEM_CRL = /-----BEGIN (?:X509 )?CRL-----([\s\S]*?)-----END (?:X509 )?CRL-----/g;

/**
 * The CRLs of `inputs` — PEM text (one or several `X509 CRL` or `CRL` blocks), DER bytes, or a file
 * path holding either — decoded; throws `INVALID_ARGUMENT` naming what cannot be read.
 */
export function readCrls(inputs: readonly (string | Uint8Array)[]): ParsedCrl[] {
  return inputs.flatMap((input) => {
    if (typeof input !== 'string') return [parseCrl(input)];
    let text = input;
    let bytes: Uint8Array | undefined;
    if (!input.includes('-----BEGIN')) {
      try {
        bytes = readFileSync(input.trim());
      } catch (error) {
        throw new InvalidArgumentError(
          `cannot read the CRL file ${input.trim()}: ${(error as Error).message}`,
          { cause: error },
        );
      }
      text = Buffer.from(bytes).toString('latin1');
      if (!text.includes('-----BEGIN')) return [parseCrl(bytes)];
    }
    const blocks = [...text.matchAll(PEM_CRL)].map(
      (match) => new Uint8Array(Buffer.from(match[1]!.replace(/\s+/g, ''), 'base64')),
    );
    if (blocks.length === 0)
      throw new InvalidArgumentError('expected a CRL: PEM "X509 CRL" blocks, DER, or a file path');
    return blocks.map(parseCrl);
  });
}
