/** Relative width of a bucket: quantiles are exact to within 2 %. */
const GROWTH = Math.log(1.02);
/** The bucket of the largest latency the CP counts (an hour), with room to spare. */
const MAX_INDEX = 2_000;

/** The bucket a latency (in ms) counts in: the histogram's index for it. */
export function latencyBucket(latencyMs: number): number {
  return latencyMs <= 0 ? 0 : Math.ceil(Math.log1p(latencyMs) / GROWTH);
}

/**
 * A mergeable latency histogram with logarithmic buckets (2 % wide): constant memory per
 * distinct magnitude, and two histograms merge by adding counts — so per-DP figures add up to
 * cluster figures.
 */
export class LatencyHistogram {
  readonly #buckets = new Map<number, number>();
  #count = 0;

  get count(): number {
    return this.#count;
  }

  add(latencyMs: number, times = 1): void {
    this.addBucket(latencyBucket(latencyMs), times);
  }

  /** Counts `times` latencies in bucket `index` ({@link latencyBucket}). */
  addBucket(index: number, times = 1): void {
    this.#buckets.set(index, (this.#buckets.get(index) ?? 0) + times);
    this.#count += times;
  }

  merge(other: LatencyHistogram): void {
    for (const [index, count] of other.#buckets) {
      this.#buckets.set(index, (this.#buckets.get(index) ?? 0) + count);
      this.#count += count;
    }
  }

  /** The counts by bucket index, as plain data ({@link addBuckets} takes them back). */
  buckets(): Record<string, number> {
    return Object.fromEntries(this.#buckets);
  }

  /**
   * Adds counts by bucket index, as {@link buckets} gives them — read from elsewhere (another
   * CP's counts in a database), so an index or a count that is not a whole number ≥ 0 is
   * skipped.
   */
  addBuckets(buckets: Readonly<Record<string, number>>): void {
    for (const [key, count] of Object.entries(buckets)) {
      const index = Number(key);
      if (!Number.isSafeInteger(index) || index < 0 || index > MAX_INDEX) continue;
      if (!Number.isSafeInteger(count) || count <= 0) continue;
      this.#buckets.set(
        index,
        Math.min((this.#buckets.get(index) ?? 0) + count, Number.MAX_SAFE_INTEGER),
      );
      this.#count = Math.min(this.#count + count, Number.MAX_SAFE_INTEGER);
    }
  }

  /** The latency at quantile `q` (0–1): the upper edge of the bucket holding it. */
  quantile(q: number): number {
    if (this.#count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.#count));
    let seen = 0;
    for (const index of [...this.#buckets.keys()].sort((a, b) => a - b)) {
      seen += this.#buckets.get(index)!;
      if (seen >= rank) return index === 0 ? 0 : Math.expm1(index * GROWTH);
    }
    return 0;
  }
}
