import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const out = join(root, 'docs/examples/.compiled');

/**
 * Every ```ts block of the guides, of the README and each package's README, and every
 * `@example` of the TSDoc in the packages' sources.
 */
function collect(): Array<{ name: string; code: string }> {
  const blocks: Array<{ name: string; code: string }> = [];
  const markdown = [
    'README.md',
    ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`),
    ...readdirSync(join(root, 'packages')).map((pkg) => `packages/${pkg}/README.md`),
  ];
  for (const file of markdown) {
    const text = readFileSync(join(root, file), 'utf8');
    [...text.matchAll(/```ts\n([\s\S]*?)```/g)].forEach((match, i) =>
      blocks.push({ name: `${file.replace(/[/.]/g, '_')}-${i}`, code: match[1]! }),
    );
  }
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory() ? walk(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
    );
  for (const pkg of readdirSync(join(root, 'packages'))) {
    for (const file of walk(join(root, 'packages', pkg, 'src'))) {
      const text = readFileSync(file, 'utf8');
      [...text.matchAll(/@example\n\s*\* ```ts\n([\s\S]*?)\n\s*\* ```/g)].forEach((match, i) => {
        const code = match[1]!.split('\n').map((line) => line.replace(/^\s*\* ?/, '')).join('\n');
        blocks.push({ name: `${relative(root, file).replace(/[/.]/g, '_')}-${i}`, code });
      });
    }
  }
  return blocks;
}

/** Names the samples use without defining: what the reader's own program would have. */
const GLOBALS = `
declare const store: import('@planesync/core').ConfigStore;
declare const peerChain: Uint8Array[];
declare const cpChain: Uint8Array[];
declare const clientDer: Uint8Array;
declare const serverDer: Uint8Array;
declare function myServer(options: { port: number; maxPayloadBytes: number }): import('@planesync/core').TransportServer & { port: number };
declare function myClient(options: { port: () => number }): import('@planesync/core').TransportClient;
declare function myStore(options: { prefix: string }): import('@planesync/core').ConfigStore;
`;

it('every code sample in the guides and every @example in the TSDoc compiles', { timeout: 120_000 }, () => {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const blocks = collect();
  for (const block of blocks) writeFileSync(join(out, `${block.name}.ts`), `${block.code}\nexport {};\n`);
  writeFileSync(join(out, 'globals.d.ts'), GLOBALS);
  writeFileSync(
    join(out, 'tsconfig.json'),
    JSON.stringify({
      extends: '../../../tsconfig.base.json',
      compilerOptions: { noEmit: true, noUnusedLocals: false, types: ['node', 'vitest/globals'] },
      include: ['*.ts'],
    }),
  );
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(out, 'tsconfig.json')], {
    encoding: 'utf8',
  });
  expect(blocks.length).toBeGreaterThan(40);
  for (const pkg of readdirSync(join(root, 'packages')))
    expect(blocks.some((block) => block.name.startsWith(`packages_${pkg}_README_md-`)), pkg).toBe(true);
  expect(tsc.stdout + tsc.stderr).toBe('');
  expect(tsc.status).toBe(0);
  rmSync(out, { recursive: true, force: true });
});
