/**
 * A small benchmark harness: each figure is a ratio against a baseline measured in the same
 * run, because a 2-core machine is noisy and absolute times drift from run to run.
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { availableParallelism } from 'node:os';

export interface Timing {
  /** Median milliseconds per operation over the samples. */
  medianMs: number;
  samples: number;
}

export interface BenchResult {
  name: string;
  subject: string;
  subjectMs: number;
  baseline: string;
  baselineMs: number;
  /** subject / baseline: 1.0 is as fast as the baseline, 2.0 twice as slow. */
  ratio: number;
  /** What subjectMs and baselineMs count when they are not milliseconds (frames, KiB). */
  unit?: string;
  notes?: string;
}

/**
 * Runs `operation` for at least `samples` samples (after warm-up) and returns the median.
 * Subject and baseline are interleaved by `compare`, so drift hits both alike.
 */
async function sample(operation: () => unknown | Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await operation();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Measures subject and baseline alternately, `samples` times each after `warmup` rounds. */
export async function compare(options: {
  name: string;
  subject: [string, () => unknown | Promise<unknown>];
  baseline: [string, () => unknown | Promise<unknown>];
  samples?: number;
  warmup?: number;
  notes?: string;
}): Promise<BenchResult> {
  const samples = options.samples ?? 15;
  const warmup = options.warmup ?? 3;
  const [subjectName, subject] = options.subject;
  const [baselineName, baseline] = options.baseline;
  for (let i = 0; i < warmup; i++) {
    await subject();
    await baseline();
  }
  const subjectTimes: number[] = [];
  const baselineTimes: number[] = [];
  for (let i = 0; i < samples; i++) {
    subjectTimes.push(await sample(subject));
    baselineTimes.push(await sample(baseline));
  }
  const subjectMs = median(subjectTimes);
  const baselineMs = median(baselineTimes);
  return {
    name: options.name,
    subject: subjectName,
    subjectMs,
    baseline: baselineName,
    baselineMs,
    ratio: subjectMs / baselineMs,
    ...(options.notes ? { notes: options.notes } : {}),
  };
}

export function printTable(results: BenchResult[]): void {
  const rows = results.map((r) => [
    r.name,
    `${r.subject}: ${r.subjectMs.toFixed(r.unit ? 1 : 3)} ${r.unit ?? 'ms'}`,
    `${r.baseline}: ${r.baselineMs.toFixed(r.unit ? 1 : 3)} ${r.unit ?? 'ms'}`,
    `${r.ratio < 0.1 ? r.ratio.toPrecision(2) : r.ratio.toFixed(2)}×`,
  ]);
  const header = ['benchmark', 'planesync (median)', 'baseline (median)', 'ratio'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const row of rows) console.log(line(row));
  for (const r of results) if (r.notes) console.log(`- ${r.name}: ${r.notes}`);
}

/**
 * Writes `bench/results.json`: the machine (Node's version included), then one object per
 * figure — `name`, `value` and `unit` (the subject's median), `baseline` and `baselineValue`
 * (the baseline's, in the same unit), `ratio` — with what each measured and any notes.
 */
export function writeResults(path: string, results: BenchResult[]): void {
  const machine = {
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    cpus: availableParallelism(),
  };
  const figures = results.map((result) => ({
    name: result.name,
    value: result.subjectMs,
    unit: result.unit ?? 'ms',
    baseline: result.baseline,
    baselineValue: result.baselineMs,
    ratio: result.ratio,
    subject: result.subject,
    ...(result.notes ? { notes: result.notes } : {}),
  }));
  writeFileSync(path, `${JSON.stringify({ machine, results: figures }, null, 2)}\n`);
}

/**
 * `PLANESYNC_BENCH_PROFILE=DIR`: a CPU profile of this process over the spans between `start()`
 * and `stop()` only (the subject's rounds, not the baseline's), written to DIR as
 * `<name>.cpuprofile` when `save()` is called. Does nothing without the variable.
 */
export function spanProfiler(name: string): {
  start(): Promise<void>;
  stop(): Promise<void>;
  save(): Promise<void>;
} {
  const dir = process.env.PLANESYNC_BENCH_PROFILE;
  if (!dir) {
    const nothing = async () => undefined;
    return { start: nothing, stop: nothing, save: nothing };
  }
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<unknown>((resolve, reject) =>
      session.post(method, params, (error, result) => (error ? reject(error) : resolve(result))),
    );
  const ready = post('Profiler.enable').then(() =>
    post('Profiler.setSamplingInterval', { interval: 200 }),
  );
  const profiles: Array<{ nodes: unknown[]; samples: number[]; timeDeltas: number[] }> = [];
  return {
    async start() {
      await ready;
      await post('Profiler.start');
    },
    async stop() {
      const { profile } = (await post('Profiler.stop')) as { profile: (typeof profiles)[number] };
      profiles.push(profile);
    },
    async save() {
      mkdirSync(dir, { recursive: true });
      for (const [i, profile] of profiles.entries())
        writeFileSync(`${dir}/${name}-${i}.cpuprofile`, JSON.stringify(profile));
      session.disconnect();
    },
  };
}
