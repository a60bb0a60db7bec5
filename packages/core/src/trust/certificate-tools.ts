import './reflect-polyfill.ts';
import { randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { type Clock, systemClock } from '../clock.ts';
import { InvalidArgumentError } from '../errors.ts';
import { altNameProblem, ipVersion } from './alt-names.ts';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
const crypto = webcrypto;
const DAY_MS = 86_400_000;
const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-384' } as const;
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-384' } as const;

/** A certificate and its private key, both PEM (the key as PKCS#8). */
export interface CertificateKeyPair {
  certificate: string;
  privateKey: string;
}

/**
 * The shared-mode certificate, like `kong hybrid gen_cert`: EC P-384, subject and issuer
 * `CN=kong_clustering`, valid from now for `days` (default 1095, three years). Every CP and
 * DP of the cluster presents this same pair; each pins it.
 *
 * @example
 * ```ts
 * import { generateClusterCertificate, TrustVerifier } from '@planesync/core';
 * const { certificate, privateKey } = await generateClusterCertificate();
 * const verifier = new TrustVerifier({ mode: 'pinned', certificates: [certificate] });
 * ```
 */
export async function generateClusterCertificate(
  options: { days?: number; clock?: Clock } = {},
): Promise<CertificateKeyPair> {
  const keys = await generateKeys();
  const name = 'CN=kong_clustering';
  const certificate = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serial(),
      subject: name,
      issuer: name,
      ...validity(options),
      signingAlgorithm: SIGNING_ALGORITHM,
      publicKey: keys.publicKey,
      signingKey: keys.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement,
          true,
        ),
        new x509.ExtendedKeyUsageExtension([
          x509.ExtendedKeyUsage.serverAuth,
          x509.ExtendedKeyUsage.clientAuth,
        ]),
        new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'kong_clustering' }]),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  return { certificate: certificate.toString('pem'), privateKey: await exportKey(keys.privateKey) };
}

/**
 * A CA for PKI mode: a root when `issuer` is not given, else an intermediate signed by it.
 * `pathLength` limits how many CAs may stand below it.
 *
 * @example
 * ```ts
 * import { createCertificateAuthority } from '@planesync/core';
 * const root = await createCertificateAuthority({ commonName: 'Cluster Root CA' });
 * const intermediate = await createCertificateAuthority({
 *   commonName: 'Cluster Intermediate CA', issuer: root, pathLength: 0,
 * });
 * ```
 */
export async function createCertificateAuthority(options: {
  commonName: string;
  days?: number;
  issuer?: CertificateKeyPair;
  pathLength?: number;
  clock?: Clock;
  /**
   * A CA to certify again under `issuer`: the result has `crossSign`'s name and key (and
   * `commonName` is ignored), signed by `issuer` — a cross-signed certificate, with which a
   * chain issued under a new root is also valid under the old one while a root changes over
   * (docs/trust.md). The private key returned is `crossSign`'s.
   */
  crossSign?: CertificateKeyPair;
}): Promise<CertificateKeyPair> {
  if (options.crossSign && !options.issuer)
    throw new InvalidArgumentError('crossSign needs the issuer that signs the CA again');
  const crossed = options.crossSign ? await importIssuer(options.crossSign) : undefined;
  const subject = crossed ? crossed.certificate.subjectName : distinguishedName(options.commonName);
  const keys: CryptoKeyPair = crossed
    ? {
        privateKey: crossed.privateKey,
        publicKey: await crossed.certificate.publicKey.export(crypto),
      }
    : await generateKeys();
  const issuer = options.issuer ? await importIssuer(options.issuer) : undefined;
  const certificate = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serial(),
      subject,
      issuer: issuer ? issuer.certificate.subject : subject,
      ...validity({
        days: options.days ?? 3650,
        ...(options.clock ? { clock: options.clock } : {}),
      }),
      signingAlgorithm: SIGNING_ALGORITHM,
      publicKey: keys.publicKey,
      signingKey: issuer ? issuer.privateKey : keys.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(true, options.pathLength, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.keyCertSign |
            x509.KeyUsageFlags.cRLSign |
            x509.KeyUsageFlags.digitalSignature,
          true,
        ),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
        await x509.AuthorityKeyIdentifierExtension.create(
          issuer ? issuer.certificate.publicKey : keys.publicKey,
          false,
          crypto,
        ),
      ],
    },
    crypto,
  );
  return {
    certificate: certificate.toString('pem'),
    privateKey: options.crossSign ? options.crossSign.privateKey : await exportKey(keys.privateKey),
  };
}

/**
 * A leaf for PKI mode, signed by `issuer`: `usage` `client` for a DP (TLS Web Client
 * Authentication), `server` for a CP (TLS Web Server Authentication), `both` for either.
 * `altNames` become DNS or IP subject alternative names.
 *
 * @example
 * ```ts
 * import { createCertificateAuthority, issueCertificate } from '@planesync/core';
 * const ca = await createCertificateAuthority({ commonName: 'Cluster CA' });
 * const cp = await issueCertificate({
 *   issuer: ca, commonName: 'cp.internal', usage: 'server', altNames: ['cp.internal', '127.0.0.1'],
 * });
 * const dp = await issueCertificate({ issuer: ca, commonName: 'dp-1', usage: 'client' });
 * ```
 */
export async function issueCertificate(options: {
  issuer: CertificateKeyPair;
  commonName: string;
  usage: 'client' | 'server' | 'both';
  days?: number;
  altNames?: readonly string[];
  clock?: Clock;
}): Promise<CertificateKeyPair> {
  if (!['client', 'server', 'both'].includes(options.usage)) {
    throw new InvalidArgumentError(
      `usage must be client, server or both, got ${String(options.usage)}`,
    );
  }
  for (const name of options.altNames ?? []) {
    const problem = altNameProblem(name);
    if (problem) throw new InvalidArgumentError(`altNames: ${JSON.stringify(name)} ${problem}`);
  }
  const keys = await generateKeys();
  const issuer = await importIssuer(options.issuer);
  const usages = {
    client: [x509.ExtendedKeyUsage.clientAuth],
    server: [x509.ExtendedKeyUsage.serverAuth],
    both: [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
  }[options.usage];
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(
      x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement,
      true,
    ),
    new x509.ExtendedKeyUsageExtension(usages),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
    await x509.AuthorityKeyIdentifierExtension.create(issuer.certificate.publicKey, false, crypto),
  ];
  if (options.altNames && options.altNames.length > 0) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension(
        options.altNames.map((value) => ({ type: ipVersion(value) ? 'ip' : 'dns', value })),
      ),
    );
  }
  const certificate = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serial(),
      subject: distinguishedName(options.commonName),
      issuer: issuer.certificate.subject,
      ...validity({
        days: options.days ?? 365,
        ...(options.clock ? { clock: options.clock } : {}),
      }),
      signingAlgorithm: SIGNING_ALGORITHM,
      publicKey: keys.publicKey,
      signingKey: issuer.privateKey,
      extensions,
    },
    crypto,
  );
  return { certificate: certificate.toString('pem'), privateKey: await exportKey(keys.privateKey) };
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return (await crypto.subtle.generateKey(KEY_ALGORITHM, true, [
    'sign',
    'verify',
  ])) as CryptoKeyPair;
}

async function importIssuer(pair: CertificateKeyPair) {
  const certificate = new x509.X509Certificate(pair.certificate);
  const der = x509.PemConverter.decodeFirst(pair.privateKey);
  const algorithm = certificate.publicKey.algorithm as webcrypto.EcKeyAlgorithm;
  const privateKey = await crypto.subtle.importKey(
    'pkcs8',
    der,
    { name: 'ECDSA', namedCurve: algorithm.namedCurve },
    false,
    ['sign'],
  );
  return { certificate, privateKey };
}

async function exportKey(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await crypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

function validity(options: { days?: number; clock?: Clock }) {
  const days = options.days ?? 1095;
  if (!Number.isInteger(days) || days < 1 || days > 36_500) {
    throw new InvalidArgumentError(`days must be a whole number from 1 to 36500, got ${days}`);
  }
  const now = (options.clock ?? systemClock).now();
  // Whole seconds: X.509 times carry no fraction.
  const notBefore = new Date(Math.floor(now / 1000) * 1000);
  return { notBefore, notAfter: new Date(notBefore.getTime() + days * DAY_MS) };
}

/** A positive 16-byte serial number, as hex. */
function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes.toString('hex');
}

function distinguishedName(commonName: string): string {
  if (typeof commonName !== 'string' || commonName.trim() === '') {
    throw new InvalidArgumentError('a certificate needs a common name');
  }
  return `CN=${commonName.replace(/([,+"\\<>;=])/g, '\\$1')}`;
}
