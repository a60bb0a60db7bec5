import { type Clock, delay } from '../clock.ts';
import {
  type AbortOptions,
  CloseCode,
  type Connection,
  type ConnectOptions,
  type ControlFrame,
  type TransportClient,
} from '../transport/contract.ts';

/** What may go wrong with a frame on its way, decided per frame. */
export type Fault =
  | { kind: 'pass' }
  /** The frame never arrives (the connection stays up). */
  | { kind: 'drop' }
  /** The frame arrives twice. */
  | { kind: 'duplicate' }
  /** Only the first `bytes` of the frame arrive. */
  | { kind: 'truncate'; bytes: number }
  /** The connection is cut instead of delivering the frame (a close mid-frame). */
  | { kind: 'cut' }
  /** The frame is held back until the next frame has passed (incoming frames only). */
  | { kind: 'reorder' }
  /** The frame arrives `ms` later on `clock` (incoming frames only); later frames wait behind it. */
  | { kind: 'delay'; ms: number; clock: Clock };

/** Which frame a fault rule sees: its direction, its type byte, and its number in that direction. */
export interface FrameInfo {
  direction: 'in' | 'out';
  type: number;
  /** The frame's length in bytes (what it costs on the wire, before the transport's framing). */
  bytes: number;
  /** 0 for the first frame in this direction on this connection. */
  index: number;
  /** 0 for the first connection this client made. */
  connection: number;
}

/**
 * Wraps a client transport so a test decides, frame by frame, what goes wrong: drop,
 * duplicate, truncate, or cut the connection mid-frame, in either direction; delay or reorder
 * what the DP receives. The DP under
 * test sees a real transport misbehaving; the CP sees what a broken network would deliver.
 *
 * @example
 * ```ts
 * import { memoryTransport } from '@planesync/core';
 * import { faultyClient } from '@planesync/core/testing';
 * const { client } = memoryTransport();
 * // cut the first connection when its first config frame (type 0x04) arrives
 * const flaky = faultyClient(client(), (frame) =>
 *   frame.direction === 'in' && frame.type === 0x04 && frame.connection === 0 ? { kind: 'cut' } : { kind: 'pass' });
 * ```
 */
export function faultyClient(
  inner: TransportClient,
  decide: (frame: FrameInfo) => Fault,
): TransportClient {
  let connections = 0;
  return {
    ...(inner.features ? { features: inner.features } : {}),
    async connect(options?: ConnectOptions): Promise<Connection> {
      const connection = await inner.connect(options);
      return new FaultyConnection(connection, connections++, decide);
    },
  };
}

/** Frames pass through the fault rule; control frames and everything else pass unchanged. */
class FaultyConnection implements Connection {
  #in = 0;
  #out = 0;
  readonly sendControl?: (frame: ControlFrame, options?: AbortOptions) => Promise<void>;
  readonly onControl?: (listener: (frame: ControlFrame) => void) => void;

  constructor(
    private readonly inner: Connection,
    private readonly number: number,
    private readonly decide: (frame: FrameInfo) => Fault,
  ) {
    if (inner.sendControl)
      this.sendControl = (frame, options) => inner.sendControl!(frame, options);
    if (inner.onControl) this.onControl = (listener) => inner.onControl!(listener);
  }

  get remoteAddress() {
    return this.inner.remoteAddress;
  }
  get peerCertificates() {
    return this.inner.peerCertificates;
  }
  get metadata() {
    return this.inner.metadata;
  }
  get request() {
    return this.inner.request;
  }
  get serverName() {
    return this.inner.serverName;
  }
  get isClosed() {
    return this.inner.isClosed;
  }
  get closed() {
    return this.inner.closed;
  }

  close(code?: number, reason?: string): Promise<void> {
    return this.inner.close(code, reason);
  }

  async send(frame: Uint8Array, options?: AbortOptions): Promise<void> {
    const fault = this.decide({
      direction: 'out',
      type: frame[0] ?? -1,
      bytes: frame.byteLength,
      index: this.#out++,
      connection: this.number,
    });
    switch (fault.kind) {
      case 'drop':
        return;
      case 'cut':
        await this.inner.close(CloseCode.GOING_AWAY, 'fault injection: cut mid-frame');
        return;
      case 'truncate':
        return this.inner.send(frame.subarray(0, fault.bytes), options);
      case 'duplicate':
        await this.inner.send(frame, options);
        return this.inner.send(frame, options);
      default:
        // delay and reorder apply to incoming frames; outgoing ones pass
        return this.inner.send(frame, options);
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    const frames = this.inner[Symbol.asyncIterator]();
    const pending: Uint8Array[] = [];
    let heldBack: Uint8Array | undefined;
    return {
      next: async () => {
        for (;;) {
          const queued = pending.shift();
          if (queued) return { value: queued, done: false };
          const result = await frames.next();
          if (result.done) {
            if (heldBack) {
              const value = heldBack;
              heldBack = undefined;
              return { value, done: false };
            }
            return result;
          }
          if (heldBack) {
            // the frame held back follows the one that overtook it
            pending.push(heldBack);
            heldBack = undefined;
          }
          const fault = this.decide({
            direction: 'in',
            type: result.value[0] ?? -1,
            bytes: result.value.byteLength,
            index: this.#in++,
            connection: this.number,
          });
          switch (fault.kind) {
            case 'drop':
              continue;
            case 'cut':
              await this.inner.close(CloseCode.GOING_AWAY, 'fault injection: cut mid-frame');
              return { value: undefined, done: true };
            case 'truncate':
              return { value: result.value.subarray(0, fault.bytes), done: false };
            case 'duplicate':
              pending.unshift(result.value);
              return result;
            case 'reorder':
              heldBack = result.value;
              continue;
            case 'delay':
              await delay(fault.clock, fault.ms);
              return result;
            default:
              return result;
          }
        }
      },
    };
  }
}
