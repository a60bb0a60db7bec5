import { createHash, verify as verifySignature, X509Certificate } from 'node:crypto';
import { request } from 'node:http';
import {
  children,
  contents,
  type Element,
  encode,
  oid,
  oidContents,
  sequence,
  timeOf,
} from './der.ts';

/**
 * What an OCSP responder said of a certificate: `good`, `revoked`, or `unknown` — the
 * responder could not be reached, did not answer in time, answered something that does not
 * verify, is stale, or does not know the certificate. `reason` says which.
 */
export interface OcspAnswer {
  status: 'good' | 'revoked' | 'unknown';
  reason: string;
  /** Until when a `good` or `revoked` answer is current (its `nextUpdate`, or an hour). */
  validUntil?: number;
}

/** Options of {@link checkOcsp}. */
export interface OcspCheckOptions {
  /** How long the responder has to answer. Default 5 000 ms. */
  timeoutMs?: number;
  /** The time the answer must be current at (ms since the epoch). Default now. */
  at?: number;
  /** Ends the request (the answer is then `unknown`): the peer asked about has gone. */
  signal?: AbortSignal;
}

/** The most an OCSP response may hold: a signed answer for one certificate is ~2 KiB. */
const MAX_RESPONSE_BYTES = 64 * 1024;
/** A response without `nextUpdate` is current this long after its `thisUpdate`. */
const FRESH_WITHOUT_NEXT_UPDATE_MS = 3_600_000;
/** Clocks differ: a response from a little in the future is taken. */
const CLOCK_SKEW_MS = 300_000;

const SHA1 = '1.3.14.3.2.26';
const HASH_NAMES: Record<string, string> = { [SHA1]: 'sha1', '2.16.840.1.101.3.4.2.1': 'sha256' };
const SIGNATURE_HASHES: Record<string, string | null> = {
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.2.840.113549.1.1.5': 'sha1',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.3.101.112': null,
};
const BASIC_RESPONSE = '1.3.6.1.5.5.7.48.1.1';
const OCSP_SIGNING = '1.3.6.1.5.5.7.3.9';

/** The OCSP responder a certificate names (its Authority Information Access), if any. */
export function ocspResponder(certificate: X509Certificate): string | undefined {
  return /OCSP - URI:(\S+)/.exec(certificate.infoAccess ?? '')?.[1];
}

/**
 * Asks the responder `certificate` names whether it is revoked (RFC 6960, over HTTP POST),
 * and checks the answer: signed by `issuer` or by a responder certificate `issuer` issued for
 * OCSP signing, about this certificate, and current. Never throws: a failure is `unknown`.
 */
export async function checkOcsp(
  certificate: X509Certificate,
  issuer: X509Certificate,
  options: OcspCheckOptions = {},
): Promise<OcspAnswer> {
  const url = ocspResponder(certificate);
  if (!url) return { status: 'unknown', reason: 'the certificate names no OCSP responder' };
  if (!url.startsWith('http://'))
    return { status: 'unknown', reason: `the OCSP responder ${url} is not an http:// URL` };
  let body: Uint8Array;
  try {
    body = await post(
      url,
      ocspRequest(certificate, issuer),
      options.timeoutMs ?? 5_000,
      options.signal,
    );
  } catch (error) {
    return { status: 'unknown', reason: `the OCSP responder ${url}: ${(error as Error).message}` };
  }
  try {
    return readResponse(body, certificate, issuer, options.at ?? Date.now());
  } catch (error) {
    return {
      status: 'unknown',
      reason: `the OCSP answer cannot be read: ${(error as Error).message}`,
    };
  }
}

/** The DER of an OCSPRequest for one certificate (SHA-1 CertID, as responders expect). */
export function ocspRequest(certificate: X509Certificate, issuer: X509Certificate): Uint8Array {
  const certId = encode(
    0x30,
    encode(0x30, encode(0x06, oidContents(SHA1)), encode(0x05)),
    encode(0x04, issuerNameHash(certificate, 'sha1')),
    encode(0x04, issuerKeyHash(issuer, 'sha1')),
    encode(0x02, serialBytes(certificate)),
  );
  return encode(0x30, encode(0x30, encode(0x30, encode(0x30, certId))));
}

function readResponse(
  der: Uint8Array,
  certificate: X509Certificate,
  issuer: X509Certificate,
  at: number,
): OcspAnswer {
  const unknown = (reason: string): OcspAnswer => ({ status: 'unknown', reason });
  const [status, bytes] = children(der, sequence(der, 0, der.length));
  if (status?.tag !== 0x0a) throw new Error('no response status');
  const code = contents(der, status)[0];
  if (code !== 0) return unknown(`the responder answered status ${code} (not successful)`);
  // [0] EXPLICIT ResponseBytes: responseType, response (an OCTET STRING holding the basic response)
  const [type, octets] = children(der, children(der, bytes)[0]);
  if (oid(der, type) !== BASIC_RESPONSE || octets?.tag !== 0x04)
    throw new Error('not a basic OCSP response');
  const basic = contents(der, octets);
  const [tbs, algorithm, signature, certs] = children(basic, sequence(basic, 0, basic.length));
  if (tbs?.tag !== 0x30 || algorithm?.tag !== 0x30 || signature?.tag !== 0x03)
    throw new Error('a BasicOCSPResponse is short');
  const signer = responderKey(basic, certs, issuer, at);
  if (!signer) return unknown('the answer is signed by no key the certificate issuer vouches for');
  const hash = SIGNATURE_HASHES[oid(basic, children(basic, algorithm)[0])];
  if (hash === undefined)
    return unknown('the answer is signed with an algorithm planesync cannot check');
  const signed = basic.subarray(tbs.headerStart, tbs.end);
  const value = contents(basic, signature).subarray(1);
  let verified = false;
  try {
    verified = verifySignature(hash, signed, signer, value);
  } catch {
    verified = false;
  }
  if (!verified) return unknown('the answer signature does not verify');

  const fields = children(basic, tbs);
  const responses = fields.find((field, index) => index > 0 && field.tag === 0x30);
  for (const single of children(basic, responses)) {
    const [certId, certStatus, thisUpdate, next] = children(basic, single);
    if (!certId || !certStatus || thisUpdate?.tag !== 0x18) continue;
    if (!sameCertificate(basic, certId, certificate, issuer)) continue;
    const issued = timeOf(basic, thisUpdate);
    const nextUpdate = next?.tag === 0xa0 ? timeOf(basic, children(basic, next)[0]!) : undefined;
    if (issued > at + CLOCK_SKEW_MS) return unknown('the answer is dated in the future');
    const expires = nextUpdate ?? issued + FRESH_WITHOUT_NEXT_UPDATE_MS;
    if (expires + CLOCK_SKEW_MS < at) return unknown('the answer is stale');
    if (certStatus.tag === 0x80)
      return { status: 'good', reason: 'the responder says good', validUntil: expires };
    if (certStatus.tag === 0xa1)
      return { status: 'revoked', reason: 'the responder says revoked', validUntil: expires };
    return unknown('the responder does not know the certificate');
  }
  return unknown('the answer is about another certificate');
}

/**
 * The key that may sign answers about `issuer`'s certificates: its own, or that of a
 * certificate in the answer it signed with the OCSP-signing extended key usage, valid at `at`
 * (RFC 6960 §4.2.2.2: a delegate's authority ends with its certificate — a retired responder
 * key must not go on vouching for certificates).
 */
function responderKey(
  basic: Uint8Array,
  certs: Element | undefined,
  issuer: X509Certificate,
  at: number,
): X509Certificate['publicKey'] | undefined {
  if (!certs) return issuer.publicKey;
  for (const node of children(basic, children(basic, certs)[0])) {
    let delegate: X509Certificate;
    try {
      delegate = new X509Certificate(basic.subarray(node.headerStart, node.end));
    } catch {
      continue;
    }
    if (delegate.fingerprint256 === issuer.fingerprint256) return issuer.publicKey;
    const usage = delegate.keyUsage ?? [];
    if (
      delegate.checkIssued(issuer) &&
      delegate.verify(issuer.publicKey) &&
      usage.includes(OCSP_SIGNING) &&
      Date.parse(delegate.validFrom) <= at &&
      at <= Date.parse(delegate.validTo)
    )
      return delegate.publicKey;
  }
  return issuer.publicKey;
}

function sameCertificate(
  der: Uint8Array,
  certId: Element,
  certificate: X509Certificate,
  issuer: X509Certificate,
): boolean {
  const [algorithm, nameHash, keyHash, serial] = children(der, certId);
  const hash = HASH_NAMES[oid(der, children(der, algorithm)[0])];
  if (!hash || !nameHash || !keyHash || serial?.tag !== 0x02) return false;
  return (
    Buffer.from(contents(der, nameHash)).equals(issuerNameHash(certificate, hash)) &&
    Buffer.from(contents(der, keyHash)).equals(issuerKeyHash(issuer, hash)) &&
    Buffer.from(contents(der, serial)).equals(serialBytes(certificate))
  );
}

/** The hash of the certificate's issuer name, as DER (the TBSCertificate's issuer field). */
function issuerNameHash(certificate: X509Certificate, hash: string): Buffer {
  const der = certificate.raw;
  const [tbs] = children(der, sequence(der, 0, der.length));
  const fields = children(der, tbs);
  // version [0] is optional: the issuer comes after serialNumber and signature.
  const first = fields[0]?.tag === 0xa0 ? 1 : 0;
  const issuerName = fields[first + 2]!;
  return createHash(hash).update(der.subarray(issuerName.headerStart, issuerName.end)).digest();
}

/** The hash of the issuer's public key: the subjectPublicKey BIT STRING's value. */
function issuerKeyHash(issuer: X509Certificate, hash: string): Buffer {
  const spki = issuer.publicKey.export({ type: 'spki', format: 'der' });
  const [, bits] = children(spki, sequence(spki, 0, spki.length));
  return createHash(hash).update(contents(spki, bits!).subarray(1)).digest();
}

/** The certificate's serial number as its INTEGER's contents. */
function serialBytes(certificate: X509Certificate): Buffer {
  const der = certificate.raw;
  const [tbs] = children(der, sequence(der, 0, der.length));
  const fields = children(der, tbs);
  const serial = fields[fields[0]?.tag === 0xa0 ? 1 : 0]!;
  return Buffer.from(contents(der, serial));
}

/** POSTs `body` to `url`; the answer, bounded in size and time, and ended by `signal`. */
function post(
  url: string,
  body: Uint8Array,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new Error('was not asked: the check was called off'));
      return;
    }
    const outgoing = request(
      url,
      {
        method: 'POST',
        // One request per connection: simple responders (openssl ocsp) answer, then close.
        agent: false,
        headers: {
          'content-type': 'application/ocsp-request',
          accept: 'application/ocsp-response',
          'content-length': body.length,
          connection: 'close',
        },
        timeout: timeoutMs,
      },
      (response) => {
        if (response.statusCode !== 200) {
          response.resume();
          reject(new Error(`answered HTTP ${response.statusCode}`));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            outgoing.destroy(new Error(`answered more than ${MAX_RESPONSE_BYTES} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        response.on('end', () => resolve(new Uint8Array(Buffer.concat(chunks))));
        response.on('error', reject);
      },
    );
    const deadline = setTimeout(
      () => outgoing.destroy(new Error(`did not answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const abort = () => outgoing.destroy(new Error('was not waited for: the check was called off'));
    signal?.addEventListener('abort', abort, { once: true });
    outgoing.on('close', () => {
      clearTimeout(deadline);
      signal?.removeEventListener('abort', abort);
    });
    outgoing.on('timeout', () =>
      outgoing.destroy(new Error(`did not answer within ${timeoutMs} ms`)),
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}
