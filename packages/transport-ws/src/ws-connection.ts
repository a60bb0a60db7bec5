import {
  AbortedError,
  CloseCode,
  ConnectionBase,
  ConnectionClosedError,
  type ConnectionInit,
} from '@planesync/core';
import type { WebSocket } from 'ws';

/** One planesync connection over a WebSocket: each frame is one binary message. */
export class WsConnection extends ConnectionBase {
  #localClose: { code: number; reason: string; error?: Error } | undefined;

  constructor(
    private readonly socket: WebSocket,
    init: ConnectionInit,
  ) {
    super(init);
    socket.binaryType = 'nodebuffer';
    socket.on('message', (data, isBinary) => {
      if (!isBinary) {
        // planesync frames are binary; a text message is a protocol violation.
        void this.close(CloseCode.PROTOCOL_VIOLATION, 'text messages are not planesync frames');
        return;
      }
      this.receive(new Uint8Array(data as Buffer));
    });
    socket.on('error', (error: Error & { code?: string }) => {
      // ws enforces maxPayload itself and closes with 1009; record it as this side's close.
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' && !this.#localClose) {
        this.#localClose = { code: CloseCode.PAYLOAD_TOO_LARGE, reason: error.message, error };
      }
    });
    socket.on('close', (code: number, reason: Buffer) => {
      const local = this.#localClose;
      if (local) {
        this.finish({
          code: local.code,
          reason: local.reason,
          initiator: 'local',
          ...(local.error ? { error: local.error } : {}),
        });
      } else {
        this.finish({
          code: code === 1005 ? CloseCode.NORMAL : code,
          reason: reason.toString('utf8'),
          initiator: 'remote',
        });
      }
    });
  }

  protected writeFrame(frame: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(new AbortedError(undefined, { cause: signal.reason }));
        return;
      }
      if (this.socket.readyState !== this.socket.OPEN) {
        reject(new ConnectionClosedError());
        return;
      }
      // The callback fires once the bytes are written to the socket: the next send waits.
      this.socket.send(frame, { binary: true }, (error) =>
        error ? reject(new ConnectionClosedError(undefined, { cause: error })) : resolve(),
      );
    });
  }

  protected closeTransport(code: number, reason: string, error?: Error): void {
    this.#localClose = error ? { code, reason, error } : { code, reason };
    if (this.socket.readyState === this.socket.CLOSED) return;
    if (this.socket.readyState === this.socket.CONNECTING) this.socket.terminate();
    else this.socket.close(code, Buffer.from(reason, 'utf8').subarray(0, 123).toString('utf8'));
    const timer = setTimeout(() => this.socket.terminate(), 5_000);
    timer.unref();
    this.socket.once('close', () => clearTimeout(timer));
  }

  protected override pauseReading(): void {
    this.socket.pause();
  }

  protected override resumeReading(): void {
    this.socket.resume();
  }
}
