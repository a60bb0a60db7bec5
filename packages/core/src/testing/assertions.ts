import { AssertionError, deepStrictEqual } from 'node:assert/strict';

/**
 * Asserts that every property of `expected` is in `actual` with an equal value, recursively
 * (vitest's `toMatchObject`, with `node:assert` so the suites need no particular runner).
 * Arrays match element by element and must have the same length.
 */
export function assertMatches(actual: unknown, expected: unknown, message?: string): void {
  if (!matches(actual, expected)) {
    throw new AssertionError({
      actual,
      expected,
      operator: 'matches',
      message: message ?? 'the value does not match the expected properties',
    });
  }
}

function matches(actual: unknown, expected: unknown): boolean {
  if (Array.isArray(expected)) {
    return (
      Array.isArray(actual) &&
      actual.length === expected.length &&
      expected.every((item, i) => matches(actual[i], item))
    );
  }
  if (expected !== null && typeof expected === 'object' && !ArrayBuffer.isView(expected)) {
    if (actual === null || typeof actual !== 'object') return false;
    const record = actual as Record<string, unknown>;
    return Object.entries(expected).every(([key, value]) => matches(record[key], value));
  }
  try {
    deepStrictEqual(actual, expected);
    return true;
  } catch {
    return false;
  }
}

/** Asserts that two JSON values are equal, whatever the prototypes of their objects. */
export function assertSameJson(actual: unknown, expected: unknown, message?: string): void {
  deepStrictEqual(asJson(actual), asJson(expected), message);
}

function asJson(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}
