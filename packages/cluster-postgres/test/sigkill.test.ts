import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import {
  type ConfigSnapshot,
  DataPlane,
  generateClusterCertificate,
  type PlanesyncError,
  silentLogger,
  TrustVerifier,
} from '@planesync/core';
import { wsClient } from '@planesync/transport-ws';
import { afterEach, describe, expect, it } from 'vitest';
import { freshDatabase, skipReason } from './postgres.ts';

const CHILD = fileURLToPath(new URL('./cp-child.ts', import.meta.url));

/** A line cp-child.ts wrote on its stdout. */
interface Line {
  event: string;
  [key: string]: unknown;
}

/** A control plane in a child process (cp-child.ts): what it said, and commands to it. */
class CpProcess {
  readonly lines: Line[] = [];
  port = 0;
  #stderr = '';
  #wake = new Set<() => void>();
  #commands = 0;
  readonly #exited: Promise<void>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      this.lines.push(JSON.parse(line) as Line);
      for (const wake of this.#wake) wake();
    });
    child.stderr!.on('data', (chunk) => {
      this.#stderr += chunk;
    });
    // A child killed mid-write must not fail the test process with EPIPE.
    child.stdin!.on('error', () => undefined);
    this.#exited = new Promise((resolve) => {
      child.once('exit', () => {
        resolve();
        for (const wake of this.#wake) wake();
      });
    });
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * The first line at index `from` or later that `match` accepts; rejects when `timeoutMs`
   * passes or the child exits first.
   */
  line(match: (line: Line) => boolean, { from = 0, timeoutMs = 10_000 } = {}): Promise<Line> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.lines.slice(from).find(match);
        if (found) return finish(() => resolve(found));
        if (!this.alive)
          return finish(() => reject(new Error(`${this.name} exited:\n${this.#stderr}`)));
      };
      const timer = setTimeout(
        () => finish(() => reject(new Error(`${this.name}: no such line in ${timeoutMs} ms`))),
        timeoutMs,
      );
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        this.#wake.delete(check);
        settle();
      };
      this.#wake.add(check);
      check();
    });
  }

  /** Sends a command and returns its answer (cp-child.ts says which there are). */
  async command(cmd: string, extra: Record<string, unknown> = {}): Promise<Line> {
    const id = ++this.#commands;
    this.child.stdin!.write(`${JSON.stringify({ id, cmd, ...extra })}\n`);
    const answer = await this.line((line) => line.event === 'answer' && line.id === id);
    if (answer.error) throw new Error(`${this.name} ${cmd}: ${answer.error}`);
    return answer;
  }

  /** SIGKILL, unless it has exited already; resolves once it has (at most 5 s). */
  async kill(): Promise<void> {
    if (this.alive) this.child.kill('SIGKILL');
    await Promise.race([this.#exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
  }
}

/** Resolves with the next `event` of `dp`; rejects after `timeoutMs`. */
function next(dp: DataPlane, event: 'connected' | 'disconnected', timeoutMs: number) {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      dp.off(event, done);
      reject(new Error(`no ${event} event in ${timeoutMs} ms`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    dp.once(event, done);
  });
}

/** Polls `condition` until it holds; rejects after `timeoutMs`. */
async function until(condition: () => Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A config large enough that a delta is worth sending; `n` moves one service. */
const config = (n: number) => ({
  _format_version: '3.0',
  services: Array.from({ length: 40 }, (_, i) => ({
    name: `s${i}`,
    host: i === 0 ? `moved-${n}.internal` : `h${i}.internal`,
  })),
});

const title = 'a control plane killed with SIGKILL, in processes';
describe.skipIf(skipReason)(skipReason ? `${title} (skipped: ${skipReason})` : title, () => {
  const children: CpProcess[] = [];
  let dp: DataPlane | undefined;
  let database: { url: string; drop(): Promise<void> } | undefined;
  afterEach(async () => {
    try {
      await dp?.stop();
    } finally {
      dp = undefined;
      await Promise.all(children.splice(0).map((child) => child.kill()));
      await database?.drop();
      database = undefined;
    }
  });

  /** A CP process on the test database, started and listening on a port the OS chose. */
  async function startCp(name: string, url: string, tls: { cert: string; key: string }) {
    const child = spawn(
      process.execPath,
      ['--conditions=@planesync/source', '--import', 'tsx', CHILD],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: {
          ...process.env,
          PLANESYNC_CHILD_POSTGRES: url,
          PLANESYNC_CHILD_ID: name,
          PLANESYNC_CHILD_CERT: tls.cert,
          PLANESYNC_CHILD_KEY: tls.key,
        },
      },
    );
    const cp = new CpProcess(name, child);
    children.push(cp); // killed after the test, whatever happens
    const listening = await cp.line((line) => line.event === 'listening', { timeoutMs: 30_000 });
    cp.port = Number(listening.port);
    return cp;
  }

  it('the DP reconnects to the other CP in one reconnect round and is sent no config for its current hash; a config published on the survivor then reaches it', {
    timeout: 90_000,
  }, async () => {
    database = await freshDatabase();
    const cluster = await generateClusterCertificate();
    const tls = { cert: cluster.certificate, key: cluster.privateKey };
    const [a, b] = await Promise.all([
      startCp('cp-a', database.url, tls),
      startCp('cp-b', database.url, tls),
    ]);
    const first = await a.command('setConfig', { config: config(1) });
    // B follows A's version through PostgreSQL before the DP needs it.
    await until(
      async () => ((await b.command('status')).current as { hash?: string })?.hash === first.hash,
      10_000,
      'cp-b following the first version',
    );

    const reconnectDelayMs = [100, 300] as const;
    dp = new DataPlane({
      transport: [a, b].map((cp) =>
        wsClient({ url: `wss://127.0.0.1:${cp.port}/planesync/v1`, tls }),
      ),
      trust: new TrustVerifier({ mode: 'pinned', certificates: [cluster.certificate] }),
      version: '3.10.0',
      reconnectDelayMs,
      logger: silentLogger,
    });
    // The configs the DP applied from a CP (it starts on the empty config, having no cache).
    const applied: ConfigSnapshot[] = [];
    const failedAttempts: PlanesyncError[] = [];
    dp.on('config', (snapshot) => {
      if (snapshot.source === 'control-plane') applied.push(snapshot);
    });
    dp.on('error', (error) => failedAttempts.push(error));
    await dp.start();
    await dp.waitForConfig({ hash: String(first.hash), signal: AbortSignal.timeout(10_000) });
    const nodeId = dp.status.nodeId;
    const connectedTo = (line: Line) =>
      line.event === 'dataPlaneConnected' && line.nodeId === nodeId;
    const serving = await Promise.any([a, b].map((cp) => cp.line(connectedTo).then(() => cp)));
    const survivor = serving === a ? b : a;
    expect(applied.map((snapshot) => snapshot.hash)).toEqual([first.hash]);

    const survivorSaid = survivor.lines.length;
    const disconnected = next(dp, 'disconnected', 10_000);
    const reconnected = next(dp, 'connected', 10_000);
    const killedAt = performance.now();
    serving.child.kill('SIGKILL');
    await disconnected;
    await reconnected;
    const reconnectMs = performance.now() - killedAt;
    await survivor.line(connectedTo, { from: survivorSaid });
    expect(serving.child.signalCode).toBe('SIGKILL');
    // The failover client went from the dead CP to the survivor in its first round: no
    // attempt failed, so the DP never waited a second reconnect delay.
    expect(failedAttempts).toEqual([]);
    expect(dp.status).toMatchObject({ connection: 'connected', failedAttempts: 0 });
    // One delay (≤ 300 ms) and a TLS handshake; the bound leaves room for a loaded machine.
    expect(reconnectMs).toBeLessThan(reconnectDelayMs[1] + 4_000);
    // Its hash is the cluster's current one: the survivor sent it nothing.
    const afterReconnect = await survivor.command('status');
    expect(afterReconnect.counters).toMatchObject({ wholeConfigsSent: 0, deltasSent: 0 });
    expect(dp.status.hash).toBe(first.hash);

    const second = await survivor.command('setConfig', { config: config(2) });
    expect(second.version).toBe(Number(first.version) + 1);
    await dp.waitForConfig({ hash: String(second.hash), signal: AbortSignal.timeout(10_000) });
    await survivor.line(
      (line) =>
        line.event === 'configApplied' && line.nodeId === nodeId && line.hash === second.hash,
      { from: survivorSaid },
    );
    // Exactly one config frame since the kill, the new version's, as a delta from the
    // version the survivor followed; the DP applied nothing in between.
    const afterPublish = await survivor.command('status');
    expect(afterPublish.counters).toMatchObject({ wholeConfigsSent: 0, deltasSent: 1 });
    expect(applied.map((snapshot) => snapshot.hash)).toEqual([first.hash, second.hash]);
  });
});
