import { X509Certificate } from 'node:crypto';
import type {
  ControlPlane,
  ControlPlaneCounters,
  DataPlane,
  DataPlaneStatus,
  HistogramData,
} from '@planesync/core';
import {
  Counter,
  Gauge,
  Histogram,
  type MetricObjectWithValues,
  type MetricValueWithName,
  type Registry,
} from 'prom-client';

/**
 * The sync statuses Kong counts as incompatible (`kong_data_plane_version_compatible` 0): its
 * exporter's three, not `filter_set_incompatible`.
 */
const INCOMPATIBLE = new Set([
  'kong_version_incompatible',
  'plugin_set_incompatible',
  'plugin_version_incompatible',
]);

/**
 * A histogram counted elsewhere (core's {@link HistogramData}, in ms), exposed in seconds as
 * Prometheus names durations: read at each scrape, never observed here.
 */
class ReadHistogram extends Histogram<string> {
  readonly #read: () => HistogramData;
  readonly #metricName: string;
  readonly #metricHelp: string;

  constructor(name: string, help: string, registry: Registry, read: () => HistogramData) {
    super({ name, help, registers: [registry], buckets: [1] });
    this.#read = read;
    this.#metricName = name;
    this.#metricHelp = help;
  }

  /** What prom-client's registry prints from (it prefers this to `get()` for histograms). */
  async getForPromString(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    return this.get();
  }

  override async get(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    const data = this.#read();
    const bucket = `${this.#metricName}_bucket`;
    const values: MetricValueWithName<string>[] = data.bounds.map((bound, i) => ({
      metricName: bucket,
      labels: { le: bound / 1000 },
      value: data.counts[i] ?? 0,
    }));
    values.push(
      { metricName: bucket, labels: { le: '+Inf' }, value: data.count },
      { metricName: `${this.#metricName}_sum`, labels: {}, value: data.sum / 1000 },
      { metricName: `${this.#metricName}_count`, labels: {}, value: data.count },
    );
    // prom-client's types call `type` an enum of numbers; its registry reads the string.
    return {
      name: this.#metricName,
      help: this.#metricHelp,
      type: 'histogram',
      aggregator: 'sum',
      values,
    } as unknown as MetricObjectWithValues<MetricValueWithName<string>>;
  }
}

/** A gauge set from plain data at each scrape: `values` gives every series it has now. */
function gauge(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly string[],
  values: () => Iterable<[Record<string, string>, number]>,
): void {
  new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of values()) this.set(labels, value);
    },
  });
}

/** A counter read from core's counts at each scrape (monotonic: core only ever adds). */
function counter(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly string[],
  values: () => Iterable<[Record<string, string>, number]>,
): void {
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of values()) this.inc(labels, value);
    },
  });
}

/**
 * `read`, once per scrape: a scrape asks every metric in turn, in one turn of the event loop,
 * and several read the same records (every DP of the cluster, the counters). What was read is
 * kept until the next turn.
 */
function perScrape<T>(read: () => T): () => T {
  let value: { current: T } | undefined;
  return () => {
    if (!value) {
      value = { current: read() };
      setImmediate(() => {
        value = undefined;
      });
    }
    return value.current;
  };
}

/** Kong's number for a config hash: the 32 hex digits read as one number. */
export function configHashNumber(hash: string): number {
  return /^[0-9a-f]{32}$/i.test(hash) ? Number(BigInt(`0x${hash}`)) : 0;
}

function dpLabels(dp: DataPlaneStatus): Record<string, string> {
  return { node_id: dp.id, hostname: dp.hostname, ip: dp.ip };
}

/**
 * A CP's metrics into `registry`: Kong's (`kong_data_plane_last_seen`,
 * `kong_data_plane_config_hash`, `kong_data_plane_version_compatible`, per DP the CP knows)
 * and planesync's own, read from `cp.dataPlanes()` and `cp.counters` at each scrape.
 */
export function registerControlPlaneMetrics(
  registry: Registry,
  cp: ControlPlane<unknown>,
  now: () => number,
): void {
  const dataPlanes = perScrape(() => cp.dataPlanes());
  gauge(
    registry,
    'kong_data_plane_last_seen',
    'Last time data plane contacted control plane',
    ['node_id', 'hostname', 'ip'],
    function* () {
      for (const dp of dataPlanes()) yield [dpLabels(dp), Math.floor(dp.lastSeen / 1000)];
    },
  );
  gauge(
    registry,
    'kong_data_plane_config_hash',
    'Config hash numeric value of the data plane',
    ['node_id', 'hostname', 'ip'],
    function* () {
      for (const dp of dataPlanes()) yield [dpLabels(dp), configHashNumber(dp.configHash)];
    },
  );
  gauge(
    registry,
    'kong_data_plane_version_compatible',
    'Version compatible status of the data plane, 0 is incompatible',
    ['node_id', 'hostname', 'ip', 'kong_version'],
    function* () {
      for (const dp of dataPlanes())
        yield [
          { ...dpLabels(dp), kong_version: dp.version },
          INCOMPATIBLE.has(dp.syncStatus) ? 0 : 1,
        ];
    },
  );
  gauge(
    registry,
    'planesync_data_planes_connected',
    'Data planes connected to this control plane, by sync status and wire protocol',
    ['sync_status', 'protocol'],
    function* () {
      const counts = new Map<string, [Record<string, string>, number]>();
      for (const dp of dataPlanes()) {
        if (!dp.connected || (dp.controlPlaneId !== undefined && dp.controlPlaneId !== cp.id))
          continue;
        const labels = { sync_status: dp.syncStatus, protocol: dp.protocol ?? 'unknown' };
        const key = `${labels.sync_status}\0${labels.protocol}`;
        const entry = counts.get(key) ?? [labels, 0];
        entry[1]++;
        counts.set(key, entry);
      }
      yield* counts.values();
    },
  );
  gauge(
    registry,
    'planesync_data_planes_behind',
    'Connected data planes not serving the current config',
    [],
    function* () {
      const current = cp.currentConfig?.hash;
      if (current === undefined) return;
      let behind = 0;
      for (const dp of dataPlanes()) if (dp.connected && dp.configHash !== current) behind++;
      yield [{}, behind];
    },
  );
  gauge(
    registry,
    'planesync_config_version',
    'The current config version (0 before the first)',
    [],
    function* () {
      yield [{}, cp.currentConfig?.version ?? 0];
    },
  );
  gauge(
    registry,
    'planesync_config_age_seconds',
    'Seconds since the current config was published',
    [],
    function* () {
      const config = cp.currentConfig;
      if (config) yield [{}, Math.max(0, (now() - config.publishedAt) / 1000)];
    },
  );
  gauge(
    registry,
    'planesync_cluster_state_available',
    'Whether the cluster state (PostgreSQL) answers, 0 is unavailable; 1 without a shared state',
    [],
    function* () {
      yield [{}, cp.stateHealth.available ? 1 : 0];
    },
  );
  const counts = perScrape(() => cp.counters);
  // Whole configs and deltas, counted alike.
  const byKind: Array<[string, string, keyof ControlPlaneCounters, keyof ControlPlaneCounters]> = [
    [
      'planesync_configs_encoded_total',
      'Configs and deltas encoded and compressed (once per version and protocol, never per DP)',
      'configsEncoded',
      'deltasEncoded',
    ],
    [
      'planesync_config_frames_sent_total',
      'Config frames the transports took, one per DP sent one',
      'wholeConfigsSent',
      'deltasSent',
    ],
    [
      'planesync_config_bytes_sent_total',
      'Bytes of the config frames sent',
      'wholeConfigBytesSent',
      'deltaBytesSent',
    ],
  ];
  for (const [name, help, whole, delta] of byKind)
    counter(registry, name, help, ['kind'], function* () {
      const c = counts();
      yield [{ kind: 'whole' }, c[whole] as number];
      yield [{ kind: 'delta' }, c[delta] as number];
    });
  counter(
    registry,
    'planesync_configs_rejected_total',
    'Configs and deltas the data planes refused (nacks)',
    [],
    function* () {
      yield [{}, counts().configsRejected];
    },
  );
  counter(
    registry,
    'planesync_data_planes_rejected_total',
    'Data planes refused, by error code (TRUST_*, VERSION_INCOMPATIBLE, …)',
    ['code'],
    function* () {
      for (const [code, n] of Object.entries(counts().dataPlanesRejected)) yield [{ code }, n];
    },
  );
  counter(
    registry,
    'planesync_telemetry_records_total',
    'Telemetry records counted (a resent batch once)',
    [],
    function* () {
      yield [{}, counts().telemetryRecords];
    },
  );
  counter(
    registry,
    'planesync_telemetry_dropped_total',
    'Records the data planes dropped from their full analytics buffers',
    [],
    function* () {
      yield [{}, counts().telemetryDropped];
    },
  );
  gauge(
    registry,
    'planesync_analytics_keys',
    'Distinct names the analytics count now, by kind',
    ['kind'],
    function* () {
      for (const [kind, n] of Object.entries(counts().analyticsKeys)) yield [{ kind }, n];
    },
  );
  new ReadHistogram(
    'planesync_config_push_answer_seconds',
    'From a config frame sent to its data plane acking or nacking it',
    registry,
    () => counts().pushAnswerLatencyMs,
  );
}

/** The `notAfter` of the first certificate in a PEM (a chain's leaf), ms since the epoch. */
export function certificateExpiry(pem: string | Buffer): number {
  return Date.parse(new X509Certificate(pem).validTo);
}

/**
 * A DP's metrics into `registry`: Kong's `kong_control_plane_connected` and (given the DP's
 * cluster certificate) `kong_data_plane_cluster_cert_expiry_timestamp`, and planesync's own.
 */
export function registerDataPlaneMetrics(
  registry: Registry,
  dp: DataPlane<unknown>,
  certificateExpiresAt: number | undefined,
): void {
  const status = perScrape(() => dp.status);
  const counters = perScrape(() => dp.counters);
  gauge(
    registry,
    'kong_control_plane_connected',
    'Kong connected to control plane, 0 is unconnected',
    [],
    function* () {
      yield [{}, status().connection === 'connected' ? 1 : 0];
    },
  );
  if (certificateExpiresAt !== undefined)
    gauge(
      registry,
      'kong_data_plane_cluster_cert_expiry_timestamp',
      "Unix timestamp of Data Plane's cluster_cert expiry time",
      [],
      function* () {
        yield [{}, Math.floor(certificateExpiresAt / 1000)];
      },
    );
  gauge(
    registry,
    'planesync_config_version',
    'The version of the config served (0 for one not from a control plane)',
    [],
    function* () {
      const version = status().version;
      if (version !== undefined) yield [{}, version];
    },
  );
  counter(
    registry,
    'planesync_configs_applied_total',
    'Configs from the control plane applied',
    [],
    function* () {
      yield [{}, counters().configsApplied];
    },
  );
  counter(
    registry,
    'planesync_configs_refused_total',
    'Configs from the control plane refused (nacked)',
    [],
    function* () {
      yield [{}, counters().configsRefused];
    },
  );
  counter(
    registry,
    'planesync_cache_write_failures_total',
    'Config cache writes that failed (a full disk, a read-only prefix)',
    [],
    function* () {
      yield [{}, counters().cacheWriteFailures];
    },
  );
  gauge(
    registry,
    'planesync_analytics_buffered',
    'Analytics records waiting in the buffer',
    [],
    function* () {
      yield [{}, status().analytics.buffered];
    },
  );
  gauge(
    registry,
    'planesync_analytics_buffer_capacity',
    'The most records the analytics buffer holds before dropping the oldest',
    [],
    function* () {
      yield [{}, status().analytics.capacity];
    },
  );
  counter(
    registry,
    'planesync_analytics_dropped_total',
    'Analytics records dropped because the buffer was full',
    [],
    function* () {
      yield [{}, status().analytics.dropped];
    },
  );
  new ReadHistogram(
    'planesync_config_apply_seconds',
    'One config from the control plane read, checked, served and saved',
    registry,
    () => counters().applyDurationMs,
  );
}
