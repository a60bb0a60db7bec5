import { createHash } from 'node:crypto';
import type { CliIo } from '../io.ts';
import { KEY_USAGE_NAMES, readCertificateFile } from './certificate-file.ts';

const DAY_MS = 86_400_000;
/** Under this many days left, inspect warns and exits 1. */
const WARN_DAYS = 30;

const EKU_NAMES: Record<string, string> = {
  '1.3.6.1.5.5.7.3.1': 'TLS Web Server Authentication',
  '1.3.6.1.5.5.7.3.2': 'TLS Web Client Authentication',
  '1.3.6.1.5.5.7.3.3': 'Code Signing',
  '1.3.6.1.5.5.7.3.4': 'E-mail Protection',
  '1.3.6.1.5.5.7.3.8': 'Time Stamping',
  '1.3.6.1.5.5.7.3.9': 'OCSP Signing',
  '2.5.29.37.0': 'Any Extended Key Usage',
};

/**
 * Prints each certificate of FILE (`-`: standard input); resolves 1 when one has expired or
 * expires within 30 days, else 0.
 */
export async function inspectCertificates(file: string, io: CliIo): Promise<number> {
  const certificates = await readCertificateFile(file, io);
  const now = io.now();
  let warned = false;
  for (const { der, x509, basicConstraints, keyUsage } of certificates) {
    const notBefore = Date.parse(x509.validFrom);
    const notAfter = Date.parse(x509.validTo);
    const subject = x509.subject.replace(/\n/g, ', ');
    const eku = (x509.keyUsage ?? []).map((oid) => EKU_NAMES[oid] ?? oid);
    const usages = KEY_USAGE_NAMES.filter(([flag]) => ((keyUsage ?? 0) & flag) !== 0).map(
      ([, name]) => name,
    );
    const pathLength = basicConstraints?.pathLength;
    io.stdout(
      [
        `subject:      ${subject}`,
        `issuer:       ${x509.issuer.replace(/\n/g, ', ')}`,
        `SANs:         ${x509.subjectAltName ?? '(none)'}`,
        `key usage:    ${keyUsage === undefined ? '(none: any)' : usages.join(', ')}`,
        `EKU:          ${eku.length > 0 ? eku.join(', ') : '(none: any purpose)'}`,
        `CA:           ${basicConstraints?.ca ? `yes${pathLength === undefined ? '' : ` (pathlen:${pathLength})`}` : 'no'}`,
        `fingerprint:  SHA256:${createHash('sha256').update(der).digest('hex')}`,
        `valid from:   ${new Date(notBefore).toISOString()}${now < notBefore ? ` (not valid yet: starts in ${days(notBefore - now)})` : ''}`,
        `valid until:  ${new Date(notAfter).toISOString()} (${now >= notAfter ? `expired ${days(now - notAfter)} ago` : `${days(notAfter - now)} left`})`,
        '',
      ].join('\n'),
    );
    if (notAfter - now < WARN_DAYS * DAY_MS) {
      io.stderr(
        `warning: ${subject} ${now >= notAfter ? `expired ${days(now - notAfter)} ago` : `expires in ${days(notAfter - now)}`}\n`,
      );
      warned = true;
    }
  }
  return warned ? 1 : 0;
}

/**
 * Whole days, rounded up: a fresh 365-day certificate has 365 days left and a 1-day one 1,
 * and one that expired an hour ago expired 1 day ago.
 */
function days(ms: number): string {
  const count = Math.max(1, Math.ceil(ms / DAY_MS));
  return `${count} ${count === 1 ? 'day' : 'days'}`;
}
