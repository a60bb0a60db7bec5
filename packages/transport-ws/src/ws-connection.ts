import type { Writable } from 'node:stream';
import {
  AbortedError,
  type AbortOptions,
  CloseCode,
  type CloseInfo,
  ConnectionClosedError,
  type ControlFrame,
} from '@planesync/core';
import {
  ConnectionBase,
  type ConnectionInit,
  ControlFrameInbox,
  checkControlFrame,
} from '@planesync/core/transport';
import { writable } from '@planesync/node-tls';
import type { WebSocket } from 'ws';

/** What `ws` reports for a close frame without a code (RFC 6455 §7.1.5). */
const NO_STATUS_RECEIVED = 1005;

/**
 * One planesync connection over a WebSocket: each frame is one binary message. With manual
 * pings, ws answers none and each ping and pong goes to `onControl`; otherwise ws answers
 * every ping itself.
 */
export class WsConnection extends ConnectionBase {
  /** Pings and pongs for `onControl`, made when the first arrives or is listened for. */
  #control: ControlFrameInbox | undefined;

  /**
   * @param ws the upgraded WebSocket
   * @param socket the socket under it, whose buffer tells when a send must wait
   * @param pings `'manual'` when ws was told not to answer pings (`autoPong: false`)
   * @param open the server's open connections: this one is in it until it has closed
   */
  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Writable,
    init: ConnectionInit,
    pings: 'auto' | 'manual',
    private readonly open?: Set<WsConnection>,
  ) {
    super(init);
    open?.add(this);
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data, isBinary) => {
      if (!isBinary) {
        // planesync frames are binary; a text message is a protocol violation.
        void this.close(CloseCode.PROTOCOL_VIOLATION, 'text messages are not planesync frames');
        return;
      }
      const bytes = data as Buffer; // a view, not a copy: ws hands each message its own bytes
      this.receive(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    });
    if (pings === 'manual') {
      ws.on('ping', (data: Buffer) => this.#controlFrame('ping', data));
      ws.on('pong', (data: Buffer) => this.#controlFrame('pong', data));
    }
    ws.on('error', (error: Error & { code?: string }) => {
      // ws enforces maxPayload itself and closes with 1009; it is this side's close.
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH')
        this.rejectOversized(this.maxPayloadBytes + 1);
    });
    ws.on('close', (code: number, reason: Buffer) =>
      // The peer closed without a code (RFC 6455's 1005, never sent on the wire): a plain,
      // normal close.
      this.socketClosed({
        code: code === NO_STATUS_RECEIVED ? CloseCode.NORMAL : code,
        reason: reason.toString('utf8'),
      }),
    );
  }

  /** Sends a ping or a pong with its payload (at most 125 bytes), as the protocol says. */
  async sendControl(frame: ControlFrame, options: AbortOptions = {}): Promise<void> {
    checkControlFrame(frame, options.signal);
    if (this.isClosed || this.ws.readyState !== this.ws.OPEN) throw new ConnectionClosedError();
    const payload = Buffer.from(frame.payload);
    await new Promise<void>((resolve, reject) => {
      const done = (error?: Error) =>
        error ? reject(new ConnectionClosedError(undefined, { cause: error })) : resolve();
      if (frame.kind === 'ping') this.ws.ping(payload, undefined, done);
      else this.ws.pong(payload, undefined, done);
    });
  }

  onControl(listener: (frame: ControlFrame) => void): void {
    this.#control ??= new ControlFrameInbox();
    this.#control.listen(listener);
  }

  protected async writeFrame(frame: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
    // Wait for room before handing ws the frame: a send blocked by a slow peer holds nothing
    // in the socket, so aborting it never lets its frame through.
    await writable(this.socket, signal);
    if (signal?.aborted) throw new AbortedError(undefined, { cause: signal.reason });
    if (this.isClosed || this.ws.readyState !== this.ws.OPEN) throw new ConnectionClosedError();
    // ws writes the frame to the socket now (no compression); a failure closes the socket.
    this.ws.send(frame, { binary: true }, () => undefined);
  }

  protected closeTransport(code: number, reason: string): void {
    if (this.ws.readyState === this.ws.CLOSED) return;
    if (this.ws.readyState === this.ws.CONNECTING) this.ws.terminate();
    else this.ws.close(code, Buffer.from(reason, 'utf8').subarray(0, 123).toString('utf8'));
    const timer = setTimeout(() => this.ws.terminate(), 5_000);
    timer.unref();
    this.ws.once('close', () => clearTimeout(timer));
  }

  protected override finish(info: CloseInfo): void {
    super.finish(info);
    this.open?.delete(this);
  }

  protected override pauseReading(): void {
    this.ws.pause();
  }

  protected override resumeReading(): void {
    this.ws.resume();
  }

  #controlFrame(kind: 'ping' | 'pong', data: Buffer): void {
    if (this.isClosed) return;
    this.#control ??= new ControlFrameInbox();
    this.#control.push({ kind, payload: new Uint8Array(data) });
  }
}
