import {
  AbortedError,
  ConnectionClosedError,
  InvalidArgumentError,
  PayloadTooLargeError,
} from '../errors.ts';
import { CloseCode, type CloseInfo, type Connection, type ConnectionRequest } from './contract.ts';

/** What every connection knows from its handshake. */
export interface ConnectionInit {
  remoteAddress: string;
  peerCertificates?: readonly Uint8Array[];
  /** The certificate this side presented, leaf first, when the transport knows it. */
  localCertificates?: readonly Uint8Array[];
  metadata?: Readonly<Record<string, string>>;
  /** For a transport with a request step: the request as sent (client) or received (server). */
  request?: ConnectionRequest | undefined;
  /** Client side: the name dialed, checked against the server's certificate. */
  serverName?: string | undefined;
  /** Largest frame this side accepts; a bigger one closes with `PAYLOAD_TOO_LARGE`. */
  maxPayloadBytes: number;
  /**
   * Bytes of received-but-unread frames above which the transport is asked to stop
   * reading (`pauseReading`). Default 4 MiB.
   */
  highWaterMark?: number;
}

/** 16 MiB: the default largest frame, as DESIGN.md's `maxPayloadBytes`. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;
const DEFAULT_HIGH_WATER_MARK = 4 * 1024 * 1024;
/**
 * What a held frame costs besides its bytes (its object, its slot in the inbox): a flood of
 * empty frames fills the high-water mark as surely as a few large ones.
 */
const FRAME_OVERHEAD = 64;

/** The connection's next frame, for its reader (set by ConnectionBase's static block). */
let nextFrame: (connection: ConnectionBase) => Promise<IteratorResult<Uint8Array>>;

/**
 * The part of a {@link Connection} every transport shares: the in-order inbox read by async
 * iteration with read-side flow control, the `closed` promise, one-at-a-time sends with
 * abort, and the payload limit. A transport extends it and supplies three primitives:
 * `writeFrame` (hand one frame to the socket), `closeTransport` (start closing the socket)
 * and optionally `pauseReading`/`resumeReading`; it calls `receive` for each incoming frame
 * and `finish` once the socket is gone.
 *
 * @example
 * ```ts
 * import { ConnectionBase, DEFAULT_MAX_PAYLOAD_BYTES } from '@planesync/core/transport';
 * class LoopbackConnection extends ConnectionBase {
 *   constructor() {
 *     super({ remoteAddress: 'loopback', maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES });
 *   }
 *   protected async writeFrame(frame: Uint8Array) {
 *     this.receive(frame); // whatever we send comes back
 *   }
 *   protected closeTransport(code: number, reason: string) {
 *     this.finish({ code, reason, initiator: 'local' });
 *   }
 * }
 * ```
 */
export abstract class ConnectionBase implements Connection {
  readonly remoteAddress: string;
  readonly peerCertificates: readonly Uint8Array[];
  readonly localCertificates?: readonly Uint8Array[];
  readonly metadata: Readonly<Record<string, string>>;
  readonly request: ConnectionRequest | undefined;
  readonly serverName: string | undefined;
  readonly closed: Promise<CloseInfo>;
  protected readonly maxPayloadBytes: number;
  protected readonly highWaterMark: number;

  /** Frames received and not yet read, from `#inboxHead` on (the slots before are empty). */
  #inbox: Array<Uint8Array | undefined> = [];
  #inboxHead = 0;
  #bufferedBytes = 0;
  #paused = false;
  #waitingReader: ((result: IteratorResult<Uint8Array>) => void) | undefined;
  #closing = false;
  #localClose: CloseInfo | undefined;
  #finished = false;
  #resolveClosed!: (info: CloseInfo) => void;
  #sendTail: Promise<void> = Promise.resolve();

  constructor(init: ConnectionInit) {
    if (!(init.maxPayloadBytes > 0)) {
      throw new InvalidArgumentError(
        `maxPayloadBytes must be positive, got ${init.maxPayloadBytes}`,
      );
    }
    this.remoteAddress = init.remoteAddress;
    this.peerCertificates = frozen(init.peerCertificates ?? []);
    if (init.localCertificates) this.localCertificates = frozen(init.localCertificates);
    this.metadata = frozenCopy(init.metadata ?? NO_METADATA);
    this.request = init.request ? frozenCopy(init.request) : undefined;
    this.serverName = init.serverName;
    this.maxPayloadBytes = init.maxPayloadBytes;
    this.highWaterMark = init.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
  }

  get isClosed(): boolean {
    return this.#closing || this.#finished;
  }

  /** Bytes received and not yet read, each frame counted with a fixed 64-byte overhead. */
  get bufferedBytes(): number {
    return this.#bufferedBytes;
  }

  send(frame: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<void> {
    const { signal } = options;
    if (this.isClosed) return Promise.reject(new ConnectionClosedError());
    if (signal?.aborted)
      return Promise.reject(new AbortedError(undefined, { cause: signal.reason }));
    const turn = this.#sendTail.then(() => {
      if (this.isClosed) throw new ConnectionClosedError();
      if (signal?.aborted) throw new AbortedError(undefined, { cause: signal.reason });
      return this.writeFrame(frame, signal);
    });
    this.#sendTail = turn.catch(() => undefined);
    return signal ? raceAbort(turn, signal) : turn;
  }

  close(code: number = CloseCode.NORMAL, reason = ''): Promise<void> {
    if (!this.#closing && !this.#finished) {
      this.#closing = true;
      this.#localClose = { code, reason, initiator: 'local' };
      this.closeTransport(code, reason);
    }
    return this.closed.then(() => undefined);
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return new FrameReader(this);
  }

  static {
    nextFrame = (connection) => connection.#next();
  }

  #next(): Promise<IteratorResult<Uint8Array>> {
    const frame = this.#shift();
    if (frame) return Promise.resolve({ value: frame, done: false });
    if (this.#finished) return Promise.resolve({ value: undefined, done: true });
    if (this.#waitingReader) {
      return Promise.reject(new InvalidArgumentError('a connection has one reader at a time'));
    }
    return new Promise((resolve) => {
      this.#waitingReader = resolve;
    });
  }

  /** Hands one frame to the socket; resolves once the socket has accepted it. */
  protected abstract writeFrame(frame: Uint8Array, signal: AbortSignal | undefined): Promise<void>;

  /**
   * Starts closing the socket with `code`/`reason` (and the local `error` behind it, if any);
   * must end in a call to `finish`.
   */
  protected abstract closeTransport(code: number, reason: string, error?: Error): void;

  /** Called when unread frames exceed the high-water mark: stop reading the socket. */
  protected pauseReading(): void {}

  /** Called when the reader has caught up: read the socket again. */
  protected resumeReading(): void {}

  /**
   * Delivers one whole frame from the socket. A frame over `maxPayloadBytes` is dropped and
   * the connection closes with `PAYLOAD_TOO_LARGE`.
   */
  protected receive(frame: Uint8Array): void {
    // Closing: nothing more is read or buffered (a refused peer cannot fill our memory).
    if (this.#finished || this.#closing) return;
    if (frame.byteLength > this.maxPayloadBytes) {
      this.rejectOversized(frame.byteLength);
      return;
    }
    if (this.#waitingReader) {
      const reader = this.#waitingReader;
      this.#waitingReader = undefined;
      reader({ value: frame, done: false });
      return;
    }
    this.#inbox.push(frame);
    this.#bufferedBytes += frame.byteLength + FRAME_OVERHEAD;
    if (!this.#paused && this.#bufferedBytes > this.highWaterMark) {
      this.#paused = true;
      this.pauseReading();
    }
  }

  /** Closes with `PAYLOAD_TOO_LARGE` for a frame of `size` bytes (before or after reading it). */
  protected rejectOversized(size: number): void {
    const error = new PayloadTooLargeError(size, this.maxPayloadBytes);
    if (!this.#closing && !this.#finished) {
      this.#closing = true;
      this.#localClose = {
        code: CloseCode.PAYLOAD_TOO_LARGE,
        reason: error.message,
        initiator: 'local',
        error,
      };
      this.closeTransport(CloseCode.PAYLOAD_TOO_LARGE, error.message, error);
    }
  }

  /**
   * For socket transports: the socket is gone. The connection finishes with this side's close
   * when it started one, else with the close the peer announced (`remote`), else as lost (1006).
   */
  protected socketClosed(remote: { code: number; reason: string } | undefined): void {
    if (this.#localClose) this.finish(this.#localClose);
    else if (remote) this.finish({ ...remote, initiator: 'remote' });
    else
      this.finish({
        code: CloseCode.ABNORMAL,
        reason: 'the connection was lost',
        initiator: 'remote',
      });
  }

  /**
   * Records that the connection is closed. Frames already received stay readable; then the
   * iteration ends. Only the first call counts.
   */
  protected finish(info: CloseInfo): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#closing = true;
    if (this.#waitingReader) {
      const reader = this.#waitingReader;
      this.#waitingReader = undefined;
      reader({ value: undefined, done: true });
    }
    this.#resolveClosed(info);
  }

  #shift(): Uint8Array | undefined {
    if (this.#inboxHead >= this.#inbox.length) return undefined;
    const frame = this.#inbox[this.#inboxHead]!;
    // The slot is emptied: a read frame is the reader's, not held here until the inbox is
    // compacted (up to a thousand frames later).
    this.#inbox[this.#inboxHead++] = undefined;
    this.#bufferedBytes -= frame.byteLength + FRAME_OVERHEAD;
    if (this.#inboxHead > 1024 && this.#inboxHead * 2 > this.#inbox.length) {
      this.#inbox = this.#inbox.slice(this.#inboxHead);
      this.#inboxHead = 0;
    }
    if (this.#paused && this.#bufferedBytes <= this.highWaterMark) {
      this.#paused = false;
      this.resumeReading();
    }
    return frame;
  }
}

/** An iterator over a connection's frames: a class, so a connection's reader holds no closures. */
class FrameReader implements AsyncIterator<Uint8Array> {
  constructor(private readonly connection: ConnectionBase) {}

  next(): Promise<IteratorResult<Uint8Array>> {
    return nextFrame(this.connection);
  }

  return(): Promise<IteratorResult<Uint8Array>> {
    return Promise.resolve({ value: undefined, done: true });
  }
}

const NO_METADATA: Readonly<Record<string, string>> = Object.freeze({});

/**
 * A frozen copy of `record`'s own enumerable string keys. Not `{ ...record }`: on Node 20's V8
 * a spread, once its call site is warm, gives each copy a hidden class of its own (~170 bytes
 * each, measured), and a CP keeps two such copies for every DP. A key `__proto__` (a query may
 * have one) is copied as a key, as a spread would, not set as the prototype.
 */
function frozenCopy<T extends object>(record: T): Readonly<T> {
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(record)) {
    const value = (record as Record<string, unknown>)[key];
    if (key === '__proto__')
      Object.defineProperty(copy, key, {
        value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    else copy[key] = value;
  }
  return Object.freeze(copy) as Readonly<T>;
}

/** `list` itself when already frozen (a chain shared by connections), else a frozen copy. */
function frozen<T>(list: readonly T[]): readonly T[] {
  return Object.isFrozen(list) ? list : Object.freeze([...list]);
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new AbortedError(undefined, { cause: signal.reason }));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
