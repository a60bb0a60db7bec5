import type { AnalyticsOptions, AnalyticsState } from '../analytics/telemetry-queue.ts';
import type { Clock } from '../clock.ts';
import { type ConfigLimits, resolveLimits } from '../config/limits.ts';
import type { ConfigSnapshot, ConfigSource } from '../config/snapshot.ts';
import type { ConfigSchema } from '../config/validate.ts';
import { type ErrorContext, InvalidArgumentError, type PlanesyncError } from '../errors.ts';
import { renamedOption } from '../host/deprecation.ts';
import type { Logger } from '../host/logger.ts';
import type { PluginVersion } from '../protocol/compatibility.ts';
import { type License, labelProblem, type SyncStatus } from '../protocol/messages.ts';
import { planesyncProtocol } from '../protocol/planesync.ts';
import { missingFeatures, type WireProtocol } from '../protocol/wire-protocol.ts';
import type { ConfigStore } from '../storage/contract.ts';
import { type CloseInfo, FRAMES_ONLY, type TransportClient } from '../transport/contract.ts';
import type { TrustVerifier } from '../trust/verifier.ts';
import type { ConnectionState } from './connection-machine.ts';

export type { ConnectionState } from './connection-machine.ts';

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
  /** The protocol version the CP agreed to (`planesync/1`), once it has. */
  protocol: string | undefined;
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
   * The CP's certificate chain runs out within `certificateWarningMs` (30 days by default):
   * once per link. When it has run out, the link is closed and `rejected` says `TRUST_EXPIRED`.
   */
  certificateExpiring: (warning: {
    /** When the CP's chain stops being trusted (ms since the epoch). */
    expiresAt: number;
  }) => void;
  /**
   * The certificate this DP presents runs out within `certificateWarningMs`: once per link.
   * Renew it and `setIdentity`.
   */
  identityExpiring: (warning: { expiresAt: number }) => void;
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
  /**
   * Something went wrong that no call is waiting for (a link that failed, a cache that
   * could not be written); the DP goes on. `context` says where, as on the CP.
   */
  error: (error: PlanesyncError, context: ErrorContext) => void;
}

/** Options of a {@link DataPlane}. */
export interface DataPlaneOptions<TConfig = unknown> {
  /**
   * How the DP dials its CP. A list dials several CPs one after another (`failoverClient`):
   * each connect starts with the CP that answered last and moves on to the next when it
   * cannot be reached or refuses — for CPs that share a cluster state, without a balancer.
   */
  transport: TransportClient | readonly TransportClient[];
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
   * Default: the name the transport dialed (the URL's host, or the name its `serverName`
   * option sends as SNI). A DP in PKI mode that has no name to check refuses the CP rather
   * than trust any certificate the CA issued.
   */
  expectedServerName?: string;
  /**
   * @deprecated since 0.2: `expectedServerName`. (A transport's `serverName` is the SNI it
   * sends; this was the name checked, under the same word.)
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
  /**
   * A uniform random number in [0, 1) for the reconnect jitter and, with several CPs, the
   * order the others are tried in; default Math.random.
   */
  random?: () => number;
  /** Default 30 000. */
  heartbeatIntervalMs?: number;
  /**
   * How long before the CP's certificate chain runs out the DP says so
   * (`certificateExpiring`, and a warning in its log), looked at on connecting and at each
   * heartbeat. Default 30 days. A link whose CP chain has run out is closed (1008,
   * `TRUST_EXPIRED`, a `rejected` event), and the DP keeps serving its config.
   */
  certificateWarningMs?: number;
  /** No frame from the CP for this long and the link is dead. Default 45 000. */
  heartbeatTimeoutMs?: number;
  /** Each reconnect waits a uniformly random delay in this range. Default [5000, 10000]. */
  reconnectDelayMs?: readonly [number, number];
  /** The largest config the DP takes, inflated; default 256 MiB. */
  maxConfigBytes?: number;
  /** @deprecated since 0.2: `maxConfigBytes`, the same limit. */
  maxInflatedBytes?: number;
  /** The request-analytics buffer and its flush to the CP. */
  analytics?: AnalyticsOptions;
  /**
   * The wire protocol spoken with the CP. Default `planesyncProtocol()`. Combining it with a
   * transport that cannot carry it throws `INVALID_ARGUMENT` here.
   */
  protocol?: WireProtocol;
}

/** The options a DataPlane runs with, checked and with their defaults. */
export interface DataPlaneSettings {
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  certificateWarningMs: number;
  delay: readonly [number, number];
  maxConfigBytes: number;
  limits: Required<ConfigLimits>;
  protocol: WireProtocol;
}

/** DataPlane options with one transport client (a list made a `failoverClient`). */
export type DialingOptions<TConfig = unknown> = DataPlaneOptions<TConfig> & {
  transport: TransportClient;
};

/** Checks a DataPlane's options (`INVALID_ARGUMENT`) and fills in the defaults. */
export function resolveDataPlaneSettings(options: DialingOptions<never>): DataPlaneSettings {
  if (!options?.transport || !options.trust || typeof options.version !== 'string') {
    throw new InvalidArgumentError('DataPlane needs a transport, a trust verifier and a version');
  }
  const labelsWrong = options.labels ? labelProblem(options.labels) : undefined;
  if (labelsWrong) throw new InvalidArgumentError(`labels: ${labelsWrong}`);
  const [low, high] = options.reconnectDelayMs ?? [5_000, 10_000];
  if (!(low >= 0 && high >= low))
    throw new InvalidArgumentError('reconnectDelayMs is [min, max] with 0 ≤ min ≤ max');
  if (options.expectedServerName === undefined)
    renamedOption(options, 'serverName', 'expectedServerName', 'DataPlane');
  const certificateWarningMs = options.certificateWarningMs ?? 30 * 86_400_000;
  if (!(certificateWarningMs >= 0 && Number.isFinite(certificateWarningMs)))
    throw new InvalidArgumentError('certificateWarningMs is a number of milliseconds ≥ 0');
  const protocol = options.protocol ?? planesyncProtocol();
  // What the protocol declares, and what its dial asks for (judged once, here, rather than
  // failing every reconnect).
  const dial = protocol.dataPlane.dial({
    nodeId: options.nodeId ?? 'node',
    hostname: options.hostname ?? 'host',
    version: options.version,
  });
  const path = dial.request?.path ?? protocol.route?.path;
  const subprotocol = dial.request?.subprotocol ?? protocol.route?.subprotocol;
  const pings = dial.pings ?? protocol.route?.pings;
  const missing = missingFeatures(protocol, options.transport.features ?? FRAMES_ONLY, {
    ...(path !== undefined ? { path } : {}),
    ...(subprotocol !== undefined ? { subprotocol } : {}),
    ...(pings !== undefined ? { pings } : {}),
  });
  if (missing.length > 0)
    throw new InvalidArgumentError(
      `this transport cannot carry the ${protocol.name} protocol: it has no ${missing.join(' and no ')}`,
    );
  return {
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? 30_000,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 45_000,
    certificateWarningMs,
    delay: [low, high],
    maxConfigBytes:
      options.maxConfigBytes ??
      renamedOption(options, 'maxInflatedBytes', 'maxConfigBytes', 'DataPlane') ??
      256 * 1024 * 1024,
    limits: resolveLimits(options.limits),
    protocol,
  };
}
