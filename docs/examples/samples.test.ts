import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/** The ```ts blocks of a guide, in order. */
function samples(guide: string): string[] {
  const text = readFileSync(new URL(`../${guide}`, import.meta.url), 'utf8');
  return [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!);
}

const source = (file: string) => readFileSync(new URL(`./${file}`, import.meta.url), 'utf8');

describe('the code in the guides is the code the tests run', () => {
  it('getting-started.md: both programs are the files programs.test.ts runs, verbatim', () => {
    expect(samples('getting-started.md')).toEqual([
      source('getting-started.ts'),
      source('real-network.ts'),
    ]);
  });

  it('getting-started.md: the first program is 20 lines at most', () => {
    const [twentyLines] = samples('getting-started.md');
    expect(twentyLines!.split('\n').filter((line) => line.trim() !== '').length).toBeLessThanOrEqual(20);
  });

  it('testing.md: the node:test file and both vitest files are the files beside this one, verbatim', () => {
    expect(samples('testing.md')).toEqual([
      source('cluster.node-test.ts'),
      source('testing.test.ts'),
      source('test-cluster.test.ts'),
    ]);
  });
});
