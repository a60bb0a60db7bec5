import { randomUUID } from 'node:crypto';
import {
  type AnalyticsAggregator,
  type AnalyticsSummary,
  CountsMerger,
  mergeCounts,
} from '../analytics/aggregator.ts';
import type { Clock } from '../clock.ts';
import type { AnalyticsInterval, SharedAnalytics } from '../cluster/contract.ts';
import { compareKeys } from '../cluster/memory-state.ts';
import type { AbortOptions } from '../transport/contract.ts';

/**
 * Intervals kept apart while the state cannot take them. Past these, each interval that ends
 * is added into the newest one kept of its UTC day: an interval holds a fleet's names with
 * their latency buckets (tens of MB at 10 000 names), so an outage of any length keeps these
 * and one more a day — and a month's sum from a UTC midnight stays exact.
 */
const KEEP_APART = 15;
const DAY_MS = 86_400_000;
/** Intervals kept at most (a few years of daily ones past KEEP_APART); then the oldest go. */
const MAX_PENDING = 1_440;

/**
 * The most intervals one write carries: a retry during an outage serializes only these (not a
 * day of intervals, more than one statement or string can hold), and a backlog goes in turns.
 */
const MAX_PER_WRITE = 10;

/** Intervals a summary reads per call to the state: a month is read a page at a time. */
const READ_PAGE = 200;

/**
 * One CP's side of the cluster's shared analytics: its aggregator's counts cut into intervals
 * (aligned to `intervalMs`; the first begins at the start), each written once to the state
 * after it ends — kept and written again while the state does not answer — and a summary of
 * every CP's intervals with this CP's unwritten ones.
 */
export class AnalyticsSharing {
  #start = 0;
  #end = 0;
  /** This run's id (each `begin()` draws one): a restarted CP never overwrites its old rows. */
  #run = '';
  #pending: AnalyticsInterval[] = [];
  /** Intervals dropped because the state did not take them for a day (told once each time). */
  lost = 0;
  /** Whether the last write failed: the next one tries the oldest interval alone. */
  #failing = false;

  constructor(
    private readonly aggregator: AnalyticsAggregator,
    private readonly shared: SharedAnalytics,
    private readonly clock: Clock,
    private readonly settings: { controlPlaneId: string; intervalMs: number; maxKeys?: number },
  ) {}

  /** Starts the first interval now. */
  begin(): void {
    this.aggregator.takeInterval();
    this.#run = randomUUID();
    const now = this.clock.now();
    this.#start = now;
    this.#end = this.#aligned(now) + this.settings.intervalMs;
  }

  /** Ends the current interval when its time is up (or now, with `force`: a CP stopping). */
  rotate(force = false): void {
    const now = this.clock.now();
    if (!force && now < this.#end) return;
    const counts = this.aggregator.takeInterval();
    if (counts)
      this.#keep({
        controlPlaneId: this.settings.controlPlaneId,
        run: this.#run,
        start: this.#start,
        counts,
      });
    this.#start = force ? now : this.#aligned(now);
    this.#end = this.#aligned(now) + this.settings.intervalMs;
  }

  /** Keeps an ended interval until it is written: apart, or added into the newest kept. */
  #keep(interval: AnalyticsInterval): void {
    const last = this.#pending.at(-1);
    if (
      last &&
      this.#pending.length >= KEEP_APART &&
      Math.floor(last.start / DAY_MS) === Math.floor(interval.start / DAY_MS)
    ) {
      // A new object: a write of `last` under way leaves this one to be written after it.
      this.#pending[this.#pending.length - 1] = {
        ...last,
        counts: mergeCounts([last.counts, interval.counts], this.settings.maxKeys),
      };
      return;
    }
    this.#pending.push(interval);
    if (this.#pending.length > MAX_PENDING) {
      this.#pending.shift();
      this.lost++;
    }
  }

  /**
   * Writes the ended intervals, oldest first, a few per call to the state; those not written
   * stay for the next flush when the state fails (rethrown at once: one failed call per flush).
   * While the state fails, each flush tries the oldest interval alone: an outage costs a sync
   * one interval's serializing, whatever the backlog. Resolves whether the state was asked
   * at all (nothing kept: not).
   */
  async flush(options: AbortOptions = {}): Promise<boolean> {
    const asked = this.#pending.length > 0;
    while (this.#pending.length > 0) {
      const batch = this.#pending.slice(0, this.#failing ? 1 : MAX_PER_WRITE);
      try {
        await this.shared.write(batch, options);
      } catch (error) {
        this.#failing = true;
        throw error;
      }
      this.#failing = false;
      // Intervals ended meanwhile, or the oldest dropped, move the rest: these go by identity.
      this.#pending = this.#pending.filter((interval) => !batch.includes(interval));
    }
    return asked;
  }

  /**
   * Every CP's counts since `since`, this CP's current and unwritten intervals included (each
   * interval once: this CP's own in memory replace what the state holds of them). The state is
   * read a page at a time and each page summed before the next is read: a month of intervals
   * never sits in memory at once.
   */
  async summary(
    sinceAsked: number,
    options: AbortOptions & { maxKeys?: number } = {},
  ): Promise<AnalyticsSummary> {
    // Counts are kept per interval: from the start of the one `since` falls in.
    const since = this.#aligned(Math.max(0, sinceAsked));
    const current = this.aggregator.peekInterval();
    const own = (
      current
        ? [
            ...this.#pending,
            {
              controlPlaneId: this.settings.controlPlaneId,
              run: this.#run,
              start: this.#start,
              counts: current,
            },
          ]
        : this.#pending
    ).filter((interval) => interval.start >= since);
    const mine = new Set(own.map(key));
    const merger = new CountsMerger(options.maxKeys);
    let first = Number.POSITIVE_INFINITY;
    let after: AnalyticsInterval | undefined;
    for (;;) {
      const page = await this.shared.read(since, {
        ...(options.signal ? { signal: options.signal } : {}),
        ...(after ? { after } : {}),
        limit: READ_PAGE,
      });
      for (const interval of page) {
        // A state that ignores `after` must not loop: only keys past the last one count.
        if (after && compareKeys(interval, after) <= 0) continue;
        if (!mine.has(key(interval))) merger.add(interval.counts);
        first = Math.min(first, interval.start);
        after = interval;
      }
      if (page.length < READ_PAGE) break;
    }
    for (const interval of own) {
      merger.add(interval.counts);
      first = Math.min(first, interval.start);
    }
    return merger.summary(
      Number.isFinite(first) ? Math.max(first, since) : since,
      this.aggregator.serviceCount,
    );
  }

  #aligned(now: number): number {
    return Math.floor(now / this.settings.intervalMs) * this.settings.intervalMs;
  }
}

function key(interval: AnalyticsInterval): string {
  return `${interval.start}\0${interval.controlPlaneId}\0${interval.run}`;
}
