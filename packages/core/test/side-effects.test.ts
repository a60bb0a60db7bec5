import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const core = fileURLToPath(new URL('..', import.meta.url));
const dist = join(core, 'dist');
const manifest = JSON.parse(readFileSync(join(core, 'package.json'), 'utf8')) as {
  sideEffects: string[];
};
const built = () => readdirSync(dist).filter((file) => /\.c?js$/.test(file));
const read = (file: string) => readFileSync(join(dist, file), 'utf8');

/** Bundles a program that generates a cluster certificate from the built core, and runs it. */
async function bundleAndRun(out: string, plugins: Plugin[] = []) {
  const outfile = join(out, `bundle-${plugins.length}.cjs`);
  await build({
    stdin: {
      contents: `import { generateClusterCertificate } from '@planesync/core';
        generateClusterCertificate().then(({ certificate }) => console.log(certificate.split('\\n')[0]));`,
      resolveDir: core,
    },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    outfile,
    logLevel: 'silent',
    plugins,
  });
  return spawnSync(process.execPath, [outfile], { encoding: 'utf8', timeout: 30_000 });
}

describe("core's one side effect: the Reflect metadata API for @peculiar/x509", () => {
  let out: string;
  beforeAll(() => {
    if (!existsSync(join(dist, 'index.js')))
      throw new Error('packages/core/dist is missing: run `pnpm run build` (npm test does)');
    out = mkdtempSync(join(tmpdir(), 'planesync-side-effects-'));
  });
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('package.json "sideEffects" names exactly the built files that import reflect-metadata', () => {
    const importers = built().filter((file) =>
      /(?:import |require\()['"]reflect-metadata['"]/.test(read(file)),
    );
    expect(importers.sort()).toEqual(['reflect-polyfill.cjs', 'reflect-polyfill.js']);
    expect(manifest.sideEffects.filter((path) => path.startsWith('./dist/')).sort()).toEqual(
      importers.map((file) => `./dist/${file}`),
    );
    for (const path of manifest.sideEffects) expect(existsSync(join(core, path))).toBe(true);
  });

  it('every built file that loads @peculiar/x509 loads the polyfill file before it', () => {
    const users = built().filter((file) => read(file).includes("'@peculiar/x509'"));
    expect(users.length).toBe(2); // the shared chunk, ESM and CJS
    for (const file of users) {
      const text = read(file);
      const polyfill = text.search(/(?:import |require\()'\.\/reflect-polyfill\.c?js'/);
      expect(polyfill, file).toBeGreaterThanOrEqual(0);
      expect(polyfill, file).toBeLessThan(text.indexOf("'@peculiar/x509'"));
    }
  });

  it('a bundler keeps it: an esbuild bundle of generateClusterCertificate runs', async () => {
    const run = await bundleAndRun(out);
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe('-----BEGIN CERTIFICATE-----');
    expect(run.status).toBe(0);
  }, 60_000);

  it('declared side-effect free, the bundler drops it and certificate generation breaks', async () => {
    const declaredFree: Plugin = {
      name: 'declare-the-polyfill-side-effect-free',
      setup(bundler) {
        bundler.onResolve({ filter: /\/reflect-polyfill\.js$/ }, (args) => ({
          path: join(args.resolveDir, args.path),
          sideEffects: false,
        }));
      },
    };
    const run = await bundleAndRun(out, [declaredFree]);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/reflect polyfill/i);
  }, 60_000);
});
