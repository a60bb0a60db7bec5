import { randomUUID } from 'node:crypto';
import { hostname as osHostname } from 'node:os';
import type { RequestRecord } from '../analytics/request-record.ts';
import {
  type AnalyticsOptions,
  type AnalyticsState,
  TelemetryQueue,
} from '../analytics/telemetry-queue.ts';
import { type Clock, delay, systemClock, type TimerId } from '../clock.ts';
import { declarativeConfigSchema } from '../config/declarative-schema.ts';
import { type ConfigHash, EMPTY_CONFIG_HASH, hashConfig } from '../config/hash.ts';
import { LatestSlot } from '../config/latest-slot.ts';
import { type ConfigLimits, checkEntityCount, resolveLimits } from '../config/limits.ts';
import { loadDeclarativeConfig, parseDeclarativeConfig } from '../config/parse.ts';
import type { ConfigHashes, ConfigSnapshot, ConfigSource } from '../config/snapshot.ts';
import { DataPlaneConfigMachine } from '../config/state-machine.ts';
import { type ConfigSchema, validateConfig } from '../config/validate.ts';
import {
  AbortedError,
  ConfigHashMismatchError,
  ConfigInvalidError,
  HeartbeatTimeoutError,
  InvalidArgumentError,
  PeerRefusedError,
  PlanesyncError,
  ProtocolViolationError,
  StoreCorruptError,
  TrustError,
} from '../errors.ts';
import { IsolatedEmitter } from '../host/isolated-emitter.ts';
import { defaultLogger, type Logger, logSafely } from '../host/logger.ts';
import { decodeFrame, encodeMessage, inflate, parseJson } from '../protocol/codec.ts';
import type { PluginVersion } from '../protocol/compatibility.ts';
import { asPlanesyncError, closeForFailure } from '../protocol/failure.ts';
import {
  type ConfigFrame,
  type License,
  labelProblem,
  nackProblems,
  PROTOCOL_VERSION,
  SUPPORTED_PROTOCOLS,
  type SyncStatus,
} from '../protocol/messages.ts';
import type { ConfigStore } from '../storage/contract.ts';
import { MemoryConfigStore } from '../storage/memory-store.ts';
import {
  CloseCode,
  type CloseInfo,
  type Connection,
  type TransportClient,
} from '../transport/contract.ts';
import type { TrustResult, TrustVerifier } from '../trust/verifier.ts';

/** Where the DP's link to the CP stands. */
export type ConnectionState = 'connecting' | 'connected' | 'disconnected';

/** A DP's state at a glance. */
export interface DataPlaneState {
  connection: ConnectionState;
  /** Where the active config came from. */
  source: ConfigSource | undefined;
  hash: string | undefined;
  version: number | undefined;
  nodeId: string | undefined;
  /** What the CP said of this DP in its welcome. */
  syncStatus: SyncStatus;
  /** `false` once a licence from the CP has expired (the host decides to stop proxying). */
  licensed: boolean;
  /** Connection attempts since the last successful one. */
  failedAttempts: number;
  /**
   * The hash of the config in the storage cache (what a restart would serve), `undefined`
   * when nothing is cached. It trails `hash` while saves fail (a full disk); the DP tells the
   * CP in its acks and pings.
   */
  cacheHash: string | undefined;
  /** `false` when the storage cannot be written (a read-only prefix): configs are not saved. */
  cacheWritable: boolean;
  /** The analytics buffer: records waiting, dropped, in flight. */
  analytics: AnalyticsState;
}

/** The events a DataPlane emits. */
export interface DataPlaneEvents {
  config: (snapshot: ConfigSnapshot) => void;
  connected: (state: DataPlaneState) => void;
  disconnected: (close: CloseInfo) => void;
  /**
   * The CP (or this DP's trust check) refused the link: `code` is an `ErrorCode`
   * (`VERSION_INCOMPATIBLE`, `NODE_ID_IN_USE`, a `TRUST_*` code); `syncStatus` what the CP
   * records for this DP when it says (`kong_version_incompatible`).
   */
  rejected: (rejection: {
    code: string;
    message: string;
    syncStatus?: SyncStatus | undefined;
  }) => void;
  licenseExpired: (license: License) => void;
  error: (error: PlanesyncError) => void;
}

/** Options of a {@link DataPlane}. */
export interface DataPlaneOptions<TConfig = unknown> {
  transport: TransportClient;
  /**
   * Where the DP reports its link to the CP, rejections, configs applied or refused,
   * listeners that threw and errors no listener handled (pino's method shape). Default:
   * warnings and errors on standard error.
   */
  logger?: Logger;
  /** Judges the CP's certificate chain (role `control-plane`) before the DP says anything. */
  trust: TrustVerifier;
  /**
   * The name the CP's certificate must carry in PKI mode (Kong's `cluster_server_name`).
   * Default: the name the transport dialed (the URL's host, or its `serverName`). A DP in PKI
   * mode that has no name to check refuses the CP rather than trust any certificate the CA
   * issued.
   */
  serverName?: string;
  /**
   * `false` turns the PKI-mode name check off: any certificate from the cluster CA is taken
   * as the CP. Default `true`; turning it off is a decision, made here and nowhere else.
   */
  verifyServerName?: boolean;
  /** The config cache; default in memory (nothing survives a restart). */
  storage?: ConfigStore;
  /** Loaded when the cache is empty: a config object, or the path of a YAML/JSON file. */
  declarativeConfig?: object | string;
  /** This DP's version, e.g. `3.10.0`. */
  version: string;
  /** Default: the one in storage, else a new UUID saved there. */
  nodeId?: string;
  /** Reported to the CP; default the machine's host name (`os.hostname()`), as Kong. */
  hostname?: string;
  labels?: Readonly<Record<string, string>>;
  /** The plugins this DP can run, with versions. */
  plugins?: readonly PluginVersion[];
  /** Validates every config; default Kong's declarative schema. */
  schema?: ConfigSchema<TConfig>;
  /**
   * The nesting depth and entity count a config may have, checked before anything walks it
   * (a config beyond them is refused with a nack). Default `DEFAULT_CONFIG_LIMITS`: depth
   * 1 000, 500 000 entities.
   */
  limits?: ConfigLimits;
  clock?: Clock;
  /** A uniform random number in [0, 1) for the reconnect jitter; default Math.random. */
  random?: () => number;
  /** Default 30 000. */
  heartbeatIntervalMs?: number;
  /** No frame from the CP for this long and the link is dead. Default 45 000. */
  heartbeatTimeoutMs?: number;
  /** Each reconnect waits a uniformly random delay in this range. Default [5000, 10000]. */
  reconnectDelayMs?: readonly [number, number];
  /** Largest inflated config; default 256 MiB. */
  maxInflatedBytes?: number;
  /** The request-analytics buffer and its flush to the CP. */
  analytics?: AnalyticsOptions;
}

const EMPTY_CONFIG = { _format_version: '3.0' };

/**
 * The Data Plane: runs the spec's start sequence (cache → declarative file → empty), then
 * connects to the CP and keeps the link up forever — a heartbeat every 30 s, a dead link after
 * 45 s of silence, a reconnect after a random 5–10 s — applying each config it is pushed
 * (validate → apply in memory → save to storage → ack) and keeping its last good config
 * whatever happens to the CP.
 *
 * @example
 * ```ts
 * import { DataPlane, memoryTransport, TrustVerifier } from '@planesync/core';
 * declare const clusterCertificatePem: string;
 * const { client } = memoryTransport();
 * const dp = new DataPlane({
 *   transport: client({ certificates: [clusterCertificatePem] }),
 *   trust: new TrustVerifier({ mode: 'pinned', certificates: [clusterCertificatePem] }),
 *   version: '3.10.0',
 * });
 * await dp.start();                 // serving: cache, declarative file, or empty
 * dp.on('config', (snapshot) => console.log('now serving', snapshot.hash));
 * ```
 */
export class DataPlane<TConfig = unknown> extends IsolatedEmitter<DataPlaneEvents> {
  readonly #options: DataPlaneOptions<TConfig>;
  readonly #clock: Clock;
  readonly #storage: ConfigStore;
  readonly #schema: ConfigSchema<TConfig>;
  readonly #machine = new DataPlaneConfigMachine();
  readonly #settings: {
    heartbeatIntervalMs: number;
    heartbeatTimeoutMs: number;
    delay: readonly [number, number];
    maxInflatedBytes: number;
    limits: Required<ConfigLimits>;
  };
  #state: Omit<DataPlaneState, 'analytics'> = {
    connection: 'disconnected',
    source: undefined,
    hash: undefined,
    version: undefined,
    nodeId: undefined,
    syncStatus: 'unknown',
    licensed: true,
    failedAttempts: 0,
    cacheHash: undefined,
    cacheWritable: true,
  };
  #stop = new AbortController();
  #loop: Promise<void> | undefined;
  #connection: Connection | undefined;
  #licenseTimer: TimerId | undefined;
  #starting: Promise<void> | undefined;
  /** The failure of the last connection attempt, while attempts keep failing the same way. */
  #lastAttemptFailure: string | undefined;
  readonly #telemetry: TelemetryQueue;

  constructor(options: DataPlaneOptions<TConfig>) {
    super(options?.logger ?? defaultLogger);
    if (!options?.transport || !options.trust || typeof options.version !== 'string') {
      throw new InvalidArgumentError('DataPlane needs a transport, a trust verifier and a version');
    }
    const labelsWrong = options.labels ? labelProblem(options.labels) : undefined;
    if (labelsWrong) throw new InvalidArgumentError(`labels: ${labelsWrong}`);
    const [low, high] = options.reconnectDelayMs ?? [5_000, 10_000];
    if (!(low >= 0 && high >= low))
      throw new InvalidArgumentError('reconnectDelayMs is [min, max] with 0 ≤ min ≤ max');
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#storage = options.storage ?? new MemoryConfigStore({ clock: this.#clock });
    this.#schema = options.schema ?? (declarativeConfigSchema as unknown as ConfigSchema<TConfig>);
    this.#settings = {
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 30_000,
      heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 45_000,
      delay: [low, high],
      maxInflatedBytes: options.maxInflatedBytes ?? 256 * 1024 * 1024,
      limits: resolveLimits(options.limits),
    };
    this.#telemetry = new TelemetryQueue(this.#clock, options.analytics);
  }

  /** The config being served; set once `start()` resolves, never unset after. */
  get currentConfig(): ConfigSnapshot<TConfig> | undefined {
    return this.#machine.active as ConfigSnapshot<TConfig> | undefined;
  }

  get status(): Readonly<DataPlaneState> {
    return { ...this.#state, analytics: this.#telemetry.state };
  }

  /**
   * Records one proxied request for analytics: counters only (service, route, consumer,
   * status, latency, bytes). Buffered whatever the connection state, flushed to the CP every
   * second; when the buffer is full the oldest records are dropped and counted. Never throws
   * and never waits; returns false for a record it cannot use.
   */
  recordRequest(record: RequestRecord): boolean {
    try {
      return this.#telemetry.record(record);
    } catch {
      return false;
    }
  }

  /**
   * Runs the start sequence and resolves once a config is active (from the cache, the
   * declarative file, or empty); then connects to the CP in the background, retrying until
   * `stop()`. A corrupt cache or an invalid declarative file is reported as an `error` event
   * and the sequence falls through to the next step.
   */
  start(): Promise<void> {
    // Calls during a start share it; a start that failed may be tried again.
    this.#starting ??= this.#start().catch((error: unknown) => {
      this.#starting = undefined;
      throw error;
    });
    return this.#starting;
  }

  async #start(): Promise<void> {
    await this.#openStorage();
    if (this.#machine.state === 'empty') this.#machine.beginLoading();
    this.#state.nodeId = await this.#resolveNodeId();
    const snapshot =
      (await this.#fromCache()) ?? (await this.#fromDeclarative()) ?? this.#emptySnapshot();
    this.#machine.activateLocal(snapshot);
    this.#activated(snapshot);
    this.#loop = this.#connectForever();
  }

  /** Closes the link, stops retrying and cancels every timer; the active config stays. */
  async stop(): Promise<void> {
    this.#stop.abort(new AbortedError('the data plane is stopping'));
    if (this.#licenseTimer) this.#clock.clearTimeout(this.#licenseTimer);
    await this.#connection?.close(CloseCode.NORMAL, 'data plane stopping');
    await this.#loop;
    this.#state.connection = 'disconnected';
  }

  /**
   * Applies a config by hand (source `manual`), as the spec's FAQ allows; the next config
   * the CP pushes replaces it. Throws `CONFIG_INVALID` and keeps the active config.
   */
  async loadConfig(config: unknown): Promise<ConfigSnapshot<TConfig>> {
    const valid = validateConfig(config, this.#schema);
    const snapshot = this.#snapshot(valid, 'manual', this.#machine.active?.version ?? 0);
    this.#machine.activateLocal(snapshot);
    this.#activated(snapshot);
    await this.#save(snapshot);
    if (this.#connection && !this.#connection.isClosed)
      await this.#ping(this.#connection).catch(() => undefined);
    return snapshot as ConfigSnapshot<TConfig>;
  }

  /** Resolves with the active config once it matches `hash` and/or `source`. */
  waitForConfig(
    options: { hash?: string; source?: ConfigSource; signal?: AbortSignal } = {},
  ): Promise<ConfigSnapshot<TConfig>> {
    const matches = (snapshot: ConfigSnapshot | undefined): snapshot is ConfigSnapshot =>
      snapshot !== undefined &&
      (options.hash === undefined || snapshot.hash === options.hash) &&
      (options.source === undefined || snapshot.source === options.source);
    return new Promise((resolve, reject) => {
      if (matches(this.#machine.active)) {
        resolve(this.#machine.active as ConfigSnapshot<TConfig>);
        return;
      }
      const signal = options.signal;
      const onConfig = (snapshot: ConfigSnapshot) => {
        if (!matches(snapshot)) return;
        this.off('config', onConfig);
        signal?.removeEventListener('abort', onAbort);
        resolve(snapshot as ConfigSnapshot<TConfig>);
      };
      const onAbort = () => {
        this.off('config', onConfig);
        reject(new AbortedError(undefined, { cause: signal?.reason }));
      };
      if (signal?.aborted) {
        onAbort();
        return;
      }
      this.on('config', onConfig);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Readies the store: a second DP on the same prefix is refused (`STORE_LOCKED` rejects
   * `start()`); a read-only one is served, and said to be.
   */
  async #openStorage(): Promise<void> {
    let writable = true;
    try {
      writable = (await this.#storage.open?.())?.writable ?? true;
    } catch (error) {
      if (error instanceof PlanesyncError && error.code === 'STORE_LOCKED') throw error;
      this.#report(error);
    }
    this.#state.cacheWritable = writable;
    if (!writable)
      logSafely(
        this.logger,
        'warn',
        {},
        'the config cache is read-only: the cached config is served, new configs are not saved',
      );
  }

  async #resolveNodeId(): Promise<string> {
    const keep = (nodeId: string) =>
      this.#state.cacheWritable
        ? this.#storage.saveNodeId(nodeId).catch((error) => this.#report(error))
        : undefined;
    if (this.#options.nodeId) {
      await keep(this.#options.nodeId);
      return this.#options.nodeId;
    }
    const stored = await this.#storage.loadNodeId().catch((error) => {
      this.#report(error);
      return undefined;
    });
    if (stored) return stored;
    const fresh = randomUUID();
    await keep(fresh);
    return fresh;
  }

  async #fromCache(): Promise<ConfigSnapshot | undefined> {
    let stored: Awaited<ReturnType<ConfigStore['load']>>;
    try {
      stored = await this.#storage.load();
    } catch (error) {
      this.#report(error);
      return undefined;
    }
    if (!stored) return undefined;
    // Only configs this DP validated are ever saved (the CLI's import validates too), and the
    // store has checked the snapshot's shape: the cache is served as it is, as Kong serves
    // dbless.lmdb. Re-validating 25 000 entities would triple a cold start.
    const { savedAt: _savedAt, ...snapshot } = stored;
    this.#state.cacheHash = snapshot.hash;
    return { ...snapshot, source: 'cache', appliedAt: this.#clock.now() };
  }

  async #fromDeclarative(): Promise<ConfigSnapshot | undefined> {
    const declarative = this.#options.declarativeConfig;
    if (declarative === undefined) return undefined;
    try {
      const config =
        typeof declarative === 'string'
          ? await loadDeclarativeConfig(declarative, { schema: this.#schema })
          : parseDeclarativeConfig(declarative, { schema: this.#schema });
      return this.#snapshot(config, 'declarative', 0);
    } catch (error) {
      this.#report(error);
      return undefined;
    }
  }

  /**
   * No config at all: a gateway answers 404. Its hash is Kong's for "no config", 32 zeros,
   * which is what a Kong DP reports until it has one.
   */
  #emptySnapshot(): ConfigSnapshot {
    const zeros = {
      config: EMPTY_CONFIG_HASH,
      routes: EMPTY_CONFIG_HASH,
      services: EMPTY_CONFIG_HASH,
      plugins: EMPTY_CONFIG_HASH,
      upstreams: EMPTY_CONFIG_HASH,
      targets: EMPTY_CONFIG_HASH,
    };
    return this.#snapshot(EMPTY_CONFIG, 'empty', 0, zeros, EMPTY_CONFIG_HASH);
  }

  #snapshot(
    config: unknown,
    source: ConfigSource,
    version: number,
    hashes?: ConfigHashes,
    hash?: string,
  ): ConfigSnapshot {
    const computed =
      hash && hashes
        ? { config_hash: hash, hashes }
        : hashConfig(config as Record<string, unknown>);
    return {
      version,
      hash: computed.config_hash,
      hashes: computed.hashes as ConfigHashes,
      source,
      config,
      appliedAt: this.#clock.now(),
    };
  }

  #activated(snapshot: ConfigSnapshot): void {
    this.#state.source = snapshot.source;
    this.#state.hash = snapshot.hash;
    this.#state.version = snapshot.version;
    this.#announce('config', snapshot);
  }

  async #save(snapshot: ConfigSnapshot, json?: Uint8Array): Promise<void> {
    if (!this.#state.cacheWritable) return;
    try {
      await this.#storage.save(snapshot, json ? { json } : {});
      this.#state.cacheHash = snapshot.hash;
    } catch (error) {
      // The config stays applied in memory; only the cache is behind (acks and pings say so).
      this.#report(error);
    }
  }

  /**
   * The cache is served at once, at raw-read speed; before the DP says anything to a CP it
   * checks that the cached config hashes to the hash stored with it. One that does not (a
   * store that mixed them up, a file edited by hand) is `STORE_CORRUPT`: the DP falls through
   * to its declarative file or empty, as if the cache had been unreadable, and says that
   * hash to the CP, which pushes it the latest config.
   */
  async #checkCachedConfig(): Promise<void> {
    if (this.#machine.active?.source !== 'cache') return;
    await new Promise((resolve) => setImmediate(resolve)); // after start() has resolved
    const cached = this.#machine.active;
    if (cached?.source !== 'cache') return;
    let actual: string | undefined;
    try {
      actual = hashConfig(cached.config, { maxDepth: this.#settings.limits.maxDepth }).config_hash;
    } catch {
      actual = undefined;
    }
    if (actual === cached.hash) return;
    this.#report(
      new StoreCorruptError(
        `the cached config does not hash to the hash stored with it (${cached.hash}); serving the declarative file or an empty config instead`,
      ),
    );
    this.#state.cacheHash = undefined;
    const fallback = (await this.#fromDeclarative()) ?? this.#emptySnapshot();
    if (this.#machine.active !== cached) return; // something newer arrived meanwhile
    this.#machine.activateLocal(fallback);
    this.#activated(fallback);
  }

  /** A save that failed (a full disk) is tried again at each heartbeat until it succeeds. */
  #retrySave(): void {
    const active = this.#machine.active;
    // Only what the DP saves is tried again: configs from the CP and those loaded by hand.
    const saved = active?.source === 'control-plane' || active?.source === 'manual';
    if (saved && active.hash !== this.#state.cacheHash) void this.#save(active);
  }

  async #connectForever(): Promise<void> {
    const signal = this.#stop.signal;
    await this.#checkCachedConfig();
    while (!signal.aborted) {
      this.#state.connection = 'connecting';
      const close = await this.#session(signal).catch((error: unknown) => {
        if (!signal.aborted) this.#reportAttempt(error);
        return undefined;
      });
      const wasConnected = (this.#state.connection as ConnectionState) === 'connected';
      this.#state.connection = 'disconnected';
      if (wasConnected && close) this.#announce('disconnected', close);
      if (signal.aborted) break;
      const [low, high] = this.#settings.delay;
      const wait = low + (this.#options.random ?? Math.random)() * (high - low);
      try {
        await delay(this.#clock, wait, { signal });
      } catch {
        break;
      }
    }
  }

  /** One connection, from dial to close; resolves with how it closed. */
  async #session(signal: AbortSignal): Promise<CloseInfo | undefined> {
    const nodeId = this.#state.nodeId!;
    const hostname = this.#options.hostname ?? osHostname();
    let connection: Connection;
    try {
      connection = await this.#options.transport.connect({
        signal,
        metadata: { node_id: nodeId, node_hostname: hostname, node_version: this.#options.version },
      });
    } catch (error) {
      this.#state.failedAttempts++;
      if (error instanceof PeerRefusedError)
        this.#announce('rejected', { code: error.reason, message: error.message });
      throw error;
    }
    this.#connection = connection;
    const trust = this.#verifyControlPlane(connection);
    if (!trust.ok) {
      this.#state.failedAttempts++;
      this.#announce('rejected', { code: trust.code, message: trust.message });
      this.#reportAttempt(
        new TrustError(trust.code, `control plane not trusted: ${trust.message}`),
      );
      await connection.close(CloseCode.POLICY_VIOLATION, trust.code);
      return connection.closed;
    }
    this.#machine.startSession();
    const timers = new LinkTimers(this.#clock, this.#settings, {
      heartbeat: () => {
        this.#retrySave();
        void this.#ping(connection).catch(() => undefined);
      },
      dead: () => {
        this.#report(
          new HeartbeatTimeoutError(
            `no frame from the control plane for ${this.#settings.heartbeatTimeoutMs} ms`,
          ),
        );
        void connection.close(CloseCode.GOING_AWAY, 'heartbeat timeout');
      },
    });
    let rejected = false;
    const configs = new LatestSlot<ConfigFrame>(
      (frame) => this.#applyFromControlPlane(frame, connection),
      (error) => this.#violation(connection, error),
    );
    try {
      const active = this.#machine.active!;
      await connection.send(
        encodeMessage('hello', {
          protocol: PROTOCOL_VERSION,
          protocols: [...SUPPORTED_PROTOCOLS],
          nodeId,
          hostname,
          version: this.#options.version,
          labels: { ...(this.#options.labels ?? {}) },
          plugins: [...(this.#options.plugins ?? [])],
          configHash: active.hash,
          configVersion: active.version,
          ...this.#cached(),
        }),
      );
      timers.start();
      for await (const frame of connection) {
        timers.frameReceived();
        const message = decodeFrame(frame);
        switch (message.type) {
          case 'welcome':
            if (!SUPPORTED_PROTOCOLS.includes(message.body.protocol))
              throw new ProtocolViolationError(
                `the control plane chose ${message.body.protocol}, which this data plane did not offer`,
              );
            this.#state.syncStatus = message.body.syncStatus;
            this.#state.connection = 'connected';
            this.#state.failedAttempts = 0;
            this.#lastAttemptFailure = undefined;
            this.#telemetry.attach((frame) => connection.send(frame));
            this.#announce('connected', this.status);
            break;
          case 'reject':
            rejected = true;
            if (message.body.syncStatus) this.#state.syncStatus = message.body.syncStatus;
            this.#announce('rejected', message.body);
            break;
          case 'config':
            configs.offer(message.body);
            break;
          case 'telemetryAck':
            this.#telemetry.acknowledged(message.body.batch);
            break;
          case 'pong':
            break;
          default:
            throw new ProtocolViolationError(`a control plane may not send ${message.type}`);
        }
      }
    } catch (error) {
      this.#violation(connection, error);
    } finally {
      timers.stop();
      configs.close();
      this.#telemetry.detach();
      if ((this.#state.connection as ConnectionState) !== 'connected') this.#state.failedAttempts++;
    }
    const close = await connection.closed;
    // A CP that refuses this DP (untrusted certificate) closes with 1008 and the reason.
    if (!rejected && close.initiator === 'remote' && close.code === CloseCode.POLICY_VIOLATION) {
      this.#announce('rejected', {
        code: close.reason || 'POLICY_VIOLATION',
        message: 'the control plane refused this data plane',
      });
    }
    return close;
  }

  /** Judges the CP's chain, and in PKI mode the name dialed (unless turned off). */
  #verifyControlPlane(connection: Connection): TrustResult {
    const { trust, verifyServerName = true } = this.#options;
    const serverName = verifyServerName
      ? (this.#options.serverName ?? connection.serverName)
      : undefined;
    if (trust.mode === 'pki' && verifyServerName && !serverName) {
      return {
        ok: false,
        code: 'TRUST_NAME_MISMATCH',
        message:
          'there is no name to check the control plane certificate against: give the DataPlane a serverName, use a transport that reports the name it dialed, or set verifyServerName: false',
      };
    }
    return trust.verify([...connection.peerCertificates], {
      role: 'control-plane',
      at: this.#clock.now(),
      ...(serverName ? { serverName } : {}),
    });
  }

  /** validate → apply in memory → save to storage → ack (or nack, keeping the last good config). */
  async #applyFromControlPlane(frame: ConfigFrame, connection: Connection): Promise<void> {
    const { header, payload } = frame;
    if (header.license) this.#applyLicense(header.license);
    const candidate = this.#machine.receive(header.version, header.hash);
    if (candidate.state === 'ignored') {
      if (candidate.ignoredBecause === 'unchanged') {
        await connection.send(
          encodeMessage('ack', { version: header.version, hash: header.hash, ...this.#cached() }),
        );
      }
      return;
    }
    candidate.validating();
    let snapshot: ConfigSnapshot;
    let json: Uint8Array | undefined;
    try {
      const bytes = await inflate(payload, this.#settings.maxInflatedBytes);
      const config = parseJson(bytes, 'config payload');
      const { limits } = this.#settings;
      // The hash is the one truth both sides compare: what this DP serves must hash to what
      // the CP says it sent. The hash walk is also where nesting depth is bounded.
      const computed = hashConfig(config, { maxDepth: limits.maxDepth }) as ConfigHash;
      if (computed.config_hash !== header.hash)
        throw new ConfigHashMismatchError(header.hash, computed.config_hash);
      checkEntityCount(config, limits.maxEntities);
      const valid = validateConfig(config, this.#schema);
      // A schema that changed nothing returns its input: these bytes are then the config's JSON.
      if (valid === config) json = bytes;
      snapshot = this.#snapshot(
        valid,
        'control-plane',
        header.version,
        computed.hashes,
        computed.config_hash,
      );
    } catch (error) {
      const failure = asPlanesyncError(error);
      const problems =
        failure instanceof ConfigInvalidError
          ? failure.problems
          : [{ path: '(root)', message: failure.message }];
      candidate.reject(problems);
      await connection.send(
        encodeMessage('nack', {
          version: header.version,
          hash: header.hash,
          errors: nackProblems(problems),
        }),
      );
      // Bytes the CP should never have sent end the link; an invalid config, or a schema of
      // the host's that threw (INTERNAL_ERROR), is refused and the link stays.
      if (failure.code === 'PROTOCOL_VIOLATION' || failure.code === 'PAYLOAD_TOO_LARGE')
        throw failure;
      this.#report(failure);
      return;
    }
    candidate.applying();
    candidate.activate(snapshot);
    this.#activated(snapshot);
    await this.#save(snapshot, json);
    await connection.send(
      encodeMessage('ack', { version: snapshot.version, hash: snapshot.hash, ...this.#cached() }),
    );
    await this.#ping(connection);
  }

  #ping(connection: Connection): Promise<void> {
    const active = this.#machine.active!;
    return connection.send(
      encodeMessage('ping', { version: active.version, hash: active.hash, ...this.#cached() }),
    );
  }

  /** What the cache holds, for acks and pings (32 zeros: nothing). */
  #cached(): { cacheHash: string } {
    return { cacheHash: this.#state.cacheHash ?? EMPTY_CONFIG_HASH };
  }

  #applyLicense(license: License): void {
    if (this.#licenseTimer) this.#clock.clearTimeout(this.#licenseTimer);
    const expire = () => {
      this.#state.licensed = false;
      this.#announce('licenseExpired', license);
    };
    const remaining = license.expiresAt - this.#clock.now();
    if (remaining <= 0) {
      if (this.#state.licensed) expire();
      return;
    }
    this.#state.licensed = true;
    this.#licenseTimer = this.#clock.setTimeout(expire, remaining);
  }

  #violation(connection: Connection, error: unknown): void {
    const failure = closeForFailure(connection, error);
    if (failure) this.#report(failure);
  }

  #report(error: unknown): void {
    this.#announce('error', asPlanesyncError(error));
  }

  /**
   * A failed connection attempt: to the `error` listeners when there are any; else logged,
   * once while attempts keep failing the same way (the DP retries every 5–10 s, forever).
   */
  #reportAttempt(error: unknown): void {
    const failure = asPlanesyncError(error);
    if (this.listenerCount('error') > 0) {
      this.emit('error', failure);
      return;
    }
    const key = `${failure.code} ${failure.message}`;
    const repeated = key === this.#lastAttemptFailure;
    this.#lastAttemptFailure = key;
    logSafely(
      this.logger,
      repeated ? 'debug' : 'error',
      { err: failure, failedAttempts: this.#state.failedAttempts },
      repeated
        ? 'connection attempt failed again'
        : `cannot connect to the control plane: ${failure.message}; retrying every 5–10 s while the current config stays served`,
    );
  }

  /** Logs what an operator wants to see of an event, then emits it to the host's listeners. */
  #announce<E extends keyof DataPlaneEvents>(
    event: E,
    ...args: Parameters<DataPlaneEvents[E]>
  ): void {
    const [first] = args as unknown[];
    switch (event) {
      case 'config': {
        const { version, hash, source } = first as ConfigSnapshot;
        logSafely(this.logger, 'info', { version, hash, source }, 'serving a new config');
        break;
      }
      case 'connected':
        logSafely(
          this.logger,
          'info',
          { syncStatus: this.#state.syncStatus },
          'connected to the control plane',
        );
        break;
      case 'disconnected': {
        const { code, reason, initiator } = first as CloseInfo;
        const level = initiator === 'local' && code === CloseCode.NORMAL ? 'info' : 'warn';
        logSafely(
          this.logger,
          level,
          { code, reason, initiator },
          'disconnected from the control plane; the current config stays served',
        );
        break;
      }
      case 'rejected':
        logSafely(
          this.logger,
          'warn',
          first as Record<string, unknown>,
          'the control plane link was refused',
        );
        break;
      case 'licenseExpired':
        logSafely(
          this.logger,
          'warn',
          { expiresAt: (first as License).expiresAt },
          'the licence has expired',
        );
        break;
    }
    this.emit(event, ...args);
  }
}

/** The DP's two timers on a link: send a heartbeat every interval; call it dead after the timeout. */
class LinkTimers {
  #heartbeat: TimerId | undefined;
  #dead: TimerId | undefined;
  #running = false;

  constructor(
    private readonly clock: Clock,
    private readonly settings: { heartbeatIntervalMs: number; heartbeatTimeoutMs: number },
    private readonly on: { heartbeat(): void; dead(): void },
  ) {}

  start(): void {
    this.#running = true;
    this.#scheduleHeartbeat();
    this.frameReceived();
  }

  frameReceived(): void {
    if (!this.#running) return;
    if (this.#dead) this.clock.clearTimeout(this.#dead);
    this.#dead = this.clock.setTimeout(() => this.on.dead(), this.settings.heartbeatTimeoutMs);
  }

  stop(): void {
    this.#running = false;
    if (this.#heartbeat) this.clock.clearTimeout(this.#heartbeat);
    if (this.#dead) this.clock.clearTimeout(this.#dead);
  }

  #scheduleHeartbeat(): void {
    this.#heartbeat = this.clock.setTimeout(() => {
      if (!this.#running) return;
      this.on.heartbeat();
      this.#scheduleHeartbeat();
    }, this.settings.heartbeatIntervalMs);
  }
}
