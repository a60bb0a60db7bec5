import type { TLSSocket } from 'node:tls';
import {
  AbortedError,
  ConnectionBase,
  ConnectionClosedError,
  type ConnectionInit,
} from '@planesync/core';
import { formatAddress, peerCertificateChain } from '@planesync/node-tls';
import { closeFrame, type FrameDecoder, type FrameEvent, frameHeader } from './framing.ts';

/** How long a closing side waits for the peer to close its end before destroying the socket. */
const CLOSE_GRACE_MS = 5_000;

/** One planesync connection over a TLS socket with length-prefixed frames. */
export class TcpConnection extends ConnectionBase {
  #remoteClose: { code: number; reason: string } | undefined;

  constructor(
    private readonly socket: TLSSocket,
    private readonly decoder: FrameDecoder,
    init: Omit<ConnectionInit, 'remoteAddress' | 'peerCertificates'>,
    pending: readonly FrameEvent[] = [],
  ) {
    super({
      ...init,
      remoteAddress: formatAddress(socket.remoteAddress, socket.remotePort),
      peerCertificates: peerCertificateChain(socket),
    });
    for (const event of pending) this.#onEvent(event);
    socket.on('data', (chunk: Buffer) => {
      for (const event of this.decoder.push(chunk)) this.#onEvent(event);
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.socketClosed(this.#remoteClose));
  }

  protected async writeFrame(frame: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
    if (this.socket.writableNeedDrain) await this.#drained(signal);
    if (this.isClosed || this.socket.destroyed) throw new ConnectionClosedError();
    this.socket.cork();
    this.socket.write(frameHeader(frame.byteLength));
    const accepted = this.socket.write(frame);
    this.socket.uncork();
    // Bounded memory: the next send waits until the kernel has taken this one.
    if (!accepted) await this.#drained(undefined);
  }

  protected closeTransport(code: number, reason: string): void {
    if (this.socket.destroyed) return;
    // Closing: what the peer still sends is skipped unbuffered, only its close frame is read.
    this.decoder.discard();
    this.socket.end(closeFrame(code, reason));
    const timer = setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS);
    timer.unref();
    this.socket.once('close', () => clearTimeout(timer));
  }

  protected override pauseReading(): void {
    this.socket.pause();
  }

  protected override resumeReading(): void {
    this.socket.resume();
  }

  #onEvent(event: FrameEvent): void {
    if (event.kind === 'frame') this.receive(event.frame);
    else if (event.kind === 'oversized') this.rejectOversized(event.size);
    else {
      this.#remoteClose = { code: event.code, reason: event.reason };
      this.socket.end();
    }
  }

  #drained(signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        this.socket.off('drain', onDrain);
        this.socket.off('close', onClose);
        signal?.removeEventListener('abort', onAbort);
      };
      const onDrain = () => {
        cleanup();
        resolve();
      };
      const onClose = () => {
        cleanup();
        reject(new ConnectionClosedError());
      };
      const onAbort = () => {
        cleanup();
        reject(new AbortedError(undefined, { cause: signal?.reason }));
      };
      this.socket.once('drain', onDrain);
      this.socket.once('close', onClose);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
