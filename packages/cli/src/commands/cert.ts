import { chmod, lstat, open, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  altNameProblem,
  type CertificateKeyPair,
  type Clock,
  createCertificateAuthority,
  generateClusterCertificate,
  issueCertificate,
  systemClock,
} from '@planesync/core';
import { readFailure } from '../files.ts';
import { CliError, type CliIo, UsageError } from '../io.ts';
import { MAX_DAYS, parseDays, parseOptions, parseWholeNumber } from '../options.ts';
import { inspectCertificates } from './cert-inspect.ts';
import { checkPathLength, clampDays, readIssuer } from './cert-issuer.ts';

export const CERT_USAGE = `Usage: planesync cert <command> [options]

Commands:
  gen [CERT KEY]      a shared-mode pair like \`kong hybrid gen_cert\` (EC P-384,
                      CN=kong_clustering); default cluster.crt and cluster.key
  ca [CERT KEY]       a PKI certificate authority; default ca.crt and ca.key
  issue [CERT KEY]    a PKI leaf signed by a CA; default <cn>.crt and <cn>.key
  inspect FILE        subject, issuer, SANs, key usage, EKU, fingerprint and expiry of each
                      certificate (FILE - reads stdin)

Run \`planesync cert <command> --help\` for its options.
`;

const DAYS_RANGE = `1 to ${MAX_DAYS}`;

const USAGE: Record<string, string> = {
  gen: `Usage: planesync cert gen [CERT KEY] [--days N]

Writes a shared-mode certificate (mode 0644) and its private key (mode 0600). Both paths, or
neither (cluster.crt, cluster.key). Never overwrites a file.

Options:
  --days N    validity in days, ${DAYS_RANGE} (default 1095, three years)
`,
  ca: `Usage: planesync cert ca --cn NAME [CERT KEY] [--days N] [--issuer-cert FILE --issuer-key FILE] [--path-length N]
       planesync cert ca --cross-sign-cert FILE --cross-sign-key FILE --issuer-cert FILE --issuer-key FILE [CERT] [--days N]

A root CA, or an intermediate when --issuer-cert and --issuer-key name its issuer.
Default paths ca.crt and ca.key. Never overwrites a file.

The issuer is checked first: its key must be its certificate's (an EC key), it must be a CA
that may sign certificates and is valid now, and its path length must allow another CA
below it (none under pathlen:0). An intermediate never outlives its issuer: a longer --days
is shortened, with a warning.

Options:
  --cn NAME            the CA's common name (required, except with --cross-sign-cert)
  --days N             validity in days, ${DAYS_RANGE} (default 3650)
  --issuer-cert FILE   the issuing CA's certificate (makes an intermediate)
  --issuer-key FILE    the issuing CA's private key
  --path-length N      how many CAs may stand below this one (0 to 10)
  --cross-sign-cert FILE, --cross-sign-key FILE
                       certify this existing CA again, under the issuer: the same name and key,
                       signed by --issuer-cert (a new root cross-signed by the old one, while a
                       root changes over: docs/trust.md). Writes the certificate only (default
                       cross-signed.crt); its key stays the CA's own. --cn and --path-length
                       are not used with it: it carries the CA's name, and no path length.
`,
  issue: `Usage: planesync cert issue --issuer-cert FILE --issuer-key FILE --cn NAME --usage client|server|both [CERT KEY] [--days N] [--alt-name NAME]...

A leaf signed by the CA: --usage client for a DP, server for a CP, both for either.
Default paths <cn>.crt and <cn>.key. Never overwrites a file.

The issuer is checked first: its key must be its certificate's (an EC key), and it must be a
CA that may sign certificates and is valid now. The leaf never outlives its issuer: a longer
--days is shortened, with a warning.

Options:
  --cn NAME            the certificate's common name (required)
  --usage KIND         client, server or both (required)
  --issuer-cert FILE   the issuing CA's certificate (required)
  --issuer-key FILE    the issuing CA's private key (required)
  --alt-name NAME      a DNS name (RFC 1123; *.example.com) or an IP address; repeat for more
  --days N             validity in days, ${DAYS_RANGE} (default 365)
`,
  inspect: `Usage: planesync cert inspect FILE

Prints, for each certificate in FILE (PEM or DER; - reads standard input): subject, issuer,
subject alternative names, key usage, extended key usage (EKU), whether it is a CA, SHA-256
fingerprint, validity and the days left (rounded up). Warns, and exits 1, when one has
expired or expires within 30 days.
`,
};

/** The longest `--path-length`: more CAs than any real hierarchy, fewer than a mistake. */
const MAX_PATH_LENGTH = 10;

/** `planesync cert ...`; resolves with the exit code. */
export async function certCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) throw new UsageError(`cert needs a command\n\n${CERT_USAGE}`);
  if (command === '--help' || command === '-h' || command === 'help') {
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
  const { values, positionals } = parseOptions(argv, { days: { type: 'string' } });
  const days = parseDays(values.days, 1095);
  const [certPath, keyPath] = outputPaths(positionals, 'cluster', io);
  await refuseExisting(certPath, keyPath);
  const pair = await generateClusterCertificate({ days, clock: clockOf(io) });
  await writePair(pair, certPath, keyPath, io);
  return 0;
}

async function ca(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOptions(argv, {
    cn: { type: 'string' },
    days: { type: 'string' },
    'issuer-cert': { type: 'string' },
    'issuer-key': { type: 'string' },
    'path-length': { type: 'string' },
    'cross-sign-cert': { type: 'string' },
    'cross-sign-key': { type: 'string' },
  });
  if (values['cross-sign-cert'] !== undefined || values['cross-sign-key'] !== undefined)
    return crossSign(values, positionals, io);
  const commonName = required(values.cn, '--cn');
  let days = parseDays(values.days, 3650);
  const pathLength =
    values['path-length'] === undefined
      ? undefined
      : parseWholeNumber(values['path-length'], '--path-length', MAX_PATH_LENGTH);
  const [certPath, keyPath] = outputPaths(positionals, 'ca', io);
  const intermediate = values['issuer-cert'] !== undefined || values['issuer-key'] !== undefined;
  const issuer = intermediate
    ? await readIssuer(values['issuer-cert'], values['issuer-key'], io)
    : undefined;
  if (issuer) {
    checkPathLength(issuer, pathLength);
    days = clampDays(days, issuer, io, values.days !== undefined);
  }
  await refuseExisting(certPath, keyPath);
  const pair = await createCertificateAuthority({
    commonName,
    days,
    clock: clockOf(io),
    ...(issuer ? { issuer: issuer.pair } : {}),
    ...(pathLength === undefined ? {} : { pathLength }),
  });
  await writePair(pair, certPath, keyPath, io);
  return 0;
}

/** `cert ca --cross-sign-cert … --cross-sign-key …`: an existing CA certified by another. */
async function crossSign(
  values: Record<string, string | boolean | string[] | boolean[] | undefined>,
  positionals: string[],
  io: CliIo,
): Promise<number> {
  const text = (name: string) => values[name] as string | undefined;
  if (text('cross-sign-cert') === undefined || text('cross-sign-key') === undefined)
    throw new UsageError('give both --cross-sign-cert and --cross-sign-key');
  if (text('issuer-cert') === undefined || text('issuer-key') === undefined)
    throw new UsageError(
      '--cross-sign-cert needs --issuer-cert and --issuer-key: the CA that signs it',
    );
  if (positionals.length > 1) throw new UsageError(`unexpected argument: ${positionals[1]}`);
  const certPath = resolve(io.cwd, positionals[0] ?? 'cross-signed.crt');
  const crossed = await readIssuer(text('cross-sign-cert'), text('cross-sign-key'), io);
  const issuer = await readIssuer(text('issuer-cert'), text('issuer-key'), io);
  checkPathLength(issuer, undefined);
  const days = clampDays(parseDays(text('days'), 3650), issuer, io, text('days') !== undefined);
  const pair = await createCertificateAuthority({
    commonName: 'cross-signed',
    days,
    clock: clockOf(io),
    issuer: issuer.pair,
    crossSign: crossed.pair,
  });
  const cert = await createExclusive(certPath, 0o644);
  try {
    await cert.writeFile(pemFile(pair.certificate));
  } finally {
    await cert.close();
  }
  await chmod(certPath, 0o644);
  io.stdout(`wrote ${certPath}\n`);
  return 0;
}

async function issue(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOptions(argv, {
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
  let days = parseDays(values.days, 365);
  const altNames = values['alt-name'] ?? [];
  for (const name of altNames) {
    const problem = altNameProblem(name);
    if (problem) throw new UsageError(`--alt-name ${JSON.stringify(name)} ${problem}`);
  }
  const [certPath, keyPath] = outputPaths(positionals, commonName.replace(/[^\w.-]/g, '_'), io);
  const issuer = await readIssuer(values['issuer-cert'], values['issuer-key'], io);
  days = clampDays(days, issuer, io, values.days !== undefined);
  await refuseExisting(certPath, keyPath);
  const pair = await issueCertificate({
    issuer: issuer.pair,
    commonName,
    usage,
    days,
    altNames,
    clock: clockOf(io),
  });
  await writePair(pair, certPath, keyPath, io);
  return 0;
}

async function inspect(argv: readonly string[], io: CliIo): Promise<number> {
  const { positionals } = parseOptions(argv, {});
  if (positionals.length !== 1) throw new UsageError('inspect takes exactly one FILE');
  return inspectCertificates(positionals[0]!, io);
}

/** core's clock, reading the command's `now` (so validity follows the io a test passes). */
function clockOf(io: CliIo): Clock {
  return { ...systemClock, now: () => io.now() };
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

/** Before any key is generated: neither output may exist. */
async function refuseExisting(certPath: string, keyPath: string): Promise<void> {
  for (const path of [certPath, keyPath]) {
    const exists = await lstat(path).then(
      () => true,
      () => false,
    );
    if (exists) throw new CliError(`${path} exists; refusing to overwrite it`);
  }
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
    await rm(certPath, { force: true });
    throw error;
  }
  try {
    await cert.writeFile(pemFile(pair.certificate));
    await key.writeFile(pemFile(pair.privateKey));
  } finally {
    await cert.close();
    await key.close();
  }
  // The umask may have narrowed the modes; set them as documented.
  await chmod(certPath, 0o644);
  await chmod(keyPath, 0o600);
  io.stdout(`wrote ${certPath}\nwrote ${keyPath}\n`);
}

/**
 * PEM text as a file holds it: ending in a newline, so that `cat a.crt b.crt > chain.pem`
 * gives a chain openssl reads (without it, one END line runs into the next BEGIN).
 */
function pemFile(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`;
}

async function createExclusive(path: string, mode: number) {
  try {
    return await open(path, 'wx', mode);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new CliError(`${path} exists; refusing to overwrite it`);
    }
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError(
      `cannot write ${path}: ${code === 'ENOENT' ? 'its directory does not exist' : readFailure(error)}`,
    );
  }
}
