import './reflect-polyfill.ts';
import { createHash, X509Certificate } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  type GeneralName,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_nameConstraints,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  type Name,
  NameConstraints,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
} from '@peculiar/asn1-x509';
import { serialKey } from './revocation.ts';

/** Extensions a path validator must understand when marked critical. */
const UNDERSTOOD = new Set([
  id_ce_basicConstraints,
  id_ce_keyUsage,
  id_ce_extKeyUsage,
  id_ce_subjectAltName,
  id_ce_nameConstraints,
  '2.5.29.32', // certificatePolicies (no policy is required, so any is acceptable)
  '2.5.29.36', // policyConstraints
  '2.5.29.54', // inhibitAnyPolicy
]);
/** Extensions that RFC 5280 says MUST NOT be critical. */
const NEVER_CRITICAL = new Set([
  id_ce_authorityKeyIdentifier,
  id_ce_subjectKeyIdentifier,
  '1.3.6.1.5.5.7.1.1', // authorityInfoAccess
]);

/** A certificate decoded once, with everything path validation asks of it. */
export interface ParsedCertificate {
  readonly der: Uint8Array;
  readonly fingerprint256: string;
  /** The serial number, hex without leading zero octets (as a CRL lists it). */
  readonly serial: string;
  /** node's view, for signatures and for callers. */
  readonly x509: X509Certificate;
  /** DER of the subject and issuer names, hex, for exact comparison. */
  readonly subjectKey: string;
  readonly issuerKey: string;
  readonly subject: Name;
  readonly subjectEmpty: boolean;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly selfIssued: boolean;
  /** `undefined` when the certificate has no basicConstraints extension. */
  readonly basicConstraints?: { ca: boolean; pathLength?: number; critical: boolean };
  readonly keyUsage?: { keyCertSign: boolean; digitalSignature: boolean };
  readonly extendedKeyUsage?: readonly string[];
  readonly subjectAltNames?: { names: readonly GeneralName[]; critical: boolean };
  readonly nameConstraints?: { value: NameConstraints; critical: boolean };
  readonly subjectKeyId?: string;
  readonly authorityKeyId?: string;
  /** Structural defects that make the certificate unacceptable, whatever the path. */
  readonly defects: readonly string[];
}

/** Decodes one DER certificate; throws when it is not a certificate at all. */
export function parseCertificate(der: Uint8Array): ParsedCertificate {
  const certificate = AsnConvert.parse(der, Certificate);
  const x509 = new X509Certificate(der);
  const tbs = certificate.tbsCertificate;
  const defects: string[] = [];
  const subjectKey = hex(AsnConvert.serialize(tbs.subject));
  const issuerKey = hex(AsnConvert.serialize(tbs.issuer));

  const serial = new Uint8Array(tbs.serialNumber);
  const significant = serial[0] === 0 && serial.length > 1 ? serial.subarray(1) : serial;
  if (serial.every((byte) => byte === 0)) defects.push('its serial number is zero');
  else if ((serial[0] ?? 0) & 0x80) defects.push('its serial number is negative');
  if (significant.length > 20) defects.push('its serial number is longer than 20 octets');
  if (tbs.issuer.length === 0) defects.push('its issuer name is empty');
  const algorithmsMatch =
    hex(AsnConvert.serialize(tbs.signature)) ===
    hex(AsnConvert.serialize(certificate.signatureAlgorithm));
  if (!algorithmsMatch) defects.push('its two signature algorithm fields differ');

  const seen = new Set<string>();
  const parsed: {
    -readonly [K in
      | 'basicConstraints'
      | 'keyUsage'
      | 'extendedKeyUsage'
      | 'subjectAltNames'
      | 'nameConstraints'
      | 'subjectKeyId'
      | 'authorityKeyId']?: NonNullable<ParsedCertificate[K]>;
  } = {};
  for (const extension of tbs.extensions ?? []) {
    const oid = extension.extnID;
    const critical = extension.critical === true;
    if (seen.has(oid)) defects.push(`extension ${oid} appears twice`);
    seen.add(oid);
    if (critical && NEVER_CRITICAL.has(oid)) defects.push(`extension ${oid} must not be critical`);
    if (critical && !UNDERSTOOD.has(oid) && !NEVER_CRITICAL.has(oid)) {
      defects.push(`it has an unknown critical extension ${oid}`);
    }
    const value = extension.extnValue.buffer;
    try {
      switch (oid) {
        case id_ce_basicConstraints: {
          const bc = AsnConvert.parse(value, BasicConstraints);
          parsed.basicConstraints = {
            ca: bc.cA === true,
            critical,
            ...(bc.pathLenConstraint === undefined ? {} : { pathLength: bc.pathLenConstraint }),
          };
          break;
        }
        case id_ce_keyUsage: {
          const ku = AsnConvert.parse(value, KeyUsage);
          parsed.keyUsage = {
            keyCertSign: (ku.toNumber() & KeyUsageFlags.keyCertSign) !== 0,
            digitalSignature: (ku.toNumber() & KeyUsageFlags.digitalSignature) !== 0,
          };
          break;
        }
        case id_ce_extKeyUsage:
          parsed.extendedKeyUsage = [...AsnConvert.parse(value, ExtendedKeyUsage)];
          break;
        case id_ce_subjectAltName:
          parsed.subjectAltNames = {
            names: [...AsnConvert.parse(value, SubjectAlternativeName)],
            critical,
          };
          break;
        case id_ce_nameConstraints:
          parsed.nameConstraints = { value: AsnConvert.parse(value, NameConstraints), critical };
          break;
        case id_ce_subjectKeyIdentifier:
          parsed.subjectKeyId = hex(AsnConvert.parse(value, SubjectKeyIdentifier).buffer);
          break;
        case id_ce_authorityKeyIdentifier: {
          const aki = AsnConvert.parse(value, AuthorityKeyIdentifier);
          if (aki.keyIdentifier) parsed.authorityKeyId = hex(aki.keyIdentifier.buffer);
          break;
        }
      }
    } catch {
      defects.push(`extension ${oid} is malformed`);
    }
  }

  const subjectEmpty = tbs.subject.length === 0;
  if (subjectEmpty && parsed.subjectAltNames && !parsed.subjectAltNames.critical) {
    defects.push('its subject is empty and its subjectAltName is not critical');
  }

  return {
    der,
    fingerprint256: createHash('sha256').update(der).digest('hex'),
    serial: serialKey(serial),
    x509,
    subjectKey,
    issuerKey,
    subject: tbs.subject,
    subjectEmpty,
    notBefore: timeOf(tbs.validity.notBefore),
    notAfter: timeOf(tbs.validity.notAfter),
    selfIssued: subjectKey === issuerKey,
    defects,
    ...parsed,
  };
}

function timeOf(time: { utcTime?: Date; generalTime?: Date }): number {
  return (time.utcTime ?? time.generalTime ?? new Date(Number.NaN)).getTime();
}

function hex(buffer: ArrayBuffer | ArrayBufferView): string {
  const view =
    buffer instanceof ArrayBuffer
      ? new Uint8Array(buffer)
      : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  return Buffer.from(view).toString('hex');
}
