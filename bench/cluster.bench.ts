import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import {
  ControlPlane,
  DataPlane,
  declarativeConfigSchema,
  generateClusterCertificate,
  hashConfig,
  memoryTransport,
  type TransportClient,
  TrustVerifier,
  validateConfig,
} from '@planesync/core';
import { encodeConfigFrame } from '@planesync/core/protocol';
import { lmdbStore } from '@planesync/storage-lmdb';
import { wsServer } from '@planesync/transport-ws';
import { WebSocketServer } from 'ws';
import { Fleet, sharedNow } from './fleet.ts';
import { type BenchResult, compare, spanProfiler } from './harness.ts';

const gunzipAsync = promisify(gunzip);
const gzipAsync = promisify(gzip);
const quick = process.env.PLANESYNC_BENCH_QUICK === '1';
const FANOUT_SIZES = quick
  ? [100]
  : (process.env.PLANESYNC_BENCH_DPS ?? '100,1000').split(',').map(Number);
/** `PLANESYNC_BENCH_FRAMES=64` (KiB, comma-separated): the fan-out's frame sizes; default 64 and 1024. */
const FRAME_KIB = (process.env.PLANESYNC_BENCH_FRAMES ?? '64,1024').split(',').map(Number);

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
    const frame = await encodeConfigFrame({ version: 1, hash: config_hash, hashes }, config);
    if (Math.abs(frame.byteLength - targetBytes) / targetBytes < 0.05) return config;
    services = Math.max(1, Math.round((services * targetBytes) / frame.byteLength));
  }
  return build(services);
}

/** Resolves once the CP counts `n` connected DPs (optionally: all on `hash`). */
async function connectedDataPlanes(cp: ControlPlane, n: number, hash?: string): Promise<void> {
  const ready = () =>
    cp.dataPlanes().filter((d) => d.connected && (hash === undefined || d.configHash === hash))
      .length >= n;
  while (!ready()) await new Promise((resolve) => setTimeout(resolve, 10));
}

/** The process's RSS and heap after a full collection (`--expose-gc`, which `pnpm bench` sets). */
function _memory(): { rss: number; heap: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const { rss, heapUsed } = process.memoryUsage();
  return { rss, heap: heapUsed };
}

/**
 * A raw ws server over mutual TLS: the baseline that sends bytes and does nothing else — or,
 * for clients that ack, also counts the answers (`acked(n)` resolves at the n-th since the
 * last call).
 */
async function rawServer(pair: { cert: string; key: string }) {
  const https = createServer({
    cert: pair.cert,
    key: pair.key,
    requestCert: true,
    rejectUnauthorized: false,
  });
  const wss = new WebSocketServer({
    server: https,
    perMessageDeflate: false,
    maxPayload: 64 * 1024 * 1024,
  });
  let answers = 0;
  let wanted = 0;
  let reached: () => void = () => undefined;
  wss.on('connection', (socket) =>
    socket.on('message', () => {
      if (++answers === wanted) reached();
    }),
  );
  await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
  const url = `wss://127.0.0.1:${(https.address() as AddressInfo).port}/`;
  return {
    url,
    wss,
    acked(n: number): Promise<void> {
      answers = 0;
      wanted = n;
      return new Promise((resolve) => {
        reached = resolve;
      });
    },
    async close() {
      for (const client of wss.clients) client.terminate();
      wss.close();
      https.closeAllConnections();
      await new Promise((resolve) => https.close(resolve));
    },
  };
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** CPU time this process has used (user + system), ms. */
const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

/** The median of one side's CPU per round, `side` 0 the server's and 1 the clients'. */
const cpu = (rounds: [number, number][], side: 0 | 1) =>
  `${median(rounds.map((round) => round[side])).toFixed(0)} ms`;

/**
 * 1. CP fan-out over loopback wss with mTLS, against a raw ws mTLS server sending the same bytes.
 * Both fleets of clients live in another process; rounds of the two alternate.
 */
async function fanOut(
  n: number,
  targetBytes: number,
  pair: { cert: string; key: string },
  trust: TrustVerifier,
): Promise<BenchResult[]> {
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
    maxConfigFrameBytes: 64 * 1024 * 1024,
    pushIntervalMs: 0, // each round is one version, pushed at once
  });
  await cp.start();
  const alone = new ControlPlane({
    transport: memoryTransport({ certificates: [pair.cert] }).server,
    trust,
    version: '3.10.0',
    maxConfigFrameBytes: 64 * 1024 * 1024,
    pushIntervalMs: 0,
  });
  await alone.start();
  const raw = await rawServer(pair);
  const acking = await rawServer(pair);
  const thinFleet = new Fleet();
  const rawFleet = new Fleet();
  const ackingFleet = new Fleet();
  await thinFleet.request({
    cmd: 'thin',
    url: `wss://127.0.0.1:${transport.port}/planesync/v1`,
    tls: pair,
    n,
  });
  await connectedDataPlanes(cp, n);
  const rounds = n >= 1_000 && targetBytes > 512 * 1024 ? 3 : 5;
  await rawFleet.request({ cmd: 'raw', url: raw.url, tls: pair, n, expect: n });
  await ackingFleet.request({ cmd: 'raw', url: acking.url, tls: pair, n, expect: n, ack: true });
  let acked = 0;
  let target = 0;
  let allAcked: () => void = () => undefined;
  cp.on('configApplied', (event) => {
    if (event.version === target && ++acked === n) allAcked();
  });
  const profileName = `fan-out-${n}-${Math.round(targetBytes / 1024)}k`;
  const profiler = spanProfiler(profileName);
  const rawProfiler = spanProfiler(`${profileName}-acking-server`);
  const totals: number[] = [];
  const prepares: number[] = [];
  const tails: number[] = [];
  const baselines: number[] = [];
  const ackingBaselines: number[] = [];
  // CPU time of each round's two sides, [server, clients]: which side the difference is on.
  const cpuSubject: [number, number][] = [];
  const cpuAcking: [number, number][] = [];
  let frameBytes = 0;
  for (let round = 0; round < rounds; round++) {
    const variant = { ...config, round };
    acked = 0;
    const all = new Promise<void>((resolve) => {
      allAcked = resolve;
    });
    target = round + 1;
    await profiler.start();
    await thinFleet.request({ cmd: 'profile', action: 'start', name: `${profileName}-dps` });
    const fleetCpu = (await thinFleet.request<{ ms: number }>({ cmd: 'cpu' })).ms;
    const cpCpu = cpuMs();
    const start = performance.now();
    await cp.setConfig(variant);
    const resolved = performance.now();
    await all;
    totals.push(performance.now() - start);
    cpuSubject.push([
      cpuMs() - cpCpu,
      (await thinFleet.request<{ ms: number }>({ cmd: 'cpu' })).ms - fleetCpu,
    ]);
    await profiler.stop();
    await thinFleet.request({ cmd: 'profile', action: 'stop', name: `${profileName}-dps` });
    tails.push(performance.now() - resolved);
    frameBytes = cp.currentConfig ? (await currentFrame(cp)).byteLength : 0;

    // setConfig's own work on the same config, alone (inside setConfig it is interleaved with
    // the first writes to DPs): the same call on a CP with the same options and no DP —
    // validate, hash, compress, fingerprint the entities for the delta history, publish.
    const ownStart = performance.now();
    await alone.setConfig({ ...config, round });
    prepares.push(performance.now() - ownStart);

    // The baseline round: the same number of bytes to as many raw clients.
    const payload = randomBytes(frameBytes);
    const received = rawFleet.next('received');
    const rawStart = sharedNow();
    for (const client of raw.wss.clients) client.send(payload);
    const { at } = (await received) as { at: number };
    baselines.push(at - rawStart);
    await rawFleet.request({ cmd: 'rawReset', expect: n });

    // The acking baseline round: the same bytes, until the server has every client's answer.
    const answered = acking.acked(n);
    await ackingFleet.request({ cmd: 'profile', action: 'start', name: `${profileName}-raw` });
    await rawProfiler.start();
    const clientsCpu = (await ackingFleet.request<{ ms: number }>({ cmd: 'cpu' })).ms;
    const serverCpu = cpuMs();
    const ackingStart = performance.now();
    for (const client of acking.wss.clients) client.send(payload);
    await answered;
    ackingBaselines.push(performance.now() - ackingStart);
    cpuAcking.push([
      cpuMs() - serverCpu,
      (await ackingFleet.request<{ ms: number }>({ cmd: 'cpu' })).ms - clientsCpu,
    ]);
    await rawProfiler.stop();
    await ackingFleet.request({ cmd: 'profile', action: 'stop', name: `${profileName}-raw` });
    await ackingFleet.request({ cmd: 'rawReset', expect: n });
  }
  await profiler.save();
  await rawProfiler.save();
  await thinFleet.request({ cmd: 'profile', action: 'save', name: `${profileName}-dps` });
  await ackingFleet.request({ cmd: 'profile', action: 'save', name: `${profileName}-raw` });
  const encodes = cp.counters.configsEncoded;
  await thinFleet.close();
  await rawFleet.close();
  await ackingFleet.close();
  await cp.stop();
  await alone.stop();
  await raw.close();
  await acking.close();
  const total = median(totals);
  const baselineMs = median(baselines);
  const ackingMs = median(ackingBaselines);
  const prepare = median(prepares);
  const kib = (frameBytes / 1024).toFixed(0);
  const notes =
    `${encodes} encodes for ${rounds} versions; setConfig's own work (validate, hash, gzip, fingerprints; once per version) measured alone, on a CP with no DP, ${prepare.toFixed(0)} ms; ` +
    `setConfig resolves once that is done and every DP's write is handed to its socket, the last ack comes ${median(tails).toFixed(0)} ms later; ` +
    `total minus own work ${(total - prepare).toFixed(0)} ms = ${((total - prepare) / ackingMs).toFixed(2)}× the acking raw send, ${((total - prepare) / baselineMs).toFixed(2)}× the raw send without acks (${baselineMs.toFixed(0)} ms); median of ${rounds} rounds; CPU per round, CP ${cpu(cpuSubject, 0)} and its DPs' process ${cpu(cpuSubject, 1)} against the acking raw server ${cpu(cpuAcking, 0)} and its clients' ${cpu(cpuAcking, 1)}`;
  return [
    {
      name: `CP fan-out, ${n} DPs over wss+mTLS, ${kib} KiB frame`,
      subject: 'setConfig → last ack',
      subjectMs: total,
      baseline: 'raw ws mTLS send of the same bytes',
      baselineMs,
      ratio: total / baselineMs,
      notes,
    },
    {
      name: `CP fan-out minus setConfig's own work, ${n} DPs, ${kib} KiB frame`,
      subject: 'setConfig → last ack, minus own work',
      subjectMs: total - prepare,
      baseline: 'raw ws mTLS send, each client acking',
      baselineMs: ackingMs,
      ratio: (total - prepare) / ackingMs,
      notes: `the issue's figure (target ≤ 1.10×); against the raw send without acks: ${((total - prepare) / baselineMs).toFixed(2)}×`,
    },
  ];
}

/**
 * setConfig's own work (validate, hash, compress, fingerprint the entities for the delta
 * history, publish), on a CP with no DP, against `JSON.stringify` + gzip of the same config in
 * the same parallel pieces the CP compresses (members of 1 024 entities, in libuv's pool).
 *
 * Each round gives the CP the same entity objects, as an application that keeps its config in
 * memory and edits it would. With `fresh`, each round's entities are objects made anew (a copy
 * made before the round), as an application that reads its config from a database each time
 * would: the CP remembers nothing of them by object (the entity fingerprints it keeps for
 * deltas), though it still finds the gzip members whose JSON it made last time. With
 * `changed`, every entity of each round's copy differs from the round before (its port), so
 * that every member is compressed again: the cost of a config changed throughout.
 */
async function setConfigOwnWork(
  targetBytes: number,
  trust: TrustVerifier,
  cert: string,
  variant: 'same' | 'fresh' | 'changed' = 'same',
) {
  const config = await configOfCompressedSize(targetBytes);
  const samples = 7;
  const warmup = 2;
  const copies =
    variant === 'same'
      ? []
      : Array.from({ length: samples + warmup }, (_, round) => {
          const copy = structuredClone(config);
          if (variant === 'changed')
            for (const service of copy.services)
              service.port = 1 + ((service.port + round) % 65_535);
          return copy;
        });
  const label = {
    same: '',
    fresh: ', entities made anew each time',
    changed: ', every entity changed each time',
  }[variant];
  const cp = new ControlPlane({
    transport: memoryTransport({ certificates: [cert] }).server,
    trust,
    version: '3.10.0',
    maxConfigFrameBytes: 64 * 1024 * 1024,
    pushIntervalMs: 0,
  });
  await cp.start();
  let round = 0;
  const result = await compare({
    name: `setConfig's own work, ${Math.round(targetBytes / 1024)} KiB frame${label}`,
    subject: [
      'setConfig on a CP with no DP',
      () => cp.setConfig({ ...(copies.pop() ?? config), round: round++ }),
    ],
    baseline: [
      'JSON.stringify + gzip in pieces of 1 024 entities',
      async () => {
        const variant = { ...config, round: round++ };
        const pieces: string[] = [];
        const { services, ...rest } = variant;
        for (let at = 0; at < services.length; at += 1_024)
          pieces.push(JSON.stringify(services.slice(at, at + 1_024)));
        pieces.push(JSON.stringify(rest));
        await Promise.all(pieces.map((piece) => gzipAsync(piece)));
      },
    ],
    samples,
    warmup,
  });
  await cp.stop();
  return {
    ...result,
    notes:
      variant === 'same'
        ? 'target ≤ 1.3× (issue 23)'
        : 'not a target: what the same objects each time do not show',
  };
}

/** The current version's frame, as the CP sends it. */
function currentFrame(cp: ControlPlane): Promise<Uint8Array> {
  const current = cp.currentConfig!;
  return encodeConfigFrame(
    { version: current.version, hash: current.hash, hashes: current.hashes },
    current.config,
  );
}

/**
 * 7. Memory: the CP's RSS and heap per connected DP, against a raw ws mTLS server's per
 * connection. Each server runs alone in a fresh process, so nothing else this benchmark run
 * allocated is counted; the clients are in another.
 *
 * With `youngGenerationMiB`, both servers run with V8's young generation held at that size
 * (`--max-semi-space-size`): what is left is what each DP keeps. Without it, V8 grows its young
 * generation with the garbage the connect storm makes (up to 16 MiB a semi-space on 64-bit
 * Node), and that one process-wide, bounded growth is divided among the DPs as if each kept it:
 * with 10 000 DPs it would not be ten times as large.
 */
async function memoryPerDataPlane(
  n: number,
  pair: { cert: string; key: string },
  youngGenerationMiB?: number,
): Promise<BenchResult> {
  type Memory = { rss: number; heap: number };
  const flags =
    youngGenerationMiB === undefined ? [] : [`--max-semi-space-size=${youngGenerationMiB}`];
  const perConnection = async (cmd: 'serveControlPlane' | 'serveRaw', clients: 'thin' | 'raw') => {
    const server = new Fleet(flags);
    const fleet = new Fleet();
    const before = await server.request<Memory & { url: string }>({ cmd, tls: pair });
    await fleet.request(
      clients === 'thin'
        ? { cmd: 'thin', url: before.url, tls: pair, n }
        : { cmd: 'raw', url: before.url, tls: pair, n, expect: n },
    );
    await new Promise((resolve) => setTimeout(resolve, 500)); // hellos and welcomes settle
    const after = await server.request<Memory>({ cmd: 'memory' });
    await fleet.close();
    await server.close();
    return { rss: (after.rss - before.rss) / n, heap: (after.heap - before.heap) / n };
  };
  const cpSide = await perConnection('serveControlPlane', 'thin');
  const rawSide = await perConnection('serveRaw', 'raw');
  const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
  const young =
    youngGenerationMiB === undefined
      ? 'young generation growing as V8 chooses (its growth counted per DP)'
      : `young generation held at ${youngGenerationMiB} MiB a semi-space in both servers`;
  return {
    name: `memory: CP per connected DP, ${n} DPs over wss+mTLS${youngGenerationMiB === undefined ? ', young generation unbounded' : ''}`,
    subject: 'CP RSS growth per DP',
    subjectMs: cpSide.rss / 1024,
    baseline: 'raw ws mTLS server RSS growth per connection',
    baselineMs: rawSide.rss / 1024,
    ratio: cpSide.rss / rawSide.rss,
    unit: 'KiB',
    notes: `CP ${kb(cpSide.rss)} RSS and ${kb(cpSide.heap)} JS heap per DP; raw ws ${kb(rawSide.rss)} RSS and ${kb(rawSide.heap)} heap per connection (after a full GC; each server alone in a fresh process, clients in another; ${young})`,
  };
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
    maxConfigFrameBytes: 64 * 1024 * 1024,
    pushIntervalMs: 0, // each round is one version, pushed at once
    // Whole configs only: each round's change is one top-level field, which would otherwise
    // travel as a delta of a few bytes (the delta benchmark measures those).
    deltaHistory: { versions: 0 },
  });
  await cp.start();
  const dpStore = lmdbStore({ prefix: dir });
  const stamps = { arrived: 0, acked: 0 };
  const dp = new DataPlane({
    transport: stamped(client({ certificates: [pair.cert] }), stamps),
    trust,
    version: '3.10.0',
    storage: dpStore,
  });
  const connected = new Promise((resolve) => dp.once('connected', resolve));
  await dp.start();
  await connected;
  const samples: number[] = [];
  const baselines: number[] = [];
  const rounds = 9;
  const profiler = spanProfiler(`apply-${Math.round(targetBytes / 1024)}k`);
  for (let round = 0; round < rounds; round++) {
    const variant = { ...config, round };
    const applied = new Promise((resolve) => cp.once('configApplied', resolve));
    await profiler.start();
    await cp.setConfig(variant);
    await applied;
    await profiler.stop();
    // The DP's share: from the config frame reaching the DP to its ack leaving it.
    samples.push(stamps.acked - stamps.arrived);
    // The baseline, interleaved: gunzip + JSON.parse of the same payload.
    const current = await currentFrame(cp);
    const payload = current.subarray(
      5 + new DataView(current.buffer, current.byteOffset).getUint32(1),
    );
    const rawStart = performance.now();
    JSON.parse((await gunzipAsync(payload)).toString('utf8'));
    baselines.push(performance.now() - rawStart);
  }
  await profiler.save();
  const frame = await encodeConfigFrame(
    { version: 1, hash: cp.currentConfig!.hash, hashes: cp.currentConfig!.hashes },
    cp.currentConfig!.config,
  );
  await dp.stop();
  await dpStore.close(); // gives up the prefix's writer lock for the store below
  await cp.stop();

  // Where the time goes, measured on the same frame.
  const body = frame.subarray(5 + new DataView(frame.buffer, frame.byteOffset).getUint32(1));
  const steps: Record<string, number> = {};
  const time = async (name: string, fn: () => unknown) => {
    const start = performance.now();
    await fn();
    steps[name] = performance.now() - start;
  };
  let inflated: Buffer = Buffer.alloc(0);
  let parsed: unknown;
  await time('inflate', async () => {
    inflated = await gunzipAsync(body);
  });
  await time('parse', () => {
    parsed = JSON.parse(inflated.toString('utf8'));
  });
  await time('validate', () => validateConfig(parsed, declarativeConfigSchema));
  await time('hash', () => hashConfig(parsed as Record<string, unknown>));
  // The cache write as the DP does it: the gzip it received beside the record's head, one LMDB put.
  const store = lmdbStore({ prefix: dir });
  const { config_hash, hashes } = hashConfig(parsed as Record<string, unknown>);
  const snapshot = {
    version: 1,
    hash: config_hash,
    hashes,
    source: 'control-plane' as const,
    config: parsed,
    appliedAt: Date.now(),
  };
  await store.save(snapshot, { json: inflated, gzip: body }); // warm: the file exists, the map has grown
  await time('store', () => store.save(snapshot, { json: inflated, gzip: body }));
  await store.close();
  await rm(dir, { recursive: true, force: true });
  const baselineMs = median(baselines);
  const subjectMs = median(samples);
  return {
    name: `DP apply, ${(frame.byteLength / 1024).toFixed(0)} KiB frame (${(inflated.byteLength / 1e6).toFixed(1)} MB JSON)`,
    subject: 'frame in → … → saved in LMDB → ack out',
    subjectMs,
    baseline: 'gunzip + JSON.parse of the same bytes',
    baselineMs,
    ratio: subjectMs / baselineMs,
    notes: `breakdown: ${Object.entries(steps)
      .map(([k, v]) => `${k} ${v.toFixed(1)} ms`)
      .join(', ')}`,
  };
}

/**
 * `transport` whose connections note when a config frame (0x04) is handed to the DP
 * (`arrived`) and when the DP sends an ack (0x05, `acked`): the DP's own time for a config.
 */
function stamped(
  transport: TransportClient,
  stamps: { arrived: number; acked: number },
): TransportClient {
  return {
    async connect(options) {
      const connection = await transport.connect(options);
      return new Proxy(connection, {
        get(target, property, receiver) {
          if (property === 'send')
            return (frame: Uint8Array, sendOptions?: { signal?: AbortSignal }) => {
              if (frame[0] === 0x05) stamps.acked = performance.now();
              return target.send(frame, sendOptions);
            };
          if (property === Symbol.asyncIterator)
            return async function* () {
              for await (const frame of target) {
                if (frame[0] === 0x04) stamps.arrived = performance.now();
                yield frame;
              }
            };
          const value = Reflect.get(target, property, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    },
  };
}

/** 4. Coalescing: 20 setConfig calls in 100 ms with thin DPs (in another process) connected. */
async function coalescing(
  n: number,
  pair: { cert: string; key: string },
  trust: TrustVerifier,
  pushIntervalMs: number | undefined,
): Promise<BenchResult> {
  const transport = wsServer({ host: '127.0.0.1', port: 0, tls: pair });
  const cp = new ControlPlane({
    transport,
    trust,
    version: '3.10.0',
    ...(pushIntervalMs === undefined ? {} : { pushIntervalMs }),
  });
  await cp.start();
  const fleet = new Fleet();
  await fleet.request({
    cmd: 'thin',
    url: `wss://127.0.0.1:${transport.port}/planesync/v1`,
    tls: pair,
    n,
  });
  await connectedDataPlanes(cp, n);
  const config = await configOfCompressedSize(64 * 1024);
  const start = performance.now();
  // 20 calls spread over 100 ms, none waiting for the previous one to be delivered.
  const calls: Promise<{ version: number; hash: string }>[] = [];
  for (let i = 0; i < 20; i++) {
    calls.push(cp.setConfig({ ...config, round: i }));
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const burstMs = performance.now() - start;
  const newest = (await Promise.all(calls)).at(-1)!;
  await connectedDataPlanes(cp, n, newest.hash);
  const ms = performance.now() - start;
  const { frames } = await fleet.request<{ frames: number[] }>({ cmd: 'frames' });
  const sent = frames.reduce((a, b) => a + b, 0);
  await fleet.close();
  await cp.stop();
  return {
    name: `coalescing: 20 setConfig in ~100 ms, ${n} DPs, pushIntervalMs ${pushIntervalMs ?? '1000 (default)'}`,
    subject: 'config frames to the busiest DP',
    subjectMs: Math.max(...frames),
    baseline: 'versions published',
    baselineMs: 20,
    ratio: Math.max(...frames) / 20,
    unit: 'frames',
    notes: `${sent} frames in all (a queue would send ${20 * n}); the 20 calls took ${burstMs.toFixed(0)} ms; every DP acked version ${newest.version}, ${ms.toFixed(0)} ms after the first call`,
  };
}

/** 3. End to end: real DataPlanes (in another process) over wss; time to all in sync, per-DP spread. */
async function endToEnd(
  n: number,
  pair: { cert: string; key: string },
  trust: TrustVerifier,
): Promise<BenchResult> {
  const transport = wsServer({ host: '127.0.0.1', port: 0, tls: pair });
  const cp = new ControlPlane({ transport, trust, version: '3.10.0' });
  await cp.start();
  const fleet = new Fleet();
  await fleet.request({
    cmd: 'dataPlanes',
    url: `wss://127.0.0.1:${transport.port}/planesync/v1`,
    tls: pair,
    n,
  });
  await connectedDataPlanes(cp, n);
  const config = await configOfCompressedSize(64 * 1024);
  const applied = fleet.next('applied');
  const start = sharedNow();
  await cp.setConfig(config);
  const { at } = (await applied) as { at: number[] };
  const times = at.map((t) => t - start).sort((a, b) => a - b);
  await fleet.close();
  await cp.stop();
  const pct = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!;
  return {
    name: `end to end, ${n} real DataPlanes over wss, 64 KiB frame`,
    subject: 'setConfig → every DP applied',
    subjectMs: times.at(-1)!,
    baseline: 'first DP applied',
    baselineMs: times[0]!,
    ratio: times.at(-1)! / times[0]!,
    notes: `per-DP time to applied: p50 ${pct(0.5).toFixed(0)} ms, p99 ${pct(0.99).toFixed(0)} ms (the ${n} DPs share one other process)`,
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
  const fleet = new Fleet();
  await fleet.request({ cmd: 'storm', url: `wss://127.0.0.1:${port}/planesync/v1`, tls: pair, n });
  await connectedDataPlanes(cp, n, hash);
  await cp.stop();
  transport = wsServer({ host: '127.0.0.1', port, tls: pair });
  cp = new ControlPlane({ transport, trust, version: '3.10.0' });
  const delay = monitorEventLoopDelay({ resolution: 10 });
  await cp.start();
  await cp.setConfig(config); // the same config: every DP already has its hash
  const restartedAt = performance.now();
  await fleet.request({ cmd: 'mark' });
  delay.enable();
  await connectedDataPlanes(cp, n, hash);
  const allInSync = performance.now() - restartedAt;
  delay.disable();
  const { reconnectedAt, framesAfterMark } = await fleet.request<{
    reconnectedAt: number[];
    framesAfterMark: number;
  }>({ cmd: 'report' });
  await fleet.close();
  await cp.stop();
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
      `peak CP event-loop delay ${(delay.max / 1e6).toFixed(0)} ms; config frames sent to DPs already on the latest hash: ${framesAfterMark}`,
  };
}

/** The cluster benchmarks of issue "Benchmarks": fan-out, DP apply, end to end, coalescing, storm. */
export async function run(): Promise<BenchResult[]> {
  const cluster = await generateClusterCertificate();
  const pair = { cert: cluster.certificate, key: cluster.privateKey };
  const trust = new TrustVerifier({ mode: 'pinned', certificates: [cluster.certificate] });
  const results: BenchResult[] = [];
  const only = process.env.PLANESYNC_BENCH_ONLY;
  if (!only || only === 'memory') {
    results.push(await memoryPerDataPlane(FANOUT_SIZES.at(-1)!, pair, 1));
    results.push(await memoryPerDataPlane(FANOUT_SIZES.at(-1)!, pair));
  }
  if (!only || only === 'fan-out') {
    for (const n of FANOUT_SIZES) {
      for (const kib of FRAME_KIB) results.push(...(await fanOut(n, kib * 1024, pair, trust)));
    }
  }
  if (!only || only === 'own-work') {
    for (const kib of FRAME_KIB)
      results.push(await setConfigOwnWork(kib * 1024, trust, cluster.certificate));
    results.push(await setConfigOwnWork(1024 * 1024, trust, cluster.certificate, 'fresh'));
    results.push(await setConfigOwnWork(1024 * 1024, trust, cluster.certificate, 'changed'));
  }
  if (!only || only === 'apply') {
    for (const bytes of [64 * 1024, 1024 * 1024]) results.push(await dpApply(bytes, pair, trust));
  }
  if (!only || only === 'end-to-end') results.push(await endToEnd(200, pair, trust));
  if (!only || only === 'storm')
    results.push(await reconnectStorm(FANOUT_SIZES.at(-1)!, pair, trust));
  if (!only || only === 'coalescing') {
    for (const interval of [undefined, 0])
      results.push(await coalescing(FANOUT_SIZES.at(-1)!, pair, trust, interval));
  }
  return results;
}
