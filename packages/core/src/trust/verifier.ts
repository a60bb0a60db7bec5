import { createHash, type X509Certificate } from 'node:crypto';
import { type Clock, systemClock } from '../clock.ts';
import { InvalidArgumentError, type TrustCode } from '../errors.ts';
import { type CertificateInput, readCertificates } from './certificate-input.ts';
import {
  invalidNameConstraint,
  ipBytes,
  isDnsName,
  violatesNameConstraints,
} from './name-constraints.ts';
import { type ParsedCertificate, parseCertificate } from './parsed-certificate.ts';
import { type CertificateData, toDerChain } from './pem.ts';
import { crlSignedBy, type ParsedCrl, readCrls } from './revocation.ts';

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const ANY_EKU = '2.5.29.37.0';
const COMMON_NAME = '2.5.4.3';

/** How a verifier decides: pinned certificates, or a PKI of trust anchors. */
export type TrustOptions =
  | {
      /** `'shared'` is Kong's word for it (`cluster_mtls = shared`): the same mode. */
      mode: 'pinned' | 'shared';
      /** The certificates a peer may present (Kong's shared `cluster.crt`); several allow rotation. */
      certificates: readonly CertificateInput[];
      clock?: Clock;
    }
  | {
      mode: 'pki';
      /** Roots, intermediates or leaves to trust (Kong's `cluster_ca_cert`). */
      trustAnchors: readonly CertificateInput[];
      /** When set, a DP's leaf CN must be one of these (Kong checks no CN by default). */
      allowedCommonNames?: readonly string[];
      /** Most intermediates between the leaf and an anchor; default 4. */
      maxDepth?: number;
      /**
       * Certificate revocation lists (PEM text, DER, or file paths, read once here): a
       * certificate on the path whose issuer signed a CRL listing its serial number is refused
       * with `TRUST_REVOKED`. A CRL whose signature does not verify with the issuer's key is
       * not used. To take a new CRL, make a verifier with it and `setTrust(verifier, { recheck:
       * true })`: links already up are judged again.
       */
      crls?: readonly (string | Uint8Array)[];
      clock?: Clock;
    };

/** What is being verified and as what. */
export interface VerifyOptions {
  /** `data-plane`: the CP judging a DP (needs clientAuth); `control-plane`: a DP judging the CP (serverAuth). */
  role: 'data-plane' | 'control-plane';
  /** For role `control-plane`: the name the leaf must carry (SAN DNS or IP, else CN). */
  serverName?: string;
  /** Verify as of this time (ms since the epoch or a Date); default the clock's now. */
  at?: number | Date;
}

/** A trusted chain. */
export interface TrustSuccess {
  ok: true;
  leaf: X509Certificate;
  /** The path from the leaf to the anchor that made it trusted. */
  chain: X509Certificate[];
  /** The earliest expiry on that path: when this connection's trust runs out. */
  expiresAt: Date;
}

/** An untrusted chain, with the reason. */
export interface TrustFailure {
  ok: false;
  code: TrustCode;
  message: string;
}

export type TrustResult = TrustSuccess | TrustFailure;

/** Bounds the search through a hostile bag of intermediates. */
const MAX_PATH_ATTEMPTS = 256;

/**
 * Decides whether a peer's certificate chain is trusted — once, in core, from the DER chain a
 * transport hands over. `pinned` mode (Kong's shared mode, the spec's "cert1") trusts exactly
 * the pinned certificates. `pki` mode builds a path from the leaf through the presented
 * intermediates (an unordered bag) to a trust anchor — a root ("cert3"), an intermediate
 * ("cert2") or the leaf itself ("cert1") — and checks it as RFC 5280 asks. It never throws
 * on hostile input: every problem is a result with a `TRUST_*` code.
 *
 * @example
 * ```ts
 * import { TrustVerifier } from '@planesync/core';
 * declare const caPem: string, dpChainPem: string;
 * const verifier = new TrustVerifier({ mode: 'pki', trustAnchors: [caPem] });
 * const result = verifier.verify(dpChainPem, { role: 'data-plane' });
 * if (!result.ok) console.log(result.code); // e.g. TRUST_UNTRUSTED_ISSUER
 * ```
 */
export class TrustVerifier {
  readonly mode: 'pinned' | 'pki';
  readonly #clock: Clock;
  readonly #pins = new Set<string>();
  readonly #anchors = new Map<string, ParsedCertificate>();
  readonly #anchorsBySubject = new Map<string, ParsedCertificate[]>();
  readonly #allowedCommonNames: ReadonlySet<string> | undefined;
  readonly #maxDepth: number;
  /** The CRLs by their issuer's name (DER, hex). */
  readonly #crls = new Map<string, ParsedCrl[]>();
  /** Certificates seen recently, by SHA-256 of their DER: a reconnecting DP is not re-parsed. */
  readonly #parsed = new Map<string, ParsedCertificate>();

  constructor(options: TrustOptions) {
    const mode = (options as { mode?: unknown } | undefined)?.mode;
    if (mode !== 'pinned' && mode !== 'shared' && mode !== 'pki')
      throw new InvalidArgumentError(
        `TrustVerifier mode must be 'pinned' (Kong's 'shared') or 'pki', got ${JSON.stringify(mode)}`,
      );
    this.mode = mode === 'pki' ? 'pki' : 'pinned';
    this.#clock = options.clock ?? systemClock;
    if (options.mode !== 'pki') {
      if (!Array.isArray(options.certificates))
        throw new InvalidArgumentError(
          `${mode} mode needs certificates: the pinned cluster certificate(s)`,
        );
      const ders = readCertificates(options.certificates);
      if (ders.length === 0)
        throw new InvalidArgumentError('pinned mode needs at least one certificate');
      for (const der of ders) this.#pins.add(parseOrThrow(der).fingerprint256);
      this.#maxDepth = 0;
      this.#allowedCommonNames = undefined;
      return;
    }
    if (!Array.isArray(options.trustAnchors))
      throw new InvalidArgumentError('pki mode needs trustAnchors: the cluster CA certificate(s)');
    const ders = readCertificates(options.trustAnchors);
    if (ders.length === 0)
      throw new InvalidArgumentError('pki mode needs at least one trust anchor');
    for (const der of ders) {
      const anchor = parseOrThrow(der);
      this.#anchors.set(anchor.fingerprint256, anchor);
      const peers = this.#anchorsBySubject.get(anchor.subjectKey) ?? [];
      peers.push(anchor);
      this.#anchorsBySubject.set(anchor.subjectKey, peers);
    }
    this.#maxDepth = options.maxDepth ?? 4;
    for (const crl of readCrls(options.crls ?? [])) {
      // A CRL an anchor issued is checked here: a wrong file fails now, not every handshake.
      const issuers = this.#anchorsBySubject.get(crl.issuerKey) ?? [];
      if (issuers.length > 0 && !issuers.some((anchor) => crlSignedBy(crl, anchor)))
        throw new InvalidArgumentError(
          `a CRL names trust anchor ${describe(issuers[0]!)} as its issuer, but its key did not sign it`,
        );
      const list = this.#crls.get(crl.issuerKey) ?? [];
      list.push(crl);
      this.#crls.set(crl.issuerKey, list);
    }
    this.#allowedCommonNames = options.allowedCommonNames
      ? new Set(options.allowedCommonNames)
      : undefined;
  }

  /**
   * Verifies `chain` (PEM text, or DER certificates leaf first; extra certificates are an
   * unordered bag of intermediates).
   */
  verify(chain: CertificateData | readonly CertificateData[], options: VerifyOptions): TrustResult {
    let certificates: ParsedCertificate[];
    try {
      const ders = toDerChain(Array.isArray(chain) ? chain : [chain as CertificateData]);
      if (ders.length === 0)
        return fail('TRUST_NO_CERTIFICATE', 'the peer presented no certificate');
      certificates = ders.map((der) => this.#parse(der));
    } catch (error) {
      if (Array.isArray(chain) && chain.length === 0) {
        return fail('TRUST_NO_CERTIFICATE', 'the peer presented no certificate');
      }
      return fail(
        'TRUST_MALFORMED',
        `a certificate cannot be decoded: ${(error as Error).message}`,
      );
    }
    const at = options.at === undefined ? this.#clock.now() : Number(options.at);
    const [leaf, ...rest] = certificates as [ParsedCertificate, ...ParsedCertificate[]];
    if (this.mode === 'pinned') return this.#verifyPinned(leaf, at);
    const bag = new Map<string, ParsedCertificate[]>();
    const seen = new Set([leaf.fingerprint256]);
    for (const certificate of rest) {
      if (seen.has(certificate.fingerprint256)) continue;
      seen.add(certificate.fingerprint256);
      const peers = bag.get(certificate.subjectKey) ?? [];
      peers.push(certificate);
      bag.set(certificate.subjectKey, peers);
    }
    return new PathSearch(this.#anchors, this.#anchorsBySubject, bag, {
      at,
      role: options.role,
      serverName: options.serverName,
      allowedCommonNames: this.#allowedCommonNames,
      maxDepth: this.#maxDepth,
      crls: this.#crls,
    }).run(leaf);
  }

  /** Parses a certificate, or takes it from the cache of recently seen ones. */
  #parse(der: Uint8Array): ParsedCertificate {
    const key = createHash('sha256').update(der).digest('hex');
    const cached = this.#parsed.get(key);
    if (cached) return cached;
    const parsed = parseCertificate(der);
    remember(this.#parsed, key, parsed);
    return parsed;
  }

  #verifyPinned(leaf: ParsedCertificate, at: number): TrustResult {
    if (!this.#pins.has(leaf.fingerprint256)) {
      return fail(
        'TRUST_PIN_MISMATCH',
        `certificate ${leaf.fingerprint256.slice(0, 16)}… is not pinned`,
      );
    }
    const expiry = checkValidity(leaf, at);
    if (expiry) return expiry;
    return { ok: true, leaf: leaf.x509, chain: [leaf.x509], expiresAt: new Date(leaf.notAfter) };
  }
}

interface SearchContext {
  at: number;
  role: VerifyOptions['role'];
  serverName: string | undefined;
  allowedCommonNames: ReadonlySet<string> | undefined;
  maxDepth: number;
  crls: ReadonlyMap<string, readonly ParsedCrl[]>;
}

/** Depth-first search for a path to an anchor; the first path that validates wins. */
class PathSearch {
  #attempts = 0;
  #failure: TrustFailure | undefined;

  constructor(
    private readonly anchors: ReadonlyMap<string, ParsedCertificate>,
    private readonly anchorsBySubject: ReadonlyMap<string, ParsedCertificate[]>,
    private readonly bag: ReadonlyMap<string, ParsedCertificate[]>,
    private readonly context: SearchContext,
  ) {}

  run(leaf: ParsedCertificate): TrustResult {
    const found = this.#extend([leaf]);
    return (
      found ??
      this.#failure ??
      fail('TRUST_UNTRUSTED_ISSUER', 'no trust anchor issued this certificate')
    );
  }

  #extend(path: ParsedCertificate[]): TrustSuccess | undefined {
    if (++this.#attempts > MAX_PATH_ATTEMPTS) return undefined;
    const current = path[path.length - 1]!;
    if (this.anchors.has(current.fingerprint256)) {
      const result = validatePath(path, this.context);
      if (result.ok) return result;
      this.#remember(result);
      return undefined;
    }
    // Self-issued certificates (key rollover) do not count towards the depth, as in pathLen.
    const intermediates = path.slice(1).filter((certificate) => !certificate.selfIssued).length;
    if (intermediates > this.context.maxDepth) {
      this.#remember(
        fail(
          'TRUST_PATH_LENGTH',
          `the chain is longer than ${this.context.maxDepth} intermediates`,
        ),
      );
      return undefined;
    }
    const candidates = [
      ...(this.anchorsBySubject.get(current.issuerKey) ?? []),
      ...(this.bag.get(current.issuerKey) ?? []),
    ].filter(
      (candidate) =>
        !path.some((p) => p.fingerprint256 === candidate.fingerprint256) &&
        !(
          current.authorityKeyId &&
          candidate.subjectKeyId &&
          current.authorityKeyId !== candidate.subjectKeyId
        ),
    );
    for (const candidate of candidates) {
      const found = this.#extend([...path, candidate]);
      if (found) return found;
    }
    return undefined;
  }

  /** Keeps the most telling failure: one from a path that reached an anchor beats a dead end. */
  #remember(failure: TrustFailure): void {
    this.#failure ??= failure;
  }
}

/** Checks a path `[leaf, …, anchor]` as RFC 5280 §6.1 does, for the parts a cluster uses. */
function validatePath(path: ParsedCertificate[], context: SearchContext): TrustResult {
  const leaf = path[0]!;
  const anchorIndex = path.length - 1;
  for (const certificate of path) {
    const defect = certificate.defects[0];
    if (defect) return fail('TRUST_MALFORMED', `${describe(certificate)}: ${defect}`);
    const validity = checkValidity(certificate, context.at);
    if (validity) return validity;
    if (!certificate.authorityKeyId && !certificate.selfIssued) {
      return fail('TRUST_MALFORMED', `${describe(certificate)} has no authority key identifier`);
    }
  }
  if (leaf.keyUsage?.keyCertSign && !leaf.basicConstraints?.ca) {
    return fail('TRUST_KEY_USAGE', `${describe(leaf)} may sign certificates but is not a CA`);
  }
  if (!leaf.basicConstraints?.ca && leaf.nameConstraints && anchorIndex > 0) {
    return fail('TRUST_MALFORMED', `${describe(leaf)} is an end entity with name constraints`);
  }
  for (let i = 1; i <= anchorIndex; i++) {
    const issuer = path[i]!;
    const subject = path[i - 1]!;
    if (!signedBy(subject, issuer)) {
      return fail(
        'TRUST_BAD_SIGNATURE',
        `the signature of ${describe(subject)} does not verify with its issuer's key`,
      );
    }
    const caProblem = checkIssuer(issuer, path, i);
    if (caProblem) return caProblem;
  }
  // Revocation last: what a CRL says of a certificate counts only on a path that holds.
  for (let i = 0; i < anchorIndex; i++) {
    const subject = path[i]!;
    const issuer = path[i + 1]!;
    const revoked = context.crls
      .get(subject.issuerKey)
      ?.find((crl) => crl.serials.has(subject.serial) && crlSignedBy(crl, issuer));
    if (revoked)
      return fail('TRUST_REVOKED', `${describe(subject)} is revoked by its issuer's CRL`);
  }
  if (anchorIndex > 0 && leaf.subjectEmpty && !leaf.subjectAltNames) {
    return fail('TRUST_MALFORMED', `${describe(leaf)} has neither a subject nor alternative names`);
  }
  const required = context.role === 'data-plane' ? CLIENT_AUTH : SERVER_AUTH;
  const eku = leaf.extendedKeyUsage;
  if (eku && !eku.includes(required) && !eku.includes(ANY_EKU)) {
    const wanted =
      context.role === 'data-plane'
        ? 'TLS Web Client Authentication'
        : 'TLS Web Server Authentication';
    return fail('TRUST_MISSING_EKU', `${describe(leaf)} lacks the ${wanted} extended key usage`);
  }
  if (
    context.role === 'control-plane' &&
    context.serverName !== undefined &&
    !nameMatches(leaf, context.serverName)
  ) {
    return fail('TRUST_NAME_MISMATCH', `${describe(leaf)} is not valid for ${context.serverName}`);
  }
  if (context.role === 'data-plane' && context.allowedCommonNames) {
    const cn = commonName(leaf);
    if (cn === undefined || !context.allowedCommonNames.has(cn)) {
      return fail('TRUST_NAME_MISMATCH', `common name ${JSON.stringify(cn ?? '')} is not allowed`);
    }
  }
  return {
    ok: true,
    leaf: leaf.x509,
    chain: path.map((certificate) => certificate.x509),
    expiresAt: new Date(Math.min(...path.map((certificate) => certificate.notAfter))),
  };
}

/** How many parsed certificates and signature checks a verifier keeps. */
const CACHE_LIMIT = 4096;
const signatures = new Map<string, boolean>();

/** Whether `issuer`'s key verifies `subject`'s signature; a pair is checked once. */
function signedBy(subject: ParsedCertificate, issuer: ParsedCertificate): boolean {
  const key = `${subject.fingerprint256}:${issuer.fingerprint256}`;
  let valid = signatures.get(key);
  if (valid === undefined) {
    valid = subject.x509.verify(issuer.x509.publicKey);
    remember(signatures, key, valid);
  }
  return valid;
}

/** Adds to a bounded cache, forgetting the oldest entry when full. */
function remember<K, V>(cache: Map<K, V>, key: K, value: V): void {
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as K);
  cache.set(key, value);
}

function checkIssuer(
  issuer: ParsedCertificate,
  path: ParsedCertificate[],
  index: number,
): TrustFailure | undefined {
  const constraints = issuer.basicConstraints;
  if (!constraints?.ca) return fail('TRUST_NOT_A_CA', `${describe(issuer)} is not a CA`);
  if (!constraints.critical)
    return fail('TRUST_MALFORMED', `${describe(issuer)} has a non-critical basicConstraints`);
  if (issuer.keyUsage && !issuer.keyUsage.keyCertSign) {
    return fail(
      'TRUST_KEY_USAGE',
      `${describe(issuer)} may not sign certificates (no keyCertSign)`,
    );
  }
  if (!issuer.subjectKeyId)
    return fail('TRUST_MALFORMED', `${describe(issuer)} has no subject key identifier`);
  if (issuer.subjectEmpty) return fail('TRUST_MALFORMED', 'a CA certificate has an empty subject');
  // Intermediates between this issuer and the leaf; self-issued ones do not count.
  const below = path.slice(1, index).filter((certificate) => !certificate.selfIssued).length;
  if (constraints.pathLength !== undefined && below > constraints.pathLength) {
    return fail(
      'TRUST_PATH_LENGTH',
      `${describe(issuer)} allows ${constraints.pathLength} intermediates below it, the chain has ${below}`,
    );
  }
  if (issuer.nameConstraints) {
    if (!issuer.nameConstraints.critical) {
      return fail('TRUST_MALFORMED', `${describe(issuer)} has non-critical name constraints`);
    }
    const invalid = invalidNameConstraint(issuer);
    if (invalid) return fail('TRUST_MALFORMED', `${describe(issuer)}: ${invalid}`);
    for (let k = index - 1; k >= 0; k--) {
      const subordinate = path[k]!;
      if (k > 0 && subordinate.selfIssued) continue;
      const violation = violatesNameConstraints(issuer, subordinate);
      if (violation) return fail('TRUST_NAME_MISMATCH', `${describe(subordinate)}: ${violation}`);
    }
  }
  return undefined;
}

function checkValidity(certificate: ParsedCertificate, at: number): TrustFailure | undefined {
  if (!(at >= certificate.notBefore)) {
    return fail(
      'TRUST_NOT_YET_VALID',
      `${describe(certificate)} is valid from ${iso(certificate.notBefore)}`,
    );
  }
  if (!(at <= certificate.notAfter)) {
    return fail(
      'TRUST_EXPIRED',
      `${describe(certificate)} expired at ${iso(certificate.notAfter)}`,
    );
  }
  return undefined;
}

function nameMatches(leaf: ParsedCertificate, serverName: string): boolean {
  const sans = leaf.subjectAltNames?.names;
  const address = ipBytes(serverName);
  if (address) {
    return (sans ?? []).some(
      (n) => n.iPAddress !== undefined && sameBytes(ipBytes(n.iPAddress), address),
    );
  }
  const wanted = serverName.toLowerCase().replace(/\.$/, '');
  const dnsNames = (sans ?? []).flatMap((n) => (n.dNSName !== undefined ? [n.dNSName] : []));
  if (sans === undefined) {
    const cn = commonName(leaf);
    return cn !== undefined && hostMatches(cn, wanted);
  }
  return dnsNames.some((pattern) => hostMatches(pattern, wanted));
}

function hostMatches(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase();
  if (p === host) return isDnsName(host) || !host.includes('.');
  if (!p.startsWith('*.')) return false;
  const suffix = p.slice(1);
  const label = host.slice(0, host.length - suffix.length);
  return host.endsWith(suffix) && label.length > 0 && !label.includes('.') && isDnsName(p.slice(2));
}

function commonName(certificate: ParsedCertificate): string | undefined {
  for (const rdn of certificate.subject) {
    for (const attribute of rdn) {
      if (attribute.type === COMMON_NAME) return attribute.value.toString();
    }
  }
  return undefined;
}

function sameBytes(a: number[] | undefined, b: number[]): boolean {
  return a !== undefined && a.length === b.length && a.every((byte, i) => byte === b[i]);
}

function describe(certificate: ParsedCertificate): string {
  const cn = commonName(certificate);
  return cn ? `certificate "${cn}"` : `certificate ${certificate.fingerprint256.slice(0, 16)}…`;
}

function iso(time: number): string {
  return Number.isFinite(time) ? new Date(time).toISOString() : 'an invalid date';
}

function fail(code: TrustCode, message: string): TrustFailure {
  return { ok: false, code, message };
}

function parseOrThrow(der: Uint8Array): ParsedCertificate {
  try {
    return parseCertificate(der);
  } catch (error) {
    throw new InvalidArgumentError(
      `a configured certificate cannot be decoded: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}
