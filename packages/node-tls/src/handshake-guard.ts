import { constants } from 'node:crypto';
import type { Server, Socket } from 'node:net';
import { type Clock, defaultLogger, type Logger, systemClock, type TimerId } from '@planesync/core';
import { logSafely } from '@planesync/core/transport';

/**
 * Options both socket servers share for peers that are not yet connections: how long one may
 * take to become one, and how many may wait at once.
 */
export interface HandshakeLimits {
  /**
   * From the TCP accept to the connection handed to core — the TLS handshake, then the
   * preface (TCP) or the upgrade request (WebSocket) — at most this long; a peer still
   * handshaking is dropped. Default 10 000 ms.
   */
  handshakeTimeoutMs?: number;
  /**
   * The most peers handshaking at once (not yet authenticated), apart from connected DPs;
   * past it the one waiting longest is dropped, so silent sockets cannot starve real DPs and
   * a reconnect storm still gets through. No per-address rule: DPs behind a balancer or a
   * proxy share one. Default 256.
   */
  maxPendingConnections?: number;
  /** Where the server reports refusals, drops and errors; default warnings and errors on stderr. */
  logger?: Logger;
  /**
   * The clock the handshake deadline reads; a `FakeClock` in tests steps a peer past
   * `handshakeTimeoutMs` without waiting. Default the system clock.
   */
  clock?: Clock;
}

/**
 * TLS options every planesync server and client uses: TLS 1.2+, and no renegotiation.
 *
 * @example
 * ```ts
 * import { connect } from 'node:tls';
 * import { TLS_HARDENING } from '@planesync/node-tls';
 * const socket = connect({ host: 'cp.internal', port: 8005, ...TLS_HARDENING });
 * ```
 */
export const TLS_HARDENING = {
  minVersion: 'TLSv1.2',
  // A renegotiation costs the server a handshake per request of the peer's: never allowed.
  secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
} as const;

/**
 * Watches a server's raw sockets from accept until each is handed over (`settled`): drops one
 * that handshakes for longer than `handshakeTimeoutMs`, and the oldest when more than
 * `maxPendingConnections` wait.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:tls';
 * import { HandshakeGuard, TLS_HARDENING } from '@planesync/node-tls';
 * const guard = new HandshakeGuard({ handshakeTimeoutMs: 10_000 });
 * const server = createServer({ ...TLS_HARDENING, requestCert: true });
 * guard.watch(server);
 * server.on('secureConnection', (socket) => guard.settled(socket)); // a connection now
 * ```
 */
export class HandshakeGuard {
  readonly timeoutMs: number;
  readonly #max: number;
  readonly #logger: Logger;
  readonly #clock: Clock;
  /** Waiting sockets by `address:port`, oldest first. */
  readonly #pending = new Map<string, { socket: Socket; timer: TimerId; onClose: () => void }>();
  /** Refused peers whose answer is on its way. */
  readonly #refused = new Map<Socket, TimerId>();
  #dropped = 0;
  #lastWarning = 0;

  constructor(limits: HandshakeLimits) {
    this.timeoutMs = limits.handshakeTimeoutMs ?? 10_000;
    this.#max = limits.maxPendingConnections ?? 256;
    this.#logger = limits.logger ?? defaultLogger;
    this.#clock = limits.clock ?? systemClock;
  }

  /** Starts watching every socket `server` accepts; a failed TLS handshake is dropped. */
  watch(server: Server): void {
    server.on('connection', (socket: Socket) => this.#accepted(socket));
    server.on('tlsClientError', (error: Error, socket: Socket) => {
      logSafely(
        this.#logger,
        'debug',
        { err: error, remoteAddress: socket.remoteAddress },
        'a TLS handshake failed',
      );
      socket.destroy();
    });
  }

  /** How many peers are handshaking now. */
  get pending(): number {
    return this.#pending.size;
  }

  /** The peer at `address:port` is a connection now (or was refused): stop watching it. */
  settled(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined }): void {
    this.#forget(keyOf(socket));
  }

  /**
   * A refused peer whose answer (a close frame, an HTTP status) is on its way: destroyed
   * `graceMs` later on the guard's clock, or at `dropAll`, whichever comes first — so a
   * closing server never waits on it.
   */
  dropLater(socket: Socket, graceMs = 1_000): void {
    if (socket.destroyed) return;
    const timer = this.#clock.setTimeout(() => socket.destroy(), graceMs);
    this.#refused.set(socket, timer);
    socket.once('close', () => {
      this.#clock.clearTimeout(timer);
      this.#refused.delete(socket);
    });
  }

  /** Drops every peer still handshaking, and every refused one (the server is closing). */
  dropAll(): void {
    for (const { socket } of this.#pending.values()) socket.destroy();
    for (const socket of this.#refused.keys()) socket.destroy();
  }

  #accepted(socket: Socket): void {
    const key = keyOf(socket);
    const timer = this.#clock.setTimeout(
      () => this.#drop(key, socket, 'handshake timeout'),
      this.timeoutMs,
    );
    // Read the key now: a closed socket no longer knows its address.
    const onClose = () => this.#forget(key);
    this.#pending.set(key, { socket, timer, onClose });
    socket.once('close', onClose);
    if (this.#pending.size > this.#max) {
      const [oldestKey, oldest] = this.#pending.entries().next().value as [
        string,
        { socket: Socket },
      ];
      this.#drop(oldestKey, oldest.socket, `more than ${this.#max} peers handshaking`);
    }
  }

  #forget(key: string): void {
    const entry = this.#pending.get(key);
    if (!entry) return;
    this.#clock.clearTimeout(entry.timer);
    this.#pending.delete(key);
    // Settled: a connection that lives for days holds nothing of the guard's.
    entry.socket.removeListener('close', entry.onClose);
  }

  #drop(key: string, socket: Socket, why: string): void {
    this.#forget(key);
    socket.destroy();
    this.#dropped++;
    const now = this.#clock.now();
    const level = now - this.#lastWarning > 60_000 ? 'warn' : 'debug';
    if (level === 'warn') this.#lastWarning = now;
    logSafely(
      this.#logger,
      level,
      { remoteAddress: key, dropped: this.#dropped },
      `dropped a peer that was still handshaking: ${why}`,
    );
  }
}

function keyOf(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined }) {
  return `${socket.remoteAddress}:${socket.remotePort}`;
}
