// The test command (`npm test`, `pnpm test`, and what .ci/run calls): bootstraps a fresh
// clone, runs every vitest suite in the workspace, and ends with `N passed, N failed`.
// Extra arguments go to vitest (e.g. `npm test -- packages/core`).
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { bootstrap } from './bootstrap.mjs';

if (process.env.PLANESYNC_SKIP_BOOTSTRAP !== '1') bootstrap();

const results = '.vitest-results.json';
rmSync(results, { force: true });
const run = spawnSync(
  'pnpm',
  [
    'exec',
    'vitest',
    'run',
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${results}`,
    ...process.argv.slice(2),
  ],
  { stdio: 'inherit' },
);

let passed = 0;
let failed = 0;
try {
  const report = JSON.parse(readFileSync(results, 'utf8'));
  // A file that failed to load has no failed tests of its own: count it as one failure.
  const brokenFiles = report.testResults.filter(
    (file) => file.status === 'failed' && !file.assertionResults.some((t) => t.status === 'failed'),
  ).length;
  passed = report.numPassedTests;
  failed = report.numFailedTests + brokenFiles;
} catch {
  failed = 1; // no report at all: vitest itself did not run
}
if (run.status !== 0 && failed === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed`);
process.exit(run.status === 0 && failed === 0 ? 0 : 1);
