import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Runs a guide's program as a reader would, from the sources, in a process of its own that
 * cannot load vitest. A program that does not end by itself is killed after 60 s and fails.
 */
function run(file: string, ...flags: string[]) {
  const result = spawnSync(
    process.execPath,
    [
      '--conditions=@planesync/source',
      '--import',
      'tsx',
      '--import',
      './scripts/forbid-vitest.mjs',
      ...flags,
      `docs/examples/${file}`,
    ],
    { cwd: root, encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' },
  );
  if (result.signal !== null) throw new Error(`${file} did not end by itself within 60 s`);
  return result;
}

describe('every whole program in the guides runs as a process and ends by itself', () => {
  it('getting-started.md, in 20 lines: the DP ends on the config the CP pushed', () => {
    const { status, stdout, stderr } = run('getting-started.ts');
    expect(stderr).toBe('');
    expect(stdout).toMatch(/^DP serves [0-9a-f]{32} from empty$/m);
    expect(stdout).toMatch(/^DP serves [0-9a-f]{32} from control-plane$/m);
    expect(status).toBe(0);
  }, 70_000);

  it('getting-started.md, over a real network: wss with mutual TLS, the config cached in LMDB', () => {
    const { status, stdout, stderr } = run('real-network.ts');
    expect(stderr).toBe('');
    expect(stdout).toMatch(/^DP serves [0-9a-f]{32}, cached in .*dbless\.lmdb$/m);
    expect(status).toBe(0);
  }, 70_000);

  it('testing.md, under node:test: FakeClock and createTestCluster without vitest', () => {
    const { status, stdout } = run('cluster.node-test.ts', '--test', '--test-reporter=tap');
    expect(stdout).toMatch(/^# pass 2$/m);
    expect(stdout).toMatch(/^# fail 0$/m);
    expect(status).toBe(0);
  }, 70_000);
});
