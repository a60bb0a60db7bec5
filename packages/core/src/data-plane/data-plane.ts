import type { RequestRecord } from '../analytics/request-record.ts';
import { TelemetryQueue } from '../analytics/telemetry-queue.ts';
import { type Clock, delay, systemClock } from '../clock.ts';
import { declarativeConfigSchema } from '../config/declarative-schema.ts';
import type { ConfigSnapshot, ConfigSource } from '../config/snapshot.ts';
import { DataPlaneConfigMachine } from '../config/state-machine.ts';
import { type ConfigSchema, validateConfig } from '../config/validate.ts';
import {
  APPLY_DURATION_BUCKETS_MS,
  Histogram,
  type HistogramData,
} from '../control-plane/histogram.ts';
import { AbortedError, type ErrorContext, InvalidArgumentError, TrustError } from '../errors.ts';
import { IsolatedEmitter } from '../host/isolated-emitter.ts';
import { defaultLogger, logSafely } from '../host/logger.ts';
import { asPlanesyncError } from '../protocol/failure.ts';
import type { License, SyncStatus } from '../protocol/messages.ts';
import { memoryStore } from '../storage/memory-store.ts';
import { CloseCode, type CloseInfo, type TransportIdentity } from '../transport/contract.ts';
import { type FailoverClient, failoverClient } from '../transport/failover-client.ts';
import type { TrustVerifier } from '../trust/verifier.ts';
import type { ApplyContext } from './apply.ts';
import { ConfigCache } from './config-cache.ts';
import { ConnectionMachine } from './connection-machine.ts';
import { LicenseWatch } from './license-watch.ts';
import { heartbeat, type LinkRuntime, runLink, verifyControlPlane } from './link-session.ts';
import {
  type DataPlaneEvents,
  type DataPlaneOptions,
  type DataPlaneSettings,
  type DataPlaneState,
  type DialingOptions,
  resolveDataPlaneSettings,
} from './options.ts';
import {
  checkCachedConfig,
  makeSnapshot,
  runStartSequence,
  type StartContext,
} from './start-sequence.ts';

export type {
  ConnectionState,
  DataPlaneEvents,
  DataPlaneOptions,
  DataPlaneState,
} from './options.ts';

/** What a DataPlane counts ({@link DataPlane.counters}). */
export interface DataPlaneCounters {
  /** Configs (whole or deltas) from the CP applied, and refused (nacked). */
  readonly configsApplied: number;
  readonly configsRefused: number;
  /** Saves to the cache that failed (the config stayed served; the cache is behind). */
  readonly cacheWriteFailures: number;
  /** From a config frame's arrival to its ack: read, checked, served and saved, in ms. */
  readonly applyDurationMs: HistogramData;
}

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
  readonly #options: DialingOptions<TConfig>;
  readonly #settings: DataPlaneSettings;
  readonly #clock: Clock;
  readonly #schema: ConfigSchema<TConfig>;
  readonly #configs = new DataPlaneConfigMachine();
  readonly #connection = new ConnectionMachine();
  readonly #cache: ConfigCache;
  readonly #license: LicenseWatch;
  readonly #telemetry: TelemetryQueue;
  #nodeId: string | undefined;
  #syncStatus: SyncStatus = 'unknown';
  #protocol: string | undefined;
  #stop = new AbortController();
  #loop: Promise<void> | undefined;
  #starting: Promise<void> | undefined;
  #runtime: LinkRuntime | undefined;
  /** The failure of the last connection attempt, while attempts keep failing the same way. */
  #lastAttemptFailure: string | undefined;

  /** What `counters` reports. */
  readonly #counts = { configsApplied: 0, configsRefused: 0, cacheWriteFailures: 0 };
  readonly #applyDuration = new Histogram(APPLY_DURATION_BUCKETS_MS);

  constructor(given: DataPlaneOptions<TConfig>) {
    super(given?.logger ?? defaultLogger);
    // Several control planes: dialed one after another (failoverClient).
    const options = Array.isArray(given?.transport)
      ? {
          ...given,
          transport: failoverClient(given.transport, given.random ? { random: given.random } : {}),
        }
      : given;
    this.#settings = resolveDataPlaneSettings(options as DialingOptions<never>);
    // A copy: setTrust replaces the verifier here, never in the host's object.
    this.#options = { ...options } as DialingOptions<TConfig>;
    this.#clock = options.clock ?? systemClock;
    this.#schema = options.schema ?? (declarativeConfigSchema as unknown as ConfigSchema<TConfig>);
    this.#cache = new ConfigCache(
      options.storage ?? memoryStore({ clock: this.#clock }),
      this.#clock,
      this.logger,
      (error) => {
        this.#counts.cacheWriteFailures++;
        this.#report(error);
      },
    );
    this.#license = new LicenseWatch(this.#clock, (license) =>
      this.#announce('licenseExpired', license),
    );
    this.#telemetry = new TelemetryQueue(this.#clock, options.analytics);
  }

  /** The config being served; set once `start()` resolves, never unset after. */
  get currentConfig(): ConfigSnapshot<TConfig> | undefined {
    return this.#configs.active as ConfigSnapshot<TConfig> | undefined;
  }

  /**
   * What the DP has counted since it was made, as plain data (a metrics library maps it):
   * configs from the CP applied and refused, how long each apply took (read, checked, served
   * and saved, in ms: a histogram), and cache writes that failed (a full disk).
   */
  get counters(): DataPlaneCounters {
    return {
      ...this.#counts,
      applyDurationMs: this.#applyDuration.data(),
    };
  }

  get status(): Readonly<DataPlaneState> {
    const active = this.#configs.active;
    return {
      connection: this.#connection.state,
      source: active?.source,
      hash: active?.hash,
      version: active?.version,
      nodeId: this.#nodeId,
      syncStatus: this.#syncStatus,
      protocol: this.#protocol,
      licensed: this.#license.licensed,
      failedAttempts: this.#connection.failedAttempts,
      cacheHash: this.#cache.hash,
      cacheWritable: this.#cache.writable,
      analytics: this.#telemetry.state,
    };
  }

  /**
   * Replaces the certificate chain and key the DP presents to its CP (its transport's
   * `setIdentity`; each CP's of a list): from the next connection on — the link up now is
   * not dropped. Throws `INVALID_ARGUMENT`, keeping the pair it has, when the key is not the
   * certificate's or the transport cannot replace its certificate.
   */
  setIdentity(identity: TransportIdentity): void {
    const { transport } = this.#options;
    if (typeof transport.setIdentity !== 'function')
      throw new InvalidArgumentError(
        'this transport cannot replace its certificate at run time (it has no setIdentity)',
      );
    transport.setIdentity(identity);
  }

  /**
   * Replaces the verifier of the CP's certificate chain: the next connection is judged by it
   * — a CA rolled over (the old and new anchors side by side, then the old one removed), a pin
   * added or removed. With `recheck`, the link up now is judged again too; a CP no longer
   * trusted is announced (`rejected`, its `TRUST_*` code) and the link closed (1008), and the
   * DP keeps serving its config and dials again after its reconnect delay, by the new trust.
   */
  setTrust(trust: TrustVerifier, options: { recheck?: boolean } = {}): void {
    if (typeof trust?.verify !== 'function')
      throw new InvalidArgumentError('setTrust takes a TrustVerifier');
    this.#options.trust = trust;
    const live = this.#runtime?.live;
    if (!options.recheck || !live) return;
    const verdict = verifyControlPlane(this.#runtime!, live.connection);
    if (verdict.ok) return;
    this.#announce('rejected', { code: verdict.code, message: verdict.message });
    this.#report(
      new TrustError(verdict.code, `control plane no longer trusted: ${verdict.message}`),
    );
    void live.connection.close(CloseCode.POLICY_VIOLATION, verdict.code).catch(() => undefined);
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
   * and the sequence falls through to the next step. A second DP on the same storage prefix
   * rejects it with `STORE_LOCKED`.
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
    if (this.#configs.active) {
      // Started again after stop(): it serves what it served, and reconnects.
      this.#loop = this.#connectForever(this.#startContext());
      return;
    }
    await this.#cache.open();
    this.#nodeId = await this.#cache.nodeId(this.#options.nodeId);
    const start = this.#startContext();
    await runStartSequence(start);
    this.#loop = this.#connectForever(start);
  }

  /**
   * Closes the link, stops retrying and cancels every timer; resolves once a config being
   * applied is saved. The active config stays, and `start()` reconnects.
   */
  async stop(): Promise<void> {
    await this.#starting?.catch(() => undefined);
    // The link is closed first, so that it ends as stopped (1000) even when a transport
    // still watches the signal of the connect that opened it (one that just completed).
    const closing = this.#runtime?.live?.connection.close(CloseCode.NORMAL, 'data plane stopping');
    this.#stop.abort(new AbortedError('the data plane is stopping'));
    this.#license.stop();
    await closing;
    await this.#loop;
    this.#connection.disconnected();
    this.#loop = undefined;
    this.#starting = undefined;
    this.#stop = new AbortController();
  }

  /**
   * Applies a config by hand (source `manual`), as the spec's FAQ allows; the next config
   * the CP pushes replaces it. Throws `CONFIG_INVALID` and keeps the active config.
   */
  async loadConfig(config: unknown): Promise<ConfigSnapshot<TConfig>> {
    const valid = validateConfig(config, this.#schema);
    const snapshot = makeSnapshot(this.#clock, valid, 'manual', this.#configs.active?.version ?? 0);
    this.#configs.activateLocal(snapshot);
    this.#activated(snapshot);
    await this.#cache.save(snapshot);
    const live = this.#runtime?.live;
    if (live && !live.connection.isClosed)
      await heartbeat(this.#runtime!, live.link).catch(() => undefined);
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
      if (matches(this.#configs.active)) {
        resolve(this.#configs.active as ConfigSnapshot<TConfig>);
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

  /** The hash a config is served under: Kong's, unless the protocol says otherwise. */
  readonly #servedHash = (config: unknown, hash: string): string =>
    this.#settings.protocol.dataPlane.servedHash?.(config, hash) ?? hash;

  #startContext(): StartContext {
    return {
      clock: this.#clock,
      cache: this.#cache,
      machine: this.#configs,
      schema: this.#schema as ConfigSchema<unknown>,
      maxDepth: this.#settings.limits.maxDepth,
      declarativeConfig: this.#options.declarativeConfig,
      servedHash: this.#servedHash,
      activate: (snapshot) => this.#activated(snapshot),
      report: (error) => this.#report(error),
    };
  }

  #applyContext(): ApplyContext {
    return {
      clock: this.#clock,
      machine: this.#configs,
      cache: this.#cache,
      schema: this.#schema as ConfigSchema<unknown>,
      servedHash: this.#servedHash,
      acceptsAdaptedConfigs: this.#settings.protocol.dataPlane.acceptsAdaptedConfigs === true,
      checksDeltas: this.#schema === (declarativeConfigSchema as unknown),
      settings: this.#settings,
      activate: (snapshot) => this.#activated(snapshot),
      license: (license) => this.#license.apply(license),
      report: (error) => this.#report(error),
      counted: (outcome, durationMs) => {
        if (outcome === 'refused') this.#counts.configsRefused++;
        else {
          this.#counts.configsApplied++;
          this.#applyDuration.observe(durationMs);
        }
      },
    };
  }

  /** The reconnect loop: one link at a time, a random 5–10 s between them, until `stop()`. */
  async #connectForever(start: StartContext): Promise<void> {
    const signal = this.#stop.signal;
    await checkCachedConfig(start);
    const runtime: LinkRuntime = {
      options: this.#options as DialingOptions<unknown>,
      settings: this.#settings,
      clock: this.#clock,
      nodeId: this.#nodeId!,
      configs: this.#configs,
      connection: this.#connection,
      cache: this.#cache,
      telemetry: this.#telemetry,
      apply: this.#applyContext(),
      logger: this.logger,
      live: undefined,
      setSyncStatus: (status) => {
        this.#syncStatus = status;
      },
      setProtocol: (protocol) => {
        this.#protocol = protocol;
      },
      status: () => this.status,
      announce: (event, ...args) => this.#announce(event, ...args),
      report: (error) => this.#report(error),
      reportAttempt: (error) => this.#reportAttempt(error),
    };
    this.#runtime = runtime;
    while (!signal.aborted) {
      const ended = await runLink(runtime, signal).catch((error: unknown) => {
        if (!signal.aborted) this.#reportAttempt(error);
        return undefined;
      });
      if (ended?.wasConnected) {
        this.#lastAttemptFailure = undefined;
        this.#announce('disconnected', ended.close);
      } else if (ended) {
        // Reached, but not accepted (not trusted, refused): several CPs go on with the next.
        (this.#options.transport as Partial<FailoverClient>).skip?.();
      }
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

  #activated(snapshot: ConfigSnapshot): void {
    this.#announce('config', snapshot);
  }

  /** Where a DP's error happened: the DP, and the CP it is linked to when it is. */
  #errorContext(): ErrorContext {
    const remoteAddress = this.#runtime?.live?.connection.remoteAddress;
    return {
      ...(this.#nodeId ? { nodeId: this.#nodeId } : {}),
      ...(remoteAddress ? { remoteAddress } : {}),
    };
  }

  #report(error: unknown): void {
    this.#announce('error', asPlanesyncError(error), this.#errorContext());
  }

  /**
   * A failed connection attempt: to the `error` listeners when there are any; else logged,
   * once while attempts keep failing the same way (the DP retries every 5–10 s, forever).
   */
  #reportAttempt(error: unknown): void {
    const failure = asPlanesyncError(error);
    if (this.listenerCount('error') > 0) {
      this.emit('error', failure, this.#errorContext());
      return;
    }
    const key = `${failure.code} ${failure.message}`;
    const repeated = key === this.#lastAttemptFailure;
    this.#lastAttemptFailure = key;
    logSafely(
      this.logger,
      repeated ? 'debug' : 'error',
      { err: failure, failedAttempts: this.#connection.failedAttempts },
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
          { syncStatus: this.#syncStatus },
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
