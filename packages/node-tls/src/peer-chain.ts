import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';

/**
 * The chain the peer presented, DER, leaf first: node's `getPeerCertificate(true)` walked
 * through `issuerCertificate` until it points at itself.
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

/** `host:port`, IPv6 in brackets (`[::1]:8005`), as every planesync transport reports addresses. */
export function formatAddress(host: string | undefined, port: number | undefined): string {
  const shown = host?.includes(':') ? `[${host}]` : (host ?? 'unknown');
  return `${shown}:${port ?? 0}`;
}
