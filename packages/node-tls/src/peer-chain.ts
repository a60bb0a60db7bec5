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
 * The certificate this side presented, DER (node keeps the leaf only): a node's own
 * certificate, whose expiry core watches. Empty when it presented none. A server presents the
 * same certificate on every connection, so the same frozen chain is returned while it does:
 * a thousand connections hold one copy of it, not a thousand.
 */
export function localCertificateChain(socket: TLSSocket): readonly Uint8Array[] {
  const own = socket.getCertificate();
  const raw = own && 'raw' in own ? own.raw : undefined;
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
