import { performance } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';
import {
  ControlPlane,
  DataPlane,
  generateClusterCertificate,
  memoryTransport,
  type TransportClient,
  type TransportServer,
  TrustVerifier,
} from '@planesync/core';
import { wsClient, wsServer } from '@planesync/transport-ws';
import Denque from 'denque';
// The buffer inside DataPlane.recordRequest, measured on its own (not a public export).
import { RingBuffer } from '../packages/core/src/analytics/ring-buffer.ts';
import { type BenchResult, compare } from './harness.ts';

const N = 200_000;
const CAPACITY = 100_000;
const record = {
  service: 'orders',
  route: 'orders-get',
  consumer: 'alice',
  status: 200,
  latencyMs: 12.5,
  requestBytes: 512,
  responseBytes: 2048,
};

/**
 * The analytics path: RingBuffer.push against a plain array used as a bounded queue and
 * against denque; DataPlane.recordRequest on the request path; and telemetry throughput from
 * a DP to the CP over the memory transport and over loopback wss.
 */
export async function run(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const boundedArray = () => {
    const queue: unknown[] = [];
    for (let i = 0; i < N; i++) {
      queue.push(record);
      if (queue.length > CAPACITY) queue.shift();
    }
  };
  results.push(
    await compare({
      name: `bounded buffer push, ${N} records into ${CAPACITY}`,
      subject: [
        'RingBuffer.push',
        () => {
          const ring = new RingBuffer<unknown>(CAPACITY);
          for (let i = 0; i < N; i++) ring.push(record);
        },
      ],
      baseline: ['array push + shift', boundedArray],
      samples: 3,
      warmup: 1,
      notes: 'a plain array as a bounded queue pays O(n) for every shift once full',
    }),
    await compare({
      name: `bounded buffer push vs denque, ${N} records into ${CAPACITY}`,
      subject: [
        'RingBuffer.push',
        () => {
          const ring = new RingBuffer<unknown>(CAPACITY);
          for (let i = 0; i < N; i++) ring.push(record);
        },
      ],
      baseline: [
        'denque push + shift',
        () => {
          const queue = new Denque<unknown>();
          for (let i = 0; i < N; i++) {
            queue.push(record);
            if (queue.length > CAPACITY) queue.shift();
          }
        },
      ],
      samples: 9,
    }),
  );

  const { certificate, privateKey } = await generateClusterCertificate();
  const trust = new TrustVerifier({ mode: 'pinned', certificates: [certificate] });
  const lonely = new DataPlane({
    transport: memoryTransport().client(),
    trust,
    version: '3.10.0',
    reconnectDelayMs: [60_000, 60_000],
  });
  await lonely.start();
  // The baseline's ring is made once and stays full, as the DP's buffer does here: its pushes
  // evict, and none pays for the ring's growth.
  const raw = new RingBuffer<unknown>(CAPACITY);
  const recordResult = await compare({
    name: `DataPlane.recordRequest, ${N} calls`,
    subject: [
      'recordRequest',
      () => {
        for (let i = 0; i < N; i++) lonely.recordRequest(record);
      },
    ],
    baseline: [
      'RingBuffer.push of the raw object',
      () => {
        for (let i = 0; i < N; i++) raw.push(record);
      },
    ],
    samples: 9,
  });
  await lonely.stop();
  results.push({
    ...recordResult,
    notes: `${((recordResult.subjectMs * 1e6) / N).toFixed(0)} ns per recorded request`,
  });

  const memory = memoryTransport({ certificates: [certificate] });
  results.push(
    await telemetryThroughput(
      'memory transport',
      memory.server,
      memory.client({ certificates: [certificate] }),
      trust,
    ),
  );
  const tls = { cert: certificate, key: privateKey };
  const server = wsServer({ host: '127.0.0.1', port: 0, tls });
  const lazyClient: TransportClient = {
    connect: (options) =>
      wsClient({ url: `wss://127.0.0.1:${server.port}/planesync/v1`, tls }).connect(options),
  };
  results.push(await telemetryThroughput('loopback wss', server, lazyClient, trust));
  return results;
}

/** Records per second from one DP's recordRequest to the CP's telemetry event, 1 s flushes. */
async function telemetryThroughput(
  label: string,
  server: TransportServer,
  client: TransportClient,
  trust: TrustVerifier,
): Promise<BenchResult> {
  const total = 300_000;
  const cp = new ControlPlane({ transport: server, trust, version: '3.10.0' });
  await cp.start();
  const dp = new DataPlane({
    transport: client,
    trust,
    version: '3.10.0',
    analytics: { flushIntervalMs: 10, bufferSizeLimit: total, maxBatchRecords: 10_000 },
  });
  const connected = new Promise((resolve) => dp.once('connected', resolve));
  await dp.start();
  await connected;
  let received = 0;
  const done = new Promise<void>((resolve) =>
    cp.on('analytics', (event) => {
      received += event.records.length;
      if (received >= total) resolve();
    }),
  );
  const start = performance.now();
  for (let i = 0; i < total; i++) dp.recordRequest(record);
  await done;
  const ms = performance.now() - start;
  await dp.stop();
  await cp.stop();
  // The work no telemetry pipeline avoids: serialise and compress the same records in batches.
  const encodeStart = performance.now();
  const batch = Array.from({ length: 10_000 }, () => ({ ...record, at: Date.now() }));
  for (let sent = 0; sent < total; sent += batch.length)
    gzipSync(JSON.stringify({ records: batch }));
  const encodeMs = performance.now() - encodeStart;
  const perSecond = Math.round((total / ms) * 1000);
  return {
    name: `telemetry DP → CP over ${label}, ${total} records`,
    subject: 'recordRequest → CP telemetry event',
    subjectMs: ms,
    baseline: 'JSON.stringify + gzip of the same batches',
    baselineMs: encodeMs,
    ratio: ms / encodeMs,
    notes: `${perSecond.toLocaleString('en')} records/s recorded, sent, acknowledged, deduplicated and aggregated (10 ms flushes of up to 10 000 records)`,
  };
}
