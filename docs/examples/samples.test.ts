import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/** The ```ts blocks of a guide, in order. */
function samples(guide: string): string[] {
  const text = readFileSync(new URL(`../${guide}`, import.meta.url), 'utf8');
  return [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!);
}

const source = (file: string) => readFileSync(new URL(`./${file}`, import.meta.url), 'utf8');

describe('the code in the guides is the code the tests run', () => {
  it('testing.md: both samples are the test files beside this one, verbatim', () => {
    const [memory, cluster] = samples('testing.md');
    expect(memory).toBe(source('testing.test.ts'));
    expect(cluster).toBe(source('test-cluster.test.ts'));
  });

  it('getting-started.md: every line of the 20-line sample is in getting-started.ts', () => {
    const [twentyLines] = samples('getting-started.md');
    const file = source('getting-started.ts');
    const lines = twentyLines!
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean);
    expect(lines.length).toBeLessThanOrEqual(20);
    for (const line of lines) expect(file).toContain(line);
  });
});
