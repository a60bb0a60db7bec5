import type { TLSSocket } from 'node:tls';
import { AbortedError, ConnectionClosedError } from '@planesync/core';
import { ConnectionBase, type ConnectionInit } from '@planesync/core/transport';
import {
  formatAddress,
  localCertificateChain,
  peerCertificateChain,
  writable,
} from '@planesync/node-tls';
import { closeFrame, type FrameDecoder, type FrameEvent, frameHeader } from './framing.ts';

/** How long a closing side waits for the peer to close its end before destroying the socket. */
const CLOSE_GRACE_MS = 5_000;

/** One planesync connection over a TLS socket with length-prefixed frames. */
export class TcpConnection extends ConnectionBase {
  #remoteClose: { code: number; reason: string } | undefined;

  constructor(
    private readonly socket: TLSSocket,
    private readonly decoder: FrameDecoder,
    init: Omit<ConnectionInit, 'remoteAddress'>,
    pending: readonly FrameEvent[] = [],
  ) {
    super({
      ...init,
      remoteAddress: formatAddress(socket.remoteAddress, socket.remotePort),
      peerCertificates: init.peerCertificates ?? peerCertificateChain(socket),
      localCertificates: localCertificateChain(socket),
    });
    for (const event of pending) this.#onEvent(event);
    socket.on('data', (chunk: Buffer) => {
      for (const event of this.decoder.push(chunk)) this.#onEvent(event);
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.socketClosed(this.#remoteClose));
  }

  protected async writeFrame(frame: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
    // Wait for room *before* writing: a send blocked by a slow peer holds nothing in the
    // socket, so aborting it never lets its frame through (bounded memory: one frame past
    // the socket's high-water mark at most).
    await writable(this.socket, signal);
    if (this.isClosed) throw new ConnectionClosedError();
    if (signal?.aborted) throw new AbortedError(undefined, { cause: signal.reason });
    this.socket.cork();
    this.socket.write(frameHeader(frame.byteLength));
    this.socket.write(frame);
    this.socket.uncork();
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
}
