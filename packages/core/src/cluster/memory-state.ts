import { type Clock, systemClock } from '../clock.ts';
import { throwIfAborted } from '../errors.ts';
import type { AbortOptions } from '../transport/contract.ts';
import type {
  AnalyticsInterval,
  AnalyticsIntervalKey,
  ClusterState,
  PublishOptions,
  PublishOutcome,
  SharedAnalytics,
  SharedDataPlaneStatus,
  SharedDataPlanes,
  SharedVersion,
  VersionCandidate,
} from './contract.ts';

/**
 * The embedded {@link ClusterState}: versions in this process's memory. Each ControlPlane
 * given no `state` makes its own — one CP, as before there was a choice. Several
 * ControlPlanes given the same one share their versions, as CPs on one database do (tests
 * and single-process setups).
 *
 * @example
 * ```ts
 * import { memoryClusterState } from '@planesync/core';
 * const state = memoryClusterState();
 * ```
 */
export function memoryClusterState(options: MemoryClusterStateOptions = {}): MemoryClusterState {
  return new MemoryClusterState(options);
}

/** Options of {@link memoryClusterState}. */
export interface MemoryClusterStateOptions {
  /**
   * The clock that says when a DP record was stored (`storedAgoMs`); default the system's.
   * Tests give the CPs' fake clock, so a record ages as fake time passes.
   */
  clock?: Clock;
}

/** The state {@link memoryClusterState} returns. */
export class MemoryClusterState implements ClusterState {
  #latest: SharedVersion | undefined;
  readonly #listeners = new Set<(version: SharedVersion) => void>();

  async latest(options: AbortOptions = {}): Promise<SharedVersion | undefined> {
    throwIfAborted(options.signal);
    return this.#latest;
  }

  async publish(
    candidate: VersionCandidate,
    options: PublishOptions = {},
  ): Promise<PublishOutcome> {
    throwIfAborted(options.signal);
    const latest = this.#latest;
    if (latest && options.ifLatest !== undefined && latest.version !== options.ifLatest)
      return { outcome: 'conflict', latest };
    if (latest && latest.hash === candidate.hash) return { outcome: 'unchanged', latest };
    const published: SharedVersion = {
      version: Math.max(latest?.version ?? 0, options.after ?? 0) + 1,
      hash: candidate.hash,
      hashes: candidate.hashes,
      config: candidate.config,
      publishedAt: candidate.publishedAt,
    };
    this.#latest = published;
    // Listeners hear of it apart from this call, as a database's notifications arrive.
    queueMicrotask(() => {
      for (const listener of [...this.#listeners]) {
        try {
          listener(published);
        } catch {
          // One listener's failure is its own.
        }
      }
    });
    return { outcome: 'published', latest: published };
  }

  /** The DP records of the CPs sharing this state. */
  readonly dataPlanes: SharedDataPlanes;

  constructor(options: MemoryClusterStateOptions = {}) {
    this.dataPlanes = new MemoryDataPlanes(options.clock ?? systemClock);
  }

  /** The traffic counters of the CPs sharing this state, per interval. */
  readonly analytics: SharedAnalytics = new MemoryAnalytics();

  watch(listener: (version: SharedVersion) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

/** DP records in memory, for CPs of one process sharing a {@link MemoryClusterState}. */
class MemoryDataPlanes implements SharedDataPlanes {
  readonly #records = new Map<string, { record: SharedDataPlaneStatus; storedAt: number }>();

  constructor(private readonly clock: Clock) {}

  async write(
    records: readonly SharedDataPlaneStatus[],
    options: AbortOptions = {},
  ): Promise<void> {
    throwIfAborted(options.signal);
    for (const record of records) {
      const kept = this.#records.get(record.id)?.record;
      if (kept && !replaces(record, kept)) continue;
      const { storedAgoMs: _age, ...stored } = record;
      this.#records.set(record.id, {
        record: { ...stored, labels: { ...record.labels } },
        storedAt: this.clock.now(),
      });
    }
  }

  async list(
    options: AbortOptions & { storedWithinMs?: number } = {},
  ): Promise<SharedDataPlaneStatus[]> {
    throwIfAborted(options.signal);
    const now = this.clock.now();
    const within = options.storedWithinMs ?? Number.POSITIVE_INFINITY;
    return [...this.#records.values()]
      .filter(({ storedAt }) => now - storedAt <= within)
      .map(({ record, storedAt }) => ({
        ...record,
        labels: { ...record.labels },
        storedAgoMs: now - storedAt,
      }));
  }

  async claim(
    record: SharedDataPlaneStatus,
    options: AbortOptions & { liveMs: number },
  ): Promise<boolean> {
    throwIfAborted(options.signal);
    const kept = this.#records.get(record.id);
    if (
      kept &&
      heldElsewhere(record, kept.record, this.clock.now() - kept.storedAt, options.liveMs)
    )
      return false;
    await this.write([{ ...record, connected: true }]);
    return true;
  }

  async purge(before: number, options: AbortOptions = {}): Promise<number> {
    throwIfAborted(options.signal);
    let purged = 0;
    for (const [id, { record }] of this.#records) {
      if (record.lastSeen >= before) continue;
      this.#records.delete(id);
      purged++;
    }
    return purged;
  }
}

/** The write rule of {@link SharedDataPlanes.write}. */
function replaces(record: SharedDataPlaneStatus, kept: SharedDataPlaneStatus): boolean {
  return (
    record.controlPlaneId === kept.controlPlaneId ||
    record.connected ||
    (!kept.connected && kept.lastSeen <= record.lastSeen)
  );
}

/** The refusal rule of {@link SharedDataPlanes.claim}. */
function heldElsewhere(
  record: SharedDataPlaneStatus,
  kept: SharedDataPlaneStatus,
  storedAgoMs: number,
  liveMs: number,
): boolean {
  return (
    kept.connected &&
    kept.controlPlaneId !== record.controlPlaneId &&
    kept.certFingerprint !== undefined &&
    kept.certFingerprint !== record.certFingerprint &&
    storedAgoMs <= liveMs
  );
}

/** Analytics intervals in memory, for CPs of one process sharing a {@link MemoryClusterState}. */
class MemoryAnalytics implements SharedAnalytics {
  readonly #intervals = new Map<string, AnalyticsInterval>();

  async write(intervals: readonly AnalyticsInterval[], options: AbortOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    for (const interval of intervals)
      this.#intervals.set(
        `${interval.start}\0${interval.controlPlaneId}\0${interval.run}`,
        structuredClone(interval),
      );
  }

  async read(
    since: number,
    options: AbortOptions & { after?: AnalyticsIntervalKey; limit?: number } = {},
  ): Promise<AnalyticsInterval[]> {
    throwIfAborted(options.signal);
    const { after } = options;
    return [...this.#intervals.values()]
      .filter((interval) => interval.start >= since && (!after || compareKeys(interval, after) > 0))
      .sort(compareKeys)
      .slice(0, options.limit ?? Number.POSITIVE_INFINITY)
      .map((interval) => structuredClone(interval));
  }

  async purge(before: number, options: AbortOptions = {}): Promise<number> {
    throwIfAborted(options.signal);
    let purged = 0;
    for (const [key, interval] of this.#intervals) {
      if (interval.start >= before) continue;
      this.#intervals.delete(key);
      purged++;
    }
    return purged;
  }
}

/**
 * The order of {@link AnalyticsIntervalKey}s a `SharedAnalytics.read` pages by: start, then
 * the CP's id, then the run, text in UTF-8 byte order (PostgreSQL's `COLLATE "C"`).
 */
export function compareKeys(a: AnalyticsIntervalKey, b: AnalyticsIntervalKey): number {
  if (a.start !== b.start) return a.start - b.start;
  return (
    Buffer.compare(Buffer.from(a.controlPlaneId), Buffer.from(b.controlPlaneId)) ||
    Buffer.compare(Buffer.from(a.run), Buffer.from(b.run))
  );
}
