/** A histogram as plain data, in Prometheus's shape: cumulative counts per upper bound. */
export interface HistogramData {
  /** The upper bounds of the buckets, increasing (the last bucket, `+Inf`, is `count`). */
  readonly bounds: readonly number[];
  /** How many observations were at most each bound (cumulative, as Prometheus's `le`). */
  readonly counts: readonly number[];
  /** Every observation, and their sum. */
  readonly count: number;
  readonly sum: number;
}

/** The buckets of the push-to-answer latency, in ms: from 5 ms to the 30 s ack timeout. */
export const PUSH_LATENCY_BUCKETS_MS: readonly number[] = [
  5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000,
];

/** The buckets of a DP's apply duration, in ms: from 1 ms to a 10 s apply of a huge config. */
export const APPLY_DURATION_BUCKETS_MS: readonly number[] = [
  1, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 10_000,
];

/** Fixed buckets, counted as observations come; read as {@link HistogramData}. */
export class Histogram {
  readonly #counts: number[];
  #count = 0;
  #sum = 0;

  constructor(readonly bounds: readonly number[]) {
    this.#counts = bounds.map(() => 0);
  }

  observe(value: number): void {
    if (!Number.isFinite(value) || value < 0) return;
    // Cumulative from the first bound that holds it: reads need no summing.
    for (let i = this.bounds.length - 1; i >= 0 && value <= this.bounds[i]!; i--)
      this.#counts[i]!++;
    this.#count++;
    this.#sum += value;
  }

  data(): HistogramData {
    return { bounds: this.bounds, counts: [...this.#counts], count: this.#count, sum: this.#sum };
  }
}
