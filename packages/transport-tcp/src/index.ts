/**
 * `@planesync/transport-tcp`: TLS over TCP with length-prefixed frames (`tcpServer`,
 * `tcpClient`), with the HTTP CONNECT forward proxy. Not built yet — it arrives with the
 * transport-tcp issue; this package exists so the workspace, its build and its exports map
 * are in place.
 *
 * @module
 */

export {};
