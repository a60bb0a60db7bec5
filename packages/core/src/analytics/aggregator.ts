import type { Clock } from '../clock.ts';
import type { TelemetryBatch } from '../protocol/messages.ts';
import { LatencyHistogram } from './latency-histogram.ts';

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
  billing: {
    /** Gateway Services in the current config. */
    services: number;
    /** API calls in total and per DP. */
    apiCalls: number;
    apiCallsByDataPlane: Record<string, number>;
  };
}

class Accumulator {
  requests = 0;
  statusClasses: Record<string, number> = {};
  latency = new LatencyHistogram();
  requestBytes = 0;
  responseBytes = 0;

  add(record: TelemetryBatch['records'][number]): void {
    this.requests++;
    const klass = `${Math.floor(record.status / 100)}xx`;
    this.statusClasses[klass] = (this.statusClasses[klass] ?? 0) + 1;
    this.latency.add(record.latencyMs);
    this.requestBytes += record.requestBytes ?? 0;
    this.responseBytes += record.responseBytes ?? 0;
  }

  stats(): TrafficStats {
    return {
      requests: this.requests,
      statusClasses: { ...this.statusClasses },
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
 * The CP's built-in analytics: traffic by Gateway Service, Route and consumer (count, status
 * classes, latency p50/p95/p99 from a mergeable histogram, bytes) and billing counters
 * (services in the config, API calls per DP and in total) since a given time — the spec's
 * "Analytics tracks aggregate traffic by Gateway Service, Route, and the consuming
 * application. For billing, … the number of Gateway Services, API calls".
 *
 * A batch resent after a lost acknowledgement is counted once: each DP stream's records are
 * numbered, and numbers already counted are skipped.
 */
export class AnalyticsAggregator {
  #since: number;
  #total = new Accumulator();
  #by = {
    services: new Map<string, Accumulator>(),
    routes: new Map<string, Accumulator>(),
    consumers: new Map<string, Accumulator>(),
  };
  #calls = new Map<string, number>();
  #dropped = 0;
  #services = 0;
  readonly #lastSeq = new Map<string, number>();

  constructor(private readonly clock: Clock) {
    this.#since = clock.now();
  }

  /** Counts a batch from `nodeId`; returns the records not counted before. */
  ingest(nodeId: string, batch: TelemetryBatch): TelemetryBatch['records'] {
    const key = `${nodeId}\0${batch.stream}`;
    const last = this.#lastSeq.get(key) ?? -1;
    const skip = Math.max(0, Math.min(batch.records.length, last + 1 - batch.firstSeq));
    const fresh = batch.records.slice(skip);
    if (batch.firstSeq > last) this.#dropped += batch.dropped;
    if (fresh.length > 0) this.#lastSeq.set(key, batch.firstSeq + batch.records.length - 1);
    for (const record of fresh) {
      this.#total.add(record);
      if (record.service) this.#bucket('services', record.service).add(record);
      if (record.route) this.#bucket('routes', record.route).add(record);
      if (record.consumer) this.#bucket('consumers', record.consumer).add(record);
    }
    this.#calls.set(nodeId, (this.#calls.get(nodeId) ?? 0) + fresh.length);
    return fresh;
  }

  /** The number of Gateway Services in the current config (billing). */
  setServiceCount(count: number): void {
    this.#services = count;
  }

  summary(): AnalyticsSummary {
    const table = (map: Map<string, Accumulator>) =>
      Object.fromEntries([...map].map(([name, accumulator]) => [name, accumulator.stats()]));
    return {
      since: this.#since,
      total: this.#total.stats(),
      services: table(this.#by.services),
      routes: table(this.#by.routes),
      consumers: table(this.#by.consumers),
      dropped: this.#dropped,
      billing: {
        services: this.#services,
        apiCalls: this.#total.requests,
        apiCallsByDataPlane: Object.fromEntries(this.#calls),
      },
    };
  }

  /** Starts counting afresh from now (deduplication state is kept). */
  reset(): void {
    this.#since = this.clock.now();
    this.#total = new Accumulator();
    this.#by = { services: new Map(), routes: new Map(), consumers: new Map() };
    this.#calls = new Map();
    this.#dropped = 0;
  }

  #bucket(kind: 'services' | 'routes' | 'consumers', name: string): Accumulator {
    let accumulator = this.#by[kind].get(name);
    if (!accumulator) {
      accumulator = new Accumulator();
      this.#by[kind].set(name, accumulator);
    }
    return accumulator;
  }
}
