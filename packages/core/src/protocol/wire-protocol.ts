/**
 * The wire-protocol seam. ControlPlane, its per-DP sessions and DataPlane know what happens
 * on a link — a DP says who it is, the CP accepts or refuses it, configs go out and are
 * answered (or not), heartbeats, telemetry (or none) — and a protocol says how each of those
 * looks on the wire. planesync/1 is the first implementation ({@link planesyncProtocol});
 * another protocol (Kong's own) is a new module implementing these interfaces, not edits
 * across the CP and the DP.
 *
 * @module
 */
import type { ConfigDelta } from '../config/delta.ts';
import type { ConfigHashes } from '../config/snapshot.ts';
import type { PlanesyncError } from '../errors.ts';
import type {
  AbortOptions,
  Admission,
  Connection,
  ConnectOptions,
  PeerInfo,
  Route,
  TransportFeatures,
} from '../transport/contract.ts';
import type { PluginVersion } from './compatibility.ts';
import type { License, SyncStatus, TelemetryBatch } from './messages.ts';

/** Who a DP says it is, and what it serves, when it connects. */
export interface DataPlaneIdentity {
  nodeId: string;
  hostname: string;
  /** The DP's gateway version, e.g. `3.10.0`. */
  version: string;
  labels: Record<string, string>;
  plugins: PluginVersion[];
  /** The hash of the config it serves (32 zeros: none). */
  configHash: string;
  configVersion: number;
  /** What its cache holds (32 zeros: nothing), when the protocol says. */
  cacheHash?: string | undefined;
}

/** What a DP reports of the config it serves: in an ack, or in a heartbeat. */
export interface ConfigReport {
  /**
   * The version it serves, when the protocol numbers versions (Kong's does not: the CP
   * then takes the version from the hash when it is the one it pushed).
   */
  version?: number | undefined;
  hash: string;
  /** What its cache holds (32 zeros: nothing), when the protocol says. */
  cacheHash?: string | undefined;
}

/** A config problem, as a refusal carries it. */
export interface ConfigRefusal {
  version: number;
  hash: string;
  errors: Array<{ path: string; message: string }>;
}

/** One message from a DP, after it has said who it is. */
export type DataPlaneMessage =
  | { type: 'applied'; report: ConfigReport }
  | { type: 'refused'; refusal: ConfigRefusal }
  | { type: 'heartbeat'; report: ConfigReport }
  | {
      type: 'telemetry';
      /** Inflates and checks the batch, never holding more than `maxBytes` inflated. */
      read(maxBytes: number): Promise<TelemetryBatch>;
    };

/** A config as a DP receives it, not yet inflated or parsed. */
export interface ConfigOffer {
  /** Increases with each config the CP sends on a link (a protocol without versions counts). */
  version: number;
  /**
   * The CP's hash of the config, when the protocol says it outside the compressed body
   * (planesync/1's header); `undefined` when only `read` can tell (Kong's gzip message).
   */
  hash?: string | undefined;
  hashes?: ConfigHashes | undefined;
  license?: License | undefined;
  /**
   * The hash of the config this offer is a delta from, when it is one (planesync/2): `read`
   * then needs that config as `base`, and gives back the whole new config.
   */
  base?: string | undefined;
  /**
   * Inflates and parses the config, never holding more than `maxBytes` inflated
   * (`PAYLOAD_TOO_LARGE`; broken bytes are a `PROTOCOL_VIOLATION`). `json` is set when the
   * inflated bytes are the config's JSON alone (a store may keep them as they are); `hash`
   * and `hashes` when the body carries them.
   */
  read(maxBytes: number, options?: { signal?: AbortSignal; base?: unknown }): Promise<ConfigRead>;
}

/** What {@link ConfigOffer.read} found. */
export interface ConfigRead {
  config: unknown;
  /** The config's UTF-8 JSON as it came, when the bytes are the config's alone. */
  json?: Uint8Array | undefined;
  /** With `json`: the gzip it was inflated from, for a store that keeps configs compressed. */
  gzip?: Uint8Array | undefined;
  /** With `json`: the zstd frame it was decompressed from, likewise. */
  zstd?: Uint8Array | undefined;
  hash?: string | undefined;
  hashes?: ConfigHashes | undefined;
  /**
   * For a delta: the top-level keys whose value differs from the base's (the others are the
   * base's own values, whose hashes need not be computed again).
   */
  changed?: ReadonlySet<string> | undefined;
  /**
   * For a delta: the entities it brought, by collection — the rest are the base's, checked
   * when it was — so a DP may check only these (and the references across the result);
   * `undefined`: check the config whole.
   */
  added?: ReadonlyMap<string, readonly unknown[]> | undefined;
  /** With `added`: the base's entities the delta left out, by collection. */
  dropped?: ReadonlyMap<string, readonly unknown[]> | undefined;
  /** For a delta: its JSON (as `applyDelta` reads it), for a store that keeps deltas. */
  delta?: Uint8Array | undefined;
}

/** One message from the CP. */
export type ControlPlaneMessage =
  | { type: 'accepted'; protocol: string; syncStatus: SyncStatus }
  | { type: 'refused'; code: string; message: string; syncStatus?: SyncStatus | undefined }
  | { type: 'config'; offer: ConfigOffer }
  | { type: 'telemetryAcknowledged'; batch: number }
  | { type: 'heartbeatAnswered' };

/** One config version encoded for one protocol, shared by every DP that speaks it. */
export interface EncodedConfig {
  readonly version: number;
  readonly hash: string;
  readonly hashes: ConfigHashes;
  readonly frame: Uint8Array;
  /**
   * The hash a DP reports once it serves this version, when it is not `hash`: Kong's DP
   * reports 32 zeros for a config that holds only workspaces (its empty-config rule).
   */
  readonly servedHash?: string | undefined;
  /** For a delta: the hash of the config it applies to. */
  readonly base?: string | undefined;
  /** The same version under another licence, without compressing the config again. */
  relicense(license: License | undefined): EncodedConfig;
}

/**
 * A config being encoded; `seal` finishes it under a version's header. `seal` may be called
 * again with another version number (control planes sharing a cluster state can take a number
 * meanwhile): each call gives a frame of its own.
 */
export interface PendingEncoding {
  seal(header: {
    version: number;
    hash: string;
    hashes: ConfigHashes;
    license?: License | undefined;
  }): Promise<EncodedConfig>;
}

/**
 * How one DP is to receive configs, when it differs from the rest: Kong's CP adapts a config
 * for a DP of another Kong version (its `compat/` rules) and knows the largest frame that
 * release accepts. DPs whose adaptations share a `key` share one encoding per version.
 */
export interface ConfigAdaptation {
  /** Identifies the adaptation (e.g. the DP's version); required with `adapt`. */
  readonly key?: string | undefined;
  /**
   * The config as this DP is to receive it, and one line per change made (logged once per
   * version and key). Must not change its input; returns it when nothing applies. The
   * version's hash stays the original's, as Kong's CP keeps it.
   */
  adapt?(config: unknown): { config: unknown; notes?: readonly string[] };
  /**
   * The largest config frame this DP accepts: a larger one is not sent, and the DP's status
   * (`pushError`) and a log line say why.
   */
  readonly maxFrameBytes?: number | undefined;
}

/** What a DP's first frame said, and the protocol version the link will speak. */
export type Identification =
  | {
      identity: DataPlaneIdentity;
      protocol: string;
      /** Whether the link takes config deltas (`encodeDelta`); default `false`. */
      deltas?: boolean;
    }
  /** The DP said who it is but cannot be served by this protocol (no common version). */
  | { identity: DataPlaneIdentity; refusal: PlanesyncError };

/** The CP's side of one link, for one session. */
export interface ControlPlaneLink {
  /**
   * Reads the DP's first frame: who it is and which version of the protocol the link speaks.
   * Throws `PROTOCOL_VIOLATION` for anything that is not a valid first frame.
   */
  identify(frame: Uint8Array): Identification;
  /** Tells an identified DP it is accepted (a welcome), when the protocol says so. */
  accept(welcome: { syncStatus: SyncStatus }): Promise<void>;
  /** Tells a DP why it is refused, when the protocol can; the session closes the link. */
  refuse(error: PlanesyncError, syncStatus?: SyncStatus): Promise<void>;
  /** Decodes one frame after the first; throws `PROTOCOL_VIOLATION` for a malformed one. */
  read(frame: Uint8Array): DataPlaneMessage;
  /**
   * Answers a heartbeat (a pong). The DP counts its link dead after 45 s without anything
   * from the CP, so a protocol whose CP sends nothing else must answer here.
   */
  answerHeartbeat(): Promise<void>;
  /**
   * Acknowledges a telemetry batch. A DP sends its next batch only once the last is
   * acknowledged: a protocol that carries telemetry must acknowledge it, here or (when its
   * wire has no acknowledgement) by passing `telemetryAcknowledged` from its DP link.
   */
  acknowledgeTelemetry(batch: number): Promise<void>;
  /**
   * Sends one encoded config. A protocol that sends another encoding of it to this DP
   * (planesync/3's zstd) resolves with the bytes it sent, for the CP's counters; anything
   * but a number (nothing, as most do) counts as `encoded.frame`'s length.
   */
  sendConfig(encoded: EncodedConfig, options?: AbortOptions): Promise<unknown>;
  /**
   * Messages that arrive outside the frame stream (a WebSocket ping carrying the DP's hash):
   * the session hands its handler here once the DP is identified. Optional.
   */
  listen?(deliver: (message: DataPlaneMessage) => void): void;
}

/** The DP's side of one link. */
export interface DataPlaneLink {
  /** Says who this DP is and what it serves (the first frame). */
  identify(identity: DataPlaneIdentity): Promise<void>;
  /**
   * Decodes one frame from the CP; throws `PROTOCOL_VIOLATION` for a malformed one, or one
   * naming a protocol version this DP did not offer.
   */
  read(frame: Uint8Array): ControlPlaneMessage;
  /** The DP applied (and tried to save) a config. */
  applied(report: ConfigReport): Promise<void>;
  /** The DP refused a config and keeps its previous one. */
  refused(refusal: ConfigRefusal): Promise<void>;
  /** The periodic heartbeat, and the one after a local change of config. */
  heartbeat(report: ConfigReport): Promise<void>;
  /** Sends a telemetry batch; absent when the protocol carries none. */
  sendTelemetry?(batch: TelemetryBatch): Promise<void>;
  /** As {@link ControlPlaneLink.listen}, for messages outside the frame stream. */
  listen?(deliver: (message: ControlPlaneMessage) => void): void;
}

/**
 * A wire protocol, both sides. A ControlPlane speaks one or more (each on its own path of a
 * transport with a request step), a DataPlane one.
 */
export interface WireProtocol {
  /** e.g. `planesync`; the versions it speaks are its own affair (`planesync/1`). */
  readonly name: string;
  /**
   * The path it is served on, its subprotocol and ping handling, for a transport with a
   * request step; `undefined` for the transport's own path (the only choice on TCP).
   */
  readonly route?: Route | undefined;
  /** What it needs of a transport; combining it with one that lacks it is refused at once. */
  readonly requires: Partial<TransportFeatures>;
  /**
   * Whether a DP answers every config it is sent — applied or refused (planesync/1's ack and
   * nack). Default `true`: the CP then sends a DP one config at a time, the newest next once
   * it is answered. `false` (Kong's protocol: only a heartbeat carrying the new hash says a
   * config was applied, a refusal says nothing): the CP sends each change without waiting,
   * still only the newest, and sends the current config to every DP as soon as it is in,
   * whatever hash it said (Kong's CP does: its DP says its hash only in its first ping).
   */
  readonly answersConfigs?: boolean;
  /**
   * How long a CP waits for a DP's first frame (who it is) before it drops the link; default
   * the CP's `heartbeatTimeoutMs`. Kong's CP waits 5 s for `basic_info`.
   */
  readonly identifyTimeoutMs?: number;
  /** The CP's side. */
  readonly controlPlane: {
    /** A request this protocol cannot serve, refused before the upgrade; `undefined`: fine. */
    admit?(peer: PeerInfo): Admission | undefined;
    /**
     * Starts encoding a config for every DP of this protocol — called once per version,
     * before the config is hashed, so that compression can run meanwhile (in libuv's pool);
     * `seal` finishes it once the version and hash are known. A pending encoding is dropped
     * when the config turns out unchanged. `derivedFrom` is the previous version's config
     * when this one was made from it by `updateConfig`: the entities (objects) both hold are
     * unchanged, so an encoder may reuse what it made of them — except those in `fresh`, the
     * entities the update brought, which may be objects `derivedFrom` held, edited since.
     */
    encodeConfig(
      config: unknown,
      options?: {
        derivedFrom?: unknown;
        fresh?: ReadonlySet<unknown> | undefined;
        /** The same object as `open`'s `scope` for the same ControlPlane. */
        scope?: object;
      },
    ): PendingEncoding;
    /**
     * Encodes the change from the version hashed `base` to a newer one, for the links that
     * take deltas; `seal` gives a frame whose `base` is set. Called once per pair of versions,
     * shared by every DP on `base`. Optional: without it every DP gets whole configs.
     */
    encodeDelta?(delta: ConfigDelta, base: string): PendingEncoding;
    /**
     * How the DP `identity` is to receive configs, when it differs from the rest (an older
     * release); `undefined`: as every other DP of this protocol.
     */
    adaptFor?(
      identity: DataPlaneIdentity,
      context: { controlPlaneVersion: string },
    ): ConfigAdaptation | undefined;
    /**
     * How a peer whose certificate chain is not trusted is refused, when the transport asks
     * before the upgrade: Kong's nginx answers HTTP 400 in PKI mode, its Lua closes without
     * an answer in pinned mode. Default: HTTP 403.
     */
    untrusted?(mode: 'pinned' | 'pki'): { status?: number; silent?: boolean };
    /**
     * The CP's side of one DP's connection. `scope` stands for the ControlPlane calling (the
     * same object in its every call of `open` and `encodeConfig`, and another for another CP):
     * for an encoder that keeps state per CP when one protocol object serves several.
     */
    open(
      connection: Connection,
      context: { controlPlaneVersion: string; scope?: object },
    ): ControlPlaneLink;
  };
  /** The DP's side. */
  readonly dataPlane: {
    /** What this DP asks of the dial (path, query, subprotocol, pings). */
    dial(
      identity: Pick<DataPlaneIdentity, 'nodeId' | 'hostname' | 'version'>,
    ): Pick<ConnectOptions, 'request' | 'pings'>;
    open(connection: Connection): DataPlaneLink;
    /**
     * The hash a DP serves, stores and reports `config` under, when it is not Kong's `hash`
     * of it: Kong's DP uses 32 zeros for a config that holds only workspaces. Optional.
     */
    servedHash?(config: unknown, hash: string): string;
    /**
     * Whether the CP may send this DP a config adapted for its release under the original
     * config's hash (Kong's CP does, for an older DP): the DP then serves it under the CP's
     * hash, as Kong's DP does, where a mismatch is otherwise refused. Default `false`.
     */
    readonly acceptsAdaptedConfigs?: boolean;
  };
}

/**
 * What `protocol` needs that a transport with `features` lacks: what it `requires`, and what
 * `route` (its route, or what its dial asks for) takes — a path or a subprotocol needs a
 * request step, manual pings need control frames.
 */
export function missingFeatures(
  protocol: WireProtocol,
  features: TransportFeatures,
  route: Partial<Route> | undefined,
): string[] {
  const missing: string[] = [];
  const needsRequest =
    protocol.requires.request || route?.subprotocol !== undefined || route?.path !== undefined;
  if (needsRequest && !features.request) missing.push('request step (path, query, subprotocol)');
  const needsControl = protocol.requires.controlFrames || route?.pings === 'manual';
  if (needsControl && !features.controlFrames) missing.push('ping and pong control frames');
  return missing;
}
