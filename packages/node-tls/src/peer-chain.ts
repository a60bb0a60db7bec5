import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';

/**
 * The chain the peer presented, DER, leaf first: node's `getPeerCertificate(true)` walked
 * through `issuerCertificate` until it points at itself.
 *
 * @example
 * ```ts
 * import { TrustVerifier } from '@planesync/core';
 * import { dialTls, peerCertificateChain } from '@planesync/node-tls';
 * const socket = await dialTls({ host: 'cp.internal', port: 8005, tls: { cert: '/cluster/dp.crt', key: '/cluster/dp.key' } });
 * const trust = new TrustVerifier({ mode: 'pinned', certificates: ['/cluster/cluster.crt'] });
 * trust.verify(peerCertificateChain(socket), { role: 'control-plane', serverName: 'cp.internal' });
 * ```
 */
export function peerCertificateChain(socket: TLSSocket): Uint8Array[] {
  const chain: Uint8Array[] = [];
  let certificate = socket.getPeerCertificate(true) as DetailedPeerCertificate | undefined;
  const seen = new Set<string>();
  while (certificate?.raw && !seen.has(certificate.fingerprint256)) {
    seen.add(certificate.fingerprint256);
    chain.push(new Uint8Array(certificate.raw));
    certificate = certificate.issuerCertificate;
  }
  return chain;
}

/**
 * The chain a client presented to this server's socket, DER, leaf first, as
 * `peerCertificateChain` gives it, read through node's `getPeerX509Certificate` and its
 * `issuerCertificate`s. `getPeerCertificate(true)` decodes every field of every certificate, and
 * what that leaves in native memory stays for as long as the connection does (~1.5 KiB a
 * connection measured): a CP holding 10 000 DPs pays it 10 000 times.
 *
 * Only for sockets the server keeps to itself: on Node before 26, node's
 * `getPeerX509Certificate` takes the certificates it reads out of the socket's chain, so a
 * second read — this one's or node's — would see less. This function remembers what it read
 * for each socket and answers from that.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:tls';
 * import { serverPeerCertificateChain } from '@planesync/node-tls';
 * createServer({ requestCert: true, rejectUnauthorized: false }, (socket) => {
 *   const chain = serverPeerCertificateChain(socket); // for core's TrustVerifier
 * });
 * ```
 */
export function serverPeerCertificateChain(socket: TLSSocket): Uint8Array[] {
  const known = readChains.get(socket);
  if (known) return [...known];
  const chain: Uint8Array[] = [];
  const seen = new Set<string>();
  let certificate = socket.getPeerX509Certificate();
  while (certificate && !seen.has(certificate.fingerprint256)) {
    seen.add(certificate.fingerprint256);
    chain.push(new Uint8Array(certificate.raw));
    certificate = certificate.issuerCertificate;
  }
  readChains.set(socket, chain);
  return [...chain];
}

/** What `serverPeerCertificateChain` read from each socket. */
const readChains = new WeakMap<TLSSocket, readonly Uint8Array[]>();

/**
 * The certificate this side presented, DER (node keeps the leaf only): a node's own
 * certificate, whose expiry core watches. Empty when it presented none. A server presents the
 * same certificate on every connection, so the same frozen chain is returned while it does:
 * a thousand connections hold one copy of it, not a thousand.
 */
export function localCertificateChain(socket: TLSSocket): readonly Uint8Array[] {
  // The X509Certificate, not getCertificate(): that decodes every field of it, per connection.
  const raw = socket.getX509Certificate()?.raw;
  if (!raw) return NO_CERTIFICATES;
  if (lastLocal && Buffer.compare(lastLocal[0]!, raw) === 0) return lastLocal;
  lastLocal = Object.freeze([new Uint8Array(raw)]);
  return lastLocal;
}

const NO_CERTIFICATES: readonly Uint8Array[] = Object.freeze([]);
/** The chain `localCertificateChain` returned last. */
let lastLocal: readonly Uint8Array[] | undefined;

/**
 * `host:port`, IPv6 in brackets (`[::1]:8005`), as every planesync transport reports addresses.
 *
 * @example
 * ```ts
 * import { formatAddress } from '@planesync/node-tls';
 * formatAddress('::1', 8005); // '[::1]:8005'
 * ```
 */
export function formatAddress(host: string | undefined, port: number | undefined): string {
  const shown = host?.includes(':') ? `[${host}]` : (host ?? 'unknown');
  return `${shown}:${port ?? 0}`;
}
