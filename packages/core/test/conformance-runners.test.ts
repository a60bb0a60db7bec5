import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryConfigStore } from '../src/index.ts';
import { configStoreConformance, type TestApi } from '../src/testing/index.ts';

const root = fileURLToPath(new URL('../../..', import.meta.url));

/** Runs a node:test file from source with `node --test` in a process that cannot load vitest. */
function nodeTest(file: string) {
  return spawnSync(
    process.execPath,
    [
      '--conditions=@planesync/source',
      '--import',
      'tsx',
      '--import',
      './scripts/forbid-vitest.mjs',
      '--test',
      '--test-reporter=tap',
      fileURLToPath(new URL(`./node-test/${file}`, import.meta.url)),
    ],
    { cwd: root, encoding: 'utf8', timeout: 60_000 },
  );
}

/** A test API that records what a suite registers instead of running it. */
function recorder() {
  const names: string[] = [];
  const skipped: string[] = [];
  const hooks: string[] = [];
  const it = Object.assign((name: string) => names.push(name), {
    skip: (name: string) => skipped.push(name),
  });
  const api: TestApi = {
    describe: (name, body) => {
      names.push(`describe ${name}`);
      body();
    },
    it,
    beforeEach: () => hooks.push('beforeEach'),
    afterEach: () => hooks.push('afterEach'),
  };
  return { api, names, skipped, hooks };
}

describe('conformance suites take the test runner as an argument', () => {
  it('both suites pass under node:test on the memory adapters', { timeout: 60_000 }, () => {
    const run = nodeTest('conformance.node-test.ts');
    expect(run.stdout).toMatch(/^# fail 0$/m);
    expect(run.stdout).toMatch(/^# pass [1-9]\d*$/m);
    expect(run.status).toBe(0);
  });

  it('a store that breaks the contract fails under node:test, on the broken case only', {
    timeout: 60_000,
  }, () => {
    const run = nodeTest('broken-store.node-test.ts');
    expect(run.status).toBe(1);
    const failed = [...run.stdout.matchAll(/^\s*not ok \d+ - (.+)$/gm)].map((m) => m[1]);
    expect(failed).toEqual([
      'forgets the snapshot on clear but keeps the node id',
      'a store that never clears',
    ]);
  });

  it('registers every case with the given API, and skipped ones under it.skip with the reason', () => {
    const { api, names, skipped, hooks } = recorder();
    configStoreConformance(api, {
      name: 'recorded',
      setup: async () => ({ store: new MemoryConfigStore() }),
      skip: [{ reason: 'no disk', tests: ['round-trips the node id and replaces it'] }],
    });
    expect(names[0]).toBe('describe recorded');
    expect(names).toContain('loads undefined from a store that never saved');
    expect(skipped).toEqual(['round-trips the node id and replaces it (skipped: no disk)']);
    expect(hooks).toEqual(['beforeEach', 'afterEach']);
  });

  it('refuses a skip that names a case the suite does not have', () => {
    const { api } = recorder();
    expect(() =>
      configStoreConformance(api, {
        setup: async () => ({ store: new MemoryConfigStore() }),
        skip: [{ reason: 'typo', tests: ['round-trips the node idd'] }],
      }),
    ).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});

describe('the 0.1 call without the test API (deprecated)', () => {
  const options = { setup: async () => ({ store: new MemoryConfigStore() }) };

  afterEach(() => {
    vi.unstubAllGlobals();
    vi.restoreAllMocks();
  });

  it('throws INVALID_ARGUMENT naming the new call when the runner has no globals', () => {
    expect(() => configStoreConformance(options)).toThrow(
      expect.objectContaining({
        code: 'INVALID_ARGUMENT',
        message: expect.stringContaining(
          'configStoreConformance({ describe, it, beforeEach, afterEach }, options)',
        ),
      }),
    );
  });

  it('uses the global describe/it/beforeEach/afterEach, with a deprecation warning', () => {
    const { api, names } = recorder();
    for (const [name, value] of Object.entries(api)) vi.stubGlobal(name, value);
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    configStoreConformance(options);
    expect(names[0]).toBe('describe config store conformance');
    expect(names).toContain('loads undefined from a store that never saved');
    expect(warn).toHaveBeenCalledWith(
      expect.stringContaining('deprecated'),
      expect.objectContaining({
        type: 'DeprecationWarning',
        code: 'PLANESYNC_DEP_CONFORMANCE_GLOBALS',
      }),
    );
  });
});
