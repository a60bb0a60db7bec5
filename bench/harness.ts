/**
 * A small benchmark harness: each figure is a ratio against a baseline measured in the same
 * run, because a 2-core machine is noisy and absolute times drift from run to run.
 */

import { writeFileSync } from 'node:fs';

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

export function writeResults(path: string, results: BenchResult[]): void {
  const machine = { node: process.version, platform: process.platform, arch: process.arch };
  writeFileSync(path, `${JSON.stringify({ machine, results }, null, 2)}\n`);
}
