import { X509Certificate } from 'node:crypto';
import { silentLogger } from '@planesync/core';
import { createTestCluster, type TestCluster } from '@planesync/core/testing';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { controlPlaneAdmin, dataPlaneAdmin } from '../src/index.ts';
import { refusing } from './refusing.ts';
import { type Served, serve } from './serve.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type Parsed = ReturnType<typeof parsePrometheusTextFormat>;
type Family = Parsed[number];

/** `/metrics` read and parsed as Prometheus's text format, by family name. */
async function scrape(admin: Served): Promise<Map<string, Family>> {
  const response = await admin.get('/metrics');
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return new Map(parsePrometheusTextFormat(response.text).map((family) => [family.name, family]));
}

/** The value of one series of a gauge or counter family, by its labels. */
function value(families: Map<string, Family>, name: string, labels: Record<string, string> = {}) {
  const family = families.get(name);
  if (!family) return undefined;
  const series = (family.metrics as Array<{ value: string; labels?: Record<string, string> }>).find(
    (metric) => Object.entries(labels).every(([key, wanted]) => metric.labels?.[key] === wanted),
  );
  return series === undefined ? undefined : Number(series.value);
}

const config = (host: string) => ({
  _format_version: '3.0',
  services: [{ name: 'orders', host, port: 80, routes: [{ name: 'orders-route', paths: ['/o'] }] }],
});

/** The body of a DP's GET /status/ready. */
async function ready(admin: Served): Promise<unknown> {
  return (await admin.get('/status/ready')).json();
}

async function cluster(): Promise<TestCluster> {
  const made = await createTestCluster({
    controlPlane: { logger: silentLogger, pushIntervalMs: 0 },
  });
  cleanups.push(() => made.stop());
  return made;
}

describe('GET /metrics on a control plane', () => {
  it("exposes Kong's per-DP gauges and planesync's counters, parsed as Prometheus text", async () => {
    const test = await cluster();
    const { cp, clock } = test;
    const good = test.dataPlane({ nodeId: 'dp-1', hostname: 'gw-1', random: () => 0 });
    const picky = test.dataPlane({
      nodeId: 'dp-2',
      hostname: 'gw-2',
      random: () => 0,
      schema: refusing('b.internal'),
      logger: silentLogger,
    });
    await good.start();
    await picky.start();
    const first = await cp.setConfig(config('a.internal'));
    await good.waitForConfig({ hash: first.hash });
    await picky.waitForConfig({ hash: first.hash });
    const nacked = new Promise((resolve) => cp.once('configRejected', resolve));
    const second = await cp.setConfig(config('b.internal'));
    await nacked;
    await good.waitForConfig({ hash: second.hash });
    // The refused delta is followed by the whole config (its zstd made for it), refused too.
    await expect.poll(() => cp.counters.configsRejected, { timeout: 5_000 }).toBe(2);
    // A DP the CP cannot serve: refused, counted by code, listed as incompatible.
    const old = test.dataPlane({
      nodeId: 'old',
      hostname: 'gw-old',
      version: '2.8.0',
      random: () => 0,
    });
    const refused = new Promise((resolve) => old.once('rejected', resolve));
    await old.start();
    await refused;
    good.recordRequest({ service: 'orders', route: 'orders-route', status: 200, latencyMs: 3 });
    good.recordRequest({ service: 'users', status: 503, latencyMs: 9 });
    await clock.advance(1_000);
    await expect.poll(() => cp.counters.telemetryRecords, { timeout: 5_000 }).toBe(2);

    const admin = await serve(controlPlaneAdmin(cp, { now: () => clock.now() }));
    cleanups.push(() => admin.close());
    const m = await scrape(admin);
    const dp1 = cp.dataPlanes().find((dp) => dp.id === 'dp-1')!;
    const labels1 = { node_id: 'dp-1', hostname: 'gw-1', ip: dp1.ip };
    expect(m.get('kong_data_plane_last_seen')?.type).toBe('GAUGE');
    expect(value(m, 'kong_data_plane_last_seen', labels1)).toBe(Math.floor(dp1.lastSeen / 1000));
    // Kong's number for a hash: its 32 hex digits read as one (a float, as Kong's Lua reads it).
    expect(value(m, 'kong_data_plane_config_hash', labels1)).toBeCloseTo(
      Number(BigInt(`0x${second.hash}`)),
      -25,
    );
    expect(
      value(m, 'kong_data_plane_version_compatible', { node_id: 'dp-1', kong_version: '3.10.0' }),
    ).toBe(1);
    // Kong records a DP it cannot serve, incompatible: so does planesync.
    expect(cp.dataPlanes().find((dp) => dp.id === 'old')?.syncStatus).toBe(
      'kong_version_incompatible',
    );
    expect(
      value(m, 'kong_data_plane_version_compatible', { node_id: 'old', kong_version: '2.8.0' }),
    ).toBe(0);

    expect(
      value(m, 'planesync_data_planes_connected', {
        sync_status: 'normal',
        protocol: 'planesync/3',
      }),
    ).toBe(2);
    expect(value(m, 'planesync_data_planes_behind')).toBe(1); // dp-2 nacked version 2
    expect(value(m, 'planesync_config_version')).toBe(second.version);
    expect(value(m, 'planesync_config_age_seconds')).toBeGreaterThanOrEqual(1);
    expect(m.get('planesync_config_frames_sent_total')?.type).toBe('COUNTER');
    expect(value(m, 'planesync_config_frames_sent_total', { kind: 'whole' })).toBe(
      cp.counters.wholeConfigsSent,
    );
    expect(value(m, 'planesync_config_bytes_sent_total', { kind: 'whole' })).toBe(
      cp.counters.wholeConfigBytesSent,
    );
    // A refused delta is followed by the whole config, refused too: each nack counts.
    expect(value(m, 'planesync_configs_rejected_total')).toBe(cp.counters.configsRejected);
    expect(cp.counters.configsRejected).toBeGreaterThanOrEqual(1);
    expect(value(m, 'planesync_data_planes_rejected_total', { code: 'VERSION_INCOMPATIBLE' })).toBe(
      1,
    );
    expect(value(m, 'planesync_telemetry_records_total')).toBe(2);
    expect(value(m, 'planesync_telemetry_dropped_total')).toBe(0);
    expect(value(m, 'planesync_analytics_keys', { kind: 'services' })).toBe(2);
    expect(value(m, 'planesync_cluster_state_available')).toBe(1);

    // The push-to-answer histogram, in seconds: cumulative buckets ending in +Inf = count.
    const histogram = m.get('planesync_config_push_answer_seconds')!;
    expect(histogram.type).toBe('HISTOGRAM');
    const [series] = histogram.metrics as Array<{
      buckets: Record<string, string>;
      count: string;
      sum: string;
    }>;
    const answered = cp.counters.pushAnswerLatencyMs.count;
    expect(answered).toBeGreaterThanOrEqual(4);
    expect(Number(series!.count)).toBe(answered);
    expect(Number(series!.buckets['0.005'])).toBe(cp.counters.pushAnswerLatencyMs.counts[0]);
    expect(Number(series!.buckets['+Inf'])).toBe(answered);
    expect(Object.keys(series!.buckets)).toHaveLength(
      cp.counters.pushAnswerLatencyMs.bounds.length + 1,
    );
  });

  it("goes into the host's registry when given one, never prom-client's global one; one CP per registry", async () => {
    const { cp } = await cluster();
    const registry = new Registry();
    const handler = controlPlaneAdmin(cp, { registry });
    expect(handler.registry).toBe(registry);
    expect(await registry.getSingleMetricAsString('planesync_config_version')).toContain(
      'planesync_config_version 0',
    );
    const { register } = await import('prom-client');
    expect(register.getSingleMetric('planesync_config_version')).toBeUndefined();
    expect(() => controlPlaneAdmin(cp, { registry })).toThrow(/already been registered/);
    // Without one, each handler has its own.
    expect(controlPlaneAdmin(cp).registry).not.toBe(controlPlaneAdmin(cp).registry);
  });
});

describe('a data plane: GET /metrics and GET /status/ready', () => {
  it("answers /status/ready as Kong's DP: 503 until a config from somewhere other than the empty start, then 200; draining on request", async () => {
    const test = await cluster();
    const dp = test.dataPlane({ nodeId: 'dp-1', random: () => 0 });
    const admin = await serve(dataPlaneAdmin(dp));
    cleanups.push(() => admin.close());
    const ready = async () => {
      const response = await admin.get('/status/ready');
      return [response.status, response.json()];
    };
    expect(await ready()).toEqual([
      503,
      { message: 'no configuration available (configuration hash is not initialized)' },
    ]);
    // The CP has no config yet: the DP starts on the empty one and is not ready.
    await dp.start();
    expect(dp.currentConfig?.source).toBe('empty');
    expect(await ready()).toEqual([
      503,
      { message: 'no configuration available (empty configuration present)' },
    ]);
    const { hash } = await test.cp.setConfig(config('a.internal'));
    await dp.waitForConfig({ hash });
    expect(await ready()).toEqual([200, { message: 'ready' }]);
    // Draining, as Kong's POST /status/ready takes it (a form or JSON body).
    expect(
      (
        await admin.post('/status/ready', 'status=nonsense', {
          'content-type': 'application/x-www-form-urlencoded',
        })
      ).status,
    ).toBe(400);
    expect((await admin.post('/status/ready', 'x'.repeat(10_000))).status).toBe(400);
    expect(await ready()).toEqual([200, { message: 'ready' }]);
    expect(
      (
        await admin.post('/status/ready', '{"status":"draining"}', {
          'content-type': 'application/json',
        })
      ).status,
    ).toBe(204);
    expect(await ready()).toEqual([503, { message: 'draining' }]);
  });

  it('drains behind a host whose body parser read the body first (Express, Fastify), without waiting for a body already gone', async () => {
    const test = await cluster();
    const dp = test.dataPlane({ nodeId: 'dp-1', random: () => 0 });
    const handler = dataPlaneAdmin(dp);
    // What express.json() and express.urlencoded() do before the handler: read the stream to
    // its end and leave the result on request.body; Fastify's request.raw keeps no body.
    const parsed = await serve((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        if (request.headers['x-keep-body'] === 'yes')
          Object.assign(request, {
            body: request.headers['content-type']?.includes('json')
              ? JSON.parse(text)
              : Object.fromEntries(new URLSearchParams(text)),
          });
        handler(request, response);
      });
    });
    cleanups.push(() => parsed.close());
    const post = (body: string, headers: Record<string, string>) =>
      fetch(`${parsed.url}/status/ready`, {
        method: 'POST',
        body,
        headers,
        // Well short of the 5 s the handler gives a slow body.
        signal: AbortSignal.timeout(2_000),
      }).then((response) => response.status);
    expect(await post('status=draining', { 'content-type': 'text/plain' })).toBe(400);
    expect(
      await post('{"status":"nonsense"}', {
        'content-type': 'application/json',
        'x-keep-body': 'yes',
      }),
    ).toBe(400);
    expect(await ready(parsed)).not.toEqual({ message: 'draining' });
    expect(
      await post('status=draining', {
        'content-type': 'application/x-www-form-urlencoded',
        'x-keep-body': 'yes',
      }),
    ).toBe(204);
    expect(await ready(parsed)).toEqual({ message: 'draining' });
  });

  it("exposes kong_control_plane_connected, the certificate's expiry and planesync's DP figures", async () => {
    const test = await cluster();
    const dp = test.dataPlane({
      nodeId: 'dp-1',
      random: () => 0,
      analytics: { bufferSizeLimit: 3 },
    });
    const admin = await serve(dataPlaneAdmin(dp, { certificate: test.certificate }));
    cleanups.push(() => admin.close());
    await dp.start();
    const { hash, version } = await test.cp.setConfig(config('a.internal'));
    await dp.waitForConfig({ hash });
    let m = await scrape(admin);
    expect(value(m, 'kong_control_plane_connected')).toBe(1);
    expect(value(m, 'kong_data_plane_cluster_cert_expiry_timestamp')).toBe(
      Math.floor(Date.parse(new X509Certificate(test.certificate).validTo) / 1000),
    );
    expect(value(m, 'planesync_config_version')).toBe(version);
    expect(value(m, 'planesync_configs_applied_total')).toBe(1);
    expect(value(m, 'planesync_configs_refused_total')).toBe(0);
    expect(value(m, 'planesync_cache_write_failures_total')).toBe(0);
    const apply = m.get('planesync_config_apply_seconds')!;
    expect(Number((apply.metrics[0] as { count: string }).count)).toBe(1);

    // The CP gone: the DP keeps serving, and says it is not connected.
    await test.cp.stop();
    await expect.poll(() => dp.status.connection).not.toBe('connected');
    m = await scrape(admin);
    expect(value(m, 'kong_control_plane_connected')).toBe(0);
    expect((await admin.get('/status/ready')).status).toBe(200);
    // Four records into a buffer of three while no CP takes them: the oldest is dropped.
    for (let i = 0; i < 4; i++) dp.recordRequest({ status: 200, latencyMs: i });
    m = await scrape(admin);
    expect(value(m, 'planesync_analytics_buffered')).toBe(3);
    expect(value(m, 'planesync_analytics_buffer_capacity')).toBe(3);
    expect(value(m, 'planesync_analytics_dropped_total')).toBe(1);
  });
});
