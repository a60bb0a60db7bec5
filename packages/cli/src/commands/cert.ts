import { createHash, X509Certificate } from 'node:crypto';
import { chmod, open, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';

type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig['options']>;

import {
  type CertificateKeyPair,
  createCertificateAuthority,
  decodePemCertificates,
  generateClusterCertificate,
  issueCertificate,
} from '@planesync/core';
import { type CliIo, UsageError } from '../io.ts';

export const CERT_USAGE = `Usage: planesync cert <command> [options]

Commands:
  gen [CERT KEY]      a shared-mode pair like \`kong hybrid gen_cert\` (EC P-384,
                      CN=kong_clustering); default cluster.crt and cluster.key
  ca [CERT KEY]       a PKI certificate authority; default ca.crt and ca.key
  issue [CERT KEY]    a PKI leaf signed by a CA; default <cn>.crt and <cn>.key
  inspect FILE        subject, issuer, key usage, fingerprint and expiry of each certificate

Run \`planesync cert <command> --help\` for its options.
`;

const USAGE: Record<string, string> = {
  gen: `Usage: planesync cert gen [CERT KEY] [--days N]

Writes a shared-mode certificate (mode 0644) and its private key (mode 0600). Both paths, or
neither (cluster.crt, cluster.key). Never overwrites a file.

Options:
  --days N    validity in days (default 1095, three years)
`,
  ca: `Usage: planesync cert ca --cn NAME [CERT KEY] [--days N] [--issuer-cert FILE --issuer-key FILE] [--path-length N]

A root CA, or an intermediate when --issuer-cert and --issuer-key name its issuer.
Default paths ca.crt and ca.key. Never overwrites a file.

Options:
  --cn NAME            the CA's common name (required)
  --days N             validity in days (default 3650)
  --issuer-cert FILE   the issuing CA's certificate (makes an intermediate)
  --issuer-key FILE    the issuing CA's private key
  --path-length N      how many CAs may stand below this one
`,
  issue: `Usage: planesync cert issue --issuer-cert FILE --issuer-key FILE --cn NAME --usage client|server|both [CERT KEY] [--days N] [--alt-name NAME]...

A leaf signed by the CA: --usage client for a DP, server for a CP, both for either.
Default paths <cn>.crt and <cn>.key. Never overwrites a file.

Options:
  --cn NAME            the certificate's common name (required)
  --usage KIND         client, server or both (required)
  --issuer-cert FILE   the issuing CA's certificate (required)
  --issuer-key FILE    the issuing CA's private key (required)
  --alt-name NAME      a DNS name or IP address; repeat for more
  --days N             validity in days (default 365)
`,
  inspect: `Usage: planesync cert inspect FILE

Prints, for each certificate in FILE (PEM or DER): subject, issuer, extended key usage,
SHA-256 fingerprint, validity and days to expiry. Warns when one expires within 30 days.
`,
};

const EKU_NAMES: Record<string, string> = {
  '1.3.6.1.5.5.7.3.1': 'TLS Web Server Authentication',
  '1.3.6.1.5.5.7.3.2': 'TLS Web Client Authentication',
};

/** `planesync cert ...`; resolves with the exit code. */
export async function certCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    io.stdout(CERT_USAGE);
    return 0;
  }
  const usage = USAGE[command];
  if (!usage) throw new UsageError(`unknown cert command: ${command}\n\n${CERT_USAGE}`);
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout(usage);
    return 0;
  }
  try {
    switch (command) {
      case 'gen':
        return await gen(rest, io);
      case 'ca':
        return await ca(rest, io);
      case 'issue':
        return await issue(rest, io);
      default:
        return await inspect(rest, io);
    }
  } catch (error) {
    if (error instanceof UsageError) throw new UsageError(`${error.message}\n\n${usage}`);
    throw error;
  }
}

async function gen(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(argv, { days: { type: 'string' } });
  const [certPath, keyPath] = outputPaths(positionals, 'cluster', io);
  const pair = await generateClusterCertificate({ days: days(values.days, 1095) });
  await writePair(pair, certPath, keyPath, io);
  return 0;
}

async function ca(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(argv, {
    cn: { type: 'string' },
    days: { type: 'string' },
    'issuer-cert': { type: 'string' },
    'issuer-key': { type: 'string' },
    'path-length': { type: 'string' },
  });
  const commonName = required(values.cn, '--cn');
  const [certPath, keyPath] = outputPaths(positionals, 'ca', io);
  const issuer = await readIssuer(values['issuer-cert'], values['issuer-key'], io, false);
  const pathLength =
    values['path-length'] === undefined
      ? undefined
      : wholeNumber(values['path-length'], '--path-length');
  const pair = await createCertificateAuthority({
    commonName,
    days: days(values.days, 3650),
    ...(issuer ? { issuer } : {}),
    ...(pathLength === undefined ? {} : { pathLength }),
  });
  await writePair(pair, certPath, keyPath, io);
  return 0;
}

async function issue(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(argv, {
    cn: { type: 'string' },
    usage: { type: 'string' },
    days: { type: 'string' },
    'issuer-cert': { type: 'string' },
    'issuer-key': { type: 'string' },
    'alt-name': { type: 'string', multiple: true },
  });
  const commonName = required(values.cn, '--cn');
  const usage = required(values.usage, '--usage');
  if (usage !== 'client' && usage !== 'server' && usage !== 'both') {
    throw new UsageError(`--usage must be client, server or both, got ${usage}`);
  }
  const issuer = (await readIssuer(values['issuer-cert'], values['issuer-key'], io, true))!;
  const [certPath, keyPath] = outputPaths(positionals, commonName.replace(/[^\w.-]/g, '_'), io);
  const pair = await issueCertificate({
    issuer,
    commonName,
    usage,
    days: days(values.days, 365),
    altNames: values['alt-name'] ?? [],
  });
  await writePair(pair, certPath, keyPath, io);
  return 0;
}

async function inspect(argv: readonly string[], io: CliIo): Promise<number> {
  const { positionals } = parse(argv, {});
  if (positionals.length !== 1) throw new UsageError('inspect takes exactly one FILE');
  const path = resolve(io.cwd, positionals[0]!);
  const bytes = await readFile(path);
  const text = bytes.toString('latin1');
  const ders = text.includes('-----BEGIN') ? decodePemCertificates(text) : [new Uint8Array(bytes)];
  let warned = false;
  for (const der of ders) {
    const certificate = new X509Certificate(der);
    const notAfter = Date.parse(certificate.validTo);
    const daysLeft = Math.floor((notAfter - io.now()) / 86_400_000);
    const eku = (certificate.keyUsage ?? []).map((oid) => EKU_NAMES[oid] ?? oid);
    io.stdout(
      [
        `subject:      ${certificate.subject.replace(/\n/g, ', ')}`,
        `issuer:       ${certificate.issuer.replace(/\n/g, ', ')}`,
        `key usage:    ${eku.length > 0 ? eku.join(', ') : '(no extended key usage: any)'}`,
        `CA:           ${certificate.ca ? 'yes' : 'no'}`,
        `fingerprint:  SHA256:${createHash('sha256').update(der).digest('hex')}`,
        `valid from:   ${new Date(Date.parse(certificate.validFrom)).toISOString()}`,
        `valid until:  ${new Date(notAfter).toISOString()} (${daysLeft < 0 ? `expired ${-daysLeft} days ago` : `${daysLeft} days left`})`,
        '',
      ].join('\n'),
    );
    if (daysLeft < 30) {
      io.stderr(
        `warning: ${certificate.subject.replace(/\n/g, ', ')} ${daysLeft < 0 ? 'has expired' : `expires in ${daysLeft} days`}\n`,
      );
      warned = true;
    }
  }
  return warned ? 1 : 0;
}

function parse<const O extends ParseArgsOptionsConfig>(argv: readonly string[], options: O) {
  try {
    return parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>({
      args: [...argv],
      options,
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function outputPaths(positionals: string[], stem: string, io: CliIo): [string, string] {
  if (positionals.length === 1) throw new UsageError('give both CERT and KEY paths, or neither');
  if (positionals.length > 2) throw new UsageError(`unexpected argument: ${positionals[2]}`);
  const [cert = `${stem}.crt`, key = `${stem}.key`] = positionals;
  return [resolve(io.cwd, cert), resolve(io.cwd, key)];
}

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`${flag} is required`);
  return value;
}

function wholeNumber(text: string, flag: string): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`${flag} takes a whole number, got ${text}`);
  return Number(text);
}

function days(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = wholeNumber(text, '--days');
  if (value < 1) throw new UsageError('--days must be at least 1');
  return value;
}

async function readIssuer(
  certPath: string | undefined,
  keyPath: string | undefined,
  io: CliIo,
  needed: boolean,
): Promise<CertificateKeyPair | undefined> {
  if (certPath === undefined && keyPath === undefined && !needed) return undefined;
  if (certPath === undefined || keyPath === undefined) {
    throw new UsageError('give both --issuer-cert and --issuer-key');
  }
  return {
    certificate: await readFile(resolve(io.cwd, certPath), 'utf8'),
    privateKey: await readFile(resolve(io.cwd, keyPath), 'utf8'),
  };
}

/** Writes both files, refusing to overwrite either (checked before anything is written). */
async function writePair(
  pair: CertificateKeyPair,
  certPath: string,
  keyPath: string,
  io: CliIo,
): Promise<void> {
  const cert = await createExclusive(certPath, 0o644);
  let key: Awaited<ReturnType<typeof open>>;
  try {
    key = await createExclusive(keyPath, 0o600);
  } catch (error) {
    await cert.close();
    await (await import('node:fs/promises')).rm(certPath, { force: true });
    throw error;
  }
  try {
    await cert.writeFile(pair.certificate);
    await key.writeFile(pair.privateKey);
  } finally {
    await cert.close();
    await key.close();
  }
  // The umask may have narrowed the modes; set them as documented.
  await chmod(certPath, 0o644);
  await chmod(keyPath, 0o600);
  io.stdout(`wrote ${certPath}\nwrote ${keyPath}\n`);
}

async function createExclusive(path: string, mode: number) {
  try {
    return await open(path, 'wx', mode);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new UsageError(`${path} exists; refusing to overwrite it`);
    }
    throw error;
  }
}
