import type { Writable } from 'node:stream';
import {
  AbortedError,
  type AbortOptions,
  CloseCode,
  type CloseInfo,
  ConnectionClosedError,
  type ControlFrame,
  type Logger,
} from '@planesync/core';
import {
  ConnectionBase,
  type ConnectionInit,
  ControlFrameInbox,
  checkControlFrame,
} from '@planesync/core/transport';
import { writable } from '@planesync/node-tls';
import type { RawData, WebSocket } from 'ws';

/** Where a WebSocket keeps the connection made of it, for the shared listeners. */
const CONNECTION = Symbol('planesync.wsConnection');
type Tagged = WebSocket & { [CONNECTION]: WsConnection };

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
  readonly #logger: Logger;

  /**
   * @param ws the upgraded WebSocket
   * @param socket the socket under it, whose buffer tells when a send must wait
   * @param settings `pings`: `'manual'` when ws was told not to answer pings (`autoPong:
   *   false`); `logger`: where an `onControl` listener that throws is logged
   * @param open the server's open connections: this one is in it until it has closed
   */
  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Writable,
    init: ConnectionInit,
    settings: { pings: 'auto' | 'manual'; logger: Logger },
    private readonly open?: Set<WsConnection>,
  ) {
    super(init);
    open?.add(this);
    ws.binaryType = 'nodebuffer';
    // One listener of each kind for every connection, finding its connection on the socket
    // (ws calls a listener with the socket as `this`): a CP with 10 000 DPs holds no closures
    // for them.
    (ws as Tagged)[CONNECTION] = this;
    ws.on('message', WsConnection.#onMessage);
    this.#logger = settings.logger;
    if (settings.pings === 'manual') {
      ws.on('ping', WsConnection.#onPing);
      ws.on('pong', WsConnection.#onPong);
    }
    ws.on('error', WsConnection.#onError);
    ws.on('close', WsConnection.#onClose);
  }

  static readonly #onMessage = function (this: WebSocket, data: RawData, isBinary: boolean): void {
    const connection = (this as Tagged)[CONNECTION];
    if (!isBinary) {
      // planesync frames are binary; a text message is a protocol violation.
      void connection.close(CloseCode.PROTOCOL_VIOLATION, 'text messages are not planesync frames');
      return;
    }
    const bytes = data as Buffer; // a view, not a copy: ws hands each message its own bytes
    connection.receive(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  };

  static readonly #onPing = function (this: WebSocket, data: Buffer): void {
    (this as Tagged)[CONNECTION].#controlFrame('ping', data);
  };

  static readonly #onPong = function (this: WebSocket, data: Buffer): void {
    (this as Tagged)[CONNECTION].#controlFrame('pong', data);
  };

  static readonly #onError = function (this: WebSocket, error: Error & { code?: string }): void {
    // ws enforces maxPayload itself and closes with 1009; it is this side's close.
    const connection = (this as Tagged)[CONNECTION];
    if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH')
      connection.rejectOversized(connection.maxPayloadBytes + 1);
  };

  static readonly #onClose = function (this: WebSocket, code: number, reason: Buffer): void {
    // The peer closed without a code (RFC 6455's 1005, never sent on the wire): a plain,
    // normal close.
    (this as Tagged)[CONNECTION].socketClosed({
      code: code === NO_STATUS_RECEIVED ? CloseCode.NORMAL : code,
      reason: reason.toString('utf8'),
    });
  };

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
    this.#control ??= new ControlFrameInbox(this.#logger);
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
    this.#control ??= new ControlFrameInbox(this.#logger);
    this.#control.push({ kind, payload: new Uint8Array(data) });
  }
}
