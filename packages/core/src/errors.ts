/**
 * Every error planesync throws or reports is a {@link PlanesyncError} with a stable `code`.
 * Match on `code`, never on the message: messages are for people and may change.
 * docs/errors.md lists every code, what it means and what to do about it.
 *
 * @module
 */

/** The stable codes of every planesync error. */
export const ErrorCode = {
  /** An argument or option is out of range or of the wrong shape. */
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  /** An operation was cancelled through its `AbortSignal`. */
  ABORTED: 'ABORTED',
  /** `send` or `connect` on a connection or transport that is closed. */
  CONNECTION_CLOSED: 'CONNECTION_CLOSED',
  /** A transport could not reach or accept its peer. */
  TRANSPORT_FAILED: 'TRANSPORT_FAILED',
  /**
   * The server refused this connection before it began (its pre-accept step): `closeCode` and
   * `reason` say why — a `TRUST_*` code, `CAPACITY_EXCEEDED`.
   */
  PEER_REFUSED: 'PEER_REFUSED',
  /** The forward proxy refused the CONNECT tunnel (a 407, a 403, …); `status` says which. */
  PROXY_REFUSED: 'PROXY_REFUSED',
  /** A frame or payload is larger than `maxPayloadBytes`. */
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  /** A stored config cache cannot be read back as a complete snapshot. */
  STORE_CORRUPT: 'STORE_CORRUPT',
  /** A config store could not write a snapshot or the node id. */
  STORE_WRITE_FAILED: 'STORE_WRITE_FAILED',
  /** Another process (or store) is writing this cache: two DPs must not share a prefix. */
  STORE_LOCKED: 'STORE_LOCKED',
  /** An encrypted cache cannot be decrypted with the key given (or no key was given). */
  STORE_DECRYPT_FAILED: 'STORE_DECRYPT_FAILED',
  /** A config failed to parse or validate; `problems` lists each one with its path. */
  CONFIG_INVALID: 'CONFIG_INVALID',
  /** A config does not hash to the hash the CP sent with it: refused, never applied. */
  CONFIG_HASH_MISMATCH: 'CONFIG_HASH_MISMATCH',
  /** A config delta does not apply to the config it names as its base: refused, a full config follows. */
  CONFIG_DELTA_INVALID: 'CONFIG_DELTA_INVALID',
  /**
   * The control planes' shared state (a `ClusterState` kept in a database) cannot be reached
   * or did not answer: nothing was published; the CP keeps serving what it has.
   */
  STATE_UNAVAILABLE: 'STATE_UNAVAILABLE',
  /** A state machine was asked for a transition its table does not allow. */
  INVALID_STATE_TRANSITION: 'INVALID_STATE_TRANSITION',
  /** A peer sent a frame that is malformed, unknown, or out of order. */
  PROTOCOL_VIOLATION: 'PROTOCOL_VIOLATION',
  /** A DP's version cannot be served by this CP (major differs, or DP minor above CP minor). */
  VERSION_INCOMPATIBLE: 'VERSION_INCOMPATIBLE',
  /** The peer sent nothing for longer than the heartbeat timeout. */
  HEARTBEAT_TIMEOUT: 'HEARTBEAT_TIMEOUT',
  /** A limit on peers was reached (`maxDataPlanes`): the peer is refused and retries later. */
  CAPACITY_EXCEEDED: 'CAPACITY_EXCEEDED',
  /** A DP's node id is connected under another certificate: the newcomer is refused. */
  NODE_ID_IN_USE: 'NODE_ID_IN_USE',
  /**
   * A failure on this side, not the peer's: a bug, or host code (a custom schema, store or
   * transport) that threw. The connection closes with 1011, never blamed on the peer.
   */
  INTERNAL_ERROR: 'INTERNAL_ERROR',
  /** The peer presented no certificate. */
  TRUST_NO_CERTIFICATE: 'TRUST_NO_CERTIFICATE',
  /** Pinned mode: the peer's certificate is none of the pinned ones. */
  TRUST_PIN_MISMATCH: 'TRUST_PIN_MISMATCH',
  /** PKI mode: no path leads from the peer's certificate to a trust anchor. */
  TRUST_UNTRUSTED_ISSUER: 'TRUST_UNTRUSTED_ISSUER',
  /** A certificate's signature does not verify with its issuer's key. */
  TRUST_BAD_SIGNATURE: 'TRUST_BAD_SIGNATURE',
  /** A certificate on the path has expired. */
  TRUST_EXPIRED: 'TRUST_EXPIRED',
  /** A certificate on the path is revoked: its issuer's CRL lists it. */
  TRUST_REVOKED: 'TRUST_REVOKED',
  /**
   * The revocation check a CP requires (`ocsp: 'on'`) could not say whether the DP's
   * certificate is revoked: its OCSP responder is unreachable, slow, or answered something
   * that does not verify.
   */
  TRUST_REVOCATION_UNKNOWN: 'TRUST_REVOCATION_UNKNOWN',
  /** A certificate on the path is not valid yet. */
  TRUST_NOT_YET_VALID: 'TRUST_NOT_YET_VALID',
  /** An issuer on the path is not a CA (no basicConstraints CA). */
  TRUST_NOT_A_CA: 'TRUST_NOT_A_CA',
  /** The path is longer than a pathLenConstraint or the verifier's depth allows. */
  TRUST_PATH_LENGTH: 'TRUST_PATH_LENGTH',
  /** A key usage forbids what the certificate is used for. */
  TRUST_KEY_USAGE: 'TRUST_KEY_USAGE',
  /** The leaf's Extended Key Usage lacks clientAuth (a DP) or serverAuth (a CP). */
  TRUST_MISSING_EKU: 'TRUST_MISSING_EKU',
  /** The leaf's names do not match the server name, the allowed CNs, or an issuer's name constraints. */
  TRUST_NAME_MISMATCH: 'TRUST_NAME_MISMATCH',
  /** A certificate cannot be decoded or breaks RFC 5280's structural rules. */
  TRUST_MALFORMED: 'TRUST_MALFORMED',
} as const;

/** The codes a trust verification can fail with. */
export type TrustCode = Extract<ErrorCode, `TRUST_${string}`>;

/** One of the values of {@link ErrorCode}. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Options every planesync error takes: the original error, when there is one. */
export interface PlanesyncErrorOptions {
  cause?: unknown;
}

/**
 * The base class of all planesync errors.
 *
 * @example
 * ```ts
 * import { PlanesyncError } from '@planesync/core';
 * try {
 *   await store.load();
 * } catch (error) {
 *   if (error instanceof PlanesyncError && error.code === 'STORE_CORRUPT') {
 *     // fall back to the declarative file
 *   }
 * }
 * ```
 */
export class PlanesyncError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options: PlanesyncErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
  }
}

/** An argument or option is out of range or of the wrong shape. */
export class InvalidArgumentError extends PlanesyncError {
  constructor(message: string, options?: PlanesyncErrorOptions) {
    super(ErrorCode.INVALID_ARGUMENT, message, options);
  }
}

/** An operation was cancelled; `cause` is the signal's `reason`. */
export class AbortedError extends PlanesyncError {
  constructor(message = 'the operation was aborted', options?: PlanesyncErrorOptions) {
    super(ErrorCode.ABORTED, message, options);
  }
}

/** The connection or transport is closed, so nothing can be sent or connected. */
export class ConnectionClosedError extends PlanesyncError {
  constructor(message = 'the connection is closed', options?: PlanesyncErrorOptions) {
    super(ErrorCode.CONNECTION_CLOSED, message, options);
  }
}

/** A transport could not reach or accept its peer; `cause` is the socket error. */
export class TransportFailedError extends PlanesyncError {
  constructor(message: string, options?: PlanesyncErrorOptions) {
    super(ErrorCode.TRANSPORT_FAILED, message, options);
  }
}

/**
 * The server refused the connection at its pre-accept step, before any frame: `closeCode` is
 * the close code it gave (1008 untrusted, 1013 overloaded), `reason` its reason — an error
 * code such as `TRUST_PIN_MISMATCH` or `CAPACITY_EXCEEDED`.
 */
export class PeerRefusedError extends PlanesyncError {
  readonly closeCode: number;
  readonly reason: string;

  constructor(closeCode: number, reason: string, options?: PlanesyncErrorOptions) {
    super(
      ErrorCode.PEER_REFUSED,
      `the server refused the connection: ${reason} (${closeCode})`,
      options,
    );
    this.closeCode = closeCode;
    this.reason = reason;
  }
}

/** The forward proxy answered the CONNECT with a non-2xx status. */
export class ProxyRefusedError extends PlanesyncError {
  readonly status: number;

  constructor(status: number, message: string, options?: PlanesyncErrorOptions) {
    super(ErrorCode.PROXY_REFUSED, message, options);
    this.status = status;
  }
}

/** A frame or payload exceeds the limit; `size` and `limit` are in bytes. */
export class PayloadTooLargeError extends PlanesyncError {
  readonly size: number;
  readonly limit: number;

  constructor(size: number, limit: number, options?: PlanesyncErrorOptions) {
    super(
      ErrorCode.PAYLOAD_TOO_LARGE,
      `payload of ${size} bytes exceeds the limit of ${limit} bytes`,
      options,
    );
    this.size = size;
    this.limit = limit;
  }
}

/** A stored config cache cannot be read back as a complete snapshot. */
export class StoreCorruptError extends PlanesyncError {
  constructor(message: string, options?: PlanesyncErrorOptions) {
    super(ErrorCode.STORE_CORRUPT, message, options);
  }
}

/** The control planes' shared state cannot be reached; nothing was published or read. */
export class StateUnavailableError extends PlanesyncError {
  constructor(message: string, options?: PlanesyncErrorOptions) {
    super(ErrorCode.STATE_UNAVAILABLE, message, options);
  }
}

/** A config store could not write; the previous snapshot is still what `load` returns. */
export class StoreWriteFailedError extends PlanesyncError {
  constructor(message: string, options?: PlanesyncErrorOptions) {
    super(ErrorCode.STORE_WRITE_FAILED, message, options);
  }
}

/** Another writer holds the cache's lock; `lockFile` and `pid` say which. */
export class StoreLockedError extends PlanesyncError {
  readonly lockFile: string;
  readonly pid: number;

  constructor(lockFile: string, pid: number, message: string, options?: PlanesyncErrorOptions) {
    super(ErrorCode.STORE_LOCKED, message, options);
    this.lockFile = lockFile;
    this.pid = pid;
  }
}

/** An encrypted cache cannot be decrypted: wrong key, no key, or tampered bytes. */
export class StoreDecryptFailedError extends PlanesyncError {
  constructor(message: string, options?: PlanesyncErrorOptions) {
    super(ErrorCode.STORE_DECRYPT_FAILED, message, options);
  }
}

/** One thing wrong with a config: where (`services[2].port`) and what. */
export interface ConfigProblem {
  /** A JSON path such as `services[2].port`, or `(root)`, or `(line 3, column 5)` for syntax. */
  readonly path: string;
  readonly message: string;
}

/**
 * A config could not be parsed or is not valid. `problems` lists every problem found, each
 * with its path; the message shows them one a line.
 */
export class ConfigInvalidError extends PlanesyncError {
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[], options?: PlanesyncErrorOptions) {
    const lines = problems.map((problem) => `  ${problem.path}: ${problem.message}`);
    super(ErrorCode.CONFIG_INVALID, `invalid config:\n${lines.join('\n')}`, options);
    this.problems = problems;
  }
}

/**
 * A config received from the CP does not hash (Kong's `calculate_config_hash`) to the hash its
 * header announced; `expected` is the header's, `actual` the config's.
 */
export class ConfigHashMismatchError extends PlanesyncError {
  readonly expected: string;
  readonly actual: string;

  constructor(expected: string, actual: string, options?: PlanesyncErrorOptions) {
    super(
      ErrorCode.CONFIG_HASH_MISMATCH,
      `the config hashes to ${actual}, not the ${expected} the control plane sent with it`,
      options,
    );
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * A config delta (planesync/2) cannot be applied: its base is not the config the DP serves,
 * or the delta is malformed (a run outside its base list, a key it keeps that the base lacks).
 */
export class ConfigDeltaInvalidError extends PlanesyncError {
  constructor(message: string, options?: PlanesyncErrorOptions) {
    super(ErrorCode.CONFIG_DELTA_INVALID, message, options);
  }
}

/** A state machine was asked for a transition its table does not allow. */
export class StateError extends PlanesyncError {
  readonly from: string;
  readonly to: string;

  constructor(machine: string, from: string, to: string) {
    super(ErrorCode.INVALID_STATE_TRANSITION, `${machine}: no transition from ${from} to ${to}`);
    this.from = from;
    this.to = to;
  }
}

/** A peer broke the protocol; the connection is closed with close code 1002. */
export class ProtocolViolationError extends PlanesyncError {
  constructor(message: string, options?: PlanesyncErrorOptions) {
    super(ErrorCode.PROTOCOL_VIOLATION, message, options);
  }
}

/** The DP's version cannot be served by this CP. */
export class VersionIncompatibleError extends PlanesyncError {
  constructor(message: string, options?: PlanesyncErrorOptions) {
    super(ErrorCode.VERSION_INCOMPATIBLE, message, options);
  }
}

/** A limit on peers was reached (`maxDataPlanes`); the peer is refused and retries later. */
export class CapacityExceededError extends PlanesyncError {
  constructor(message: string, options?: PlanesyncErrorOptions) {
    super(ErrorCode.CAPACITY_EXCEEDED, message, options);
  }
}

/**
 * A hello names a node id that a connected DP holds under another certificate. The newcomer
 * is refused and the connected DP keeps its link; once it is gone the id may move.
 */
export class NodeIdInUseError extends PlanesyncError {
  constructor(message: string, options?: PlanesyncErrorOptions) {
    super(ErrorCode.NODE_ID_IN_USE, message, options);
  }
}

/** The peer sent nothing for longer than the heartbeat timeout. */
export class HeartbeatTimeoutError extends PlanesyncError {
  constructor(message: string, options?: PlanesyncErrorOptions) {
    super(ErrorCode.HEARTBEAT_TIMEOUT, message, options);
  }
}

/**
 * A failure on this side — a bug, or host code that threw — as opposed to anything the peer
 * did; `cause` is what was thrown. A connection it ends closes with 1011 (`INTERNAL_ERROR`).
 */
export class InternalError extends PlanesyncError {
  constructor(message: string, options?: PlanesyncErrorOptions) {
    super(ErrorCode.INTERNAL_ERROR, message, options);
  }
}

/** A peer's certificate chain was not trusted; `code` says why. */
export class TrustError extends PlanesyncError {
  declare readonly code: TrustCode;

  constructor(code: TrustCode, message: string, options?: PlanesyncErrorOptions) {
    super(code, message, options);
  }
}

/** Throws an {@link AbortedError} carrying the signal's reason when `signal` is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortedError(undefined, { cause: signal.reason });
}

/**
 * @internal `promise`, or an {@link AbortedError} as soon as `signal` aborts (the promise goes
 * on; its outcome is then ignored).
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(new AbortedError(undefined, { cause: signal.reason }));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new AbortedError(undefined, { cause: signal.reason }));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Where an `error` event happened, on either side. */
export interface ErrorContext {
  /** The DP concerned: on the CP, the one whose link failed; on a DP, itself (once known). */
  nodeId?: string;
  /** The peer's address: on the CP, the DP's (`control-plane` for the CP's own work). */
  remoteAddress?: string;
}
