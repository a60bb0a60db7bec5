/**
 * `@planesync/node-tls/testing`: loopback fixtures for testing a transport over real TLS —
 * an HTTP CONNECT proxy that records what it was sent, and a real tinyproxy when one is
 * installed. Imports no test runner.
 *
 * @module
 */

export { type ConnectRequest, type ProxyFixture, startProxy } from './proxy-fixture.ts';
export { hasTinyproxy, startTinyproxy } from './tinyproxy-fixture.ts';
