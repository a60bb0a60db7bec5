import { type Clock, delay, systemClock } from '../clock.ts';
import {
  AbortedError,
  ConnectionClosedError,
  InvalidArgumentError,
  PeerRefusedError,
  TransportFailedError,
  throwIfAborted,
} from '../errors.ts';
import { defaultLogger, type Logger } from '../host/logger.ts';
import { checkIdentity } from '../trust/identity.ts';
import { type CertificateData, toDerChain } from '../trust/pem.ts';
import { ConnectionBase, DEFAULT_MAX_PAYLOAD_BYTES } from './connection-base.ts';
import {
  type AbortOptions,
  CloseCode,
  type CloseInfo,
  type ConnectionHandler,
  type ConnectionRequest,
  type ConnectOptions,
  type ControlFrame,
  type ListenInfo,
  type ListenOptions,
  type Route,
  type TransportClient,
  type TransportFeatures,
  type TransportIdentity,
  type TransportServer,
} from './contract.ts';
import { ControlFrameInbox, checkControlFrame } from './control-frames.ts';
import { checkConnectOptions, checkRoutes, dialRequestQuery, queryRecord } from './dial-request.ts';

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
  /** Where an `onControl` listener that throws is logged. Default `defaultLogger`. */
  logger?: Logger;
}

/** Options of one memory client, i.e. one simulated DP. */
export interface MemoryClientOptions {
  /** The chain this client presents to the server (PEM or DER, leaf first). */
  certificates?: readonly CertificateData[];
  /** The address the server sees. Default `memory:client-<n>`. */
  remoteAddress?: string;
  /** The name this client "dials": its connections' `serverName`, checked against the server's certificate. */
  serverName?: string;
  /** The path a connect asks for when its `request` names none. Default `/`. */
  path?: string;
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

/** The memory transport carries everything a WebSocket does: a request step and control frames. */
const MEMORY_FEATURES: TransportFeatures = Object.freeze({ request: true, controlFrames: true });

/**
 * An in-process transport pair that behaves like a real one — frames arrive whole and in
 * order, close propagates both ways with its code and reason, backpressure and payload limits
 * apply, certificate chains are presented — for core logic and for unit-testing a gateway
 * integration without a network. It carries a request step (path, query, subprotocol,
 * routes, as a WebSocket upgrade does) and ping/pong control frames, so a protocol that needs
 * them can be tested here too. A server listening without `routes` takes any path and agrees
 * to no subprotocol.
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
    logger: options.logger ?? defaultLogger,
  };
  if (!(settings.latencyMs >= 0)) throw new InvalidArgumentError('latencyMs must be ≥ 0');
  if (!(settings.highWaterMark > 0)) throw new InvalidArgumentError('highWaterMark must be > 0');
  const server = new MemoryServer(settings, toDerChain(options.certificates ?? []));
  let clients = 0;
  return {
    server,
    client(clientOptions = {}) {
      const dialer: Dialer = {
        address: clientOptions.remoteAddress ?? `memory:client-${++clients}`,
        chain: toDerChain(clientOptions.certificates ?? []),
        serverName: clientOptions.serverName,
        path: clientOptions.path ?? '/',
      };
      return {
        features: MEMORY_FEATURES,
        connect: (connectOptions) => server.accept(dialer, connectOptions),
        setIdentity(identity) {
          dialer.chain = checkIdentity(identity).chain;
        },
      };
    },
  };
}

interface LinkSettings {
  clock: Clock;
  latencyMs: number;
  highWaterMark: number;
  maxPayloadBytes: number;
  logger: Logger;
}

/** Who dials: one memory client. */
interface Dialer {
  address: string;
  chain: Uint8Array[];
  serverName: string | undefined;
  path: string;
}

class MemoryServer implements MemoryTransportServer {
  readonly features = MEMORY_FEATURES;
  #handler: ConnectionHandler | undefined;
  #admit: ListenOptions['admit'];
  #routes: readonly Route[] | undefined;
  readonly #connections = new Set<MemoryConnection>();

  constructor(
    private readonly settings: LinkSettings,
    private chain: Uint8Array[],
  ) {}

  /** Handshakes from now on present `identity`'s chain; connections made keep theirs. */
  setIdentity(identity: TransportIdentity): void {
    this.chain = checkIdentity(identity).chain;
  }

  get listening(): boolean {
    return this.#handler !== undefined;
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  async listen(onConnection: ConnectionHandler, options: ListenOptions = {}): Promise<ListenInfo> {
    throwIfAborted(options.signal);
    if (this.#handler) throw new TransportFailedError('the memory server is already listening');
    const routes = options.routes && checkRoutes(MEMORY_FEATURES, options.routes, [], 'memory');
    this.#handler = onConnection;
    this.#admit = options.admit;
    this.#routes = routes;
    return { address: 'memory' };
  }

  async close(): Promise<void> {
    this.#handler = undefined;
    this.#admit = undefined;
    this.#routes = undefined;
    const open = [...this.#connections];
    await Promise.all(open.map((c) => c.close(CloseCode.GOING_AWAY, 'server closing')));
  }

  async accept(dialer: Dialer, options: ConnectOptions = {}): Promise<MemoryConnection> {
    throwIfAborted(options.signal);
    checkConnectOptions(MEMORY_FEATURES, options, 'the memory transport');
    const rawQuery = dialRequestQuery(options);
    const path = options.request?.path ?? dialer.path;
    const asked = options.request?.subprotocol;
    // A dial takes at least a turn (and the latency, when there is one): it can be aborted.
    if (this.settings.latencyMs > 0)
      await delay(this.settings.clock, this.settings.latencyMs, options);
    else await Promise.resolve();
    throwIfAborted(options.signal);
    const handler = this.#handler;
    if (!handler) throw new TransportFailedError('no memory server is listening');
    const route = this.#routes ? this.#routes.find((r) => r.path === path) : { path };
    if (!route) throw new TransportFailedError(`the memory server has no route for ${path} (404)`);
    if (asked !== route.subprotocol)
      throw new TransportFailedError(
        route.subprotocol === undefined
          ? `the memory server agrees to no subprotocol on ${path}, asked for ${asked} (400)`
          : `the memory server agrees to subprotocol ${route.subprotocol} on ${path}, asked for ${asked ?? 'none'} (400)`,
      );
    const metadata = queryRecord(rawQuery);
    const verdict = this.#admit?.({
      remoteAddress: dialer.address,
      peerCertificates: dialer.chain,
      request: { path, query: metadata, rawQuery },
    });
    if (verdict && !verdict.accept) {
      if (verdict.silent)
        throw new TransportFailedError(
          'the memory server dropped the connection without an answer',
        );
      throw new PeerRefusedError(verdict.code, verdict.reason);
    }
    const request: ConnectionRequest = { path, rawQuery, subprotocol: route.subprotocol };
    const local = new MemoryConnection(this.settings, options.pings ?? 'auto', {
      remoteAddress: 'memory:server',
      peerCertificates: this.chain,
      localCertificates: dialer.chain,
      metadata,
      request,
      serverName: dialer.serverName,
    });
    const remote = new MemoryConnection(this.settings, route.pings ?? 'auto', {
      remoteAddress: dialer.address,
      peerCertificates: dialer.chain,
      localCertificates: this.chain,
      metadata,
      request,
    });
    local.peer = remote;
    remote.peer = local;
    this.#connections.add(remote);
    void remote.closed.then(() => this.#connections.delete(remote));
    handler(remote);
    // An abort that lands as the connect completes — before the caller's `await` has resumed
    // — closes the connection, so a caller stopping at that moment leaves none open.
    const { signal } = options;
    if (signal) {
      const onAbort = () => void local.close(CloseCode.GOING_AWAY, 'the connect was aborted');
      signal.addEventListener('abort', onAbort, { once: true });
      setImmediate(() => signal.removeEventListener('abort', onAbort));
    }
    return local;
  }
}

class MemoryConnection extends ConnectionBase {
  peer!: MemoryConnection;
  #readingPaused = false;
  #roomWaiters: Array<() => void> = [];
  /** Bytes this side sent that have not reached the peer yet (the latency's pipe). */
  #inFlight = 0;
  readonly #control: ControlFrameInbox;

  constructor(
    private readonly settings: LinkSettings,
    private readonly pings: 'auto' | 'manual',
    init: {
      remoteAddress: string;
      peerCertificates: Uint8Array[];
      localCertificates: Uint8Array[];
      metadata: Record<string, string>;
      request: ConnectionRequest;
      serverName?: string | undefined;
    },
  ) {
    super({
      ...init,
      maxPayloadBytes: settings.maxPayloadBytes,
      highWaterMark: settings.highWaterMark,
    });
    this.#control = new ControlFrameInbox(settings.logger);
  }

  async sendControl(frame: ControlFrame, options: AbortOptions = {}): Promise<void> {
    checkControlFrame(frame, options.signal);
    if (this.isClosed) throw new ConnectionClosedError();
    const copy: ControlFrame = { kind: frame.kind, payload: frame.payload.slice() };
    this.#afterLatency(() => this.peer.#receiveControl(copy));
  }

  onControl(listener: (frame: ControlFrame) => void): void {
    this.#control.listen(listener);
  }

  protected async writeFrame(frame: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
    const peer = this.peer;
    // Room at the peer: it reads, and what is on its way stays under the high-water mark.
    while (
      (peer.#readingPaused || this.#inFlight >= this.settings.highWaterMark) &&
      !peer.isClosed &&
      !this.isClosed
    )
      await peer.#waitForRoom(signal);
    if (peer.isClosed || this.isClosed) throw new ConnectionClosedError();
    if (signal?.aborted) throw new AbortedError(undefined, { cause: signal.reason });
    // A real socket copies what it sends: the caller may reuse its buffer at once.
    const copy = frame.slice();
    this.#inFlight += copy.byteLength;
    this.#afterLatency(() => {
      this.#inFlight -= copy.byteLength;
      peer.receive(copy);
      peer.#wakeWriters();
    });
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

  /** A control frame from the peer: kept for `onControl` (manual), or a ping answered (auto). */
  #receiveControl(frame: ControlFrame): void {
    if (this.isClosed) return;
    if (this.pings === 'manual') this.#control.push(frame);
    else if (frame.kind === 'ping')
      this.sendControl({ kind: 'pong', payload: frame.payload }).catch(() => undefined);
  }

  #afterLatency(action: () => void): void {
    if (this.settings.latencyMs > 0)
      this.settings.clock.setTimeout(action, this.settings.latencyMs);
    else action();
  }

  #waitForRoom(signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(new AbortedError(undefined, { cause: signal.reason }));
        return;
      }
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
