/**
 * `@planesync/transport-ws`: WebSocket over mutual TLS (`wsServer`, `wsClient`) with the
 * same trust, proxy and limits as the TCP transport, whose TLS dialer it reuses.
 *
 * @module
 */

export { type WsClientOptions, wsClient } from './ws-client.ts';
export { WsConnection } from './ws-connection.ts';
export {
  MAX_REQUEST_HEADER_BYTES,
  REQUIRED_QUERY,
  type WsServerOptions,
  type WsTransportServer,
  wsServer,
} from './ws-server.ts';
