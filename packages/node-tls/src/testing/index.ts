/**
 * `@planesync/node-tls/testing`: what a transport over `node:tls` runs on loopback — the
 * TLS/proxy suite both planesync transports pass (`tlsTransportSuite`), an HTTP CONNECT proxy
 * that records what it was sent, and a real tinyproxy when one is installed. Imports no test
 * runner: the suite takes your runner's `{ describe, it, beforeEach, afterEach }` and asserts
 * with `node:assert`.
 *
 * @module
 */

export { type ConnectRequest, type ProxyFixture, startProxy } from './proxy-fixture.ts';
export { hasTinyproxy, startTinyproxy } from './tinyproxy-fixture.ts';
export {
  type TlsClientSettings,
  type TlsServerSettings,
  type TlsTransportFixture,
  type TlsTransportSuiteOptions,
  tlsTransportSuite,
} from './tls-suite.ts';
