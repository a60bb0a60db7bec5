import { it } from 'vitest';
import { InvalidArgumentError } from '../errors.ts';

/** Cases of a conformance suite an adapter cannot run, each group with the reason why. */
export type ConformanceSkip = ReadonlyArray<{ reason: string; tests: readonly string[] }>;

/**
 * Registers `cases` with vitest, skipping those named in `skip` under a name that says why.
 * A skip naming a case the suite does not have is an error, so a typo cannot hide a case.
 */
export function registerCases(
  cases: Record<string, () => Promise<void>>,
  skip: ConformanceSkip = [],
): void {
  const reasons = new Map<string, string>();
  for (const group of skip) {
    for (const name of group.tests) {
      if (!(name in cases)) throw new InvalidArgumentError(`skip names an unknown case: ${name}`);
      reasons.set(name, group.reason);
    }
  }
  for (const [name, run] of Object.entries(cases)) {
    const reason = reasons.get(name);
    if (reason === undefined) it(name, run);
    else it.skip(`${name} (skipped: ${reason})`, run);
  }
}
