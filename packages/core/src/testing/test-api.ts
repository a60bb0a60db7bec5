import { InvalidArgumentError } from '../errors.ts';

/** A test body or hook as the conformance suites hand it to the runner. */
export type TestBody = () => Promise<void>;

/**
 * The four functions of a test runner the conformance suites register their cases with.
 * vitest, jest (`@jest/globals`), mocha and `node:test` all have them under these names:
 * pass `{ describe, it, beforeEach, afterEach }` as imported from your runner.
 */
export interface TestApi {
  describe(name: string, body: () => void): unknown;
  it: {
    (name: string, body: TestBody): unknown;
    skip(name: string, body: TestBody): unknown;
  };
  beforeEach(hook: TestBody): unknown;
  afterEach(hook: TestBody): unknown;
}

let warned = false;

/**
 * The runner's functions when a suite is called the 0.1 way, without them: they must be
 * globals (vitest with `globals: true`, jest, mocha). Warns once per process.
 */
export function globalTestApi(suite: string): TestApi {
  const scope = globalThis as unknown as Partial<TestApi>;
  if (
    typeof scope.describe !== 'function' ||
    typeof scope.it !== 'function' ||
    typeof scope.beforeEach !== 'function' ||
    typeof scope.afterEach !== 'function'
  ) {
    throw new InvalidArgumentError(
      `${suite}(options) needs your test runner's functions: call ` +
        `${suite}({ describe, it, beforeEach, afterEach }, options) with them imported from ` +
        `vitest, node:test or @jest/globals`,
    );
  }
  if (!warned) {
    warned = true;
    process.emitWarning(
      `${suite}(options) without the test API is deprecated and goes in 0.3.0: ` +
        `call ${suite}({ describe, it, beforeEach, afterEach }, options)`,
      { type: 'DeprecationWarning', code: 'PLANESYNC_DEP_CONFORMANCE_GLOBALS' },
    );
  }
  return scope as TestApi;
}
