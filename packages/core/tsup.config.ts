import type { Options } from 'tsup';
import { packageBuild } from '../../tsup.preset.ts';

type Plugin = NonNullable<Options['esbuildPlugins']>[number];

/**
 * Keeps `src/trust/reflect-polyfill.ts` out of the shared chunk: the chunk imports
 * `./reflect-polyfill.js` (`.cjs`), a file of its own that package.json's "sideEffects"
 * names, so a bundler never drops the Reflect metadata API @peculiar/x509 needs.
 */
const reflectPolyfillOwnFile: Plugin = {
  name: 'reflect-polyfill-own-file',
  setup(build) {
    // tsup builds CJS as ESM and converts it; the output extension tells the two apart
    const extension = build.initialOptions.outExtension?.['.js'] ?? '.js';
    build.onResolve({ filter: /\/reflect-polyfill\.ts$/ }, () => ({
      path: `./reflect-polyfill${extension}`,
      external: true,
    }));
  },
};

export default [
  packageBuild(
    {
      index: 'src/index.ts',
      testing: 'src/testing/index.ts',
      transport: 'src/transport/index.ts',
      storage: 'src/storage/index.ts',
      protocol: 'src/protocol/index.ts',
    },
    { esbuildPlugins: [reflectPolyfillOwnFile] },
  ),
  packageBuild(
    { 'reflect-polyfill': 'src/trust/reflect-polyfill.ts' },
    { dts: false, clean: false, splitting: false },
  ),
];
