import { InvalidArgumentError } from '../errors.ts';
import type { TestApi, TestBody } from './test-api.ts';

/** Cases of a conformance suite an adapter cannot run, each group with the reason why. */
export type ConformanceSkip = ReadonlyArray<{ reason: string; tests: readonly string[] }>;

/**
 * Registers `cases` with the runner, skipping those named in `skip` under a name that says
 * why. A skip naming a case the suite does not have is an error, so a typo cannot hide a case.
 * `notApplicable` names cases the adapter's declared features rule out, each with the reason;
 * they are registered as skipped too.
 */
export function registerCases(
  test: TestApi,
  cases: Record<string, TestBody>,
  skip: ConformanceSkip = [],
  notApplicable: ReadonlyMap<string, string> = new Map(),
): void {
  const reasons = new Map<string, string>(notApplicable);
  for (const group of skip) {
    for (const name of group.tests) {
      if (!(name in cases)) throw new InvalidArgumentError(`skip names an unknown case: ${name}`);
      reasons.set(name, group.reason);
    }
  }
  for (const [name, run] of Object.entries(cases)) {
    const reason = reasons.get(name);
    if (reason === undefined) test.it(name, run);
    else test.it.skip(`${name} (skipped: ${reason})`, run);
  }
}
