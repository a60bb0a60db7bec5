/**
 * `@planesync/transport-ws`: WebSocket over mutual TLS — `wsServer` for a ControlPlane,
 * `wsClient` for a DataPlane — through HTTP CONNECT forward proxies when asked.
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
export { type WsClientOptions, wsClient } from './ws-client.ts';
export {
  MAX_REQUEST_HEADER_BYTES,
  REQUIRED_QUERY,
  type WsServerOptions,
  type WsTransportServer,
  wsServer,
} from './ws-server.ts';
