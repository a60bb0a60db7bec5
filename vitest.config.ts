import { defineConfig } from 'vitest/config';

// Sibling packages resolve from their TypeScript source (the "@planesync/source" export
// condition), so tests never run against a stale build.
const conditions = ['@planesync/source', 'node', 'import', 'module', 'default'];

export default defineConfig({
  resolve: { conditions },
  ssr: {
    resolve: {
      conditions: ['@planesync/source', 'node', 'default'],
      externalConditions: ['@planesync/source'],
    },
  },
  test: {
    include: [
      'packages/*/test/**/*.test.ts',
      'examples/**/test/**/*.test.ts',
      'examples/demo/*.test.ts',
      'docs/examples/*.test.ts',
      'test/**/*.test.ts',
    ],
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
