import type { Writable } from 'node:stream';
import { AbortedError, ConnectionClosedError } from '@planesync/core';

/**
 * Resolves at once when `socket` takes more bytes, else once it drains: a transport's
 * `writeFrame` waits here *before* it writes, so a send blocked by a peer that reads nothing
 * holds no bytes in the socket and can still be aborted without its frame being delivered.
 * Rejects with `ABORTED` when `signal` aborts first, `CONNECTION_CLOSED` when the socket
 * closes.
 *
 * @example
 * ```ts
 * import type { Socket } from 'node:net';
 * import { writable } from '@planesync/node-tls';
 * async function writeFrame(socket: Socket, frame: Uint8Array, signal?: AbortSignal) {
 *   await writable(socket, signal);
 *   socket.write(frame);
 * }
 * ```
 */
export function writable(socket: Writable, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(new AbortedError(undefined, { cause: signal.reason }));
  if (socket.destroyed || socket.writableEnded) return Promise.reject(new ConnectionClosedError());
  if (!socket.writableNeedDrain) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      socket.off('drain', onDrain);
      socket.off('close', onClose);
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
    socket.once('drain', onDrain);
    socket.once('close', onClose);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
