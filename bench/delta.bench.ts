/**
 * Incremental sync (issue 20): what a config delta saves against a whole-config push, with a
 * 25 000-entity config (bench/fixtures.ts) and one service changed per version, given to the
 * CP through `setConfig(whole)`.
 *
 * 1. Fan-out to 1 000 thin DPs over wss + mTLS (in another process, fleet.ts): bytes per DP
 *    and the CP's time from `setConfig` to the last ack. The whole-config side is the same
 *    change sent by a CP with the same options to thin DPs that offer only planesync/1; the
 *    delta side, to thin DPs that offer planesync/2. Rounds of the two alternate.
 * 2. One real DataPlane with `lmdbStore` applying that delta (frame in → inflate → apply →
 *    hash check → check what changed → LMDB, the delta beside the snapshot → ack), against one applying the whole config (a DataPlane
 *    speaking only planesync/1), each with its own CP over the memory transport; alternating.
 * 3. 1 000 thin DPs that fell 1, 9, 10 and 100 versions behind (each version one service
 *    changed), reconnecting: which get deltas (the default history is 10 versions), the bytes
 *    sent (cp.counters) and the time from their hellos until all acked the newest; against
 *    the same 1 000 hellos from DPs already in sync.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  type Connection,
  ControlPlane,
  type ControlPlaneCounters,
  DataPlane,
  declarativeConfigSchema,
  generateClusterCertificate,
  hashConfig,
  memoryTransport,
  planesyncProtocol,
  type TransportClient,
  TrustVerifier,
  validateConfig,
} from '@planesync/core';
import { compressConfig, MessageType } from '@planesync/core/protocol';
import { lmdbStore } from '@planesync/storage-lmdb';
import { wsServer } from '@planesync/transport-ws';
// Not exported: imported from source to time the CP's delta steps alone.
import { diffConfig, fingerprintConfig } from '../packages/core/src/config/delta.ts';
import { largeConfig } from './fixtures.ts';
import { Fleet } from './fleet.ts';
import { type BenchResult, spanProfiler } from './harness.ts';

const quick = process.env.PLANESYNC_BENCH_QUICK === '1';
const DPS = Number(process.env.PLANESYNC_BENCH_DPS) || (quick ? 100 : 1_000);
const ENTITIES = 25_000;
/** Thin DPs never send pings: the CP must not drop them while the other side's rounds run. */
const HEARTBEAT_TIMEOUT_MS = 600_000;
/** The plugins the fixture configures: a DP must declare them to be sent the config. */
const PLUGINS = [
  { name: 'key-auth', version: '3.10.0' },
  { name: 'rate-limiting', version: '3.10.0' },
];

type Pair = { cert: string; key: string };
type Config = Record<string, unknown>;

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/**
 * Versions of the 25 000-entity config, each the previous one with one service changed (its
 * host), as a host would give them to `setConfig(whole)`. Two editors made alike give the
 * same sequence.
 */
class Editor {
  #config: Config = largeConfig(ENTITIES);
  #edits = 0;

  get current(): Config {
    return this.#config;
  }

  /** The service the last `next` changed, as `updateConfig` would be given it. */
  changed: Config | undefined;

  next(): Config {
    const edit = ++this.#edits;
    const services = [...(this.#config.services as Config[])];
    const index = (edit * 37) % services.length;
    services[index] = { ...services[index], host: `moved-${edit}.internal.example.com` };
    this.changed = services[index];
    this.#config = { ...this.#config, services };
    return this.#config;
  }
}

/** Every DP's ack of each version, as the CP reports them (`configApplied`). */
class Acks {
  readonly #counts = new Map<number, number>();
  readonly #waiting = new Map<number, () => void>();

  constructor(
    cp: ControlPlane,
    private readonly n: number,
  ) {
    cp.on('configApplied', ({ version }) => {
      const count = (this.#counts.get(version) ?? 0) + 1;
      this.#counts.set(version, count);
      if (count === this.n) this.#waiting.get(version)?.();
    });
  }

  /** Resolves once `n` DPs acked `version`. */
  all(version: number): Promise<void> {
    if ((this.#counts.get(version) ?? 0) >= this.n) return Promise.resolve();
    return new Promise((resolve) => this.#waiting.set(version, resolve));
  }
}

/** How long any wait may take: a wait that never ends is a broken run (a DP refused), not a slow one. */
const WAIT_MS = 120_000;

/** `promise`, or a failure naming `what` once `WAIT_MS` passed. */
async function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`delta bench: ${what}, still waiting after ${WAIT_MS / 1000} s`)),
      WAIT_MS,
    );
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `done` every 10 ms, for at most `WAIT_MS`. */
async function until(done: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + WAIT_MS;
  while (!done()) {
    if (performance.now() > deadline)
      throw new Error(`delta bench: ${what}, still waiting after ${WAIT_MS / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Resolves once the CP counts `n` connected DPs (all on `hash`, when given). */
function connected(cp: ControlPlane, n: number, hash?: string): Promise<void> {
  return until(
    () =>
      cp.dataPlanes().filter((d) => d.connected && (hash === undefined || d.configHash === hash))
        .length >= n,
    `${n} DPs connected${hash ? ` on ${hash}` : ''}`,
  );
}

/** Resolves once the CP counts no connected DP. */
function allGone(cp: ControlPlane): Promise<void> {
  return until(() => !cp.dataPlanes().some((d) => d.connected), 'every DP disconnected');
}

/** What the counters moved by between two readings. */
function sentSince(before: ControlPlaneCounters, after: ControlPlaneCounters) {
  return {
    deltas: after.deltasSent - before.deltasSent,
    deltaBytes: after.deltaBytesSent - before.deltaBytesSent,
    wholes: after.wholeConfigsSent - before.wholeConfigsSent,
    wholeBytes: after.wholeConfigBytesSent - before.wholeConfigBytesSent,
    deltasEncoded: after.deltasEncoded - before.deltasEncoded,
    configsEncoded: after.configsEncoded - before.configsEncoded,
  };
}

/** A CP on loopback wss + mTLS, its thin DPs (offering `protocols`) in another process. */
async function thinCluster(n: number, protocols: string[], pair: Pair, trust: TrustVerifier) {
  const transport = wsServer({ host: '127.0.0.1', port: 0, tls: pair });
  const cp = new ControlPlane({
    transport,
    trust,
    version: '3.10.0',
    pushIntervalMs: 0, // each round is one version, pushed at once
    heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
  });
  await cp.start();
  const url = `wss://127.0.0.1:${transport.port}/planesync/v1`;
  const fleet = new Fleet();
  await fleet.request({ cmd: 'thin', url, tls: pair, n, protocols, plugins: PLUGINS });
  await connected(cp, n);
  return { cp, fleet, url, acks: new Acks(cp, n) };
}

/** 1. One service changed, pushed to `n` thin DPs: delta (planesync/2) vs whole (planesync/1). */
async function fanOut(n: number, pair: Pair, trust: TrustVerifier): Promise<BenchResult[]> {
  const sides = {
    delta: await thinCluster(n, ['planesync/2', 'planesync/1'], pair, trust),
    whole: await thinCluster(n, ['planesync/1'], pair, trust),
  };
  const editors = { delta: new Editor(), whole: new Editor() };
  const figures = {
    delta: { totals: [] as number[], resolved: [] as number[], perDp: [] as number[] },
    update: { totals: [] as number[], resolved: [] as number[], perDp: [] as number[] },
    whole: { totals: [] as number[], resolved: [] as number[], perDp: [] as number[] },
  };
  const odd: string[] = [];
  let deltasEncoded = 0;
  // PLANESYNC_BENCH_PROFILE=DIR: this process's CPU profile over the recorded updateConfig rounds.
  const profiler = spanProfiler(`update-${n}`);
  const round = async (
    side: 'delta' | 'update' | 'whole',
    config: Config,
    record: boolean,
    change?: Config,
  ) => {
    const { cp, acks } = sides[side === 'update' ? 'delta' : side];
    const before = cp.counters;
    const profiled = record && side === 'update';
    if (profiled) await profiler.start();
    const start = performance.now();
    // The incremental input: the one service changed, not the 25 000 entities.
    const { version } = change
      ? await cp.updateConfig({ upsert: { services: [change] } })
      : await cp.setConfig(config);
    const resolved = performance.now() - start;
    await within(acks.all(version), `${n} acks of version ${version} (${side})`);
    const total = performance.now() - start;
    if (profiled) await profiler.stop();
    const sent = sentSince(before, cp.counters);
    if (!record) return;
    const frames = sent.deltas + sent.wholes;
    if (frames !== n || (side === 'whole' ? sent.deltas : sent.wholes) !== 0)
      odd.push(`${side} v${version}: ${sent.deltas} deltas and ${sent.wholes} whole configs`);
    if (side !== 'whole') deltasEncoded += sent.deltasEncoded;
    figures[side].totals.push(total);
    figures[side].resolved.push(resolved);
    figures[side].perDp.push((sent.deltaBytes + sent.wholeBytes) / frames);
  };
  // Every DP starts with the whole base config (a DP on zeros is outside any history).
  for (const side of ['delta', 'whole'] as const) await round(side, editors[side].current, false);
  const warmup = 1;
  const rounds = quick ? 3 : 5;
  for (let i = 0; i < warmup + rounds; i++) {
    await round('delta', editors.delta.next(), i >= warmup);
    const updated = editors.delta.next();
    await round('update', updated, i >= warmup, editors.delta.changed);
    await round('whole', editors.whole.next(), i >= warmup);
    editors.whole.next(); // the whole side's config stays the delta side's
  }
  const { frames, deltas } = await sides.delta.fleet.request<{
    frames: number[];
    deltas: number[];
  }>({ cmd: 'frames' });
  const deltaFrames = deltas.reduce((a, b) => a + b, 0);
  await profiler.save();
  const steps = await cpSteps(editors.delta);
  for (const side of Object.values(sides)) {
    await side.fleet.close();
    await side.cp.stop();
  }
  const bytes = { delta: median(figures.delta.perDp), whole: median(figures.whole.perDp) };
  const time = {
    delta: median(figures.delta.totals),
    update: median(figures.update.totals),
    whole: median(figures.whole.totals),
  };
  const check =
    odd.length === 0
      ? `every delta round: ${n} delta frames, 0 whole configs; ${deltasEncoded} deltas encoded for ${rounds} versions; the planesync/2 DPs received ${deltaFrames} deltas in ${frames.reduce((a, b) => a + b, 0)} frames`
      : `UNEXPECTED: ${odd.join('; ')}`;
  return [
    {
      name: `one service changed of ${ENTITIES} entities, via setConfig(whole): bytes per DP`,
      subject: 'delta frame (planesync/2)',
      subjectMs: bytes.delta,
      baseline: 'whole config frame (planesync/1 DPs)',
      baselineMs: bytes.whole,
      ratio: bytes.delta / bytes.whole,
      unit: 'bytes',
      notes: `frame bytes as handed to the transport (cp.counters), ws and TLS framing not counted; ${check}`,
    },
    {
      name: `one service changed, ${n} thin DPs over wss+mTLS: setConfig → last ack`,
      subject: 'delta to planesync/2 DPs',
      subjectMs: time.delta,
      baseline: 'whole config to planesync/1 DPs',
      baselineMs: time.whole,
      ratio: time.delta / time.whole,
      notes:
        `setConfig resolved after ${median(figures.delta.resolved).toFixed(0)} ms (delta side) and ${median(figures.whole.resolved).toFixed(0)} ms (whole side): both validate, hash, gzip the whole config and fingerprint it for the history, then hand the frames to the sockets — the whole side its ${n} whole frames, the delta side none yet (its delta is made after, once per version, and shared by every DP); ` +
        `CP steps for one version, each alone: ${steps}; the same CP options on both sides (default history, pushIntervalMs 0); median of ${rounds} rounds each, alternating, after ${warmup} warm-up`,
    },
    {
      name: `one service changed, ${n} thin DPs over wss+mTLS: updateConfig → last ack`,
      subject: 'updateConfig (one upsert), delta to planesync/2 DPs',
      subjectMs: time.update,
      baseline: 'setConfig(whole), whole config to planesync/1 DPs',
      baselineMs: time.whole,
      ratio: time.update / time.whole,
      notes: `updateConfig resolved after ${median(figures.update.resolved).toFixed(0)} ms: it checks the one service and the references it touches, hashes services again, compresses again the one gzip member of the whole config (for DPs that need it) holding the service, and makes one delta; ${median(figures.update.perDp).toFixed(0)} bytes per DP`,
    },
  ];
}

/**
 * The CP's work for one more version, each step alone, as the broadcaster does them: the
 * whole config's (paid on both sides) and the delta's.
 */
async function cpSteps(editor: Editor): Promise<string> {
  const steps: Record<string, number> = {};
  const time = async <T>(name: string, fn: () => T | Promise<T>): Promise<T> => {
    const start = performance.now();
    const result = await fn();
    steps[name] = performance.now() - start;
    return result;
  };
  const previous = validateConfig(editor.current, declarativeConfigSchema) as Config;
  const base = fingerprintConfig(previous);
  const next = (await time('validate', () =>
    validateConfig(editor.next(), declarativeConfigSchema),
  )) as Config;
  await time('hash', () => hashConfig(next));
  await time('gzip whole', () => compressConfig(next));
  const prints = await time('fingerprint', () => fingerprintConfig(next));
  const delta = await time('diff', () => diffConfig(base, next, prints));
  await time('gzip delta', () => compressConfig(delta));
  return Object.entries(steps)
    .map(([k, v]) => `${k} ${v.toFixed(1)} ms`)
    .join(', ');
}

/**
 * A transport client whose connections call `received` when a config or delta frame reaches
 * the DataPlane and `acked` when the DataPlane sends its ack: the DP's own time, nothing of
 * the CP's.
 */
function timedClient(
  client: TransportClient,
  received: (type: number) => void,
  acked: () => void,
): TransportClient {
  return {
    ...(client.features ? { features: client.features } : {}),
    async connect(options) {
      const inner = await client.connect(options);
      const connection: Connection = {
        get remoteAddress() {
          return inner.remoteAddress;
        },
        get peerCertificates() {
          return inner.peerCertificates;
        },
        get metadata() {
          return inner.metadata;
        },
        get request() {
          return inner.request;
        },
        get serverName() {
          return inner.serverName;
        },
        get isClosed() {
          return inner.isClosed;
        },
        closed: inner.closed,
        send(frame, sendOptions) {
          if (frame[0] === MessageType.ack) acked();
          return inner.send(frame, sendOptions);
        },
        close: (code, reason) => inner.close(code, reason),
        async *[Symbol.asyncIterator]() {
          for await (const frame of inner) {
            if (frame[0] === MessageType.config || frame[0] === MessageType.delta)
              received(frame[0]);
            yield frame;
          }
        },
      };
      return connection;
    },
  };
}

const mean = (values: readonly number[]) =>
  values.reduce((sum, value) => sum + value, 0) / Math.max(1, values.length);

/** 2. One DataPlane (lmdbStore) applying the delta of one service changed vs the whole config. */
async function dpApply(pair: Pair, trust: TrustVerifier): Promise<BenchResult> {
  const dirs: string[] = [];
  const side = async (protocols: string[]) => {
    const dir = await mkdtemp(join(tmpdir(), 'planesync-bench-delta-'));
    dirs.push(dir);
    const { server, client } = memoryTransport({ certificates: [pair.cert] });
    const cp = new ControlPlane({ transport: server, trust, version: '3.10.0', pushIntervalMs: 0 });
    await cp.start();
    const store = lmdbStore({ prefix: dir });
    const timing: { type: number; receivedAt: number; ms: number; done: () => void } = {
      type: 0,
      receivedAt: 0,
      ms: 0,
      done: () => undefined,
    };
    const dp = new DataPlane({
      transport: timedClient(
        client({ certificates: [pair.cert] }),
        (type) => {
          timing.type = type;
          timing.receivedAt = performance.now();
        },
        () => {
          if (!timing.receivedAt) return;
          timing.ms = performance.now() - timing.receivedAt;
          timing.receivedAt = 0;
          timing.done();
        },
      ),
      trust,
      version: '3.10.0',
      storage: store,
      plugins: PLUGINS,
      protocol: planesyncProtocol({ versions: protocols }),
    });
    const up = new Promise((resolve) => dp.once('connected', resolve));
    await dp.start();
    await within(up, 'the DataPlane connected');
    const editor = new Editor();
    /** Publishes the editor's next version; resolves with the DP's time and the frame's type. */
    const apply = async (config: Config) => {
      const acked = new Promise<void>((resolve) => {
        timing.done = resolve;
      });
      await cp.setConfig(config);
      await within(acked, "the DataPlane's ack");
      return { ms: timing.ms, type: timing.type };
    };
    return { cp, dp, store, editor, apply };
  };
  const delta = await side(['planesync/2', 'planesync/1']);
  const whole = await side(['planesync/1']);
  await delta.apply(delta.editor.current);
  await whole.apply(whole.editor.current);
  const samples = { delta: [] as number[], whole: [] as number[] };
  const odd: string[] = [];
  const warmup = 2;
  // 17 rounds: the store keeps up to 16 deltas beside its snapshot, so one delta of the
  // rounds also writes the whole config (compaction); the mean shows what that costs.
  const rounds = quick ? 5 : 17;
  for (let i = 0; i < warmup + rounds; i++) {
    const d = await delta.apply(delta.editor.next());
    const w = await whole.apply(whole.editor.next());
    if (d.type !== MessageType.delta) odd.push(`delta side got frame type ${d.type}`);
    if (w.type !== MessageType.config) odd.push(`whole side got frame type ${w.type}`);
    if (i < warmup) continue;
    samples.delta.push(d.ms);
    samples.whole.push(w.ms);
  }
  // Where the delta's time goes, each step alone on the same config, as apply.ts does them.
  const current = delta.cp.currentConfig!;
  const { deltaBytesSent, deltasSent, wholeConfigBytesSent, wholeConfigsSent } = delta.cp.counters;
  for (const one of [delta, whole]) {
    await one.dp.stop();
    await one.store.close();
    await one.cp.stop();
  }
  const steps: Record<string, number> = {};
  const time = async (name: string, fn: () => unknown) => {
    const start = performance.now();
    await fn();
    steps[name] = performance.now() - start;
  };
  const config = current.config as Config;
  const known = { ...current.hashes } as Record<string, string>;
  delete known.services;
  await time('hash (services only)', () => hashConfig(config, { known }));
  const stepsDir = await mkdtemp(join(tmpdir(), 'planesync-bench-delta-'));
  dirs.push(stepsDir);
  const store = lmdbStore({ prefix: stepsDir });
  const snapshot = {
    version: current.version,
    hash: current.hash,
    hashes: current.hashes,
    source: 'control-plane' as const,
    config,
    appliedAt: Date.now(),
  };
  await store.save(snapshot); // warm
  await time('save whole (serialize + LMDB put, each 17th save)', () => store.save(snapshot));
  const editor = new Editor();
  const edited = { ...config, services: editor.next().services };
  const deltaJson = new TextEncoder().encode(
    JSON.stringify(diffConfig(fingerprintConfig(config), edited)),
  );
  await time('save the delta (LMDB put beside the snapshot)', () =>
    store.save(
      { ...snapshot, version: snapshot.version + 1, hash: 'f'.repeat(32), config: edited },
      { delta: { base: snapshot.hash, json: deltaJson } },
    ),
  );
  await store.close();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  const subjectMs = median(samples.delta);
  const baselineMs = median(samples.whole);
  return {
    name: `DP apply, one service changed of ${ENTITIES} entities (lmdbStore)`,
    subject: `delta frame (${kib(deltaBytesSent / Math.max(1, deltasSent))}) → ack`,
    subjectMs,
    baseline: `whole config frame (${kib(wholeConfigBytesSent / Math.max(1, wholeConfigsSent))}) → ack`,
    baselineMs,
    ratio: subjectMs / baselineMs,
    notes:
      `timed on the DP's connection, frame in to ack out; median of ${rounds} alternating rounds after ${warmup} warm-up ` +
      `(mean ${mean(samples.delta).toFixed(1)} ms against ${mean(samples.whole).toFixed(1)}, the delta side's slowest ${Math.max(...samples.delta).toFixed(1)}: the store's compaction); ` +
      `delta steps alone: ${Object.entries(steps)
        .map(([k, v]) => `${k} ${v.toFixed(1)} ms`)
        .join(', ')}` +
      (odd.length ? `; UNEXPECTED: ${odd.join('; ')}` : ''),
  };
}

/**
 * Resolves once `n` DPs serve `hash`: connected with it (their hello said so) or acked it. The
 * CP's own events, no polling.
 */
function serving(cp: ControlPlane, n: number, hash: string): Promise<void> {
  return new Promise((resolve) => {
    let count = 0;
    const done = () => {
      if (++count < n) return;
      cp.off('dataPlaneConnected', onConnected);
      cp.off('configApplied', onApplied);
      resolve();
    };
    const onConnected = (status: { configHash: string }) => {
      if (status.configHash === hash) done();
    };
    const onApplied = (event: { hash: string }) => {
      if (event.hash === hash) done();
    };
    cp.on('dataPlaneConnected', onConnected);
    cp.on('configApplied', onApplied);
  });
}

/**
 * 3. `n` thin DPs (planesync/2) disconnect, the CP publishes `lag` versions (one service
 * changed each, one after the other), and they reconnect, each with the hash it acked. The
 * TLS handshakes and upgrades are done first and not timed (they are the same whatever the
 * lag: ~10 s for 1 000 on this machine); the time is from the 1 000 hellos, sent at once,
 * until every DP serves the newest. Lag 0 is the baseline: the same hellos with nothing to
 * send. Lag 9 is there to show where the history ends.
 */
async function catchUp(n: number, pair: Pair, trust: TrustVerifier): Promise<BenchResult[]> {
  const { cp, fleet, url } = await thinCluster(n, ['planesync/2', 'planesync/1'], pair, trust);
  const editor = new Editor();
  const { hash: first } = await cp.setConfig(editor.current);
  await connected(cp, n, first);
  const lags = quick ? [0, 1, 9, 10] : [0, 1, 9, 10, 100];
  const rows: Array<{
    lag: number;
    ms: number;
    publishMs: number;
    sent: ReturnType<typeof sentSince>;
    framesPerDp: number;
  }> = [];
  for (const lag of lags) {
    await fleet.request({ cmd: 'disconnect' });
    await allGone(cp);
    const publishStart = performance.now();
    let hash = cp.currentConfig!.hash;
    for (let i = 0; i < lag; i++) ({ hash } = await cp.setConfig(editor.next()));
    const publishMs = performance.now() - publishStart;
    await fleet.request({
      cmd: 'thin',
      url,
      tls: pair,
      n,
      resume: true,
      deferHello: true,
      protocols: ['planesync/2'],
      plugins: PLUGINS,
    });
    const before = cp.counters;
    const caughtUp = serving(cp, n, hash);
    const start = performance.now();
    await fleet.request({ cmd: 'hello' });
    await within(caughtUp, `${n} DPs ${lag} versions behind catching up`);
    const ms = performance.now() - start;
    const { frames } = await fleet.request<{ frames: number[] }>({ cmd: 'frames' });
    rows.push({
      lag,
      ms,
      publishMs,
      sent: sentSince(before, cp.counters),
      framesPerDp: Math.max(...frames),
    });
  }
  await fleet.close();
  await cp.stop();
  const inSync = rows.find((row) => row.lag === 0)!;
  return rows
    .filter((row) => row.lag > 0)
    .map(({ lag, ms, publishMs, sent, framesPerDp }) => {
      const kind =
        sent.deltas === n && sent.wholes === 0
          ? 'deltas'
          : sent.wholes === n && sent.deltas === 0
            ? 'whole configs'
            : `${sent.deltas} deltas and ${sent.wholes} whole configs`;
      return {
        name: `${n} DPs ${lag} version${lag === 1 ? '' : 's'} behind reconnect: ${kind}`,
        subject: 'hellos → all acked the newest',
        subjectMs: ms,
        baseline: `the same ${n} hellos in sync (nothing sent)`,
        baselineMs: inSync.ms,
        ratio: ms / inSync.ms,
        notes:
          `sent ${sent.deltas} deltas (${mib(sent.deltaBytes)}, ${kib(sent.deltaBytes / Math.max(1, sent.deltas))} each) and ${sent.wholes} whole configs (${mib(sent.wholeBytes)}); ` +
          `${sent.deltasEncoded} deltas encoded; at most ${framesPerDp} frame${framesPerDp === 1 ? '' : 's'} per DP; ` +
          `the ${lag} version${lag === 1 ? '' : 's'} took ${(publishMs / 1000).toFixed(1)} s to publish (DPs away); one run`,
      };
    });
}

/** The incremental-sync benchmarks of issue 20. */
export async function run(): Promise<BenchResult[]> {
  const cluster = await generateClusterCertificate();
  const pair = { cert: cluster.certificate, key: cluster.privateKey };
  const trust = new TrustVerifier({ mode: 'pinned', certificates: [cluster.certificate] });
  const results: BenchResult[] = [];
  const only = process.env.PLANESYNC_BENCH_ONLY;
  const timed = async (name: string, part: () => Promise<BenchResult | BenchResult[]>) => {
    if (only && only !== name) return;
    const start = performance.now();
    results.push(...[await part()].flat());
    console.error(`delta/${name}: ${((performance.now() - start) / 1000).toFixed(1)} s`);
  };
  await timed('fan-out', () => fanOut(DPS, pair, trust));
  await timed('apply', () => dpApply(pair, trust));
  await timed('catch-up', () => catchUp(DPS, pair, trust));
  return results;
}
