import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import {
  type Connection,
  ControlPlane,
  DataPlane,
  declarativeConfigSchema,
  decodeFrame,
  encodeConfigFrame,
  encodeMessage,
  generateClusterCertificate,
  hashConfig,
  MessageType,
  memoryTransport,
  TrustVerifier,
  validateConfig,
} from '@planesync/core';
import { lmdbStore } from '@planesync/storage-lmdb';
import { wsClient, wsServer } from '@planesync/transport-ws';
import { WebSocket, WebSocketServer } from 'ws';
import type { BenchResult } from './harness.ts';

const gunzipAsync = promisify(gunzip);
const quick = process.env.PLANESYNC_BENCH_QUICK === '1';
const FANOUT_SIZES = quick ? [100] : [100, 1_000];

/** A declarative config whose compressed frame is about `targetBytes` (random tags defeat gzip). */
async function configOfCompressedSize(targetBytes: number) {
  const build = (services: number) => ({
    _format_version: '3.0',
    services: Array.from({ length: services }, (_, i) => ({
      name: `service-${i}`,
      host: `backend-${i % 97}.internal`,
      port: 8000 + (i % 1000),
      tags: [randomBytes(12).toString('hex')],
    })),
  });
  let services = 500;
  for (let round = 0; round < 6; round++) {
    const config = build(services);
    const { config_hash, hashes } = hashConfig(config);
    const frame = await encodeConfigFrame({ version: 1, hash: config_hash }, { config, hashes });
    if (Math.abs(frame.byteLength - targetBytes) / targetBytes < 0.05) return config;
    services = Math.max(1, Math.round((services * targetBytes) / frame.byteLength));
  }
  return build(services);
}

/** A thin DP: hello, then an ack for every config frame the moment it arrives, never inflating it. */
async function thinDataPlane(
  url: string,
  tls: { cert: string; key: string },
  id: number,
  onConfig: (version: number) => void,
) {
  const metadata = { node_id: `thin-${id}`, node_hostname: `thin-${id}`, node_version: '3.10.0' };
  const connection = await wsClient({ url, tls }).connect({ metadata });
  await connection.send(
    encodeMessage('hello', {
      protocol: 'planesync/1',
      nodeId: `thin-${id}`,
      hostname: `thin-${id}`,
      version: '3.10.0',
      labels: {},
      plugins: [],
      configHash: '0'.repeat(32),
      configVersion: 0,
    }),
  );
  void (async () => {
    for await (const frame of connection) {
      if (frame[0] !== MessageType.config) continue;
      const message = decodeFrame(frame);
      if (message.type !== 'config') continue;
      const { version, hash } = message.body.header;
      await connection.send(encodeMessage('ack', { version, hash })).catch(() => undefined);
      onConfig(version);
    }
  })();
  return connection;
}

/** 1. CP fan-out over loopback wss with mTLS, against a raw ws TLS server sending the same bytes. */
async function fanOut(
  n: number,
  targetBytes: number,
  pair: { cert: string; key: string },
  trust: TrustVerifier,
): Promise<BenchResult> {
  const config = await configOfCompressedSize(targetBytes);
  const transport = wsServer({
    host: '127.0.0.1',
    port: 0,
    tls: pair,
    maxPayloadBytes: 64 * 1024 * 1024,
  });
  const cp = new ControlPlane({
    transport,
    trust,
    version: '3.10.0',
    maxPayloadBytes: 64 * 1024 * 1024,
  });
  await cp.start();
  const url = `wss://127.0.0.1:${transport.port}/planesync/v1`;
  const connections: Connection[] = [];
  let acked = 0;
  let target = 0;
  let resolveAll: () => void = () => undefined;
  cp.on('configApplied', (event) => {
    if (event.version === target && ++acked === n) resolveAll();
  });
  for (let i = 0; i < n; i += 50) {
    connections.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(50, n - i) }, (_, k) =>
          thinDataPlane(url, pair, i + k, () => undefined),
        ),
      )),
    );
  }
  while (cp.dataPlanes().filter((d) => d.connected).length < n)
    await new Promise((resolve) => setImmediate(resolve));
  const rssBefore = process.memoryUsage().rss;
  const all = new Promise<void>((resolve) => {
    resolveAll = resolve;
  });
  target = 1;
  const start = performance.now();
  await cp.setConfig(config);
  const encoded = performance.now();
  await all;
  const cpMs = performance.now() - start;
  const frameBytes = (
    await encodeConfigFrame(
      { version: 1, hash: cp.currentConfig!.hash },
      { config: cp.currentConfig!.config, hashes: cp.currentConfig!.hashes },
    )
  ).byteLength;
  const encodes = cp.configEncodes;
  await Promise.all(connections.map((c) => c.close()));
  await cp.stop();

  const baselineMs = await rawFanOut(n, frameBytes, pair);
  return {
    name: `CP fan-out, ${n} DPs over wss+mTLS, ${(frameBytes / 1024).toFixed(0)} KiB frame`,
    subject: 'setConfig → last ack',
    subjectMs: cpMs,
    baseline: 'raw ws TLS send of the same bytes',
    baselineMs,
    ratio: cpMs / baselineMs,
    notes: `encodes per version: ${encodes}; of which validate+hash+encode ${(encoded - start).toFixed(0)} ms; CP RSS while connected ${(rssBefore / 1e6).toFixed(0)} MB`,
  };
}

/** The baseline: a raw ws server over TLS sends `bytes` to `n` raw clients that only count them. */
async function rawFanOut(
  n: number,
  bytes: number,
  pair: { cert: string; key: string },
): Promise<number> {
  const https = createServer({ cert: pair.cert, key: pair.key });
  const wss = new WebSocketServer({
    server: https,
    perMessageDeflate: false,
    maxPayload: 64 * 1024 * 1024,
  });
  await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
  const port = (https.address() as AddressInfo).port;
  const sockets: WebSocket[] = [];
  const accepted = new Promise<void>((resolve) => {
    let count = 0;
    wss.on('connection', () => {
      if (++count === n) resolve();
    });
  });
  let received = 0;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  for (let i = 0; i < n; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, n - i) }, async () => {
        const ws = new WebSocket(`wss://127.0.0.1:${port}/`, {
          cert: pair.cert,
          key: pair.key,
          rejectUnauthorized: false,
          perMessageDeflate: false,
          maxPayload: 64 * 1024 * 1024,
        });
        ws.on('message', () => {
          if (++received === n) done();
        });
        await new Promise((resolve) => ws.once('open', resolve));
        sockets.push(ws);
      }),
    );
  }
  await accepted;
  const payload = randomBytes(bytes);
  const start = performance.now();
  for (const client of wss.clients) client.send(payload);
  await finished;
  const ms = performance.now() - start;
  for (const ws of sockets) ws.terminate();
  wss.close();
  https.closeAllConnections();
  await new Promise((resolve) => https.close(resolve));
  return ms;
}

/** 2. One real DP applying a config: frame in → inflate → parse → validate → apply → LMDB → ack. */
async function dpApply(
  targetBytes: number,
  pair: { cert: string; key: string },
  trust: TrustVerifier,
): Promise<BenchResult> {
  const config = await configOfCompressedSize(targetBytes);
  const dir = await mkdtemp(join(tmpdir(), 'planesync-bench-apply-'));
  const { server, client } = memoryTransport({
    certificates: [pair.cert],
    maxPayloadBytes: 64 * 1024 * 1024,
  });
  const cp = new ControlPlane({
    transport: server,
    trust,
    version: '3.10.0',
    maxPayloadBytes: 64 * 1024 * 1024,
  });
  await cp.start();
  const dp = new DataPlane({
    transport: client({ certificates: [pair.cert] }),
    trust,
    version: '3.10.0',
    storage: lmdbStore({ prefix: dir }),
  });
  const connected = new Promise((resolve) => dp.once('connected', resolve));
  await dp.start();
  await connected;
  const samples: number[] = [];
  const rounds = 7;
  for (let round = 0; round < rounds; round++) {
    const variant = { ...config, round };
    const applied = new Promise((resolve) => cp.once('configApplied', resolve));
    const published = await cp.setConfig(variant);
    // The DP's share: from the frame leaving the CP to the ack, after the CP encoded it.
    const start = performance.now();
    void published;
    await applied;
    samples.push(performance.now() - start);
  }
  const frame = await encodeConfigFrame(
    { version: 1, hash: cp.currentConfig!.hash },
    { config: cp.currentConfig!.config, hashes: cp.currentConfig!.hashes },
  );
  await dp.stop();
  await cp.stop();
  await rm(dir, { recursive: true, force: true });

  // Where the time goes, measured on the same frame.
  const body = frame.subarray(5 + new DataView(frame.buffer).getUint32(1));
  const steps: Record<string, number> = {};
  const time = async (name: string, fn: () => unknown) => {
    const start = performance.now();
    await fn();
    steps[name] = performance.now() - start;
  };
  let inflated: Buffer = Buffer.alloc(0);
  let parsed: { config: unknown } = { config: undefined };
  await time('inflate', async () => {
    inflated = await gunzipAsync(body);
  });
  await time('parse', () => {
    parsed = JSON.parse(inflated.toString('utf8'));
  });
  await time('validate', () => validateConfig(parsed.config, declarativeConfigSchema));
  await time('hash (not on the DP path)', () =>
    hashConfig(parsed.config as Record<string, unknown>),
  );
  const baselineMs = steps.inflate! + steps.parse!;
  const median = samples.sort((a, b) => a - b)[Math.floor(samples.length / 2)]!;
  return {
    name: `DP apply, ${(frame.byteLength / 1024).toFixed(0)} KiB frame (${(inflated.byteLength / 1e6).toFixed(1)} MB JSON)`,
    subject: 'frame → … → saved in LMDB → ack',
    subjectMs: median,
    baseline: 'gunzip + JSON.parse of the same bytes',
    baselineMs,
    ratio: median / baselineMs,
    notes: `breakdown: ${Object.entries(steps)
      .map(([k, v]) => `${k} ${v.toFixed(1)} ms`)
      .join(', ')}`,
  };
}

/** 4. Coalescing: 20 setConfig calls in 100 ms with thin DPs connected. */
async function coalescing(
  n: number,
  pair: { cert: string; key: string },
  trust: TrustVerifier,
  pushIntervalMs: number,
): Promise<BenchResult> {
  const transport = wsServer({ host: '127.0.0.1', port: 0, tls: pair });
  const cp = new ControlPlane({ transport, trust, version: '3.10.0', pushIntervalMs });
  await cp.start();
  const url = `wss://127.0.0.1:${transport.port}/planesync/v1`;
  const frames = new Array<number>(n).fill(0);
  const last = new Array<number>(n).fill(0);
  const connections: Connection[] = [];
  for (let i = 0; i < n; i += 50) {
    connections.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(50, n - i) }, (_, k) =>
          thinDataPlane(url, pair, i + k, (version) => {
            frames[i + k]!++;
            last[i + k] = version;
          }),
        ),
      )),
    );
  }
  while (cp.dataPlanes().filter((d) => d.connected).length < n)
    await new Promise((resolve) => setImmediate(resolve));
  const config = await configOfCompressedSize(64 * 1024);
  const start = performance.now();
  // 20 calls spread over 100 ms, none waiting for the previous one to be delivered.
  const calls: Promise<unknown>[] = [];
  for (let i = 0; i < 20; i++) {
    calls.push(cp.setConfig({ ...config, round: i }));
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await Promise.all(calls);
  const newest = cp.currentConfig!.version;
  while (last.some((v) => v !== newest)) await new Promise((resolve) => setTimeout(resolve, 5));
  const ms = performance.now() - start;
  const sent = frames.reduce((a, b) => a + b, 0);
  await Promise.all(connections.map((c) => c.close()));
  await cp.stop();
  return {
    name: `coalescing: 20 setConfig in ~100 ms, ${n} DPs, pushIntervalMs ${pushIntervalMs}`,
    subject: 'config frames received per DP (max)',
    subjectMs: Math.max(...frames),
    baseline: 'versions published',
    baselineMs: 20,
    ratio: Math.max(...frames) / 20,
    notes: `${sent} frames in all (a queue would send ${20 * n}); every DP ended on version ${newest}; ${ms.toFixed(0)} ms until all in sync`,
  };
}

/** 3. End to end: real DataPlanes over wss, one config; time to all in sync and per-DP spread. */
async function endToEnd(
  n: number,
  pair: { cert: string; key: string },
  trust: TrustVerifier,
): Promise<BenchResult> {
  const transport = wsServer({ host: '127.0.0.1', port: 0, tls: pair });
  const cp = new ControlPlane({ transport, trust, version: '3.10.0' });
  await cp.start();
  const url = `wss://127.0.0.1:${transport.port}/planesync/v1`;
  const dps = Array.from(
    { length: n },
    (_, i) =>
      new DataPlane({
        transport: wsClient({ url, tls: pair }),
        trust,
        version: '3.10.0',
        hostname: `dp-${i}`,
      }),
  );
  for (let i = 0; i < n; i += 50) {
    await Promise.all(
      dps.slice(i, i + 50).map(async (dp) => {
        const connected = new Promise((resolve) => dp.once('connected', resolve));
        await dp.start();
        await connected;
      }),
    );
  }
  const config = await configOfCompressedSize(64 * 1024);
  const start = performance.now();
  const arrivals = dps.map(
    (dp) =>
      new Promise<number>((resolve) =>
        dp.on(
          'config',
          (snapshot) => snapshot.source === 'control-plane' && resolve(performance.now() - start),
        ),
      ),
  );
  const setConfig = cp.setConfig(config);
  const times = (await Promise.all(arrivals)).sort((a, b) => a - b);
  await setConfig;
  const all = times.at(-1)!;
  await Promise.all(dps.map((dp) => dp.stop()));
  await cp.stop();
  const pct = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!;
  return {
    name: `end to end, ${n} real DataPlanes over wss, 64 KiB frame`,
    subject: 'setConfig → every DP applied',
    subjectMs: all,
    baseline: 'first DP applied',
    baselineMs: times[0]!,
    ratio: all / times[0]!,
    notes: `per-DP time to applied: p50 ${pct(0.5).toFixed(0)} ms, p99 ${pct(0.99).toFixed(0)} ms (all ${n} DPs share this process's two cores)`,
  };
}

/** 5. Reconnect storm: kill and restart the CP under thin DPs that use the real 5–10 s policy. */
async function reconnectStorm(
  n: number,
  pair: { cert: string; key: string },
  trust: TrustVerifier,
): Promise<BenchResult> {
  const config = await configOfCompressedSize(64 * 1024);
  let transport = wsServer({ host: '127.0.0.1', port: 0, tls: pair });
  let cp = new ControlPlane({ transport, trust, version: '3.10.0' });
  await cp.start();
  const port = transport.port!;
  const { hash } = await cp.setConfig(config);
  const url = `wss://127.0.0.1:${port}/planesync/v1`;
  let framesAfterRestart = 0;
  let restartedAt = 0;
  const reconnectedAt: number[] = [];
  let stopping = false;
  const dial = async (id: number, configHash: string): Promise<void> => {
    while (!stopping) {
      try {
        const connection = await wsClient({ url, tls: pair }).connect({
          metadata: {
            node_id: `storm-${id}`,
            node_hostname: `storm-${id}`,
            node_version: '3.10.0',
          },
        });
        if (restartedAt) reconnectedAt.push(performance.now() - restartedAt);
        await connection.send(
          encodeMessage('hello', {
            protocol: 'planesync/1',
            nodeId: `storm-${id}`,
            hostname: `storm-${id}`,
            version: '3.10.0',
            labels: {},
            plugins: [],
            configHash,
            configVersion: 1,
          }),
        );
        for await (const frame of connection) {
          if (frame[0] !== MessageType.config) continue;
          if (restartedAt) framesAfterRestart++;
          const message = decodeFrame(frame);
          if (message.type === 'config') {
            configHash = message.body.header.hash;
            await connection
              .send(
                encodeMessage('ack', { version: message.body.header.version, hash: configHash }),
              )
              .catch(() => undefined);
          }
        }
      } catch {
        // refused while the CP is down: wait and retry, as a DataPlane does
      }
      if (stopping) return;
      await new Promise((resolve) => setTimeout(resolve, 5_000 + Math.random() * 5_000));
    }
  };
  const clients = Array.from({ length: n }, (_, id) => dial(id, '0'.repeat(32)));
  while (cp.dataPlanes().filter((d) => d.connected && d.configHash === hash).length < n)
    await new Promise((resolve) => setTimeout(resolve, 20));
  await cp.stop();
  transport = wsServer({ host: '127.0.0.1', port, tls: pair });
  cp = new ControlPlane({ transport, trust, version: '3.10.0' });
  const delay = monitorEventLoopDelay({ resolution: 10 });
  await cp.start();
  await cp.setConfig(config); // the same config: every DP already has its hash
  restartedAt = performance.now();
  delay.enable();
  while (cp.dataPlanes().filter((d) => d.connected && d.configHash === hash).length < n)
    await new Promise((resolve) => setTimeout(resolve, 20));
  const allInSync = performance.now() - restartedAt;
  delay.disable();
  stopping = true;
  await cp.stop();
  await Promise.allSettled(clients);
  reconnectedAt.sort((a, b) => a - b);
  return {
    name: `reconnect storm, ${n} DPs, CP killed and restarted`,
    subject: 'restart → all reconnected and in sync',
    subjectMs: allInSync,
    baseline: 'the 10 s upper bound of the jitter',
    baselineMs: 10_000,
    ratio: allInSync / 10_000,
    notes:
      `reconnects spread from ${(reconnectedAt[0]! / 1000).toFixed(1)} s to ${(reconnectedAt.at(-1)! / 1000).toFixed(1)} s; ` +
      `peak CP event-loop delay ${(delay.max / 1e6).toFixed(0)} ms; config frames sent to DPs already on the latest hash: ${framesAfterRestart}`,
  };
}

/** The cluster benchmarks of issue "Benchmarks": fan-out, DP apply, end to end, coalescing, storm. */
export async function run(): Promise<BenchResult[]> {
  const cluster = await generateClusterCertificate();
  const pair = { cert: cluster.certificate, key: cluster.privateKey };
  const trust = new TrustVerifier({ mode: 'pinned', certificates: [cluster.certificate] });
  const results: BenchResult[] = [];
  const only = process.env.PLANESYNC_BENCH_ONLY;
  if (!only || only === 'fan-out') {
    for (const n of FANOUT_SIZES) {
      for (const bytes of [64 * 1024, 1024 * 1024])
        results.push(await fanOut(n, bytes, pair, trust));
    }
  }
  if (!only || only === 'apply') {
    for (const bytes of [64 * 1024, 1024 * 1024]) results.push(await dpApply(bytes, pair, trust));
  }
  if (!only || only === 'end-to-end') results.push(await endToEnd(200, pair, trust));
  if (!only || only === 'storm')
    results.push(await reconnectStorm(FANOUT_SIZES.at(-1)!, pair, trust));
  if (!only || only === 'coalescing') {
    for (const interval of [0, 100])
      results.push(await coalescing(FANOUT_SIZES.at(-1)!, pair, trust, interval));
  }
  return results;
}
