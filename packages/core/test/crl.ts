// A CRL for tests: signed with a CA's key by @peculiar/x509, as a CA publishes one.
import { createPrivateKey, webcrypto } from 'node:crypto';
// @peculiar/x509 needs the Reflect metadata API first (as core's certificate tools install it).
import '../src/trust/reflect-polyfill.ts';
import * as x509 from '@peculiar/x509';
import type { CertificateKeyPair } from '../src/index.ts';

const DAY = 86_400_000;

/** A CRL `ca` signs, listing `revoked`'s serial numbers (PEM). */
export async function crl(ca: CertificateKeyPair, revoked: CertificateKeyPair[]): Promise<string> {
  const jwk = createPrivateKey(ca.privateKey).export({ format: 'jwk' });
  const signingKey = await webcrypto.subtle.importKey(
    'jwk',
    jwk,
    { name: 'ECDSA', namedCurve: jwk.crv! },
    false,
    ['sign'],
  );
  const list = await x509.X509CrlGenerator.create({
    issuer: new x509.X509Certificate(ca.certificate).subjectName,
    thisUpdate: new Date(Date.now() - DAY),
    nextUpdate: new Date(Date.now() + 7 * DAY),
    entries: revoked.map((pair) => ({
      serialNumber: new x509.X509Certificate(pair.certificate).serialNumber,
    })),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' },
    signingKey,
  });
  return list.toString('pem');
}
