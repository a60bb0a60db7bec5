import { join } from 'node:path';
import { build, type Plugin } from 'esbuild';

/**
 * A child script of this folder as one plain JavaScript file in `dir`, so that each child starts in a
 * fraction of the time tsx takes to load core's sources. Only lmdb (native) stays outside,
 * imported by path.
 */
export async function bundleScript(script: string, dir: string): Promise<string> {
  const outfile = join(dir, script.replace(/\.ts$/, '.mjs'));
  const lmdbByPath: Plugin = {
    name: 'lmdb-by-path',
    setup(bundler) {
      bundler.onResolve({ filter: /^lmdb$/ }, async (args) => {
        if (args.pluginData === 'by-path') return undefined;
        const { path } = await bundler.resolve('lmdb', {
          kind: args.kind,
          resolveDir: args.resolveDir,
          pluginData: 'by-path',
        });
        return { path, external: true };
      });
    },
  };
  await build({
    entryPoints: [new URL(`./${script}`, import.meta.url).pathname],
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile,
    conditions: ['@planesync/source'],
    ignoreAnnotations: true, // core's sources keep their side effects, as the tsx run would
    plugins: [lmdbByPath],
    banner: {
      js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    },
    logLevel: 'error',
  });
  return outfile;
}
