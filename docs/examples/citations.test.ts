import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const packages = readdirSync(join(root, 'packages'));
const markdown = [
  'README.md',
  'CHANGELOG.md',
  ...readdirSync(join(root, 'docs'))
    .filter((file) => file.endsWith('.md'))
    .map((file) => `docs/${file}`),
  ...packages.map((name) => `packages/${name}/README.md`),
];
const read = (file: string) => readFileSync(join(root, file), 'utf8');
/** Files the repository's commands write, which the docs may name though git does not hold them. */
const generated = ['bench/results.json', 'docs/api'];

describe('the docs cite only what a clone has', () => {
  it.each(markdown)('%s: every relative link leads to a file or folder of the repository', (file) => {
    const broken = [...read(file).matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)]
      .map((match) => match[1]!)
      .filter((target) => !/^[a-z]+:/.test(target))
      .filter((target) => !existsSync(join(root, normalize(join(dirname(file), target)))));
    expect(broken).toEqual([]);
  });

  it.each(markdown)('%s: every repository path it names in code exists', (file) => {
    const paths = [...read(file).matchAll(/`((?:packages|docs|examples|scripts|bench|test)\/[\w./-]+)`/g)]
      .map((match) => match[1]!.replace(/\/$/, ''))
      .filter((path) => !generated.includes(path));
    // `test/…` may be short for a package's own tests, as in a table about one package
    const exists = (path: string) =>
      existsSync(join(root, path)) || packages.some((name) => existsSync(join(root, 'packages', name, path)));
    expect(paths.filter((path) => !exists(path))).toEqual([]);
  });

  it.each(markdown)('%s: names no file that lives outside the repository', (file) => {
    expect(read(file)).not.toMatch(/DESIGN\.md|STYLE\.md|\bseed\/|\.\.\/shared\//);
  });
});

describe('every package has a README for its npm page', () => {
  it.each(packages)('%s: what it is, how to install it, an example, the guide to read next', (name) => {
    const text = read(`packages/${name}/README.md`);
    expect(text.startsWith(`# @planesync/${name}\n\n`)).toBe(true);
    expect(text).toMatch(/^## Install$/m);
    expect(text).toMatch(/```ts\n[\s\S]*?from '@planesync\//);
    const next = text.slice(text.search(/^## Read next$/m));
    expect(next).toMatch(/\]\(\.\.\/\.\.\/docs\/[\w-]+\.md/);
  });
});
