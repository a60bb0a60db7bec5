/**
 * The DP side of the cluster benchmarks, run in its own process (see fleet.ts) so that what N
 * DPs pay — TLS, framing, inflating, applying — is never counted as the CP's time or memory.
 * Commands arrive over IPC; every reply carries the command's id.
 */
import { setMaxListeners } from 'node:events';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type Connection,
  ControlPlane,
  DataPlane,
  silentLogger,
  TrustVerifier,
} from '@planesync/core';
import { decodeFrame, encodeMessage, MessageType } from '@planesync/core/protocol';
import { wsClient, wsServer } from '@planesync/transport-ws';
import { WebSocket, WebSocketServer } from 'ws';
import type { FleetCommand } from './fleet.ts';
import { spanProfiler } from './harness.ts';

type Tls = { cert: string; key: string };
type Plugin = { name: string; version: string };

const connections: Connection[] = [];
let profiler: ReturnType<typeof spanProfiler> | undefined;
const rawSockets: WebSocket[] = [];
const dataPlanes: DataPlane[] = [];
let frames: number[] = [];
/** Of those frames, the deltas. */
let deltas: number[] = [];
/** What each thin DP acked last (kept across `disconnect`, offered again on `thin` with `resume`). */
let states: Array<{ hash: string; version: number }> = [];
/** Hellos of thin DPs connected with `deferHello`, which `hello` sends. */
const deferredHellos: Array<() => Promise<void>> = [];
/** The thin DPs' connections, which `disconnect` closes. */
const thinConnections: Connection[] = [];
let rawReceived = 0;
let rawExpected = 0;
let stopping = false;
let stop = new AbortController();
let stormClients: Promise<void>[] = [];
let markedAt = 0;
const reconnectedAt: number[] = [];
let framesAfterMark = 0;

const servers: Array<() => Promise<unknown>> = [];

/** What the failover DPs did since `failoverWatch`: who dropped, when each was back, configs. */
const failover = {
  watching: false,
  since: 0,
  disconnected: new Set<DataPlane>(),
  reconnectedAt: new Map<DataPlane, number>(),
  configs: 0,
  delay: monitorEventLoopDelay({ resolution: 10 }),
};

/** This process's RSS and JS heap after a full collection. */
function memory(): { rss: number; heap: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const { rss, heapUsed } = process.memoryUsage();
  return { rss, heap: heapUsed };
}

/** Milliseconds on a clock both processes share. */
const now = () => performance.timeOrigin + performance.now();

function hello(
  id: string,
  configHash: string,
  configVersion: number,
  protocols: readonly string[] = ['planesync/1'],
  plugins: readonly Plugin[] = [],
): Uint8Array {
  return encodeMessage('hello', {
    protocol: protocols[0]!,
    protocols: [...protocols],
    nodeId: id,
    hostname: id,
    version: '3.10.0',
    labels: {},
    plugins: [...plugins],
    configHash,
    configVersion,
  });
}

/**
 * A thin DP: hello (offering `protocols`, with the hash and version it last acked), then an
 * ack for every config frame — whole (0x04) or delta (0x0b) — the moment it arrives, with the
 * header's version and hash, never inflating or applying it.
 */
async function thin(
  url: string,
  tls: Tls,
  index: number,
  protocols: readonly string[],
  plugins: readonly Plugin[],
  deferHello: boolean,
): Promise<Connection> {
  const id = `thin-${index}`;
  const metadata = { node_id: id, node_hostname: id, node_version: '3.10.0' };
  const connection = await wsClient({ url, tls }).connect({ metadata });
  const state = states[index] ?? { hash: '0'.repeat(32), version: 0 };
  const sendHello = () => connection.send(hello(id, state.hash, state.version, protocols, plugins));
  if (deferHello) deferredHellos.push(sendHello);
  else await sendHello();
  void (async () => {
    // Not `for await`: a suspended loop keeps its variables, and a thousand thin DPs each
    // holding the last config frame until the next one comes would hold a gigabyte at 1 MiB.
    // A DataPlane lets each frame go once it is read (handleFrame), and so does this.
    const reader = connection[Symbol.asyncIterator]();
    for (let next = await reader.next(); !next.done; next = await reader.next()) {
      const ack = ackFor(index, next.value);
      (next as { value: unknown }).value = undefined;
      if (ack) await connection.send(ack).catch(() => undefined);
    }
  })();
  return connection;
}

/** The ack a thin DP answers `frame` with (a whole config or a delta), counting it. */
function ackFor(index: number, frame: Uint8Array): Uint8Array | undefined {
  if (frame[0] !== MessageType.config && frame[0] !== MessageType.delta) return undefined;
  const message = decodeFrame(frame);
  if (message.type !== 'config' && message.type !== 'delta') return undefined;
  frames[index]!++;
  if (message.type === 'delta') deltas[index]!++;
  const { version, hash } = message.body.header;
  states[index] = { hash, version };
  return encodeMessage('ack', { version, hash });
}

/**
 * A raw ws client over TLS that counts the messages it receives — and, with `ack`, answers each
 * with a message of an ack frame's size, as a thin DP does (without decoding anything).
 */
async function raw(url: string, tls: Tls, onMessage: () => void, ack: boolean): Promise<WebSocket> {
  const ws = new WebSocket(url, {
    cert: tls.cert,
    key: tls.key,
    rejectUnauthorized: false,
    perMessageDeflate: false,
    maxPayload: 64 * 1024 * 1024,
  });
  ws.on('message', () => {
    onMessage();
    if (ack) ws.send(RAW_ACK);
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return ws;
}

/** What an acking raw client answers: the bytes of a thin DP's ack. */
const RAW_ACK = encodeMessage('ack', { version: 1, hash: '0'.repeat(32) });

/** A thin DP that reconnects after 5–10 s, as a DataPlane does, and remembers its hash. */
async function stormClient(url: string, tls: Tls, index: number, hash: string): Promise<void> {
  let configHash = hash;
  const id = `storm-${index}`;
  while (!stopping) {
    try {
      const connection = await wsClient({ url, tls }).connect({
        metadata: { node_id: id, node_hostname: id, node_version: '3.10.0' },
      });
      connections.push(connection);
      if (markedAt) reconnectedAt.push(now() - markedAt);
      await connection.send(hello(id, configHash, 1));
      for await (const frame of connection) {
        if (frame[0] !== MessageType.config) continue;
        if (markedAt) framesAfterMark++;
        const message = decodeFrame(frame);
        if (message.type !== 'config') continue;
        configHash = message.body.header.hash;
        const { version } = message.body.header;
        await connection
          .send(encodeMessage('ack', { version, hash: configHash }))
          .catch(() => undefined);
      }
    } catch {
      // refused while the CP is down: wait and retry, as a DataPlane does
    }
    if (stopping) return;
    await sleep(5_000 + Math.random() * 5_000, undefined, { signal: stop.signal }).catch(
      () => undefined,
    );
  }
}

/** Runs `open` for 0…n-1, 50 at a time, so a thousand handshakes do not all start at once. */
async function inBatches<T>(n: number, open: (index: number) => Promise<T>): Promise<T[]> {
  const all: T[] = [];
  for (let i = 0; i < n; i += 50) {
    all.push(
      ...(await Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, k) => open(i + k)))),
    );
  }
  return all;
}

async function handle(command: FleetCommand): Promise<unknown> {
  switch (command.cmd) {
    case 'thin': {
      frames = new Array<number>(command.n).fill(0);
      deltas = new Array<number>(command.n).fill(0);
      if (!command.resume) states = [];
      const protocols = command.protocols ?? ['planesync/1'];
      const plugins = command.plugins ?? [];
      const opened = await inBatches(command.n, (i) =>
        thin(command.url, command.tls, i, protocols, plugins, command.deferHello === true),
      );
      thinConnections.push(...opened);
      connections.push(...opened);
      return { connected: command.n };
    }
    case 'hello': {
      const sending = deferredHellos.splice(0);
      await Promise.all(sending.map((send) => send()));
      return { sent: sending.length };
    }
    case 'disconnect': {
      const closing = thinConnections.splice(0);
      await Promise.all(closing.map((c) => c.close()));
      const open = new Set(closing);
      for (let i = connections.length - 1; i >= 0; i--)
        if (open.has(connections[i]!)) connections.splice(i, 1);
      return { closed: closing.length };
    }
    case 'raw': {
      rawReceived = 0;
      rawExpected = command.expect;
      const onMessage = () => {
        if (++rawReceived === rawExpected) process.send!({ event: 'received', at: now() });
      };
      rawSockets.push(
        ...(await inBatches(command.n, () =>
          raw(command.url, command.tls, onMessage, command.ack === true),
        )),
      );
      return { connected: command.n };
    }
    case 'rawReset':
      rawReceived = 0;
      rawExpected = command.expect;
      return {};
    case 'frames':
      return { frames, deltas };
    case 'storm':
      stopping = false;
      stop = new AbortController();
      setMaxListeners(command.n + 10, stop.signal); // one sleeping client each
      markedAt = 0;
      reconnectedAt.length = 0;
      framesAfterMark = 0;
      stormClients = Array.from({ length: command.n }, (_, i) =>
        stormClient(command.url, command.tls, i, '0'.repeat(32)),
      );
      return {};
    case 'mark':
      markedAt = now();
      return {};
    case 'report':
      return { reconnectedAt: [...reconnectedAt], framesAfterMark };
    case 'dataPlanes': {
      const trust = new TrustVerifier({ mode: 'pinned', certificates: [command.tls.cert] });
      const applied: number[] = [];
      await inBatches(command.n, async (i) => {
        const dp = new DataPlane({
          transport: wsClient({ url: command.url, tls: command.tls }),
          trust,
          version: '3.10.0',
          hostname: `dp-${i}`,
        });
        dataPlanes.push(dp);
        dp.on('config', (snapshot) => {
          if (snapshot.source !== 'control-plane') return;
          applied.push(now());
          if (applied.length === command.n) process.send!({ event: 'applied', at: applied });
        });
        const connected = new Promise((resolve) => dp.once('connected', resolve));
        await dp.start();
        await connected;
      });
      return { connected: command.n };
    }
    case 'failoverDataPlanes': {
      const trust = new TrustVerifier({ mode: 'pinned', certificates: [command.tls.cert] });
      await inBatches(command.n, async (k) => {
        const i = command.from + k;
        const order = command.urls.map((_, j) => command.urls[(i + j) % command.urls.length]!);
        const dp = new DataPlane({
          // A list: the failover client, starting with this DP's CP (the real 5–10 s window).
          transport: order.map((url) => wsClient({ url, tls: command.tls })),
          trust,
          version: '3.10.0',
          nodeId: `failover-${i}`,
          hostname: `dp-${i}`,
          logger: silentLogger,
        });
        dataPlanes.push(dp);
        dp.on('disconnected', () => {
          if (!failover.watching) return;
          failover.disconnected.add(dp);
          failover.reconnectedAt.delete(dp);
        });
        dp.on('connected', () => {
          if (failover.watching && failover.disconnected.has(dp))
            failover.reconnectedAt.set(dp, now() - failover.since);
        });
        dp.on('config', (snapshot) => {
          if (failover.watching && snapshot.source === 'control-plane') failover.configs++;
        });
        const connected = new Promise((resolve) => dp.once('connected', resolve));
        await dp.start();
        await connected;
      });
      return { connected: command.n };
    }
    case 'failoverWatch':
      failover.delay.reset();
      failover.delay.enable();
      failover.watching = true;
      failover.since = now();
      failover.disconnected.clear();
      failover.reconnectedAt.clear();
      failover.configs = 0;
      return {};
    case 'failoverReport': {
      const hashes: Record<string, number> = {};
      for (const dp of dataPlanes) {
        const key = `${dp.status.connection}:${dp.status.hash ?? 'none'}`;
        hashes[key] = (hashes[key] ?? 0) + 1;
      }
      return {
        disconnected: failover.disconnected.size,
        reconnectedMs: [...failover.reconnectedAt.values()].sort((a, b) => a - b),
        configs: failover.configs,
        states: hashes,
        // How late this process's event loop ran: the DPs' own share of the time.
        maxDelayMs: failover.watching ? failover.delay.max / 1e6 : 0,
        cpuMs: process.cpuUsage().user / 1000,
      };
    }
    case 'serveControlPlane': {
      const transport = wsServer({ host: '127.0.0.1', port: 0, tls: command.tls });
      const cp = new ControlPlane({
        transport,
        trust: new TrustVerifier({ mode: 'pinned', certificates: [command.tls.cert] }),
        version: '3.10.0',
      });
      await cp.start();
      servers.push(() => cp.stop());
      return { url: `wss://127.0.0.1:${transport.port}/planesync/v1`, ...memory() };
    }
    case 'serveRaw': {
      const https = createServer({
        cert: command.tls.cert,
        key: command.tls.key,
        requestCert: true, // mutual TLS, as the CP's transport
        rejectUnauthorized: false,
      });
      const wss = new WebSocketServer({ server: https, perMessageDeflate: false });
      await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
      servers.push(async () => {
        for (const client of wss.clients) client.terminate();
        wss.close();
        https.closeAllConnections();
        await new Promise((resolve) => https.close(resolve));
      });
      return { url: `wss://127.0.0.1:${(https.address() as AddressInfo).port}/`, ...memory() };
    }
    case 'memory':
      return memory();
    case 'profile': {
      // PLANESYNC_BENCH_PROFILE=DIR: CPU profiles of this process's share of chosen rounds.
      profiler ??= spanProfiler(command.name);
      await profiler[command.action]();
      if (command.action === 'save') profiler = undefined;
      return {};
    }
    case 'cpu': {
      // CPU time this process has used (user + system, ms), to split a round's time by side.
      const { user, system } = process.cpuUsage();
      return { ms: (user + system) / 1000 };
    }
    case 'close':
      await Promise.all(servers.splice(0).map((close) => close()));
      stopping = true;
      stop.abort();
      await Promise.all(connections.splice(0).map((c) => c.close()));
      for (const ws of rawSockets.splice(0)) ws.terminate();
      await Promise.all(dataPlanes.splice(0).map((dp) => dp.stop()));
      await Promise.allSettled(stormClients.splice(0));
      return {};
  }
}

process.on('message', (command: FleetCommand) => {
  handle(command).then(
    (result) => process.send!({ id: command.id, result }),
    (error: unknown) => process.send!({ id: command.id, error: String(error) }),
  );
});
process.on('disconnect', () => process.exit(0));
