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
      const bytes = data as Buffer; // a view, not a copy: ws hands each message its own bytes
      this.receive(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    });
    socket.on('error', (error: Error & { code?: string }) => {
      // ws enforces maxPayload itself and closes with 1009; it is this side's close.
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH')
        this.rejectOversized(this.maxPayloadBytes + 1);
    });
    socket.on('close', (code: number, reason: Buffer) =>
      // 1005: the peer closed without a code — a plain, normal close.
      this.socketClosed({
        code: code === 1005 ? CloseCode.NORMAL : code,
        reason: reason.toString('utf8'),
      }),
    );
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

  protected closeTransport(code: number, reason: string): void {
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
