/**
 * `@planesync/transport-tcp`: TLS over TCP with length-prefixed frames (`tcpServer`,
 * `tcpClient`), with HTTP CONNECT forward proxies. `dialTls`, `openTunnel` and
 * `peerCertificateChain` are shared with the WebSocket transport.
 *
 * @module
 */

export { type DialOptions, dialTls } from './dial.ts';
export { CLOSE_MARK, closeFrame, FrameDecoder, type FrameEvent, frameHeader } from './framing.ts';
export { peerCertificateChain } from './peer-chain.ts';
export { closeServer, listenOn } from './server-lifecycle.ts';
export { type TcpClientOptions, tcpClient } from './tcp-client.ts';
export { TcpConnection } from './tcp-connection.ts';
export { type TcpServerOptions, type TcpTransportServer, tcpServer } from './tcp-server.ts';
export { type TlsIdentity, tlsIdentityOptions, toPemChain, toPemKey } from './tls-options.ts';
export { openTunnel, type ProxyOptions } from './tunnel.ts';
