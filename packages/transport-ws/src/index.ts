/**
 * `@planesync/transport-ws`: WebSocket over mutual TLS (`wsServer`, `wsClient`), with the
 * HTTP CONNECT forward proxy. Not built yet — it arrives with the transport-ws issue; this
 * package exists so the workspace, its build and its exports map are in place.
 *
 * @module
 */

export {};
