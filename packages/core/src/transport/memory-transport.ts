import { type Clock, delay, systemClock } from '../clock.ts';
import {
  AbortedError,
  ConnectionClosedError,
  InvalidArgumentError,
  PeerRefusedError,
  TransportFailedError,
  throwIfAborted,
} from '../errors.ts';
import { type CertificateData, toDerChain } from '../trust/pem.ts';
import { ConnectionBase, DEFAULT_MAX_PAYLOAD_BYTES } from './connection-base.ts';
import {
  CloseCode,
  type CloseInfo,
  type ConnectionHandler,
  type ConnectOptions,
  type ListenInfo,
  type ListenOptions,
  type TransportClient,
  type TransportServer,
} from './contract.ts';

/** Options of {@link memoryTransport}; all optional. */
export interface MemoryTransportOptions {
  /** Clock for `latencyMs`; pass a `FakeClock` to step latency in tests. */
  clock?: Clock;
  /** One-way delay of every frame, close and connect handshake, in ms. Default 0. */
  latencyMs?: number;
  /**
   * Bytes a receiver may hold unread before its peer's `send` waits (backpressure).
   * Default 4 MiB.
   */
  highWaterMark?: number;
  /** Largest frame either side accepts. Default 16 MiB. */
  maxPayloadBytes?: number;
  /** The chain the server presents to every client (PEM or DER, leaf first). */
  certificates?: readonly CertificateData[];
}

/** Options of one memory client, i.e. one simulated DP. */
export interface MemoryClientOptions {
  /** The chain this client presents to the server (PEM or DER, leaf first). */
  certificates?: readonly CertificateData[];
  /** The address the server sees. Default `memory:client-<n>`. */
  remoteAddress?: string;
  /** The name this client "dials": its connections' `serverName`, checked against the server's certificate. */
  serverName?: string;
}

/** The server half of a memory transport, with a view of what it holds. */
export interface MemoryTransportServer extends TransportServer {
  /** Whether `listen` has been called and `close` not since. */
  readonly listening: boolean;
  /** How many accepted connections are open. */
  readonly connectionCount: number;
}

/** An in-process server and as many clients as a test needs. */
export interface MemoryTransport {
  readonly server: MemoryTransportServer;
  client(options?: MemoryClientOptions): TransportClient;
}

/**
 * An in-process transport pair that behaves like a real one — frames arrive whole and in
 * order, close propagates both ways with its code and reason, backpressure and payload limits
 * apply, certificate chains are presented — for core logic and for unit-testing a gateway
 * integration without a network.
 *
 * @example
 * ```ts
 * import { memoryTransport } from '@planesync/core';
 * const { server, client } = memoryTransport();
 * await server.listen((connection) => {
 *   void (async () => {
 *     for await (const frame of connection) await connection.send(frame);
 *   })();
 * });
 * const connection = await client().connect();
 * await connection.send(new TextEncoder().encode('hello'));
 * ```
 */
export function memoryTransport(options: MemoryTransportOptions = {}): MemoryTransport {
  const settings: LinkSettings = {
    clock: options.clock ?? systemClock,
    latencyMs: options.latencyMs ?? 0,
    highWaterMark: options.highWaterMark ?? 4 * 1024 * 1024,
    maxPayloadBytes: options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
  };
  if (!(settings.latencyMs >= 0)) throw new InvalidArgumentError('latencyMs must be ≥ 0');
  if (!(settings.highWaterMark > 0)) throw new InvalidArgumentError('highWaterMark must be > 0');
  const server = new MemoryServer(settings, toDerChain(options.certificates ?? []));
  let clients = 0;
  return {
    server,
    client(clientOptions = {}) {
      const address = clientOptions.remoteAddress ?? `memory:client-${++clients}`;
      const chain = toDerChain(clientOptions.certificates ?? []);
      const { serverName } = clientOptions;
      return {
        connect: (connectOptions) => server.accept(address, chain, serverName, connectOptions),
      };
    },
  };
}

interface LinkSettings {
  clock: Clock;
  latencyMs: number;
  highWaterMark: number;
  maxPayloadBytes: number;
}

class MemoryServer implements MemoryTransportServer {
  #handler: ConnectionHandler | undefined;
  #admit: ListenOptions['admit'];
  readonly #connections = new Set<MemoryConnection>();

  constructor(
    private readonly settings: LinkSettings,
    private readonly chain: Uint8Array[],
  ) {}

  get listening(): boolean {
    return this.#handler !== undefined;
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  async listen(onConnection: ConnectionHandler, options: ListenOptions = {}): Promise<ListenInfo> {
    throwIfAborted(options.signal);
    if (this.#handler) throw new TransportFailedError('the memory server is already listening');
    this.#handler = onConnection;
    this.#admit = options.admit;
    return { address: 'memory' };
  }

  async close(): Promise<void> {
    this.#handler = undefined;
    this.#admit = undefined;
    const open = [...this.#connections];
    await Promise.all(open.map((c) => c.close(CloseCode.GOING_AWAY, 'server closing')));
  }

  async accept(
    clientAddress: string,
    clientChain: Uint8Array[],
    serverName: string | undefined,
    options: ConnectOptions = {},
  ): Promise<MemoryConnection> {
    throwIfAborted(options.signal);
    if (this.settings.latencyMs > 0) {
      await delay(this.settings.clock, this.settings.latencyMs, options);
    }
    const handler = this.#handler;
    if (!handler) throw new TransportFailedError('no memory server is listening');
    const verdict = this.#admit?.({ remoteAddress: clientAddress, peerCertificates: clientChain });
    if (verdict && !verdict.accept) {
      throw new PeerRefusedError(verdict.code, verdict.reason);
    }
    const metadata = { ...(options.metadata ?? {}) };
    const local = new MemoryConnection(this.settings, {
      remoteAddress: 'memory:server',
      peerCertificates: this.chain,
      metadata,
      serverName,
    });
    const remote = new MemoryConnection(this.settings, {
      remoteAddress: clientAddress,
      peerCertificates: clientChain,
      metadata,
    });
    local.peer = remote;
    remote.peer = local;
    this.#connections.add(remote);
    void remote.closed.then(() => this.#connections.delete(remote));
    handler(remote);
    return local;
  }
}

class MemoryConnection extends ConnectionBase {
  peer!: MemoryConnection;
  #readingPaused = false;
  #roomWaiters: Array<() => void> = [];

  constructor(
    private readonly settings: LinkSettings,
    init: {
      remoteAddress: string;
      peerCertificates: Uint8Array[];
      metadata: Record<string, string>;
      serverName?: string | undefined;
    },
  ) {
    super({
      ...init,
      maxPayloadBytes: settings.maxPayloadBytes,
      highWaterMark: settings.highWaterMark,
    });
  }

  protected async writeFrame(frame: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
    const peer = this.peer;
    while (peer.#readingPaused && !peer.isClosed) await peer.#waitForRoom(signal);
    if (peer.isClosed || this.isClosed) throw new ConnectionClosedError();
    // A real socket copies what it sends: the caller may reuse its buffer at once.
    const copy = frame.slice();
    this.#afterLatency(() => peer.receive(copy));
  }

  protected closeTransport(code: number, reason: string, error?: Error): void {
    const local: CloseInfo = error
      ? { code, reason, initiator: 'local', error }
      : { code, reason, initiator: 'local' };
    this.finish(local);
    this.#afterLatency(() => this.peer.finish({ code, reason, initiator: 'remote' }));
  }

  protected override pauseReading(): void {
    this.#readingPaused = true;
  }

  protected override resumeReading(): void {
    this.#readingPaused = false;
    this.#wakeWriters();
  }

  protected override finish(info: CloseInfo): void {
    super.finish(info);
    this.#wakeWriters();
  }

  #afterLatency(action: () => void): void {
    if (this.settings.latencyMs > 0)
      this.settings.clock.setTimeout(action, this.settings.latencyMs);
    else action();
  }

  #waitForRoom(signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.#roomWaiters = this.#roomWaiters.filter((waiter) => waiter !== wake);
        reject(new AbortedError(undefined, { cause: signal?.reason }));
      };
      const wake = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      this.#roomWaiters.push(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #wakeWriters(): void {
    const waiters = this.#roomWaiters;
    this.#roomWaiters = [];
    for (const wake of waiters) wake();
  }
}
