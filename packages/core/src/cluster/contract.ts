import type { AnalyticsCounts } from '../analytics/aggregator.ts';
import type { ConfigHashes } from '../config/snapshot.ts';
import type { DataPlaneStatus } from '../control-plane/data-plane-status.ts';
import type { AbortOptions } from '../transport/contract.ts';

/** One config version as every control plane sharing a {@link ClusterState} knows it. */
export interface SharedVersion<TConfig = unknown> {
  /** Its place in the one order every CP on the state shares (1, 2, …). */
  readonly version: number;
  /** Kong's config hash (`config_hash`). */
  readonly hash: string;
  readonly hashes: ConfigHashes;
  /** The config as validated by the CP that published it. */
  readonly config: TConfig;
  /** When it was published (ms since the epoch, the publishing CP's clock). */
  readonly publishedAt: number;
}

/** A config to publish: everything of a {@link SharedVersion} but its number. */
export type VersionCandidate<TConfig = unknown> = Omit<SharedVersion<TConfig>, 'version'>;

/**
 * What {@link ClusterState.publish} did, with the latest version after it:
 * - `published`: `candidate` is the new latest version;
 * - `unchanged`: the latest version already has the candidate's hash (nothing new);
 * - `conflict`: `ifLatest` was given and the latest version is another one (nothing new).
 */
export interface PublishOutcome<TConfig = unknown> {
  readonly outcome: 'published' | 'unchanged' | 'conflict';
  readonly latest: SharedVersion<TConfig>;
}

/** Options of {@link ClusterState.publish}. */
export interface PublishOptions extends AbortOptions {
  /**
   * Publish only while the latest version is this one (a change made from it, by
   * `updateConfig`); otherwise the outcome is `conflict`, and the change is made again
   * from the latest. `0`: only while nothing is published.
   */
  ifLatest?: number | undefined;
  /**
   * The new version is numbered above this too: the publishing CP's own latest. A state
   * behind the CP (restored from an older backup, or reset) goes on from the CP's numbers
   * rather than giving it a number DPs would take for an old version.
   */
  after?: number | undefined;
}

/** A DP's status record as the cluster shares it: with the CP that wrote it. */
export interface SharedDataPlaneStatus extends DataPlaneStatus {
  /** The control plane serving (or last serving) the DP: its `ControlPlane.id`. */
  controlPlaneId: string;
  /**
   * Set by `list`: how long ago the state stored this record, by the state's own clock — so
   * a CP whose clock is off still tells a live record from one a dead CP left behind.
   */
  storedAgoMs?: number | undefined;
}

/** Whether a {@link ClusterState} answers, as it last found out. */
export interface StateHealth {
  readonly available: boolean;
  /** Why not, when it does not (the driver's error). */
  readonly error?: unknown;
}

/**
 * The DP status records every CP of a cluster writes and reads, like Kong's
 * `clustering_data_planes` table.
 */
export interface SharedDataPlanes {
  /**
   * Writes these records, each replacing the one of its DP id when it comes from the same
   * CP, says the DP is connected, or — both disconnected — was seen later. So the CP a DP
   * left never shows it as gone over the CP serving it now, whatever their clocks say.
   */
  write(records: readonly SharedDataPlaneStatus[], options?: AbortOptions): Promise<void>;
  /**
   * Every record of the cluster; with `storedWithinMs`, those stored within that many ms by
   * the state's clock (a state may give more, never fewer): a CP reads what changed each
   * second and everything now and then.
   */
  list(options?: AbortOptions & { storedWithinMs?: number }): Promise<SharedDataPlaneStatus[]>;
  /**
   * Removes the records last seen before `before` (ms since the epoch) — a DP still
   * connected is seen at every heartbeat, so this spares it, and takes the records a CP that
   * died left marked connected. Resolves with how many went. Every CP may call it at once.
   */
  purge(before: number, options?: AbortOptions): Promise<number>;
  /**
   * Optional: the node-id rule across CPs. Writes `record` (a DP this CP is accepting,
   * connected, with its `certFingerprint`) and resolves `true` — unless the DP's record is
   * another CP's, says it is connected under another certificate, and was stored within
   * `liveMs` (its CP is alive): then it writes nothing and resolves `false`, and the CP
   * refuses the newcomer (`NODE_ID_IN_USE`). One atomic step: of two CPs claiming one node
   * id for two certificates at once, one gets it. A record with no fingerprint (written by a
   * CP that did not say) never refuses. Without it, the rule holds within each CP only.
   */
  claim?(
    record: SharedDataPlaneStatus,
    options: AbortOptions & { liveMs: number },
  ): Promise<boolean>;
}

/** What one CP counted over one interval of time, as the cluster shares it. */
export interface AnalyticsInterval extends AnalyticsIntervalKey {
  readonly counts: AnalyticsCounts;
}

/** What identifies an {@link AnalyticsInterval}, and orders them: `start`, then the rest. */
export interface AnalyticsIntervalKey {
  /**
   * When the interval began (ms since the epoch): a multiple of the interval's length, or
   * the CP's start when it started within one.
   */
  readonly start: number;
  /** The CP that counted it: its `ControlPlane.id`. */
  readonly controlPlaneId: string;
  /**
   * The CP's run: a random id each `start()` draws, so a CP restarted under its id (on a
   * clock behind the old one's, say) never replaces what it wrote before.
   */
  readonly run: string;
}

/**
 * The traffic and billing counters every CP of a cluster writes once per interval (a minute
 * by default) and any CP reads, so that one CP's summary covers the fleet.
 */
export interface SharedAnalytics {
  /** Writes these intervals, each replacing any earlier write of its key (a retry). */
  write(intervals: readonly AnalyticsInterval[], options?: AbortOptions): Promise<void>;
  /**
   * Every CP's intervals that began at or after `since` (ms since the epoch), ordered by
   * their key (`start`, `controlPlaneId`, `run`): with `after`, those past that key; with
   * `limit`, at most that many — a summary of a month reads it a page at a time.
   */
  read(
    since: number,
    options?: AbortOptions & { after?: AnalyticsIntervalKey; limit?: number },
  ): Promise<AnalyticsInterval[]>;
  /** Removes the intervals that began before `before`; resolves with how many went. */
  purge(before: number, options?: AbortOptions): Promise<number>;
}

/**
 * What the control planes of one cluster share: today the config versions — one order of
 * versions, the latest config, and a feed of new versions. With the embedded default
 * (`memoryClusterState()`, made by each ControlPlane given none) that is one CP's memory:
 * nothing to set up, and a CP restart starts again at version 1. A state kept in a database
 * (`@planesync/cluster-postgres`) lets several CPs serve one fleet: a `setConfig` on any of
 * them reaches the DPs of all, and a restarted CP serves the latest config at once.
 * `clusterStateConformance` from `@planesync/core/testing` checks every rule below.
 *
 * @example
 * ```ts
 * import { ControlPlane, memoryClusterState } from '@planesync/core';
 * declare const options: import('@planesync/core').ControlPlaneOptions;
 * const state = memoryClusterState(); // two CPs in one process, sharing their versions
 * const a = new ControlPlane({ ...options, state });
 * const b = new ControlPlane({ ...options, state });
 * ```
 */
export interface ClusterState {
  /**
   * Optional: readies the state before anything else (a database's schema, its
   * notifications). `ControlPlane.start` calls it; it may be called again (a no-op then).
   */
  open?(options?: AbortOptions): Promise<void>;
  /** The latest version any CP published; `undefined` when none was. */
  latest(options?: AbortOptions): Promise<SharedVersion | undefined>;
  /**
   * Makes `candidate` the next version, numbered in the one order every CP on this state
   * shares — unless the latest version already has its hash (`unchanged`) or, with
   * `ifLatest`, the latest is another version (`conflict`). Two CPs publishing at once both
   * get a number, one after the other, and the later is the latest.
   */
  publish(candidate: VersionCandidate, options?: PublishOptions): Promise<PublishOutcome>;
  /**
   * Calls `listener` with versions published after this call, by any CP (this one's
   * included), in increasing order. Only the newest matters to a CP, so a listener may be
   * spared versions already superseded, but never the latest: once publishing stops, its
   * last call is the latest version. Returns the function that stops the calls. A listener
   * that throws changes nothing for the others.
   */
  watch(listener: (version: SharedVersion) => void): () => void;
  /**
   * Optional: the most recent versions, oldest first, at most `limit` of them (the latest
   * included). A CP that starts reads them into its delta history, so a DP on a recent
   * version gets a delta after a CP restart, or from another CP, too. Without it, a started
   * CP sends whole configs to DPs that are behind until its own history fills.
   */
  recent?(limit: number, options?: AbortOptions): Promise<SharedVersion[]>;
  /**
   * Optional: the DP status records every CP writes (about once a second, the records that
   * changed) and reads, so that any CP lists the whole fleet. Without it, each CP lists its
   * own DPs only.
   */
  readonly dataPlanes?: SharedDataPlanes;
  /**
   * Optional: the traffic and billing counters of every CP, per interval; with it
   * `ControlPlane.clusterAnalytics()` sums the fleet's. Without it, each CP counts its own DPs'
   * traffic only.
   */
  readonly analytics?: SharedAnalytics;
  /**
   * Optional: calls `listener` when the state finds it can no longer reach its store, and when
   * it can again (a database's periodic read failing, then answering). The CP shows it in
   * `stateHealth` beside what its own calls find. Returns the function that stops the calls.
   */
  watchHealth?(listener: (health: StateHealth) => void): () => void;
}
