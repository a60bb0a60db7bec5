/**
 * `@planesync/transport-tcp`: TLS over TCP with length-prefixed frames — `tcpServer` for a
 * ControlPlane, `tcpClient` for a DataPlane — through HTTP CONNECT forward proxies when asked.
 *
 * @module
 */

export {
  type IdentityFiles,
  type IdentityWatch,
  type ProxyOptions,
  type TlsIdentity,
  type TrustWatch,
  type WatchIdentityOptions,
  type WatchTrustOptions,
  watchIdentity,
  watchTrust,
} from '@planesync/node-tls';
export { MAX_PREFACE_BYTES } from './framing.ts';
export { type TcpClientOptions, tcpClient } from './tcp-client.ts';
export { type TcpServerOptions, type TcpTransportServer, tcpServer } from './tcp-server.ts';
