import { defineConfig, type Options } from 'tsup';

/**
 * The one build recipe every package shares: ESM + CJS + `.d.ts`, Node 20, sources mapped.
 * Sibling packages are external (they are dependencies), so each is built once.
 */
export function packageBuild(entry: Record<string, string>, extra: Options = {}) {
  return defineConfig({
    entry,
    format: ['esm', 'cjs'],
    target: 'node20',
    platform: 'node',
    sourcemap: true,
    clean: true,
    splitting: true,
    treeshake: true,
    dts: {
      compilerOptions: {
        ignoreDeprecations: '6.0',
        // Build declarations against the siblings' published types, not their sources.
        customConditions: [],
      },
    },
    ...extra,
  });
}
