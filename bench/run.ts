/**
 * `pnpm bench`: runs every benchmark, prints one table, writes bench/results.json.
 * Pass names to run some: `pnpm bench hash`.
 */
import { type BenchResult, printTable, writeResults } from './harness.ts';

const benchmarks: Record<string, () => Promise<{ run(): Promise<BenchResult[]> }>> = {
  hash: () => import('./hash.bench.ts'),
  trust: () => import('./trust.bench.ts'),
  'cold-start': () => import('./cold-start.bench.ts'),
  analytics: () => import('./analytics.bench.ts'),
  cluster: () => import('./cluster.bench.ts'),
  delta: () => import('./delta.bench.ts'),
  'cluster-state': () => import('./cluster-state.bench.ts'),
  'cluster-failover': () => import('./cluster-failover.bench.ts'),
};

const wanted = process.argv.slice(2);
const results: BenchResult[] = [];
for (const [name, load] of Object.entries(benchmarks)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue;
  results.push(...(await (await load()).run()));
}
console.log(`Node ${process.version} on ${process.platform}/${process.arch}`);
printTable(results);
writeResults(new URL('./results.json', import.meta.url).pathname, results);
