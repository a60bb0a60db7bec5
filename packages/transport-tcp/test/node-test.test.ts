import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../..', import.meta.url));

it('the TLS/proxy suite of @planesync/node-tls/testing passes under node:test, without vitest', {
  timeout: 90_000,
}, () => {
  const run = spawnSync(
    process.execPath,
    [
      '--conditions=@planesync/source',
      '--import',
      'tsx',
      '--import',
      './scripts/forbid-vitest.mjs',
      '--test',
      '--test-reporter=tap',
      fileURLToPath(new URL('./node-test/tls-suite.node-test.ts', import.meta.url)),
    ],
    { cwd: root, encoding: 'utf8', timeout: 80_000 },
  );
  expect(run.stdout).toMatch(/^# fail 0$/m);
  // 19 cases; the tinyproxy one skips where tinyproxy is not installed.
  expect(run.stdout).toMatch(/^# pass 1[89]$/m);
  expect(run.status).toBe(0);
});
