import { createHash, randomUUID, X509Certificate } from 'node:crypto';
import {
  AnalyticsAggregator,
  type AnalyticsAggregatorOptions,
  type AnalyticsSummary,
  ingestColumns,
} from '../analytics/aggregator.ts';
import { recordCount } from '../analytics/record-columns.ts';
import { type Clock, systemClock, type TimerId } from '../clock.ts';
import type { ClusterState, SharedDataPlaneStatus, SharedDataPlanes } from '../cluster/contract.ts';
import { memoryClusterState } from '../cluster/memory-state.ts';
import type { ConfigChange } from '../config/change.ts';
import { declarativeConfigSchema } from '../config/declarative-schema.ts';
import type { ConfigLimits } from '../config/limits.ts';
import { ConfigPublisher } from '../config/publisher.ts';
import type { ConfigSchema } from '../config/validate.ts';
import {
  AbortedError,
  ErrorCode,
  InvalidArgumentError,
  PlanesyncError,
  StateUnavailableError,
  type TrustCode,
} from '../errors.ts';
import { renamedOption, warnDeprecated } from '../host/deprecation.ts';
import { IsolatedEmitter } from '../host/isolated-emitter.ts';
import { defaultLogger, type Logger, logSafely } from '../host/logger.ts';
import {
  configuredPlugins,
  type PluginVersion,
  pluginCompatibility,
} from '../protocol/compatibility.ts';
import { asPlanesyncError, closeForFailure } from '../protocol/failure.ts';
import type { License, SyncStatus } from '../protocol/messages.ts';
import { planesyncProtocol } from '../protocol/planesync.ts';
import { missingFeatures, type WireProtocol } from '../protocol/wire-protocol.ts';
import { DEFAULT_MAX_PAYLOAD_BYTES } from '../transport/connection-base.ts';
import {
  type AbortOptions,
  type Admission,
  CloseCode,
  type CloseInfo,
  type Connection,
  FRAMES_ONLY,
  type PeerInfo,
  type TransportIdentity,
  type TransportServer,
} from '../transport/contract.ts';
import type { TrustVerifier } from '../trust/verifier.ts';
import { AnalyticsSharing } from './analytics-sharing.ts';
import { ConfigBroadcaster } from './broadcaster.ts';
import type { DataPlaneStatus } from './data-plane-status.ts';
import type { AnalyticsEvent, ControlPlaneEvents, ControlPlaneStateHealth } from './events.ts';
import type { HistogramData } from './histogram.ts';
import { OcspGate } from './ocsp-gate.ts';
import { DataPlaneRegistry } from './registry.ts';
import { DataPlaneSession, type SessionHost } from './session.ts';
import { SilenceWatch } from './silence-watch.ts';

export type { DataPlaneStatus } from './data-plane-status.ts';
export type { AnalyticsEvent, ControlPlaneEvents, ControlPlaneStateHealth } from './events.ts';

/** What a ControlPlane counts ({@link ControlPlane.counters}). */
export interface ControlPlaneCounters {
  /** Config versions encoded and compressed: once per version and protocol, never per DP. */
  readonly configsEncoded: number;
  /** Config deltas encoded and compressed: once per pair of versions and protocol, never per DP. */
  readonly deltasEncoded: number;
  /** Whole config frames the transports took (one per DP sent one), and their bytes. */
  readonly wholeConfigsSent: number;
  readonly wholeConfigBytesSent: number;
  /** Delta frames the transports took, and their bytes. */
  readonly deltasSent: number;
  readonly deltaBytesSent: number;
  /** Configs and deltas the DPs refused (nacks: `configRejected` events). */
  readonly configsRejected: number;
  /**
   * DPs refused, by error code (`TRUST_*`, `VERSION_INCOMPATIBLE`, `NODE_ID_IN_USE`,
   * `CAPACITY_EXCEEDED`, …): `dataPlaneRejected` events.
   */
  readonly dataPlanesRejected: Readonly<Record<string, number>>;
  /**
   * Telemetry records counted (each once: a resent batch is not counted again), and the
   * records the DPs reported dropped from their full buffers.
   */
  readonly telemetryRecords: number;
  readonly telemetryDropped: number;
  /** Distinct names the analytics count now, by kind (at most `maxKeys` each). */
  readonly analyticsKeys: Readonly<{ services: number; routes: number; consumers: number }>;
  /**
   * From a config frame sent to its DP's answer (an ack or a nack), in ms, every push since
   * the CP was made; frames not answered (a timeout, a closed link) are not in it.
   */
  readonly pushAnswerLatencyMs: HistogramData;
}

/** Options of a {@link ControlPlane}. */
export interface ControlPlaneOptions<TConfig = unknown> {
  transport: TransportServer;
  /**
   * The wire protocols DPs may speak, each on its own path of a transport with a request
   * step (one on a transport without). Default `[planesyncProtocol()]`. A connection whose
   * path names none of them (a transport without paths, such as TCP) speaks the protocol
   * without a route, else the first in this list.
   */
  protocols?: readonly WireProtocol[];
  /**
   * Where the CP reports connections, rejections, configs applied or rejected, listeners that
   * threw and errors no listener handled (pino's method shape). Default: warnings and errors
   * on standard error.
   */
  logger?: Logger;
  /** Judges each DP's certificate chain (role `data-plane`) before anything else happens. */
  trust: TrustVerifier;
  /** This CP's version; DPs of the same major and a lower or equal minor are served. */
  version: string;
  clock?: Clock;
  /** Validates configs given to `setConfig`; default Kong's declarative schema. */
  schema?: ConfigSchema<TConfig>;
  /**
   * The nesting depth and entity count `setConfig` accepts (`CONFIG_INVALID` beyond), checked
   * before anything walks the config; keep them equal to the DPs' limits. Default
   * `DEFAULT_CONFIG_LIMITS`: depth 1 000, 500 000 entities.
   */
  limits?: ConfigLimits;
  /** The plugin versions this CP knows; a DP's copy must have the same major. */
  plugins?: readonly PluginVersion[];
  /** A DP silent for this long is disconnected. Default 45 000 (1.5 × the 30 s heartbeat). */
  heartbeatTimeoutMs?: number;
  /**
   * The largest config frame the CP sends (compressed); a bigger config is refused by
   * `setConfig` with `PAYLOAD_TOO_LARGE`. Default 16 MiB. Keep it at most the DPs'
   * transport `maxPayloadBytes` (the largest frame they accept, also 16 MiB by default): a
   * DP closes a link that brings a bigger one (1009).
   */
  maxConfigFrameBytes?: number;
  /** @deprecated since 0.2: `maxConfigFrameBytes`, the same limit under a name of its own. */
  maxPayloadBytes?: number;
  /** The largest analytics batch a DP may send, inflated; default 64 MiB. */
  maxAnalyticsBatchBytes?: number;
  /** @deprecated since 0.2: `maxAnalyticsBatchBytes`, the same limit. */
  maxInflatedBytes?: number;
  /**
   * Bounds of the telemetry aggregation: distinct names counted per kind (`maxKeys`, 10 000),
   * how long a silent DP record stream is remembered (`streamTtlMs`, 1 hour) and how many
   * (`maxStreams`, 100 000).
   */
  analytics?: AnalyticsAggregatorOptions;
  /** A disconnected DP's record is purged this long after it was last seen. Default 14 days. */
  dataPlanePurgeDelayMs?: number;
  /**
   * How long before a connected DP's certificate chain runs out the CP says so
   * (`certificateExpiring`, and a warning in its log). Default 30 days. A link whose chain
   * has run out is closed (1008, `TRUST_EXPIRED`, a `dataPlaneRejected` event): the chains
   * of connected DPs are looked at every `certificateCheckIntervalMs` (default 60 s).
   */
  certificateWarningMs?: number;
  certificateCheckIntervalMs?: number;
  /**
   * Kong's `cluster_ocsp`, in PKI mode: whether a DP's certificate is checked with the OCSP
   * responder it names (its Authority Information Access) before the DP is served. `'on'`:
   * a DP whose certificate is revoked, or whose responder cannot say (unreachable, no
   * answer within `ocspTimeoutMs`, an answer that does not verify), is refused
   * (`TRUST_REVOKED`, `TRUST_REVOCATION_UNKNOWN`); `'optional'`: only a revoked one is;
   * `'off'` (the default) asks nothing. `'on'` and `'optional'` need a `pki` trust
   * (`INVALID_ARGUMENT` otherwise, here and at `setTrust`).
   */
  ocsp?: 'off' | 'on' | 'optional';
  /** How long an OCSP responder has to answer. Default 5 000 ms. */
  ocspTimeoutMs?: number;
  /**
   * The most DPs connected at once; one more is refused before anything is read from it
   * (close 1013, HTTP 503 over WebSocket) and retries later, as every DP does. Default 10 000.
   */
  maxDataPlanes?: number;
  /**
   * The most DP status records kept, connected or not; past it the records of the DPs gone
   * longest are forgotten first (a connected DP's record is always kept). Default 10 000.
   */
  maxDataPlaneRecords?: number;
  /**
   * At most one push per this many ms: a change is pushed at once, and changes that follow
   * within the window go out together, the newest only, when it ends — a burst of changes
   * reaches each DP as two frames. Kong's CP likewise sleeps `db_update_frequency` (5 s)
   * after each push. Default 1 000; 0 pushes every change at once (a DP still receiving or
   * applying still gets only the newest).
   */
  pushIntervalMs?: number;
  /**
   * How long a DP has to answer a config frame (ack or nack) before the CP sends it a newer
   * version anyway. Until then versions published meanwhile wait, and only the newest is
   * sent. Default 30 000.
   */
  configAckTimeoutMs?: number;
  /**
   * The recent versions a config delta may start from (planesync/2): a DP whose acknowledged
   * hash is among them is sent only what changed since; any other gets the whole config.
   * Kept as fingerprints of each entity (about 72 bytes an entity), not as configs. Default
   * `{ versions: 10, bytes: 64 MiB }`; `versions: 0` sends whole configs only. A CP restart
   * empties it, unless its `state` keeps recent versions (`ClusterState.recent`): a starting
   * CP takes those in.
   */
  deltaHistory?: { versions?: number; bytes?: number };
  /**
   * What this CP shares with the other control planes of its cluster: the config versions
   * (their numbers, the latest config, the feed of new ones) and, when the state keeps them,
   * the DP status records, the node-id rule and the traffic counters. Default: a
   * `memoryClusterState()` of its own — one CP, versions from 1 at each start. Give several
   * CPs one state kept in a database (`@planesync/cluster-postgres`) and a `setConfig` on any
   * of them reaches the DPs of all; `start()` serves the state's latest version.
   */
  state?: ClusterState;
  /**
   * This CP's name in the cluster's DP records (`DataPlaneStatus.controlPlaneId`); default a
   * random UUID per process.
   */
  controlPlaneId?: string;
  /**
   * How long each interval of traffic counters a CP writes to a `state` that shares them
   * (`ClusterState.analytics`) lasts, default 60 000 ms: `clusterAnalytics()` shows other CPs'
   * traffic at most this late (and a sync).
   */
  analyticsIntervalMs?: number;
  /**
   * How long the shared intervals of traffic counters are kept, default 35 days (a month of
   * billing, and some): older ones are purged, one CP doing it.
   */
  analyticsRetentionMs?: number;
  /**
   * How often a CP whose `state` shares DP records writes those that changed and reads the
   * others' (default 1 000 ms): `dataPlanes()` shows other CPs' DPs at most this late.
   */
  dataPlaneSyncIntervalMs?: number;
}

/** How long `stop()` waits for its last write of DP records to the cluster state. */
const FINAL_SYNC_MS = 5_000;

/** What one part of a sync found: the state answered, was not asked, or failed. */
type SyncOutcome = 'answered' | 'idle' | { error: unknown };

/** How often a CP sharing DP records reads all of them, not only those that changed. */
const FULL_READ_MS = 30_000;

/** How long a connecting DP waits for the cluster's node-id rule before the CP goes without. */
const CLAIM_MS = 5_000;

/** A CP that started with its state down reads it again after 1 s, 2 s, 4 s, … at most 10 s. */
const REJOIN_FIRST_MS = 1_000;
const REJOIN_MAX_MS = 10_000;

/** A one-line reason for the log and `stateHealth`. */
function reasonOf(error: unknown): string {
  const cause = error instanceof PlanesyncError && error.cause !== undefined ? error.cause : error;
  return cause instanceof Error ? cause.message : String(cause);
}

/** Waits for `promise` at most `ms` of real time (it goes on, unwatched, past that). */
function withinMs(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
    timer.unref?.();
  });
  return Promise.race([
    promise.then(
      () => undefined,
      () => undefined,
    ),
    deadline,
  ]).finally(() => clearTimeout(timer));
}

const DEFAULTS = {
  pushIntervalMs: 1_000,
  heartbeatTimeoutMs: 45_000,
  configAckTimeoutMs: 30_000,
  dataPlanePurgeDelayMs: 14 * 86_400_000,
  certificateWarningMs: 30 * 86_400_000,
  certificateCheckIntervalMs: 60_000,
  maxDataPlaneRecords: 10_000,
  maxDataPlanes: 10_000,
  maxAnalyticsBatchBytes: 64 * 1024 * 1024,
  deltaHistory: { versions: 10, bytes: 64 * 1024 * 1024 },
};

/**
 * The Control Plane: accepts DP connections, trusts each only after its certificate chain
 * verifies, checks versions and plugins, and pushes the latest config — on change and on
 * (re)connect, only when the DP's hash differs, encoded and compressed once per version, never
 * a queue of old versions. It answers heartbeats, tracks every DP's status and purges the
 * ones gone for 14 days.
 *
 * @example
 * ```ts
 * import { ControlPlane, memoryTransport, TrustVerifier } from '@planesync/core';
 * declare const clusterCertificatePem: string;
 * const { server } = memoryTransport();
 * const cp = new ControlPlane({
 *   transport: server,
 *   trust: new TrustVerifier({ mode: 'pinned', certificates: [clusterCertificatePem] }),
 *   version: '3.10.0',
 * });
 * await cp.start();
 * await cp.setConfig({ _format_version: '3.0', services: [] }); // { version: 1, hash: '…' }
 * ```
 */
export class ControlPlane<TConfig = unknown> extends IsolatedEmitter<ControlPlaneEvents> {
  readonly version: string;
  readonly #transport: TransportServer;
  #trust: TrustVerifier;
  readonly #clock: Clock;
  readonly #publisher: ConfigPublisher<TConfig>;
  readonly #wholeSchema: boolean;
  readonly #plugins: ReadonlyMap<string, string>;
  readonly #settings: {
    pushIntervalMs: number;
    heartbeatTimeoutMs: number;
    configAckTimeoutMs: number;
    dataPlanePurgeDelayMs: number;
    certificateWarningMs: number;
    certificateCheckIntervalMs: number;
    maxDataPlaneRecords: number;
    maxDataPlanes: number;
    maxConfigFrameBytes: number;
    maxAnalyticsBatchBytes: number;
    deltaHistory: { versions: number; bytes: number };
  };
  readonly #protocols: readonly WireProtocol[];
  readonly #registry: DataPlaneRegistry<DataPlaneSession>;
  readonly #broadcaster: ConfigBroadcaster<TConfig>;
  #configuredPlugins = new Set<string>();
  #purgeTimer: TimerId | undefined;
  #certificateTimer: TimerId | undefined;
  /** Kong's cluster_ocsp, when it is not off. */
  readonly #ocspGate: OcspGate | undefined;
  /** The DPs told of as expiring, by node id, with the expiry they were told of. */
  readonly #expiryWarned = new Map<string, number>();
  /** Own certificates seen on live links, by SHA-256: when each runs out, and whether told. */
  readonly #identities = new Map<string, { expiresAt: number; warned: boolean }>();
  #started = false;
  #lifecycle: Promise<void> = Promise.resolve();
  readonly #syncWaiters = new Set<() => void>();
  /** Connections accepted and not yet closed. */
  #live = 0;
  /** What every session asks of this CP: one object for all, none per DP. */
  readonly #sessionHost: SessionHost;
  readonly #analytics: AnalyticsAggregator;
  /** The DP records shared with other CPs (`state.dataPlanes`), when a state was given. */
  readonly #shared: SharedDataPlanes | undefined;
  /** The records other CPs wrote, as last read (at most `dataPlaneSyncIntervalMs` old). */
  #mirror = new Map<string, { record: SharedDataPlaneStatus; storedAt: number }>();
  /** When the whole table was last read (the others: what changed since about then). */
  #fullReadAt = Number.NEGATIVE_INFINITY;
  /** When the last read that answered began, whole or not (the next reads what changed since). */
  #readAt = Number.NEGATIVE_INFINITY;
  #syncTimer: TimerId | undefined;
  #syncing: Promise<void> | undefined;
  readonly #syncIntervalMs: number;
  /** This CP's name in the cluster's DP records. */
  readonly id: string;
  /** What `counters` reports beside the broadcaster's and the aggregator's own counts. */
  readonly #tally = {
    configsRejected: 0,
    rejected: Object.create(null) as Record<string, number>,
    telemetryRecords: 0,
  };
  readonly #state: ClusterState | undefined;
  /** This CP's side of the cluster's shared traffic counters, when its state shares them. */
  readonly #sharing: AnalyticsSharing | undefined;
  readonly #analyticsRetentionMs: number;
  readonly #maxKeys: number | undefined;
  /** Whether the state's latest config was read since `start()`; a read under way. */
  #joined = false;
  #joining: { epoch: number; promise: Promise<void> } | undefined;
  /** Counts the stops: a read of the state begun before the latest stop joins nothing. */
  #epoch = 0;
  #rejoinTimer: TimerId | undefined;
  #rejoinDelayMs = REJOIN_FIRST_MS;
  #health: ControlPlaneStateHealth;
  #unwatchHealth: (() => void) | undefined;

  constructor(options: ControlPlaneOptions<TConfig>) {
    super(options?.logger ?? defaultLogger);
    if (!options?.transport || !options.trust || typeof options.version !== 'string') {
      throw new InvalidArgumentError(
        'ControlPlane needs a transport, a trust verifier and a version',
      );
    }
    this.version = options.version;
    this.#transport = options.transport;
    this.#trust = options.trust;
    this.#clock = options.clock ?? systemClock;
    // A host's own schema cannot be checked piece by piece: its changes are validated whole.
    this.#wholeSchema = options.schema !== undefined && options.schema !== declarativeConfigSchema;
    this.#publisher = new ConfigPublisher<TConfig>({
      schema: options.schema ?? (declarativeConfigSchema as unknown as ConfigSchema<TConfig>),
      clock: this.#clock,
      ...(options.limits ? { limits: options.limits } : {}),
    });
    this.#plugins = new Map((options.plugins ?? []).map((plugin) => [plugin.name, plugin.version]));
    this.#settings = {
      pushIntervalMs: options.pushIntervalMs ?? DEFAULTS.pushIntervalMs,
      heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? DEFAULTS.heartbeatTimeoutMs,
      configAckTimeoutMs: options.configAckTimeoutMs ?? DEFAULTS.configAckTimeoutMs,
      dataPlanePurgeDelayMs: options.dataPlanePurgeDelayMs ?? DEFAULTS.dataPlanePurgeDelayMs,
      certificateWarningMs: options.certificateWarningMs ?? DEFAULTS.certificateWarningMs,
      certificateCheckIntervalMs:
        options.certificateCheckIntervalMs ?? DEFAULTS.certificateCheckIntervalMs,
      maxDataPlaneRecords: options.maxDataPlaneRecords ?? DEFAULTS.maxDataPlaneRecords,
      maxDataPlanes: options.maxDataPlanes ?? DEFAULTS.maxDataPlanes,
      maxConfigFrameBytes:
        options.maxConfigFrameBytes ??
        renamedOption(options, 'maxPayloadBytes', 'maxConfigFrameBytes', 'ControlPlane') ??
        DEFAULT_MAX_PAYLOAD_BYTES,
      maxAnalyticsBatchBytes:
        options.maxAnalyticsBatchBytes ??
        renamedOption(options, 'maxInflatedBytes', 'maxAnalyticsBatchBytes', 'ControlPlane') ??
        DEFAULTS.maxAnalyticsBatchBytes,
      deltaHistory: {
        versions: options.deltaHistory?.versions ?? DEFAULTS.deltaHistory.versions,
        bytes: options.deltaHistory?.bytes ?? DEFAULTS.deltaHistory.bytes,
      },
    };
    this.#analytics = new AnalyticsAggregator(this.#clock, options.analytics);
    this.#maxKeys = options.analytics?.maxKeys;
    this.#protocols = checkProtocols(options.protocols ?? [planesyncProtocol()], this.#transport);
    this.#registry = new DataPlaneRegistry(this.#clock, this.#settings, () =>
      this.#checkSyncWaiters(),
    );
    this.id = options.controlPlaneId ?? randomUUID();
    this.#syncIntervalMs = options.dataPlaneSyncIntervalMs ?? 1_000;
    // Only a state given by the host is shared: the default one is this CP's alone.
    this.#shared = options.state?.dataPlanes;
    this.#registry.trackChanges = this.#shared !== undefined;
    this.#state = options.state;
    const ocsp = options.ocsp ?? 'off';
    if (ocsp !== 'off' && ocsp !== 'on' && ocsp !== 'optional')
      throw new InvalidArgumentError(`ocsp is 'off', 'on' or 'optional', not ${String(ocsp)}`);
    requirePkiForOcsp(ocsp, options.trust);
    const ocspTimeoutMs = options.ocspTimeoutMs ?? 5_000;
    if (!(ocspTimeoutMs > 0 && ocspTimeoutMs <= 2 ** 31 - 1))
      throw new InvalidArgumentError('ocspTimeoutMs is a positive number of milliseconds');
    this.#ocspGate = ocsp === 'off' ? undefined : new OcspGate(ocsp, ocspTimeoutMs, this.#clock);
    const { certificateWarningMs, certificateCheckIntervalMs } = this.#settings;
    if (!(certificateWarningMs >= 0 && Number.isFinite(certificateWarningMs)))
      throw new InvalidArgumentError('certificateWarningMs is a number of milliseconds ≥ 0');
    if (!(certificateCheckIntervalMs > 0 && Number.isFinite(certificateCheckIntervalMs)))
      throw new InvalidArgumentError(
        'certificateCheckIntervalMs is a positive number of milliseconds',
      );
    const intervalMs = options.analyticsIntervalMs ?? 60_000;
    if (!Number.isFinite(intervalMs) || intervalMs <= 0)
      throw new InvalidArgumentError('analyticsIntervalMs is a positive number of milliseconds');
    this.#analyticsRetentionMs = options.analyticsRetentionMs ?? 35 * 86_400_000;
    this.#sharing = options.state?.analytics
      ? new AnalyticsSharing(this.#analytics, options.state.analytics, this.#clock, {
          controlPlaneId: this.id,
          intervalMs,
          ...(options.analytics?.maxKeys !== undefined
            ? { maxKeys: options.analytics.maxKeys }
            : {}),
        })
      : undefined;
    this.#health = { available: true, since: this.#clock.now(), joined: false };
    // Stands for this CP in its protocols' calls: nothing to reach the CP through.
    const scope = Object.freeze({});
    this.#sessionHost = {
      clock: this.#clock,
      controlPlaneVersion: this.version,
      scope,
      settings: this.#settings,
      registry: this.#registry,
      subscribe: (target) => this.#broadcaster.subscribe(target),
      syncStatusFor: (plugins) => this.#syncStatusFor(plugins),
      telemetry: (nodeId, batch, columns, from, to) => {
        // Records that arrive after an interval ended count in the next one.
        if (this.#started) this.#sharing?.rotate();
        return ingestColumns(this.#analytics, nodeId, batch, columns, from, to);
      },
      claimAcrossCluster: (record) => this.#claimAcrossCluster(record),
      emit: (event, ...args) => this.#announce(event, ...args),
      closed: () => this.#live--,
      silence: new SilenceWatch(this.#clock),
    };
    this.#broadcaster = new ConfigBroadcaster({
      publisher: this.#publisher,
      state: options.state ?? memoryClusterState(),
      protocols: this.#protocols,
      scope,
      clock: this.#clock,
      settings: this.#settings,
      installed: (version) => {
        this.#configuredPlugins = configuredPlugins(version.config);
        const services = (version.config as { services?: unknown } | undefined)?.services;
        this.#analytics.setServiceCount(Array.isArray(services) ? services.length : 0);
      },
      failed: (error) =>
        this.#announce('error', asPlanesyncError(error), { remoteAddress: 'control-plane' }),
      adapted: (details) =>
        logSafely(this.logger, 'warn', details, 'config adapted for older data planes'),
    });
  }

  /** Traffic by service, route and consumer, and billing counters, from the DPs' telemetry. */
  get analytics(): AnalyticsAggregator {
    return this.#analytics;
  }

  /**
   * How long after it was last seen a disconnected DP's record is purged
   * (`dataPlanePurgeDelayMs`): what Kong's `ttl` of a DP record counts down from.
   */
  get dataPlanePurgeDelayMs(): number {
    return this.#settings.dataPlanePurgeDelayMs;
  }

  /** The latest published config, or `undefined` before the first `setConfig`. */
  get currentConfig() {
    return this.#publisher.latest;
  }

  /**
   * What the CP has counted since it was made, as plain numbers (a metrics library maps them):
   * `configsEncoded`, how many times a config version was encoded and compressed — once per
   * version and protocol, never per DP.
   */
  get counters(): ControlPlaneCounters {
    const sent = this.#broadcaster.sentFrames;
    return {
      configsEncoded: this.#broadcaster.encodes,
      deltasEncoded: this.#broadcaster.deltasMade,
      wholeConfigsSent: sent.wholeFrames,
      wholeConfigBytesSent: sent.wholeBytes,
      deltasSent: sent.deltaFrames,
      deltaBytesSent: sent.deltaBytes,
      configsRejected: this.#tally.configsRejected,
      dataPlanesRejected: { ...this.#tally.rejected },
      telemetryRecords: this.#tally.telemetryRecords,
      telemetryDropped: this.#analytics.droppedEver,
      analyticsKeys: this.#analytics.keys,
      pushAnswerLatencyMs: this.#broadcaster.pushAnswerLatency.data(),
    };
  }

  /** @deprecated since 0.2: `counters.configsEncoded`. */
  get configEncodes(): number {
    warnDeprecated(
      'PLANESYNC_DEP_CONFIG_ENCODES',
      'cp.configEncodes is deprecated and goes in 0.3.0: read cp.counters.configsEncoded',
    );
    return this.#broadcaster.encodes;
  }

  /** Starts accepting DPs on the transport. */
  start(): Promise<void> {
    // start and stop run one after the other, in the order called: a stop called while the
    // transport is still binding waits for it, then closes what it bound.
    return this.#inTurn(async () => {
      if (this.#started) return;
      // The cluster's latest config first (then each new one another CP publishes). A CP
      // whose state cannot be read starts anyway, serving nothing it did not have — DPs keep
      // serving theirs — and reads it again until it answers.
      this.#unwatchHealth ??= this.#state?.watchHealth?.((health) =>
        this.#observeState(health.available, health.error),
      );
      const joined = await this.#join().then(
        () => true,
        () => false,
      );
      const routes = this.#protocols.flatMap((protocol) =>
        protocol.route ? [protocol.route] : [],
      );
      try {
        await this.#transport.listen((connection) => this.#accept(connection), {
          admit: (peer) => this.#verdict(peer).admission,
          ...(routes.length > 0 ? { routes } : {}),
        });
      } catch (error) {
        // A CP that did not start follows no state either.
        this.#broadcaster.stop();
        this.#unwatchHealth?.();
        this.#unwatchHealth = undefined;
        this.#joined = false;
        throw error;
      }
      this.#started = true;
      this.#sharing?.begin();
      this.#schedulePurge();
      this.#scheduleCertificateCheck();
      this.#scheduleSync();
      if (!joined) this.#scheduleRejoin();
    });
  }

  /** Stops accepting, closes every DP connection and cancels every timer. */
  stop(): Promise<void> {
    return this.#inTurn(async () => {
      const wasStarted = this.#started;
      this.#started = false;
      if (this.#purgeTimer) this.#clock.clearTimeout(this.#purgeTimer);
      this.#purgeTimer = undefined;
      if (this.#certificateTimer) this.#clock.clearTimeout(this.#certificateTimer);
      this.#certificateTimer = undefined;
      this.#broadcaster.stop();
      this.#joined = false;
      this.#epoch++;
      if (this.#rejoinTimer) this.#clock.clearTimeout(this.#rejoinTimer);
      this.#rejoinTimer = undefined;
      this.#rejoinDelayMs = REJOIN_FIRST_MS;
      this.#unwatchHealth?.();
      this.#unwatchHealth = undefined;
      if (this.#syncTimer) this.#clock.clearTimeout(this.#syncTimer);
      this.#syncTimer = undefined;
      await this.#transport.close();
      await Promise.all([...this.#registry.holders()].map((session) => session.closed));
      // The cluster learns at once that this CP's DPs are gone from it — within a bound: a
      // state that does not answer must not hold the stop (the records then age out).
      if (wasStarted && (this.#shared || this.#sharing)) {
        await withinMs(this.#syncing ?? Promise.resolve(), FINAL_SYNC_MS);
        // The traffic counted so far too: a CP that stops writes its unfinished interval.
        this.#sharing?.rotate(true);
        await withinMs(this.#sync({ read: false }), FINAL_SYNC_MS);
      }
      this.#mirror.clear();
      this.#fullReadAt = Number.NEGATIVE_INFINITY;
      this.#readAt = Number.NEGATIVE_INFINITY;
    });
  }

  /**
   * Whether the cluster state answers, as this CP last found (its own calls — start, the DP
   * records' sync each second, `setConfig` — and the state's own checks), and whether the CP
   * has read the state's latest config since it started. Also told by the `stateHealth` event.
   */
  get stateHealth(): ControlPlaneStateHealth {
    return { ...this.#health, joined: this.#joined };
  }

  /**
   * Reads the state's latest config and follows it (one read at a time). A read that a stop()
   * overtook joins nothing — the stopped CP follows no state — and a start() after that stop
   * waits for it, then reads afresh.
   */
  #join(): Promise<void> {
    if (this.#joined) return Promise.resolve();
    const epoch = this.#epoch;
    if (this.#joining?.epoch === epoch) return this.#joining.promise;
    const before = this.#joining?.promise.catch(() => undefined) ?? Promise.resolve();
    const promise = before
      .then(() => this.#broadcaster.join())
      .then(
        () => {
          if (epoch !== this.#epoch) {
            this.#broadcaster.stop();
            throw new AbortedError('the control plane stopped while it read its cluster state');
          }
          this.#joined = true;
          this.#observeState(true);
        },
        (error: unknown) => {
          if (epoch === this.#epoch) this.#observeState(false, error);
          throw error;
        },
      )
      .finally(() => {
        if (this.#joining?.promise === promise) this.#joining = undefined;
      });
    this.#joining = { epoch, promise };
    return promise;
  }

  /** Reads the state again later: 1 s, then twice as long each time, at most 10 s. */
  #scheduleRejoin(): void {
    if (this.#rejoinTimer || this.#joined) return;
    const delayMs = this.#rejoinDelayMs;
    this.#rejoinDelayMs = Math.min(delayMs * 2, REJOIN_MAX_MS);
    this.#rejoinTimer = this.#clock.setTimeout(() => {
      this.#rejoinTimer = undefined;
      if (!this.#started) return;
      const epoch = this.#epoch;
      this.#join().then(
        () => {
          this.#rejoinDelayMs = REJOIN_FIRST_MS;
        },
        () => {
          if (this.#started && epoch === this.#epoch) this.#scheduleRejoin();
        },
      );
    }, delayMs);
  }

  /** Updates `stateHealth` from a call or a check; a change is logged and announced once. */
  #observeState(available: boolean, error?: unknown): void {
    const before = this.#health;
    if (available === before.available && before.joined === this.#joined) return;
    this.#health = {
      available,
      since: available === before.available ? before.since : this.#clock.now(),
      joined: this.#joined,
      ...(available ? {} : { reason: reasonOf(error) }),
    };
    // A start that read the state at once is nothing to log (its listeners hear of it).
    if (available && before.available && !this.#started) {
      this.#announce('stateHealth', this.stateHealth);
      return;
    }
    const wasJoined = before.joined;
    if (available)
      logSafely(
        this.logger,
        'info',
        { joined: this.#joined },
        this.#joined && !wasJoined && this.#started
          ? 'the cluster state answers: serving its latest config'
          : 'the cluster state answers again',
      );
    else
      logSafely(
        this.logger,
        'warn',
        { err: error, joined: this.#joined },
        this.#joined
          ? 'the cluster state does not answer: this CP serves its latest config to its DPs and tries again'
          : 'the cluster state does not answer: this CP serves no config until it can read the latest, and tries again',
      );
    this.#announce('stateHealth', this.stateHealth);
  }

  /** Counts an event for `counters`, where it is announced (the one place each passes). */
  #count(event: keyof ControlPlaneEvents, first: unknown): void {
    const tally = this.#tally;
    if (event === 'configRejected') tally.configsRejected++;
    else if (event === 'dataPlaneRejected') {
      const { code } = first as { code: string };
      tally.rejected[code] = (tally.rejected[code] ?? 0) + 1;
    } else if (event === 'analytics') {
      tally.telemetryRecords += recordCount(first as AnalyticsEvent);
    }
  }

  #inTurn(step: () => Promise<void>): Promise<void> {
    const run = this.#lifecycle.then(step);
    this.#lifecycle = run.catch(() => undefined);
    return run;
  }

  /**
   * Validates and hashes `config`; when the hash changed, makes it the next version, encodes
   * and compresses it once, and pushes it to every connected compatible DP whose hash differs.
   * Rejects with `CONFIG_INVALID` (the previous version stays) or `PAYLOAD_TOO_LARGE`.
   * Successive calls are applied in order; a DP still receiving gets only the newest.
   * The CP keeps the validated config, which may share objects with `config`: pass a new
   * object for each change rather than editing one already given.
   */
  setConfig(config: unknown): Promise<{ version: number; hash: string }> {
    return this.#withState(() => this.#broadcaster.setConfig(config));
  }

  /**
   * Runs a publish once the state's latest config was read (a CP started while its state was
   * down reads it first, or rejects with `STATE_UNAVAILABLE`), and notes what it found.
   */
  async #withState<T>(publish: () => Promise<T>): Promise<T> {
    if (this.#started && !this.#joined) {
      try {
        await this.#join();
      } catch (error) {
        throw error instanceof PlanesyncError && error.code === ErrorCode.STATE_UNAVAILABLE
          ? error
          : new StateUnavailableError(
              `the cluster state cannot be read, so nothing is published: ${reasonOf(error)}`,
              { cause: error },
            );
      }
    }
    try {
      const result = await publish();
      if (this.#state) this.#observeState(true);
      return result;
    } catch (error) {
      if (error instanceof PlanesyncError && error.code === ErrorCode.STATE_UNAVAILABLE)
        this.#observeState(false, error);
      throw error;
    }
  }

  /**
   * Changes the latest config by entities added, replaced or removed, rather than resubmitting
   * it whole: a host managing 25 000 entities changes one with one small call. Only what
   * changed is checked — each upserted entity against its type's schema, then the references
   * and unique names it touched (names it claims, references it makes or drops) — and only
   * the collections it touched
   * are hashed again (a CP given its own `schema` validates the result whole). Then it is
   * published, encoded and pushed as `setConfig` does (planesync/2 DPs get a delta), in order
   * with `setConfig` calls. Rejects with `CONFIG_INVALID`, every problem at its path in the
   * change (`upsert.services[0].port`), the latest version unchanged. The entities it keeps
   * are taken as they were hashed and compressed before (the CP remembers each one's
   * serialisation for Kong's hash, about the config's JSON size in memory): replace an entity
   * by upserting it (an object edited since it was given is serialised again when upserted),
   * never by editing one the CP holds and leaving it there.
   *
   * @example
   * ```ts
   * import type { ControlPlane } from '@planesync/core';
   * declare const cp: ControlPlane;
   * await cp.updateConfig({
   *   upsert: { services: [{ name: 'orders', host: 'orders.internal', port: 8443 }] },
   *   delete: { routes: ['legacy-orders'] },
   * });
   * ```
   */
  updateConfig(change: ConfigChange): Promise<{ version: number; hash: string }> {
    return this.#withState(() =>
      this.#broadcaster.updateConfig(
        change,
        this.#wholeSchema ? (config) => this.#publisher.validate(config) : undefined,
      ),
    );
  }

  /**
   * Replaces the trust verifier: new connections are judged by it — a DP whose pin was
   * removed, or whose CA was rotated out, can no longer connect. With `recheck`, connected
   * DPs are judged again too, and those no longer trusted are closed (1008).
   */
  setTrust(trust: TrustVerifier, options: { recheck?: boolean } = {}): void {
    if (this.#ocspGate) requirePkiForOcsp(this.#ocspGate.mode, trust);
    this.#trust = trust;
    if (!options.recheck) return;
    for (const session of this.#registry.holders()) {
      const verdict = session.recheck(trust, this.#clock.now());
      if (verdict) this.#announce('dataPlaneRejected', verdict);
      // With cluster_ocsp, the responder is asked again about every DP still trusted.
      else if (this.#ocspGate && trust.mode === 'pki') this.#recheckOcsp(session, trust);
    }
  }

  #recheckOcsp(session: DataPlaneSession, trust: TrustVerifier): void {
    const verdict = trust.verify([...session.peerCertificates], {
      role: 'data-plane',
      at: this.#clock.now(),
    });
    if (!verdict.ok || !verdict.chain[1]) return;
    void this.#ocspGate!.judge(verdict.chain, { fresh: true })
      .then(({ refused, answer }) => {
        if (refused)
          this.#refuseRevoked(session.connectionOf, refused, answer.reason, session.nodeId);
      })
      .catch(() => undefined);
  }

  /**
   * Replaces the certificate chain and key the CP presents to DPs (its transport's
   * `setIdentity`): DPs connecting from now on see the new pair, and no connected DP is
   * dropped. Throws `INVALID_ARGUMENT`, keeping the pair it has, when the key is not the
   * certificate's or the transport cannot replace its certificate. To follow files an
   * operator replaces on disk, `watchIdentity` from `@planesync/node-tls`.
   */
  setIdentity(identity: TransportIdentity): void {
    if (typeof this.#transport.setIdentity !== 'function')
      throw new InvalidArgumentError(
        'this transport cannot replace its certificate at run time (it has no setIdentity)',
      );
    this.#transport.setIdentity(identity);
  }

  /** Sends a licence to every DP with the config; a DP past `expiresAt` reports itself unlicensed. */
  setLicense(license: License): void {
    if (typeof license?.expiresAt !== 'number')
      throw new InvalidArgumentError('a licence needs expiresAt (ms)');
    this.#broadcaster.setLicense(license);
  }

  /**
   * Resolves once the CP has recorded that DPs serve `hash` (default: the latest config's):
   * the DP `nodeId` when given, else every connected DP whose sync status is `normal` (at
   * once when none is connected). It resolves with their status records, as
   * `dataPlanes()` shows them. `dp.waitForConfig` tells when a DP applied a config; this tells
   * when the CP knows it. Rejects with `ABORTED` when `signal` aborts first.
   *
   * @example
   * ```ts
   * import type { ControlPlane } from '@planesync/core';
   * declare const cp: ControlPlane;
   * const { hash } = await cp.setConfig({ _format_version: '3.0' });
   * await cp.waitForSync({ nodeId: 'dp-1', hash, signal: AbortSignal.timeout(30_000) });
   * ```
   */
  waitForSync(
    options: { nodeId?: string; hash?: string; signal?: AbortSignal } = {},
  ): Promise<DataPlaneStatus[]> {
    const { signal } = options;
    return new Promise((resolve, reject) => {
      const settled = (): DataPlaneStatus[] | undefined => {
        const hash = options.hash ?? this.#publisher.latest?.hash;
        if (hash === undefined) return undefined;
        if (options.nodeId !== undefined) {
          const record = this.#registry.get(options.nodeId);
          return record?.connected && this.#serves(record, hash) ? [{ ...record }] : undefined;
        }
        const live = this.#registry.connected().filter((record) => record.syncStatus === 'normal');
        return live.every((record) => this.#serves(record, hash))
          ? live.map((record) => ({ ...record }))
          : undefined;
      };
      const onAbort = () => {
        this.#syncWaiters.delete(check);
        reject(new AbortedError(undefined, { cause: signal?.reason }));
      };
      const check = () => {
        const done = settled();
        if (!done) return;
        this.#syncWaiters.delete(check);
        signal?.removeEventListener('abort', onAbort);
        resolve(done);
      };
      if (signal?.aborted) {
        onAbort();
        return;
      }
      this.#syncWaiters.add(check);
      signal?.addEventListener('abort', onAbort, { once: true });
      check();
    });
  }

  /**
   * Every DP the CP knows, connected or not, as status records. With a `state` that shares DP
   * records, the DPs of every CP of the cluster: this CP's own as they are, the others' as
   * last read (at most `dataPlaneSyncIntervalMs` old); `listDataPlanes()` reads them now.
   */
  dataPlanes(): DataPlaneStatus[] {
    const now = this.#clock.now();
    return this.#merged(
      [...this.#mirror.values()].map(({ record, storedAt }) => ({
        ...record,
        storedAgoMs: now - storedAt,
      })),
    );
  }

  /**
   * Every DP of the cluster, read from the state now (this CP's own DPs as they are); without
   * a state that shares DP records, `dataPlanes()`. Rejects when the state cannot be read.
   */
  async listDataPlanes(options: AbortOptions = {}): Promise<DataPlaneStatus[]> {
    if (!this.#shared) return this.dataPlanes();
    return this.#merged(await this.#shared.list(options));
  }

  /** This CP's records, then the others' where this CP has none newer. */
  #merged(others: readonly SharedDataPlaneStatus[]): DataPlaneStatus[] {
    const own = this.#registry.list();
    if (!this.#shared) return own;
    const byId = new Map<string, DataPlaneStatus>(
      own.map((record) => [record.id, { ...record, controlPlaneId: this.id }]),
    );
    // A record marked connected but not stored for a heartbeat timeout and a sync is a DP
    // whose CP died without saying so — judged by the state's clock when it says, so a CP
    // whose clock is off does not take live DPs for gone.
    const bound = this.#settings.heartbeatTimeoutMs + this.#syncIntervalMs;
    const now = this.#clock.now();
    for (const { storedAgoMs, ...record } of others) {
      const fresh =
        storedAgoMs !== undefined ? storedAgoMs <= bound : now - record.lastSeen <= bound;
      const mine = byId.get(record.id);
      // A DP another live CP serves now is shown there, whatever the CPs' clocks say of
      // lastSeen: a DP this CP lost is shown as the other CP has it.
      const servedElsewhere = record.controlPlaneId !== this.id && record.connected && fresh;
      if (mine && (mine.connected || (!servedElsewhere && mine.lastSeen >= record.lastSeen)))
        continue;
      byId.set(record.id, {
        ...record,
        labels: { ...record.labels },
        connected: record.connected && fresh,
      });
    }
    return [...byId.values()];
  }

  #scheduleSync(): void {
    if (!(this.#shared || this.#sharing) || this.#syncTimer) return;
    this.#syncTimer = this.#clock.setTimeout(() => {
      this.#syncTimer = undefined;
      this.#syncing = this.#sync().finally(() => {
        this.#syncing = undefined;
        if (this.#started) this.#scheduleSync();
      });
    }, this.#syncIntervalMs);
  }

  /**
   * Shares what changed with the cluster: DP records, ended intervals of traffic counters. The
   * state is found available when both answered: one sync is one finding (a state that takes
   * one and refuses the other is not told down and up again each second).
   */
  async #sync(options: { read?: boolean } = {}): Promise<void> {
    const records = await this.#syncDataPlanes(options);
    const counters = await this.#syncAnalytics();
    // One sync is one finding: down when either part failed, up only when the state answered
    // a call (a sync with nothing to write and nothing to read says nothing).
    const failed = [records, counters].find((outcome) => typeof outcome === 'object');
    if (typeof failed === 'object') this.#observeState(false, failed.error);
    else if (records === 'answered' || counters === 'answered') this.#observeState(true);
  }

  /** Writes the intervals of traffic counters that ended; kept for the next sync on failure. */
  async #syncAnalytics(): Promise<SyncOutcome> {
    const sharing = this.#sharing;
    if (!sharing) return 'idle';
    sharing.rotate();
    const lost = sharing.lost;
    let outcome: SyncOutcome;
    try {
      outcome = (await sharing.flush()) ? 'answered' : 'idle';
    } catch (error) {
      outcome = { error };
    }
    if (sharing.lost > lost)
      logSafely(
        this.logger,
        'warn',
        { lost: sharing.lost },
        'the cluster state took no traffic counters for too long: the oldest interval kept is dropped',
      );
    return outcome;
  }

  /**
   * Every CP's traffic and billing counters since `since` (ms since the epoch; default all
   * the state keeps), summed: with a `state` that shares them (`ClusterState.analytics`), the
   * fleet's — each CP writes an interval (`analyticsIntervalMs`) once it ends, and this CP's
   * own are counted up to now. Counts are kept per interval, so they start with the interval
   * `since` falls in (the summary's `since` says where). Without such a state,
   * `analytics.summary()`. Rejects with `STATE_UNAVAILABLE` when the state cannot be read
   * (`analytics.summary()` still has this CP's own).
   *
   * @example
   * ```ts
   * import type { ControlPlane } from '@planesync/core';
   * declare const cp: ControlPlane;
   * const month = Date.UTC(2026, 11, 1);
   * const { billing } = await cp.clusterAnalytics({ since: month });
   * console.log(billing.apiCalls, billing.apiCallsByDataPlane);
   * ```
   */
  async clusterAnalytics(
    options: AbortOptions & { since?: number } = {},
  ): Promise<AnalyticsSummary> {
    if (!this.#sharing) return this.#analytics.summary();
    if (this.#started) this.#sharing.rotate();
    return this.#sharing.summary(options.since ?? 0, {
      ...(options.signal ? { signal: options.signal } : {}),
      ...(this.#maxKeys !== undefined ? { maxKeys: this.#maxKeys } : {}),
    });
  }

  /** Writes this CP's changed records, then reads the cluster's; a failure is logged once. */
  async #syncDataPlanes(options: { read?: boolean } = {}): Promise<SyncOutcome> {
    const shared = this.#shared;
    if (!shared) return 'idle';
    const changed = this.#registry.takeChanged();
    try {
      if (changed.length > 0)
        await shared.write(changed.map((record) => ({ ...record, controlPlaneId: this.id })));
      // This CP's own records too: those from before a restart under the same id.
      if (options.read !== false) await this.#readDataPlanes(shared);
      return changed.length > 0 || options.read !== false ? 'answered' : 'idle';
    } catch (error) {
      // Written again at the next sync: nothing is lost but time (other CPs see these late).
      this.#registry.retake(changed);
      return { error };
    }
  }

  /**
   * Reads the cluster's records into the mirror: every `FULL_READ_MS` all of them (records
   * purged meanwhile go), else those stored since the last read that answered (at least the
   * last few syncs) — at 3 000 DPs a CP reads the hundred that changed each second rather
   * than the 3 000, and a read that failed or came late misses nothing. Each record's age is
   * kept on this CP's clock from the state's `storedAgoMs`, so it goes on ageing between reads.
   */
  async #readDataPlanes(shared: SharedDataPlanes): Promise<void> {
    const now = this.#clock.now();
    const full = now - this.#fullReadAt >= FULL_READ_MS;
    const sinceLastRead = Math.max(now - this.#readAt, 3 * this.#syncIntervalMs);
    const records = await shared.list(full ? {} : { storedWithinMs: sinceLastRead + 1_000 });
    const at = this.#clock.now();
    this.#readAt = now;
    if (full) {
      this.#mirror.clear();
      this.#fullReadAt = now;
    }
    for (const { storedAgoMs, ...record } of records)
      this.#mirror.set(record.id, { record, storedAt: at - (storedAgoMs ?? at - record.lastSeen) });
  }

  /**
   * Asks the cluster whether another CP serves `record.id` under another certificate (within
   * `CLAIM_MS`). A state that cannot answer lets the DP in: DPs must reconnect while the
   * state is down, and the rule still holds among this CP's own DPs.
   */
  async #claimAcrossCluster(record: DataPlaneStatus): Promise<boolean> {
    const claim = this.#shared?.claim;
    if (!claim) return true;
    const signal = AbortSignal.timeout(CLAIM_MS);
    try {
      const claimed = await Promise.race([
        claim.call(
          this.#shared,
          { ...record, connected: true, controlPlaneId: this.id },
          { liveMs: this.#settings.heartbeatTimeoutMs + this.#syncIntervalMs, signal },
        ),
        new Promise<never>((_, reject) =>
          signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
        ),
      ]);
      this.#observeState(true);
      return claimed;
    } catch (error) {
      this.#observeState(false, error);
      return true;
    }
  }

  #accept(connection: Connection): void {
    try {
      this.#admit(connection);
    } catch (error) {
      // A bug of ours, or a host transport whose connection throws: this link ends (1011),
      // the transport's accept loop and every other DP go on.
      const failure = closeForFailure(connection, error);
      if (failure) this.#announce('error', failure, { remoteAddress: safeAddress(connection) });
    }
  }

  /**
   * Core's decision on a peer, asked by the transport before it reads anything from it (and
   * again here for a transport that cannot ask): a chain the verifier trusts, and room for one
   * more DP. A refusal is announced once, where it is made.
   */
  #verdict(peer: PeerInfo): {
    admission: Admission;
    expiresAt?: number;
    chain?: readonly X509Certificate[];
  } {
    let refusal:
      | { code: string; message: string; close: number; status: number; silent?: boolean }
      | undefined;
    let expiresAt: number | undefined;
    let chain: readonly X509Certificate[] | undefined;
    if (this.#live >= this.#settings.maxDataPlanes) {
      refusal = {
        code: ErrorCode.CAPACITY_EXCEEDED,
        message: `${this.#live} data planes are connected, the most this control plane takes (maxDataPlanes)`,
        close: CloseCode.TRY_AGAIN_LATER,
        status: 503,
      };
    } else {
      const trust = this.#trust.verify([...peer.peerCertificates], {
        role: 'data-plane',
        at: this.#clock.now(),
      });
      if (trust.ok) {
        expiresAt = trust.expiresAt.getTime();
        chain = trust.chain;
      } else {
        // Each protocol refuses an untrusted peer as its own CP would (Kong's: 400 or silence).
        const how = peer.request
          ? this.#protocolFor(peer.request.path).controlPlane.untrusted?.(this.#trust.mode)
          : undefined;
        refusal = {
          code: trust.code,
          message: trust.message,
          close: CloseCode.POLICY_VIOLATION,
          status: how?.status ?? 403,
          ...(how?.silent ? { silent: true } : {}),
        };
      }
    }
    if (!refusal && peer.request) {
      // A request the protocol on its path cannot serve (Kong's: no node_id) is its to refuse.
      const answer = this.#protocolFor(peer.request.path).controlPlane.admit?.(peer);
      if (answer && !answer.accept) return { admission: answer };
    }
    if (!refusal)
      return {
        admission: { accept: true },
        ...(expiresAt ? { expiresAt } : {}),
        ...(chain ? { chain } : {}),
      };
    this.#announce('dataPlaneRejected', {
      code: refusal.code,
      message: refusal.message,
      remoteAddress: peer.remoteAddress,
    });
    return {
      admission: {
        accept: false,
        code: refusal.close,
        reason: refusal.code,
        status: refusal.status,
        ...(refusal.silent ? { silent: true } : {}),
      },
    };
  }

  #admit(connection: Connection): void {
    const { admission, expiresAt, chain } = this.#verdict({
      remoteAddress: connection.remoteAddress,
      peerCertificates: connection.peerCertificates,
    });
    if (!admission.accept) {
      void connection.close(admission.code, admission.reason);
      return;
    }
    this.#live++;
    try {
      this.#serve(connection, expiresAt, chain);
    } catch (error) {
      // Thrown before a session's run() or abandon() took the link (its protocol failed to open
      // it, say): its place under maxDataPlanes is freed here, once it has closed.
      void connection.closed.then(() => this.#live--);
      throw error;
    }
  }

  /** Serves an admitted link: its session runs, or is abandoned, and that frees its place. */
  #serve(
    connection: Connection,
    expiresAt: number | undefined,
    chain: readonly X509Certificate[] | undefined,
  ): void {
    const protocol = this.#protocolFor(connection.request?.path);
    const session = new DataPlaneSession(connection, protocol, expiresAt!, this.#sessionHost);
    // A chain that runs out before the next sweep is looked at when it does: a DP connecting
    // seconds before its certificate ends is not served for up to certificateCheckIntervalMs
    // after. (The verifier takes notAfter itself as valid: 1 ms past it, the chain has run out.)
    const runsOutIn = expiresAt === undefined ? Infinity : expiresAt - this.#clock.now() + 1;
    if (runsOutIn < this.#settings.certificateCheckIntervalMs) {
      const timer = this.#clock.setTimeout(
        () => {
          if (this.#started) this.checkCertificates();
        },
        Math.max(0, runsOutIn),
      );
      void connection.closed.then(() => this.#clock.clearTimeout(timer));
    }
    // Kong's cluster_ocsp: the DP's certificate asked about before the DP is served.
    if (!this.#ocspGate || !chain) {
      void session.run();
      return;
    }
    // A DP that goes away (or a CP that stops, closing it) ends its question: DPs that come and
    // go must not leave requests open against the responder for ocspTimeoutMs each.
    const asking = new AbortController();
    void connection.closed.then(() => asking.abort());
    void this.#ocspGate
      .judge(chain, { signal: asking.signal })
      .then(({ refused, answer }) => {
        if (asking.signal.aborted) return void session.abandon();
        if (!refused) {
          if (answer.status === 'unknown')
            logSafely(
              this.logger,
              'warn',
              { remoteAddress: connection.remoteAddress, reason: answer.reason },
              'data plane certificate revocation check failed; served (ocsp: optional)',
            );
          void session.run();
          return;
        }
        this.#refuseRevoked(connection, refused, answer.reason);
        void session.abandon();
      })
      .catch((error: unknown) => {
        // A bug of ours after the answer: this link ends (1011), nothing else does.
        const failure = closeForFailure(connection, error);
        if (failure) this.#announce('error', failure, { remoteAddress: safeAddress(connection) });
        void session.abandon();
      });
  }

  #refuseRevoked(connection: Connection, code: TrustCode, reason: string, nodeId?: string): void {
    this.#announce('dataPlaneRejected', {
      code,
      message: `data plane certificate revocation check: ${reason}`,
      remoteAddress: connection.remoteAddress,
      ...(nodeId ? { nodeId } : {}),
    });
    void connection.close(CloseCode.POLICY_VIOLATION, code);
  }

  /** Logs what an operator wants to see of an event, then emits it to the host's listeners. */
  #announce<E extends keyof ControlPlaneEvents>(
    event: E,
    ...args: Parameters<ControlPlaneEvents[E]>
  ): void {
    const [first, second] = args as unknown[];
    const details = first as Record<string, unknown>;
    this.#count(event, first);
    switch (event) {
      case 'dataPlaneConnected':
        logSafely(
          this.logger,
          'info',
          pick(details, 'id', 'hostname', 'ip', 'version', 'syncStatus'),
          'data plane connected',
        );
        break;
      case 'dataPlaneDisconnected': {
        const close = second as CloseInfo;
        logSafely(
          this.logger,
          'info',
          { id: details.id, code: close.code, reason: close.reason },
          'data plane disconnected',
        );
        break;
      }
      case 'dataPlaneRejected':
        logSafely(this.logger, 'warn', details, 'data plane refused');
        break;
      case 'configApplied':
        logSafely(this.logger, 'debug', details, 'data plane applied the config');
        break;
      case 'configRejected':
        logSafely(
          this.logger,
          'warn',
          {
            ...pick(details, 'nodeId', 'version', 'hash'),
            errors: (details.errors as unknown[]).slice(0, 3),
          },
          'data plane rejected the config',
        );
        break;
    }
    this.emit(event, ...args);
    if (event === 'analytics' && this.listenerCount('telemetry') > 0) {
      warnDeprecated(
        'PLANESYNC_DEP_TELEMETRY_EVENT',
        "ControlPlane's 'telemetry' event is deprecated and goes in 0.3.0: listen to 'analytics'",
      );
      this.emit('telemetry', ...(args as [AnalyticsEvent]));
    }
  }

  /**
   * Whether the DP of `record` serves the config of `hash`: it reports that hash, or the one
   * its protocol serves the current config under (Kong's 32 zeros for only workspaces).
   */
  #serves(record: DataPlaneStatus, hash: string): boolean {
    if (record.configHash === hash) return true;
    return this.#protocols.some((protocol) => {
      const current = this.#broadcaster.current(protocol);
      return current?.hash === hash && current.servedHash === record.configHash;
    });
  }

  /** The protocol served on `path`: its route's, else the one on the transport's own path. */
  #protocolFor(path: string | undefined): WireProtocol {
    return (
      this.#protocols.find((protocol) => path !== undefined && protocol.route?.path === path) ??
      this.#protocols.find((protocol) => !protocol.route) ??
      this.#protocols[0]!
    );
  }

  #syncStatusFor(plugins: readonly PluginVersion[]): SyncStatus {
    return pluginCompatibility(this.#configuredPlugins, this.#plugins, plugins);
  }

  #checkSyncWaiters(): void {
    for (const check of [...this.#syncWaiters]) check();
  }

  #scheduleCertificateCheck(): void {
    this.#certificateTimer = this.#clock.setTimeout(() => {
      try {
        this.checkCertificates();
      } catch (error) {
        // A bug of ours: said, and the next look still comes.
        this.#announce('error', asPlanesyncError(error), { remoteAddress: 'control-plane' });
      }
      if (this.#started) this.#scheduleCertificateCheck();
    }, this.#settings.certificateCheckIntervalMs);
  }

  /**
   * Looks at the chains of the connected DPs now (the CP does every
   * `certificateCheckIntervalMs`): a chain that runs out within `certificateWarningMs` is
   * announced once (`certificateExpiring`, a warning in the log), and a link whose chain has
   * run out is closed (1008, `TRUST_EXPIRED`) and announced as `dataPlaneRejected`.
   */
  checkCertificates(): void {
    const now = this.#clock.now();
    const live = new Set<string>();
    for (const record of this.#registry.connected()) {
      const expiresAt = record.certExpiresAt;
      if (expiresAt === undefined) continue;
      live.add(record.id);
      if (expiresAt <= now) {
        const verdict = this.#registry.holder(record.id)?.recheck(this.#trust, now);
        if (verdict) this.#announce('dataPlaneRejected', verdict);
        continue;
      }
      if (expiresAt - now > this.#settings.certificateWarningMs) continue;
      if (this.#expiryWarned.get(record.id) === expiresAt) continue;
      this.#expiryWarned.set(record.id, expiresAt);
      const warning = {
        nodeId: record.id,
        hostname: record.hostname,
        remoteAddress: record.ip,
        expiresAt,
      };
      logSafely(
        this.logger,
        'warn',
        { ...warning, expiresAt: new Date(expiresAt).toISOString() },
        `the certificate of data plane ${record.hostname} runs out in ${Math.ceil((expiresAt - now) / 86_400_000)} days`,
      );
      this.#announce('certificateExpiring', warning);
    }
    for (const nodeId of this.#expiryWarned.keys())
      if (!live.has(nodeId)) this.#expiryWarned.delete(nodeId);
    this.#checkOwnCertificates(now);
  }

  /** The certificates this CP presents on its live links: told once each, before they run out. */
  #checkOwnCertificates(now: number): void {
    const seen = new Set<string>();
    for (const session of this.#registry.holders()) {
      const leaf = session.localLeaf;
      if (!leaf) continue;
      const fingerprint = createHash('sha256').update(leaf).digest('hex');
      if (seen.has(fingerprint)) continue;
      seen.add(fingerprint);
      let known = this.#identities.get(fingerprint);
      if (!known) {
        let expiresAt: number;
        try {
          expiresAt = Date.parse(new X509Certificate(leaf).validTo);
        } catch {
          continue;
        }
        known = { expiresAt, warned: false };
        this.#identities.set(fingerprint, known);
      }
      if (known.warned || known.expiresAt - now > this.#settings.certificateWarningMs) continue;
      known.warned = true;
      logSafely(
        this.logger,
        'warn',
        { expiresAt: new Date(known.expiresAt).toISOString() },
        `this control plane's certificate runs out in ${Math.max(0, Math.ceil((known.expiresAt - now) / 86_400_000))} days: renew it and setIdentity`,
      );
      this.#announce('identityExpiring', { expiresAt: known.expiresAt });
    }
    for (const fingerprint of this.#identities.keys())
      if (!seen.has(fingerprint)) this.#identities.delete(fingerprint);
  }

  #schedulePurge(): void {
    const every = Math.min(this.#settings.dataPlanePurgeDelayMs, 3_600_000);
    this.#purgeTimer = this.#clock.setTimeout(() => {
      this.#registry.purge();
      // Every CP asks; the state does the work once. A failure waits for the next round.
      void this.#shared
        ?.purge(this.#clock.now() - this.#settings.dataPlanePurgeDelayMs)
        .catch(() => undefined);
      void this.#state?.analytics
        ?.purge(this.#clock.now() - this.#analyticsRetentionMs)
        .catch(() => undefined);
      if (this.#started) this.#schedulePurge();
    }, every);
  }
}

function pick(record: Record<string, unknown>, ...keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.map((key) => [key, record[key]]));
}

/** The remote address of a connection from a transport that may be broken. */
function safeAddress(connection: Connection): string {
  try {
    return String(connection.remoteAddress);
  } catch {
    return '(unknown)';
  }
}

/**
 * The protocols a CP serves, checked against its transport: at most one on the transport's
 * own path, distinct paths, and nothing the transport cannot carry.
 */
function checkProtocols(
  protocols: readonly WireProtocol[],
  transport: TransportServer,
): readonly WireProtocol[] {
  if (protocols.length === 0)
    throw new InvalidArgumentError('a ControlPlane needs at least one protocol');
  const features = transport.features ?? FRAMES_ONLY;
  if (protocols.length > 1 && protocols.some((protocol) => !protocol.route))
    throw new InvalidArgumentError(
      `a ControlPlane serving several protocols serves each on its own path: give ${protocols
        .filter((protocol) => !protocol.route)
        .map((protocol) => protocol.name)
        .join(' and ')} a route (planesyncProtocol({ route: { path: '/planesync/v1' } }))`,
    );
  const paths = new Set<string | undefined>();
  for (const protocol of protocols) {
    const path = protocol.route?.path;
    if (paths.has(path))
      throw new InvalidArgumentError(
        `two protocols on ${path ?? "the transport's own path"}: give each its own route`,
      );
    paths.add(path);
    const missing = missingFeatures(protocol, features, protocol.route);
    if (missing.length > 0)
      throw new InvalidArgumentError(
        `this transport cannot carry the ${protocol.name} protocol: it has no ${missing.join(' and no ')}`,
      );
  }
  return [...protocols];
}

/**
 * OCSP asks about a DP certificate's issuer, which pinned mode has none of: as Kong refuses
 * `cluster_ocsp` outside `cluster_mtls = pki`, a CP is not made (nor given a pinned trust)
 * that would say it checks revocation and check nothing.
 */
function requirePkiForOcsp(ocsp: 'off' | 'on' | 'optional', trust: TrustVerifier): void {
  if (ocsp !== 'off' && trust?.mode !== 'pki')
    throw new InvalidArgumentError(
      `ocsp: '${ocsp}' needs a trust in pki mode (Kong's cluster_ocsp needs cluster_mtls = pki)`,
    );
}
