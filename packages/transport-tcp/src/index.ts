/**
 * `@planesync/transport-tcp`: TLS over TCP with length-prefixed frames (`tcpServer`,
 * `tcpClient`), with HTTP CONNECT forward proxies. `dialTls`, `openTunnel` and
 * `peerCertificateChain` are shared with the WebSocket transport.
 *
 * @module
 */

export { type DialOptions, dialedName, dialTls } from './dial.ts';
export { CLOSE_MARK, closeFrame, FrameDecoder, type FrameEvent, frameHeader } from './framing.ts';
export {
  HandshakeGuard,
  type HandshakeLimits,
  TLS_HARDENING,
} from './handshake-guard.ts';
export { formatAddress, peerCertificateChain } from './peer-chain.ts';
export { closeServer, listenOn } from './server-lifecycle.ts';
export { type TcpClientOptions, tcpClient } from './tcp-client.ts';
export { TcpConnection } from './tcp-connection.ts';
export {
  MAX_PREFACE_BYTES,
  type TcpServerOptions,
  type TcpTransportServer,
  tcpServer,
} from './tcp-server.ts';
export { type TlsIdentity, tlsIdentityOptions, toPemChain, toPemKey } from './tls-options.ts';
export { openTunnel, type ProxyOptions } from './tunnel.ts';
