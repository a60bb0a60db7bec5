/**
 * `@planesync/node-tls`: the node TLS plumbing planesync's socket transports share, for
 * authors of a transport over `node:tls` — the mutual TLS dialer (`dialTls`, directly or
 * through an HTTP CONNECT tunnel, `openTunnel`), TLS identities (`tlsIdentityOptions`, and
 * `watchIdentity` following them on disk), the
 * bounds on peers still handshaking (`HandshakeGuard`, `TLS_HARDENING`), server start and
 * stop (`listenOn`, `closeServer`) and how a peer's chain and address are reported.
 * `@planesync/transport-ws` and `@planesync/transport-tcp` are built on it; an application
 * uses those, not this. `@planesync/node-tls/testing` holds the TLS/proxy suite both run.
 *
 * @module
 */

export { type DeadlineOptions, withDeadline } from './deadline.ts';
export { type DialOptions, dialedName, dialTls } from './dial.ts';
export { writable } from './drain.ts';
export { HandshakeGuard, type HandshakeLimits, TLS_HARDENING } from './handshake-guard.ts';
export {
  formatAddress,
  localCertificateChain,
  peerCertificateChain,
  serverPeerCertificateChain,
} from './peer-chain.ts';
export { closeServer, listenOn } from './server-lifecycle.ts';
export {
  checkedIdentityOptions,
  replaceServerIdentity,
  type TlsIdentity,
  tlsIdentityOptions,
  toPemChain,
  toPemKey,
} from './tls-identity.ts';
export { openTunnel, type ProxyOptions } from './tunnel.ts';
export {
  type IdentityFiles,
  type IdentityWatch,
  type WatchIdentityOptions,
  watchIdentity,
} from './watch-identity.ts';
export { type TrustWatch, type WatchTrustOptions, watchTrust } from './watch-trust.ts';
