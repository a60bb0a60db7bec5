import { AnalyticsAggregator, type AnalyticsSummary } from '../analytics/aggregator.ts';
import type { Clock } from '../clock.ts';
import type { AnalyticsInterval, SharedAnalytics } from '../cluster/contract.ts';
import type { AbortOptions } from '../transport/contract.ts';

/** Intervals kept while the state cannot take them: a day of minutes, then the oldest go. */
const MAX_PENDING = 1_440;

/**
 * One CP's side of the cluster's shared analytics: its aggregator's counts cut into intervals
 * (aligned to `intervalMs`; the first begins at the start), each written once to the state
 * after it ends — kept and written again while the state does not answer — and a summary of
 * every CP's intervals with this CP's unwritten ones.
 */
export class AnalyticsSharing {
  #start = 0;
  #end = 0;
  readonly #pending: AnalyticsInterval[] = [];
  /** Intervals dropped because the state did not take them for a day (told once each time). */
  lost = 0;

  constructor(
    private readonly aggregator: AnalyticsAggregator,
    private readonly shared: SharedAnalytics,
    private readonly clock: Clock,
    private readonly settings: { controlPlaneId: string; intervalMs: number },
  ) {}

  /** Starts the first interval now. */
  begin(): void {
    this.aggregator.takeInterval();
    const now = this.clock.now();
    this.#start = now;
    this.#end = this.#aligned(now) + this.settings.intervalMs;
  }

  /** Ends the current interval when its time is up (or now, with `force`: a CP stopping). */
  rotate(force = false): void {
    const now = this.clock.now();
    if (!force && now < this.#end) return;
    const counts = this.aggregator.takeInterval();
    if (counts) {
      this.#pending.push({
        controlPlaneId: this.settings.controlPlaneId,
        start: this.#start,
        counts,
      });
      if (this.#pending.length > MAX_PENDING) {
        this.#pending.shift();
        this.lost++;
      }
    }
    this.#start = force ? now : this.#aligned(now);
    this.#end = this.#aligned(now) + this.settings.intervalMs;
  }

  /**
   * Writes the ended intervals; they stay for the next call when the state fails (rethrown).
   * Resolves whether the state was asked at all (nothing pending: not).
   */
  async flush(options: AbortOptions = {}): Promise<boolean> {
    if (this.#pending.length === 0) return false;
    const batch = this.#pending.slice();
    await this.shared.write(batch, options);
    this.#pending.splice(0, batch.length);
    return true;
  }

  /**
   * Every CP's counts since `since`, this CP's current and unwritten intervals included (each
   * interval once: this CP's own in memory replace what the state read holds of them).
   */
  async summary(
    sinceAsked: number,
    options: AbortOptions & { maxKeys?: number } = {},
  ): Promise<AnalyticsSummary> {
    // Counts are kept per interval: from the start of the one `since` falls in.
    const since = this.#aligned(Math.max(0, sinceAsked));
    const read = await this.shared.read(since, options);
    const byKey = new Map(read.map((interval) => [key(interval), interval]));
    const current = this.aggregator.peekInterval();
    const own = current
      ? [
          ...this.#pending,
          { controlPlaneId: this.settings.controlPlaneId, start: this.#start, counts: current },
        ]
      : this.#pending;
    for (const interval of own) if (interval.start >= since) byKey.set(key(interval), interval);
    const intervals = [...byKey.values()];
    const first = intervals.reduce(
      (earliest, interval) => Math.min(earliest, interval.start),
      Infinity,
    );
    return AnalyticsAggregator.merge(
      intervals.map((interval) => interval.counts),
      {
        since: Number.isFinite(first) ? Math.max(first, since) : since,
        services: this.aggregator.serviceCount,
        ...(options.maxKeys !== undefined ? { maxKeys: options.maxKeys } : {}),
      },
    );
  }

  #aligned(now: number): number {
    return Math.floor(now / this.settings.intervalMs) * this.settings.intervalMs;
  }
}

function key(interval: AnalyticsInterval): string {
  return `${interval.controlPlaneId}\0${interval.start}`;
}
