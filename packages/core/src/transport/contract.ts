/**
 * The transport contract. A transport moves whole binary frames between one DP and one CP
 * and reports the peer's certificate chain; it makes no trust decision and knows nothing of
 * the protocol. Core owns everything else (trust, heartbeats, retries, versions).
 *
 * docs/writing-a-transport.md explains each rule, and `transportConformance` from
 * `@planesync/core/testing` checks them.
 *
 * @module
 */

/**
 * Close codes, shared with WebSocket (RFC 6455 §7.4.1) so a WebSocket transport can pass them
 * through unchanged. Applications may use 4000–4999 for their own reasons.
 */
export const CloseCode = {
  /** A planned close: `stop()`, a finished exchange. */
  NORMAL: 1000,
  /** The endpoint is going away: process shutdown, server stopping. */
  GOING_AWAY: 1001,
  /** The peer broke the protocol: a malformed, unknown or out-of-order frame. */
  PROTOCOL_VIOLATION: 1002,
  /** The connection ended without a close handshake (socket reset, process killed). */
  ABNORMAL: 1006,
  /** The peer is not allowed: untrusted certificate, incompatible version. */
  POLICY_VIOLATION: 1008,
  /** A frame exceeded `maxPayloadBytes`. */
  PAYLOAD_TOO_LARGE: 1009,
  /** The endpoint hit an unexpected condition. */
  INTERNAL_ERROR: 1011,
  /** The endpoint is overloaded (too many peers): try again later. */
  TRY_AGAIN_LATER: 1013,
  /** planesync's own (4000–4999): a newer connection from the same node id took this one's place. */
  REPLACED: 4000,
} as const;

/** How and why a connection closed. */
export interface CloseInfo {
  /** A {@link CloseCode} or an application code (4000–4999). */
  readonly code: number;
  /** A short human-readable reason (at most 123 bytes of UTF-8 cross a WebSocket). */
  readonly reason: string;
  /** `'local'` when this side called `close` or hit a limit; `'remote'` when the peer did. */
  readonly initiator: 'local' | 'remote';
  /** The error that caused the close, when there was one. */
  readonly error?: Error;
}

/** Anything that can wait takes an optional abort signal. */
export interface AbortOptions {
  signal?: AbortSignal;
}

/**
 * One established link between a DP and a CP, seen from either end.
 *
 * Frames are read by async iteration (one reader at a time); the iteration ends when the
 * connection closes. Frames received before the reader starts are kept in order.
 *
 * @example
 * ```ts
 * import type { Connection } from '@planesync/core';
 * async function echo(connection: Connection) {
 *   for await (const frame of connection) await connection.send(frame);
 *   console.log('closed with', (await connection.closed).code);
 * }
 * ```
 */
export interface Connection extends AsyncIterable<Uint8Array> {
  /** The peer's address as the transport sees it, e.g. `127.0.0.1:52344` or `memory:dp-1`. */
  readonly remoteAddress: string;
  /**
   * The certificate chain the peer presented, DER-encoded, leaf first; empty when the peer
   * presented none. Core's `TrustVerifier` judges it — the transport does not.
   */
  readonly peerCertificates: readonly Uint8Array[];
  /**
   * The certificate this side presented (DER, the leaf first), when the transport knows it:
   * core watches a node's own certificate running out through it. Optional.
   */
  readonly localCertificates?: readonly Uint8Array[];
  /**
   * The query of the client's request step as key/value pairs, decoded (the last value of a
   * repeated key), as the server received it; on the client side, what it sent. A transport
   * without a request step may carry the pairs some other way (TCP: in its preface).
   */
  readonly metadata: Readonly<Record<string, string>>;
  /**
   * For a transport with a request step (a WebSocket upgrade), the request as the server
   * received it: path, query and the subprotocol agreed; on the client side, what it sent.
   * `undefined` for a transport without one (TCP).
   */
  readonly request?: ConnectionRequest | undefined;
  /**
   * Sends a ping or pong control frame with `payload` (at most 125 bytes). Present on
   * transports whose features include `controlFrames`. Resolves once the frame is handed to
   * the socket; rejects with `INVALID_ARGUMENT` (not a ping or pong, payload over 125 bytes),
   * `CONNECTION_CLOSED` after close, `ABORTED` when `signal` has aborted (nothing is sent).
   */
  sendControl?(frame: ControlFrame, options?: AbortOptions): Promise<void>;
  /**
   * With `pings: 'manual'` (a client's connect option, or a server route's): each ping and
   * pong frame received, in order. Frames received before a listener is set are kept (at most
   * 64: past that the oldest is dropped) and handed to it when it is; a later call replaces
   * the listener. A listener that throws is logged, and the connection goes on. Without manual
   * pings the transport answers each ping itself (a pong echoing its payload) and hands
   * nothing here.
   */
  onControl?(listener: (frame: ControlFrame) => void): void;
  /**
   * On the client side, the name this side dialed — the host of the URL, or the transport's
   * `serverName` option — which core checks the server's certificate against (PKI mode);
   * `undefined` on the server side or when the transport cannot say.
   */
  readonly serverName?: string | undefined;
  /** `true` from the moment either side starts closing. */
  readonly isClosed: boolean;
  /**
   * Sends one whole frame. Resolves when the transport has handed the frame to its socket
   * (backpressure: a slow peer makes this wait, it does not grow memory without bound).
   * Rejects with `CONNECTION_CLOSED` when the connection is closed, `PAYLOAD_TOO_LARGE` when
   * the frame exceeds this side's limit, `ABORTED` when `signal` aborts first.
   */
  send(frame: Uint8Array, options?: AbortOptions): Promise<void>;
  /**
   * Closes the connection with a code and reason the peer will see (when the transport
   * can still deliver them). Idempotent; resolves once the connection is closed.
   */
  close(code?: number, reason?: string): Promise<void>;
  /** Resolves (never rejects) once the connection is closed, with how it closed. */
  readonly closed: Promise<CloseInfo>;
}

/** A ping or pong control frame (WebSocket, RFC 6455 §5.5.2). */
export interface ControlFrame {
  readonly kind: 'ping' | 'pong';
  /** At most 125 bytes. */
  readonly payload: Uint8Array;
}

/** A request step as a server received it (or a client sent it). */
export interface ConnectionRequest {
  readonly path: string;
  /** The query as sent, without its `?` (percent-encoded or not, as the client wrote it). */
  readonly rawQuery: string;
  /** The subprotocol both sides agreed on, when one was. */
  readonly subprotocol?: string | undefined;
}

/**
 * What a wire protocol asks of the dial, declared by the protocol and carried by a transport
 * with a request step (a WebSocket upgrade). A transport without one refuses a dial that
 * sets `path` or `subprotocol` (its features say so beforehand).
 */
export interface DialRequest {
  /** The request path, e.g. `/v1/outlet`; default the transport's own (its URL's path). */
  readonly path?: string;
  /** Query pairs, in order, added to any the transport's URL has. */
  readonly query?: ReadonlyArray<readonly [string, string]>;
  /**
   * `false` sends the query's keys and values as given, not percent-encoded (Kong's DP
   * concatenates them so); a key or value a URL would not carry as it is — holding `&`, `#`,
   * a space, a control character, `"`, `'`, `<`, `>` or a non-ASCII character, or a key
   * holding `=` — is then refused (`INVALID_ARGUMENT`). Default `true`: each key and value is
   * percent-encoded as `encodeURIComponent` does.
   */
  readonly encodeQuery?: boolean;
  /**
   * A subprotocol to ask for (`Sec-WebSocket-Protocol`); default none. The server's route
   * must agree to exactly this one, or the dial is refused.
   */
  readonly subprotocol?: string;
}

/** What a client passes to {@link TransportClient.connect}. */
export interface ConnectOptions extends AbortOptions {
  /**
   * @deprecated since 0.2: a protocol declares its query in `request.query`. Kept for a
   * release: its pairs are sent as query parameters after `request.query`'s.
   */
  metadata?: Readonly<Record<string, string>>;
  /**
   * The request step a protocol needs (path, query, subprotocol). A transport without one
   * (its `features.request` is false) refuses a `path` or a `subprotocol` with
   * `INVALID_ARGUMENT`, and may carry the query pairs as metadata.
   */
  request?: DialRequest;
  /**
   * `'auto'` (default): the transport answers each ping itself, echoing its payload.
   * `'manual'`: pings and pongs go to {@link Connection.onControl} and nothing is answered for
   * the protocol (needs the `controlFrames` feature).
   */
  pings?: 'auto' | 'manual';
}

/**
 * What a transport can carry beyond whole binary frames, so that combining it with a protocol
 * that needs more fails at once with a clear error, not on the wire.
 */
export interface TransportFeatures {
  /** A request step with a path, a query and a subprotocol (a WebSocket upgrade). */
  readonly request: boolean;
  /** Ping and pong control frames with a payload ({@link Connection.sendControl}). */
  readonly controlFrames: boolean;
}

/** A transport that declares no features carries frames only. */
export const FRAMES_ONLY: TransportFeatures = Object.freeze({
  request: false,
  controlFrames: false,
});

/**
 * The DP side: dials the CP. One call, one connection; the DataPlane calls it again to
 * reconnect.
 */
export interface TransportClient {
  /** What this transport can carry; absent means {@link FRAMES_ONLY}. */
  readonly features?: TransportFeatures;
  /**
   * Opens a connection. Rejects with `TRANSPORT_FAILED` when the peer cannot be reached or
   * the handshake fails, `ABORTED` when `signal` aborts first, `INVALID_ARGUMENT` when the
   * options ask for something the transport cannot carry.
   */
  connect(options?: ConnectOptions): Promise<Connection>;
  /**
   * Replaces the certificate chain and key this client presents, from its next connection
   * on; the connection up now keeps its own. Throws `INVALID_ARGUMENT` for a pair that does
   * not belong together (the key is not the certificate's), keeping the one it has.
   * Optional: a transport that presents no certificate leaves it out.
   */
  setIdentity?(identity: TransportIdentity): void;
}

/**
 * A node's own certificate (the chain, leaf first) and private key, as a transport presents
 * them: PEM text, DER or a file path, as the transports take them.
 */
export interface TransportIdentity {
  readonly cert: string | Uint8Array | readonly (string | Uint8Array)[];
  readonly key: string | Uint8Array;
}

/** Where a server listens, once it is listening. */
export interface ListenInfo {
  /** e.g. `127.0.0.1:8005`, `[::1]:8005` or `memory`. */
  readonly address: string;
  /** The bound port, when the transport has one (useful with `port: 0`). */
  readonly port?: number;
}

/** Called once for each accepted connection. */
export type ConnectionHandler = (connection: Connection) => void;

/** What a server knows of a peer before it reads any application data from it. */
export interface PeerInfo {
  readonly remoteAddress: string;
  /** The chain the peer presented in the TLS handshake, DER, leaf first. */
  readonly peerCertificates: readonly Uint8Array[];
  /** For a transport with a request step (a WebSocket upgrade): its path and query. */
  readonly request?: {
    readonly path: string;
    /** The last value of each key. */
    readonly query: Readonly<Record<string, string>>;
    /** The query as sent, without its `?`. */
    readonly rawQuery?: string;
  };
}

/**
 * Core's verdict on a peer: accept it, or refuse it with a close code and reason (and, for a
 * transport that answers over HTTP, a status).
 */
export type Admission =
  | { readonly accept: true }
  | {
      readonly accept: false;
      /** A {@link CloseCode}: 1008 for an untrusted peer, 1013 when too many are connected. */
      readonly code: number;
      readonly reason: string;
      /** The HTTP status a transport with an HTTP step answers with; default 403. */
      readonly status?: number;
      /**
       * Drop the connection without any answer (no HTTP status, no close frame), as a server
       * does with a peer it will not talk to at all.
       */
      readonly silent?: boolean;
    };

/**
 * One path a server with a request step answers, and how: the subprotocol it agrees to (none
 * by default; a client asking for another is refused) and who answers pings.
 */
export interface Route {
  /** e.g. `/v1/outlet`. */
  readonly path: string;
  readonly subprotocol?: string;
  /** As {@link ConnectOptions.pings}; default `'auto'`. */
  readonly pings?: 'auto' | 'manual';
}

/** Options of {@link TransportServer.listen}. */
export interface ListenOptions extends AbortOptions {
  /**
   * The pre-accept step, declared once: a server asks it about each peer as soon as the
   * handshake (or the upgrade request) is done and before it reads any application data. A
   * refused peer never reaches `onConnection`; the transport stops reading from it at once and
   * tells it the code and reason (or the HTTP status). The decision is core's — trust, limits —
   * never the transport's; a server that cannot ask still works, as core judges each
   * connection again.
   */
  admit?: (peer: PeerInfo) => Admission;
  /**
   * The paths a server with a request step answers (one listener, several protocols); a
   * request for any other path is refused (404) before `admit` is asked. Default: the
   * transport's own path (`wsServer`'s `path` option; the memory transport takes any path). A
   * server without a request step refuses more than one route, or a route it cannot carry
   * (`INVALID_ARGUMENT`); so does any server for a path named twice.
   */
  routes?: readonly Route[];
}

/** The CP side: accepts connections from DPs. */
export interface TransportServer {
  /** What this transport can carry; absent means {@link FRAMES_ONLY}. */
  readonly features?: TransportFeatures;
  /**
   * Starts accepting; `onConnection` receives each connection once its handshake is done.
   * Rejects with `TRANSPORT_FAILED` when it cannot listen.
   */
  listen(onConnection: ConnectionHandler, options?: ListenOptions): Promise<ListenInfo>;
  /**
   * Stops accepting and closes every open connection with `GOING_AWAY`. Idempotent;
   * resolves once all of them are closed.
   */
  close(): Promise<void>;
  /**
   * Replaces the certificate chain and key the server presents: handshakes from now on
   * present the new pair, and established connections are not touched. Throws
   * `INVALID_ARGUMENT` for a pair that does not belong together, keeping the one it has.
   * Optional: a transport that presents no certificate leaves it out.
   */
  setIdentity?(identity: TransportIdentity): void;
}
