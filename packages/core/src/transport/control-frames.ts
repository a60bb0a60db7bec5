import { AbortedError, InvalidArgumentError } from '../errors.ts';
import { defaultLogger, type Logger, logSafely } from '../host/logger.ts';
import type { ControlFrame } from './contract.ts';

/** The largest payload of a ping or pong (RFC 6455 §5.5). */
export const MAX_CONTROL_PAYLOAD_BYTES = 125;

/** How many control frames wait for a listener before the oldest is dropped. */
export const CONTROL_BACKLOG = 64;

/**
 * Throws `INVALID_ARGUMENT` unless `frame` is a ping or pong with at most 125 bytes, and
 * `ABORTED` when `signal` has aborted: what `sendControl` checks before sending.
 *
 * @example
 * ```ts
 * import { checkControlFrame } from '@planesync/core/transport';
 * checkControlFrame({ kind: 'ping', payload: new Uint8Array(8) }); // fine
 * ```
 */
export function checkControlFrame(frame: ControlFrame, signal?: AbortSignal): void {
  if (frame?.kind !== 'ping' && frame?.kind !== 'pong')
    throw new InvalidArgumentError(
      `a control frame is a ping or a pong, got ${String(frame?.kind)}`,
    );
  if (!(frame.payload instanceof Uint8Array))
    throw new InvalidArgumentError('a control frame’s payload is a Uint8Array');
  if (frame.payload.byteLength > MAX_CONTROL_PAYLOAD_BYTES)
    throw new InvalidArgumentError(
      `a ${frame.kind} carries at most ${MAX_CONTROL_PAYLOAD_BYTES} bytes, got ${frame.payload.byteLength}`,
    );
  if (signal?.aborted) throw new AbortedError(undefined, { cause: signal.reason });
}

/**
 * The control frames a connection with manual pings received, handed to its `onControl`
 * listener in order; until one is set, at most 64 are kept (the oldest dropped first). A
 * listener that throws is logged, never breaks the connection.
 *
 * @example
 * ```ts
 * import { ControlFrameInbox } from '@planesync/core/transport';
 * const inbox = new ControlFrameInbox();
 * inbox.push({ kind: 'ping', payload: new Uint8Array([1]) }); // kept
 * inbox.listen((frame) => console.log(frame.kind)); // 'ping'
 * ```
 */
export class ControlFrameInbox {
  #backlog: ControlFrame[] = [];
  #listener: ((frame: ControlFrame) => void) | undefined;

  constructor(private readonly logger: Logger = defaultLogger) {}

  /** A control frame arrived. */
  push(frame: ControlFrame): void {
    if (this.#listener) {
      this.#deliver(this.#listener, frame);
      return;
    }
    this.#backlog.push(frame);
    if (this.#backlog.length > CONTROL_BACKLOG) this.#backlog.shift();
  }

  /** Sets the listener (replacing any) and hands it the frames kept so far. */
  listen(listener: (frame: ControlFrame) => void): void {
    if (typeof listener !== 'function')
      throw new InvalidArgumentError('onControl takes a function');
    this.#listener = listener;
    const backlog = this.#backlog;
    this.#backlog = [];
    for (const frame of backlog) this.#deliver(listener, frame);
  }

  #deliver(listener: (frame: ControlFrame) => void, frame: ControlFrame): void {
    try {
      listener(frame);
    } catch (error) {
      logSafely(
        this.logger,
        'error',
        { err: error, kind: frame.kind },
        'an onControl listener threw',
      );
    }
  }
}
