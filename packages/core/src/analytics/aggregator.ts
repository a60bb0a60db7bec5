import type { Clock } from '../clock.ts';
import { InvalidArgumentError } from '../errors.ts';
import type { TelemetryBatch } from '../protocol/messages.ts';
import { LatencyHistogram, latencyBucket } from './latency-histogram.ts';
import { columnsOf, type RecordColumns } from './record-columns.ts';

/** Traffic figures for one service, route or consumer. */
export interface TrafficStats {
  requests: number;
  /** Requests by status class: `2xx`, `4xx`, … */
  statusClasses: Record<string, number>;
  latencyMs: { p50: number; p95: number; p99: number };
  requestBytes: number;
  responseBytes: number;
}

/** What the CP knows of the cluster's traffic since `since`. */
export interface AnalyticsSummary {
  since: number;
  total: TrafficStats;
  services: Record<string, TrafficStats>;
  routes: Record<string, TrafficStats>;
  consumers: Record<string, TrafficStats>;
  /** Records the DPs dropped from full buffers (reported with their batches). */
  dropped: number;
  /**
   * Records counted under `(other)` because their service, route or consumer arrived after
   * `maxKeys` distinct names of that kind were already counted.
   */
  folded: { services: number; routes: number; consumers: number };
  billing: {
    /** Gateway Services in the current config. */
    services: number;
    /** API calls in total and per DP. */
    apiCalls: number;
    apiCallsByDataPlane: Record<string, number>;
  };
}

/** Latencies above an hour are counted as an hour: a histogram never reports 1e308 ms. */
const MAX_LATENCY_MS = 3_600_000;

/** A sum that stops at the largest safe integer instead of losing precision. */
function addClamped(total: number, value: number): number {
  return Math.min(total + value, Number.MAX_SAFE_INTEGER);
}

/** A count read from elsewhere: a whole number ≥ 0, else 0. */
function count(value: unknown): number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : 0;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The entries of a plain object read from elsewhere (none when it is not one). */
function entries(value: unknown): Array<[string, unknown]> {
  return isRecord(value) ? Object.entries(value) : [];
}

const STATUS_CLASS = /^[1-9]xx$/;

/** The index of a status's class: 2 for 2xx; 0 (not counted by class) outside 100–999. */
function statusClass(status: number): number {
  const klass = (status / 100) | 0;
  return klass >= 1 && klass <= 9 ? klass : 0;
}

class Accumulator {
  requests = 0;
  /** Requests by status class, by the class's digit: `[(none), 1xx, 2xx, …, 9xx]`. */
  readonly classes: number[] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
  latency = new LatencyHistogram();
  requestBytes = 0;
  responseBytes = 0;

  /** One request: its status class, latency bucket and byte counts (0 when it has none). */
  addOne(klass: number, bucket: number, requestBytes: number, responseBytes: number): void {
    this.requests++;
    this.classes[klass]!++;
    this.latency.addBucket(bucket);
    this.requestBytes = addClamped(this.requestBytes, requestBytes);
    this.responseBytes = addClamped(this.responseBytes, responseBytes);
  }

  statusClasses(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let klass = 1; klass < 10; klass++)
      if (this.classes[klass]! > 0) out[`${klass}xx`] = this.classes[klass]!;
    return out;
  }

  counts(): TrafficCounts {
    return {
      requests: this.requests,
      statusClasses: this.statusClasses(),
      latencyBuckets: this.latency.buckets(),
      requestBytes: this.requestBytes,
      responseBytes: this.responseBytes,
    };
  }

  /** Adds counts read from elsewhere: what is not a count is skipped. */
  addCounts(counts: TrafficCounts): void {
    this.requests = addClamped(this.requests, count(counts.requests));
    for (const [klass, n] of entries(counts.statusClasses))
      if (STATUS_CLASS.test(klass) && count(n) > 0) {
        const digit = Number(klass[0]);
        this.classes[digit] = addClamped(this.classes[digit]!, count(n));
      }
    if (isRecord(counts.latencyBuckets)) this.latency.addBuckets(counts.latencyBuckets);
    this.requestBytes = addClamped(this.requestBytes, count(counts.requestBytes));
    this.responseBytes = addClamped(this.responseBytes, count(counts.responseBytes));
  }

  stats(): TrafficStats {
    return {
      requests: this.requests,
      statusClasses: this.statusClasses(),
      latencyMs: {
        p50: this.latency.quantile(0.5),
        p95: this.latency.quantile(0.95),
        p99: this.latency.quantile(0.99),
      },
      requestBytes: this.requestBytes,
      responseBytes: this.responseBytes,
    };
  }
}

/**
 * What the counting of a slice of records needs of each, worked out once for the tallies and
 * the series that count it: its status class, its latency bucket, its byte counts (0 for none).
 */
interface Prepared {
  readonly columns: RecordColumns;
  readonly from: number;
  readonly to: number;
  readonly classes: Uint8Array;
  readonly buckets: Uint16Array;
  readonly requestBytes: Float64Array;
  readonly responseBytes: Float64Array;
}

function prepare(columns: RecordColumns, from: number, to: number): Prepared {
  const n = to - from;
  const classes = new Uint8Array(n);
  const buckets = new Uint16Array(n);
  const requestBytes = new Float64Array(n);
  const responseBytes = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    classes[i] = statusClass(columns.status[from + i]!);
    buckets[i] = latencyBucket(Math.min(columns.latencyMs[from + i]!, MAX_LATENCY_MS));
    const request = columns.requestBytes[from + i]!;
    const response = columns.responseBytes[from + i]!;
    requestBytes[i] = Number.isNaN(request) ? 0 : request;
    responseBytes[i] = Number.isNaN(response) ? 0 : response;
  }
  return { columns, from, to, classes, buckets, requestBytes, responseBytes };
}

/** Traffic counts of one service, route or consumer as plain data: they merge by adding. */
export interface TrafficCounts {
  requests: number;
  statusClasses: Record<string, number>;
  /** The latency histogram: counts by bucket index (buckets 2 % wide). */
  latencyBuckets: Record<string, number>;
  requestBytes: number;
  responseBytes: number;
}

/**
 * What a CP counted over some time, as plain data: CPs of a cluster share their counts per
 * interval this way (`SharedAnalytics`), and any CP merges them into one summary.
 */
export interface AnalyticsCounts {
  total: TrafficCounts;
  services: Record<string, TrafficCounts>;
  routes: Record<string, TrafficCounts>;
  consumers: Record<string, TrafficCounts>;
  dropped: number;
  folded: { services: number; routes: number; consumers: number };
  apiCallsByDataPlane: Record<string, number>;
}

type Kind = 'services' | 'routes' | 'consumers';
const KINDS: readonly Kind[] = ['services', 'routes', 'consumers'];

/**
 * Counts over one span of time: totals, by name (at most `maxKeys` names of each kind, the
 * rest under `(other)`), drops and API calls by DP.
 */
class Tally {
  total = new Accumulator();
  readonly by = {
    services: new Map<string, Accumulator>(),
    routes: new Map<string, Accumulator>(),
    consumers: new Map<string, Accumulator>(),
  };
  readonly folded = { services: 0, routes: 0, consumers: 0 };
  readonly calls = new Map<string, number>();
  dropped = 0;
  /** Whether anything was counted. */
  touched = false;
  /**
   * The names of each batch being counted, resolved for this tally: kept across its slices
   * (names only ever join a tally's maps, so a name resolved stays resolved), let go with it.
   */
  readonly #resolved = new WeakMap<RecordColumns, readonly [Resolved, Resolved, Resolved]>();

  constructor(private readonly maxKeys: number) {}

  add(nodeId: string, slice: Prepared, dropped: number): void {
    const { columns, from, to } = slice;
    if (to === from && dropped === 0) return;
    this.touched = true;
    this.dropped = addClamped(this.dropped, dropped);
    // Each name of the batch is looked up once, not once per record — nor once per slice: a
    // slice's cost must not grow with the whole batch's names (100 000 records may name 300 000).
    let resolved = this.#resolved.get(columns);
    if (!resolved) {
      const names = columns.names;
      resolved = [
        new Resolved(this, 'services', names),
        new Resolved(this, 'routes', names),
        new Resolved(this, 'consumers', names),
      ];
      this.#resolved.set(columns, resolved);
    }
    const [services, routes, consumers] = resolved;
    const { classes, buckets, requestBytes, responseBytes } = slice;
    for (let i = 0; i < to - from; i++) {
      const klass = classes[i]!;
      const bucket = buckets[i]!;
      const request = requestBytes[i]!;
      const response = responseBytes[i]!;
      this.total.addOne(klass, bucket, request, response);
      const service = columns.service[from + i]!;
      if (service !== 0) services.get(service)?.addOne(klass, bucket, request, response);
      const route = columns.route[from + i]!;
      if (route !== 0) routes.get(route)?.addOne(klass, bucket, request, response);
      const consumer = columns.consumer[from + i]!;
      if (consumer !== 0) consumers.get(consumer)?.addOne(klass, bucket, request, response);
    }
    this.addCalls(nodeId, to - from);
  }

  addCalls(nodeId: string, calls: number): void {
    const caller = this.calls.has(nodeId) || this.calls.size < this.maxKeys ? nodeId : OTHER_KEY;
    this.calls.set(caller, addClamped(this.calls.get(caller) ?? 0, calls));
  }

  /** Adds counts read from elsewhere (another CP's, through a database): checked as they go. */
  addCounts(counts: AnalyticsCounts): void {
    if (!isRecord(counts)) return;
    this.touched = true;
    if (isRecord(counts.total)) this.total.addCounts(counts.total as unknown as TrafficCounts);
    for (const kind of KINDS) {
      for (const [name, traffic] of entries(counts[kind]))
        if (isRecord(traffic))
          // Folded here: its records (those of another CP's (other) were counted there).
          this.bucket(kind, name, name === OTHER_KEY ? 0 : count(traffic.requests)).addCounts(
            traffic as unknown as TrafficCounts,
          );
      const folded = isRecord(counts.folded) ? count(counts.folded[kind]) : 0;
      this.folded[kind] = addClamped(this.folded[kind], folded);
    }
    for (const [nodeId, calls] of entries(counts.apiCallsByDataPlane))
      if (count(calls) > 0) this.addCalls(nodeId, count(calls));
    this.dropped = addClamped(this.dropped, count(counts.dropped));
  }

  counts(): AnalyticsCounts {
    const table = (map: Map<string, Accumulator>) =>
      Object.fromEntries([...map].map(([name, accumulator]) => [name, accumulator.counts()]));
    return {
      total: this.total.counts(),
      services: table(this.by.services),
      routes: table(this.by.routes),
      consumers: table(this.by.consumers),
      dropped: this.dropped,
      folded: { ...this.folded },
      apiCallsByDataPlane: Object.fromEntries(this.calls),
    };
  }

  summary(since: number, services: number): AnalyticsSummary {
    const table = (map: Map<string, Accumulator>) =>
      Object.fromEntries([...map].map(([name, accumulator]) => [name, accumulator.stats()]));
    return {
      since,
      total: this.total.stats(),
      services: table(this.by.services),
      routes: table(this.by.routes),
      consumers: table(this.by.consumers),
      dropped: this.dropped,
      folded: { ...this.folded },
      billing: {
        services,
        apiCalls: this.total.requests,
        apiCallsByDataPlane: Object.fromEntries(this.calls),
      },
    };
  }

  /** Whether records of `name` would count under (other): a new name, and `maxKeys` reached. */
  wouldFold(kind: Kind, name: string): boolean {
    const map = this.by[kind];
    return map.size >= this.maxKeys && !map.has(name);
  }

  /** Counts one record folded into (other). */
  fold(kind: Kind): void {
    this.folded[kind] = addClamped(this.folded[kind], 1);
  }

  /** The accumulator of `name`, or of (other) past `maxKeys`: then `records` are counted folded. */
  bucket(kind: Kind, name: string, records = 1): Accumulator {
    const map = this.by[kind];
    let accumulator = map.get(name);
    if (accumulator) return accumulator;
    if (map.size >= this.maxKeys) {
      this.folded[kind] = addClamped(this.folded[kind], records);
      name = OTHER_KEY;
      accumulator = map.get(name);
      if (accumulator) return accumulator;
    }
    accumulator = new Accumulator();
    map.set(name, accumulator);
    return accumulator;
  }
}

/** A batch's names resolved to a tally's accumulators of one kind, each name once. */
class Resolved {
  readonly #found: Array<Accumulator | null | undefined>;
  /** Names folded into (other): each of their records is counted as folded. */
  readonly #folded: Uint8Array;

  constructor(
    private readonly tally: Tally,
    private readonly kind: Kind,
    private readonly names: readonly string[],
  ) {
    this.#found = new Array(names.length + 1);
    this.#folded = new Uint8Array(names.length + 1);
  }

  /** The accumulator of name `index` (from 1); undefined for an empty name, as JSON's records skip it. */
  get(index: number): Accumulator | undefined {
    let found = this.#found[index];
    if (found === undefined) {
      const name = this.names[index - 1] ?? '';
      if (name === '') found = null;
      else {
        if (this.tally.wouldFold(this.kind, name)) this.#folded[index] = 1;
        found = this.tally.bucket(this.kind, name, 0);
      }
      this.#found[index] = found;
    }
    if (this.#folded[index] === 1) this.tally.fold(this.kind);
    return found ?? undefined;
  }
}

/** Options of an {@link AnalyticsAggregator}. */
export interface AnalyticsAggregatorOptions {
  /**
   * Distinct services, routes, consumers (and DPs, for billing) counted by name, each; past
   * it, records are counted under `(other)` and in `folded`. Default 10 000.
   */
  maxKeys?: number;
  /** A DP record stream that sends nothing for this long is forgotten. Default 1 hour. */
  streamTtlMs?: number;
  /** The most DP record streams remembered for de-duplication. Default 100 000. */
  maxStreams?: number;
  /**
   * Minutes of the per-minute traffic series ({@link AnalyticsAggregator.series}): the last
   * hour by default; 0 keeps none.
   */
  seriesMinutes?: number;
}

/** The cluster's traffic in one minute, as {@link AnalyticsAggregator.series} gives it. */
export interface TrafficPoint {
  /** The minute's start (ms since the epoch, a whole minute). */
  start: number;
  requests: number;
  /** Requests by status class: `2xx`, `4xx`, … */
  statusClasses: Record<string, number>;
  latencyMs: { p50: number; p95: number; p99: number };
}

const MINUTE_MS = 60_000;

/**
 * Traffic per minute over the last `minutes`, by when each request happened (the DP's `at`):
 * a request dated outside the window (a DP clock far off) counts in the minute it arrived.
 * One slot per minute, reused: memory is bounded by `minutes` whatever arrives.
 */
class MinuteSeries {
  readonly #slots: Array<{ minute: number; traffic: Accumulator } | undefined>;

  constructor(private readonly minutes: number) {
    this.#slots = new Array(minutes);
  }

  add(slice: Prepared, now: number): void {
    const nowMinute = Math.floor(now / MINUTE_MS);
    const oldest = nowMinute - this.minutes + 1;
    const { columns, from, classes, buckets, requestBytes, responseBytes } = slice;
    let last: { minute: number; traffic: Accumulator } | undefined;
    for (let i = 0; i < slice.to - from; i++) {
      let minute = Math.floor(columns.at[from + i]! / MINUTE_MS);
      if (!(minute >= oldest && minute <= nowMinute)) minute = nowMinute;
      // Records of a batch mostly share their minute: the slot found last is tried first.
      if (last?.minute !== minute) last = this.#slot(minute);
      last.traffic.addOne(classes[i]!, buckets[i]!, requestBytes[i]!, responseBytes[i]!);
    }
  }

  points(now: number): TrafficPoint[] {
    const nowMinute = Math.floor(now / MINUTE_MS);
    const oldest = nowMinute - this.minutes + 1;
    // A clock set back leaves minutes after now: they have not happened, by this clock.
    return this.#slots
      .filter((slot) => slot !== undefined && slot.minute >= oldest && slot.minute <= nowMinute)
      .sort((a, b) => a!.minute - b!.minute)
      .map((slot) => {
        const { requests, statusClasses, latencyMs } = slot!.traffic.stats();
        return { start: slot!.minute * MINUTE_MS, requests, statusClasses, latencyMs };
      });
  }

  #slot(minute: number): { minute: number; traffic: Accumulator } {
    const index = ((minute % this.minutes) + this.minutes) % this.minutes;
    let slot = this.#slots[index];
    if (slot?.minute !== minute) {
      slot = { minute, traffic: new Accumulator() };
      this.#slots[index] = slot;
    }
    return slot;
  }
}

/** The bucket of records past `maxKeys` distinct names. */
export const OTHER_KEY = '(other)';

/**
 * Counts records `from` to `to` of `columns` into `aggregator` (`batch.firstSeq` the number of
 * record `from`, `batch.dropped` reported with them); returns the index of the first record not
 * counted before (`to` when all were). The CP's path for a batch as columns: not a method, so
 * the columns stay out of the public API.
 */
export let ingestColumns: (
  aggregator: AnalyticsAggregator,
  nodeId: string,
  batch: Pick<TelemetryBatch, 'stream' | 'firstSeq' | 'dropped'>,
  columns: RecordColumns,
  from: number,
  to: number,
) => number;

/**
 * The CP's built-in analytics: traffic by Gateway Service, Route and consumer (count, status
 * classes, latency p50/p95/p99 from a mergeable histogram, bytes) and billing counters
 * (services in the config, API calls per DP and in total) since a given time — the spec's
 * "Analytics tracks aggregate traffic by Gateway Service, Route, and the consuming
 * application. For billing, … the number of Gateway Services, API calls".
 *
 * A batch resent after a lost acknowledgement is counted once: each DP stream's records are
 * numbered, and numbers already counted are skipped. Memory is bounded whatever the DPs send:
 * at most `maxKeys` names of each kind (the rest fold into `(other)`), streams forgotten after
 * `streamTtlMs`, counters that stop at the largest safe integer, latencies counted up to an
 * hour.
 */
export class AnalyticsAggregator {
  #since: number;
  #tally: Tally;
  /** The counts of the current interval, while intervals are kept ({@link takeInterval}). */
  #interval: Tally | undefined;
  #services = 0;
  /** Records the DPs reported dropped, each report once, since the aggregator was made. */
  #droppedEver = 0;
  /** The last sequence number counted per DP stream, least recently used first. */
  readonly #lastSeq = new Map<string, { seq: number; seenAt: number }>();
  readonly #maxKeys: number;
  readonly #streamTtlMs: number;
  readonly #maxStreams: number;
  readonly #series: MinuteSeries | undefined;

  constructor(
    private readonly clock: Clock,
    options: AnalyticsAggregatorOptions = {},
  ) {
    this.#since = clock.now();
    this.#maxKeys = options.maxKeys ?? 10_000;
    this.#streamTtlMs = options.streamTtlMs ?? 3_600_000;
    this.#maxStreams = options.maxStreams ?? 100_000;
    this.#tally = new Tally(this.#maxKeys);
    const minutes = options.seriesMinutes ?? 60;
    if (!Number.isSafeInteger(minutes) || minutes < 0 || minutes > 10_080)
      throw new InvalidArgumentError(
        'seriesMinutes is a whole number of minutes from 0 to 10 080 (a week)',
      );
    this.#series = minutes > 0 ? new MinuteSeries(minutes) : undefined;
  }

  /**
   * Counts a batch (or a slice of one: `firstSeq` its first record's number) from `nodeId`;
   * returns the records not counted before.
   */
  ingest(nodeId: string, batch: TelemetryBatch): TelemetryBatch['records'] {
    const columns = columnsOf(batch);
    const first = this.#ingestColumns(nodeId, batch, columns, 0, columns.length);
    return first === 0 ? batch.records : batch.records.slice(first);
  }

  static {
    ingestColumns = (aggregator, ...args) => aggregator.#ingestColumns(...args);
  }

  #ingestColumns(
    nodeId: string,
    batch: Pick<TelemetryBatch, 'stream' | 'firstSeq' | 'dropped'>,
    columns: RecordColumns,
    from: number,
    to: number,
  ): number {
    const now = this.clock.now();
    this.#forgetStaleStreams(now);
    const key = `${nodeId}\0${batch.stream}`;
    const last = this.#lastSeq.get(key)?.seq ?? -1;
    const first = from + Math.max(0, Math.min(to - from, last + 1 - batch.firstSeq));
    const dropped = batch.firstSeq > last ? batch.dropped : 0;
    this.#droppedEver += dropped;
    if (first < to) {
      this.#lastSeq.delete(key); // re-inserted last: least recently used first
      this.#lastSeq.set(key, { seq: batch.firstSeq + (to - from) - 1, seenAt: now });
      if (this.#lastSeq.size > this.#maxStreams)
        this.#lastSeq.delete(this.#lastSeq.keys().next().value!);
    }
    const slice = prepare(columns, first, to);
    this.#tally.add(nodeId, slice, dropped);
    this.#interval?.add(nodeId, slice, dropped);
    this.#series?.add(slice, now);
    return first;
  }

  /** The number of Gateway Services in the current config (billing). */
  setServiceCount(count: number): void {
    this.#services = count;
  }

  summary(): AnalyticsSummary {
    return this.#tally.summary(this.#since, this.#services);
  }

  /**
   * The cluster's traffic minute by minute over the last `seriesMinutes` (default 60), oldest
   * first, minutes without traffic left out: what a chart of requests and p95 latency over
   * time draws. `reset()` keeps it.
   */
  series(): TrafficPoint[] {
    return this.#series?.points(this.clock.now()) ?? [];
  }

  /** Starts counting afresh from now (deduplication state is kept). */
  reset(): void {
    this.#since = this.clock.now();
    this.#tally = new Tally(this.#maxKeys);
  }

  /**
   * What was counted since the last call (the first call starts the count and returns
   * `undefined`, as does a span in which nothing was counted): a CP sharing its counts with
   * its cluster takes them each interval.
   */
  takeInterval(): AnalyticsCounts | undefined {
    const taken = this.#interval;
    this.#interval = new Tally(this.#maxKeys);
    return taken?.touched ? taken.counts() : undefined;
  }

  /** What was counted since the last `takeInterval()`, leaving it counting. */
  peekInterval(): AnalyticsCounts | undefined {
    return this.#interval?.touched ? this.#interval.counts() : undefined;
  }

  /** Records the DPs reported dropped since the aggregator was made (`reset()` keeps it). */
  get droppedEver(): number {
    return this.#droppedEver;
  }

  /** Distinct services, routes and consumers counted now (each at most `maxKeys`). */
  get keys(): { services: number; routes: number; consumers: number } {
    const { by } = this.#tally;
    return { services: by.services.size, routes: by.routes.size, consumers: by.consumers.size };
  }

  /** The number of Gateway Services in the current config, as `setServiceCount` set it. */
  get serviceCount(): number {
    return this.#services;
  }

  /**
   * One summary of several {@link AnalyticsCounts} (the intervals of every CP of a cluster),
   * as `summary()` gives one CP's: `since` and the billing's Gateway Services as given, at
   * most `maxKeys` names of each kind (default 10 000). Counts that are not counts (a
   * damaged row) are skipped.
   */
  static merge(
    counts: Iterable<AnalyticsCounts>,
    options: { since: number; services: number; maxKeys?: number },
  ): AnalyticsSummary {
    const tally = new Tally(options.maxKeys ?? 10_000);
    for (const one of counts) tally.addCounts(one);
    return tally.summary(options.since, options.services);
  }

  /** How many DP record streams are remembered for de-duplication. */
  get streams(): number {
    return this.#lastSeq.size;
  }

  #forgetStaleStreams(now: number): void {
    for (const [key, { seenAt }] of this.#lastSeq) {
      if (now - seenAt <= this.#streamTtlMs) return;
      this.#lastSeq.delete(key);
    }
  }
}

/**
 * @internal Counts added one at a time — a page of intervals read, then the next — into one
 * summary, as `AnalyticsAggregator.merge` does with all of them at once.
 */
export class CountsMerger {
  readonly #tally: Tally;

  constructor(maxKeys = 10_000) {
    this.#tally = new Tally(maxKeys);
  }

  add(counts: AnalyticsCounts): void {
    this.#tally.addCounts(counts);
  }

  summary(since: number, services: number): AnalyticsSummary {
    return this.#tally.summary(since, services);
  }
}

/**
 * @internal Several {@link AnalyticsCounts} added into one (at most `maxKeys` names of each
 * kind, default 10 000), checked as `AnalyticsAggregator.merge` checks them.
 */
export function mergeCounts(counts: Iterable<AnalyticsCounts>, maxKeys = 10_000): AnalyticsCounts {
  const tally = new Tally(maxKeys);
  for (const one of counts) tally.addCounts(one);
  return tally.counts();
}
