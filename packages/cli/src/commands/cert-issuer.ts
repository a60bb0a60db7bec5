import { createPublicKey } from 'node:crypto';
import type { CertificateKeyPair } from '@planesync/core';
import { CliError, type CliIo, UsageError } from '../io.ts';
import {
  type Certificate509,
  KeyUsageFlags,
  readCertificateFile,
  readPrivateKeyFile,
} from './certificate-file.ts';

const DAY_MS = 86_400_000;
/** The curves core can sign with (node's names for P-256, P-384, P-521). */
const CURVES = new Set(['prime256v1', 'secp384r1', 'secp521r1']);

/** An issuer that has passed every check: its pair for core, and what the checks need. */
export interface CheckedIssuer {
  pair: CertificateKeyPair;
  certificate: Certificate509;
  /** The certificate file, as given, for messages. */
  file: string;
  notAfter: number;
}

/**
 * Reads `--issuer-cert` and `--issuer-key` and checks what openssl would check of the
 * certificates they sign, so nothing is written that a verifier rejects: the key is the
 * certificate's, the certificate is a CA (basicConstraints CA:TRUE) allowed to sign
 * certificates (keyUsage keyCertSign, when it has a keyUsage), valid now, and its key an EC
 * key core can sign with. Every failure is a {@link CliError} naming the file.
 */
export async function readIssuer(
  certFile: string | undefined,
  keyFile: string | undefined,
  io: CliIo,
): Promise<CheckedIssuer> {
  if (certFile === undefined || keyFile === undefined)
    throw new UsageError('give both --issuer-cert and --issuer-key');
  const [certificate] = await readCertificateFile(certFile, io, 'the issuer certificate');
  const key = await readPrivateKeyFile(keyFile, io, 'the issuer key');
  const { x509, basicConstraints, keyUsage } = certificate!;
  const keysPublicHalf = createPublicKey(key).export({ type: 'spki', format: 'der' });
  if (!keysPublicHalf.equals(x509.publicKey.export({ type: 'spki', format: 'der' })))
    throw new CliError(
      `the issuer key ${keyFile} does not belong to the issuer certificate ${certFile} (their public keys differ)`,
    );
  if (!basicConstraints?.ca)
    throw new CliError(
      `the issuer certificate ${certFile} is not a CA (${basicConstraints ? 'basicConstraints CA:FALSE' : 'no basicConstraints'}): a leaf cannot sign certificates; give the CA that issued it`,
    );
  if (keyUsage !== undefined && (keyUsage & KeyUsageFlags.keyCertSign) === 0)
    throw new CliError(
      `the issuer certificate ${certFile} may not sign certificates: its key usage lacks Certificate Sign (keyCertSign)`,
    );
  const notBefore = Date.parse(x509.validFrom);
  const notAfter = Date.parse(x509.validTo);
  if (io.now() < notBefore)
    throw new CliError(`the issuer certificate ${certFile} is not valid until ${day(notBefore)}`);
  if (io.now() >= notAfter)
    throw new CliError(
      `the issuer certificate ${certFile} expired on ${day(notAfter)}; renew it first`,
    );
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType !== 'ec' || curve === undefined || !CURVES.has(curve))
    throw new CliError(
      `the issuer key ${keyFile} is ${key.asymmetricKeyType === 'ec' ? `on curve ${curve}` : `an ${key.asymmetricKeyType?.toUpperCase()} key`}; planesync signs with EC keys on P-256, P-384 or P-521`,
    );
  return {
    pair: {
      certificate: x509.toString(),
      privateKey: key.export({ type: 'pkcs8', format: 'pem' }) as string,
    },
    certificate: certificate!,
    file: certFile,
    notAfter,
  };
}

/**
 * Refuses an intermediate the issuer's pathLenConstraint does not allow: none under
 * `pathlen:0`, and never a longer `--path-length` than the issuer leaves.
 */
export function checkPathLength(issuer: CheckedIssuer, pathLength: number | undefined): void {
  const allowed = issuer.certificate.basicConstraints?.pathLength;
  if (allowed === undefined) return;
  if (allowed === 0)
    throw new CliError(
      `the issuer certificate ${issuer.file} has pathlen:0: no CA may stand below it, only leaves (planesync cert issue)`,
    );
  if (pathLength !== undefined && pathLength > allowed - 1)
    throw new CliError(
      `--path-length ${pathLength} is more than the issuer certificate ${issuer.file} allows below it (pathlen:${allowed}, so at most ${allowed - 1})`,
    );
}

/**
 * The days a certificate signed now by `issuer` may have: `days`, or fewer so that it does
 * not outlive its issuer, with a warning on stderr giving the new end date.
 */
export function clampDays(days: number, issuer: CheckedIssuer, io: CliIo, asked = true): number {
  // As core sets it: notBefore is now in whole seconds, notAfter `days` later.
  const start = Math.floor(io.now() / 1000) * 1000;
  const most = Math.floor((issuer.notAfter - start) / DAY_MS);
  if (most < 1)
    throw new CliError(
      `the issuer certificate ${issuer.file} expires on ${day(issuer.notAfter)}, in less than a day; renew it first`,
    );
  if (days <= most) return days;
  // A default that runs past the issuer (a CA of 3650 days under a root made a moment
  // earlier) is cut to the issuer's end without a word; a --days that does is warned about.
  if (!asked) return most;
  io.stderr(
    `planesync: warning: the issuer certificate ${issuer.file} expires on ${day(issuer.notAfter)}; the new certificate is valid for ${most} days instead of ${days}, until ${day(start + most * DAY_MS)}\n`,
  );
  return most;
}

function day(ms: number): string {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}
