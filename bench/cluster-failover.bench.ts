/**
 * Several CPs on one PostgreSQL, measured as the issue asks (issue 21), with every party a
 * real process on loopback:
 * - failover: 3 CP processes, 3 000 real DataPlanes (in two fleet workers) spread over them,
 *   each given all three addresses; one CP is killed with SIGKILL. The time until every DP is
 *   connected and serving the latest config again, with the DPs' real 5–10 s reconnect delay,
 *   against the end of that window (10 s), and how many config frames the moved DPs got (0
 *   expected: their hash is current on every CP).
 * - PostgreSQL's load at those 3 000 connected DPs (heartbeats every 30 s), before the kill:
 *   commits and rows written per second over a minute, against one write per heartbeat per DP.
 * Needs `PLANESYNC_TEST_POSTGRES` (or `PLANESYNC_BENCH_POSTGRES`); without one it skips.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateClusterCertificate } from '@planesync/core';
import { Fleet } from './fleet.ts';
import type { BenchResult } from './harness.ts';
import { benchDatabase } from './postgres.ts';

const FLEET_DPS = Number(process.env.PLANESYNC_BENCH_DPS ?? 3_000);
const MEASURE_MS = Number(process.env.PLANESYNC_BENCH_MEASURE_MS ?? 60_000);
const HEARTBEAT_MS = 30_000;

/** A CP process (cp-worker.ts), driven over IPC. */
class ControlPlaneProcess {
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, (message: { result?: unknown; error?: string }) => void>();
  #next = 0;

  constructor() {
    this.#child = fork(new URL('./cp-worker.ts', import.meta.url).pathname, [], {
      execArgv: [
        '--import',
        'tsx',
        // PLANESYNC_BENCH_PROFILE=DIR: a CPU profile of each CP process that exits normally.
        ...(process.env.PLANESYNC_BENCH_PROFILE
          ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PLANESYNC_BENCH_PROFILE}`]
          : []),
      ],
      serialization: 'advanced',
    });
    this.#child.on('message', (message: { id: number; result?: unknown; error?: string }) => {
      this.#pending.get(message.id)?.(message);
      this.#pending.delete(message.id);
    });
  }

  request<T>(command: Record<string, unknown>): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, ({ result, error }) =>
        error ? reject(new Error(error)) : resolve(result as T),
      );
      this.#child.send({ ...command, id });
    });
  }

  kill(): void {
    this.#child.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    await Promise.race([this.request({ cmd: 'stop' }), sleep(10_000)]);
    // It exits once disconnected (writing its CPU profile, when asked); killed if it hangs.
    const exited = new Promise((resolve) => this.#child.once('exit', resolve));
    this.#child.disconnect();
    await Promise.race([exited, sleep(5_000)]);
    this.#child.kill('SIGKILL');
  }
}

type Report = {
  disconnected: number;
  reconnectedMs: number[];
  configs: number;
  states: Record<string, number>;
  maxDelayMs: number;
  cpuMs: number;
};
type Status = { connected: number; maxDelayMs: number; cpuMs: number };

/** Polls `check` every 250 ms until it returns a value, for at most `ms`. */
async function until<T>(what: string, ms: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    const value = await check();
    if (value !== undefined) return value;
    await sleep(250);
  }
  throw new Error(`cluster-failover: ${what} did not happen within ${ms} ms`);
}

export async function run(): Promise<BenchResult[]> {
  const database = await benchDatabase('cluster-failover');
  if (!database) return [];
  const { admin, name } = database;
  const url = database.url;
  const cluster = await generateClusterCertificate();
  const tls = { cert: cluster.certificate, key: cluster.privateKey };
  const cps: ControlPlaneProcess[] = [];
  const fleets: Fleet[] = [];
  const startCp = async (index: number) => {
    const cp = new ControlPlaneProcess();
    cps.push(cp);
    const { url: address } = await cp.request<{ url: string }>({
      cmd: 'start',
      postgres: url.toString(),
      tls,
      name: `cp-${index}`,
    });
    return { cp, address };
  };
  try {
    const started = await Promise.all([0, 1, 2].map(startCp));
    const urls = started.map(({ address }) => address);
    const { hash } = await started[0]!.cp.request<{ hash: string }>({
      cmd: 'setConfig',
      // Services and routes only: the DPs declare no plugins.
      config: {
        _format_version: '3.0',
        services: Array.from({ length: 50 }, (_, i) => ({
          name: `service-${i}`,
          host: `backend-${i}.internal`,
          routes: [{ name: `route-${i}`, paths: [`/s${i}`] }],
        })),
      },
    });
    const inSync = (report: Report, n: number) => report.states[`connected:${hash}`] === n;

    // 3 000 DPs, each given the three addresses, spread over the CPs; two fleet processes.
    const half = FLEET_DPS / 2;
    for (const from of [0, half]) {
      const fleet = new Fleet();
      fleets.push(fleet);
      await fleet.request({ cmd: 'failoverDataPlanes', urls, tls, n: half, from });
    }
    const reports = () =>
      Promise.all(fleets.map((fleet) => fleet.request<Report>({ cmd: 'failoverReport' })));
    await until('the fleet in sync', 120_000, async () =>
      (await reports()).every((report) => inSync(report, half)) ? true : undefined,
    );

    // PostgreSQL's load: a heartbeat period for the connects' own writes to pass, then a minute.
    await sleep(Math.min(HEARTBEAT_MS, MEASURE_MS));
    const stats = async () => {
      await admin.query('SELECT pg_stat_clear_snapshot()');
      const { rows } = await admin.query<Record<string, string>>(
        `SELECT xact_commit, tup_inserted + tup_updated + tup_deleted AS written, tup_returned
         FROM pg_stat_database WHERE datname = $1`,
        [name],
      );
      return {
        commits: Number(rows[0]!.xact_commit),
        written: Number(rows[0]!.written),
        returned: Number(rows[0]!.tup_returned),
      };
    };
    const before = await stats();
    const from = performance.now();
    await sleep(MEASURE_MS);
    const seconds = (performance.now() - from) / 1000;
    // Statistics reach pg_stat_database within a second of each transaction.
    await sleep(1_500);
    const end = await stats();
    const commitsPerSecond = (end.commits - before.commits) / seconds;
    const writtenPerSecond = (end.written - before.written) / seconds;
    const naive = FLEET_DPS / (HEARTBEAT_MS / 1000);
    const results: BenchResult[] = [
      {
        name: `PostgreSQL load at ${FLEET_DPS} connected DPs (3 CPs, heartbeats every 30 s)`,
        subject: 'transactions per second, every CP',
        subjectMs: commitsPerSecond,
        baseline: 'one write per heartbeat per DP',
        baselineMs: naive,
        ratio: commitsPerSecond / naive,
        unit: 'per second',
        notes: `rows written ${writtenPerSecond.toFixed(0)}/s (each heartbeat's record, batched once a second per CP); rows read ${((end.returned - before.returned) / seconds).toFixed(0)}/s (each CP reading the records that changed); measured over ${seconds.toFixed(0)} s after ${HEARTBEAT_MS / 1000} s of settling`,
      },
    ];

    // Failover: one CP killed, its ~1 000 DPs move to the other two.
    await Promise.all(fleets.map((fleet) => fleet.request({ cmd: 'failoverWatch' })));
    const survivors = started.slice(1).map(({ cp }) => cp);
    await Promise.all(survivors.map((cp) => cp.request({ cmd: 'watch' })));
    const cpuBefore = await Promise.all([
      ...survivors.map((cp) => cp.request<Status>({ cmd: 'status' })),
      ...fleets.map((fleet) => fleet.request<Report>({ cmd: 'failoverReport' })),
    ]);
    started[0]!.cp.kill();
    const after = await until('the moved DPs back in sync', 60_000, async () => {
      const all = await reports();
      const done = all.every(
        (report) => report.reconnectedMs.length === report.disconnected && inSync(report, half),
      );
      return done && all.some((report) => report.disconnected > 0) ? all : undefined;
    });
    const cpuAfter = await Promise.all([
      ...survivors.map((cp) => cp.request<Status>({ cmd: 'status' })),
      ...fleets.map((fleet) => fleet.request<Report>({ cmd: 'failoverReport' })),
    ]);
    const cpu = cpuAfter.map((one, i) => ((one.cpuMs - cpuBefore[i]!.cpuMs) / 1000).toFixed(1));
    const lag = cpuAfter.map((one) => Math.round(one.maxDelayMs));
    const times = after.flatMap((report) => report.reconnectedMs).sort((a, b) => a - b);
    const moved = after.reduce((sum, report) => sum + report.disconnected, 0);
    const configs = after.reduce((sum, report) => sum + report.configs, 0);
    const allBackMs = times.at(-1)!;
    // When they came back, second by second after the kill.
    const bySecond = new Map<number, number>();
    for (const ms of times)
      bySecond.set(Math.floor(ms / 1000), (bySecond.get(Math.floor(ms / 1000)) ?? 0) + 1);
    const histogram = [...bySecond].map(([second, n]) => `${second}s:${n}`).join(' ');
    results.push({
      name: `3 CPs × ${FLEET_DPS / 3} DPs, one CP killed (SIGKILL): every DP in sync again`,
      subject: 'kill → last moved DP connected to another CP, on the latest config',
      subjectMs: allBackMs,
      baseline: "the end of the DPs' reconnect window (10 s)",
      baselineMs: 10_000,
      ratio: allBackMs / 10_000,
      notes: `${moved} DPs moved; first back after ${(times[0]! / 1000).toFixed(1)} s, median ${(times[times.length >> 1]! / 1000).toFixed(1)} s (back per second after the kill: ${histogram}); config frames they got: ${configs} (their hash is current on every CP); real 5–10 s jittered reconnect delay; CPU seconds used meanwhile by the 2 surviving CPs ${cpu.slice(0, 2).join(' and ')}, by the 2 DP processes ${cpu.slice(2).join(' and ')} (the machine's cores: ${availableParallelism()}); event loops ran up to ${lag.slice(0, 2).join('/')} ms late in the CPs, ${lag.slice(2).join('/')} ms in the DP processes; PostgreSQL and every process on loopback`,
    });
    return results;
  } finally {
    await Promise.allSettled(fleets.map((fleet) => fleet.close()));
    await Promise.allSettled(cps.map((cp) => cp.stop()));
    await database.drop();
  }
}
