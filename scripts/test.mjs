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
  // Each failure again, one line apiece, just above the count: a log cut to its tail still
  // names what failed (`.ci/run` repeats these lines in its summary).
  const root = `${process.cwd()}/`;
  for (const file of report.testResults) {
    const where = file.name.startsWith(root) ? file.name.slice(root.length) : file.name;
    const failures = file.assertionResults.filter((t) => t.status === 'failed');
    if (file.status === 'failed' && failures.length === 0) {
      console.log(`FAILED ${where}: ${firstLine(file.message)}`);
    }
    for (const test of failures) {
      console.log(`FAILED ${where} > ${test.fullName}: ${firstLine(test.failureMessages?.[0])}`);
    }
  }
} catch {
  failed = 1; // no report at all: vitest itself did not run
}
if (run.status !== 0 && failed === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed`);
process.exit(run.status === 0 && failed === 0 ? 0 : 1);

/** The first line of a failure's message, at most 300 characters. */
function firstLine(message) {
  const line = String(message ?? 'no message').split('\n', 1)[0];
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
