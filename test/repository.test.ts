import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;
const tracked = execFileSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8' })
  .split('\0')
  .filter((file) => file !== '' && existsSync(join(root, file)));
const packages = readdirSync(join(root, 'packages'));

describe('a fresh clone stands on its own', () => {
  it('no tracked file reads or links outside the repository', () => {
    const outside = /\.\.\/(\.\.\/)*shared\//;
    const offenders = tracked.filter(
      (file) =>
        !file.endsWith('pnpm-lock.yaml') &&
        !file.includes('/fixtures/') &&
        outside.test(readFileSync(join(root, file), 'utf8')),
    );
    expect(offenders).toEqual([]);
  });

  it.each(packages)('package %s carries the LICENSE its package.json names', (name) => {
    const manifest = JSON.parse(readFileSync(join(root, 'packages', name, 'package.json'), 'utf8'));
    expect(manifest.license).toBe('Apache-2.0');
    const license = readFileSync(join(root, 'packages', name, 'LICENSE'), 'utf8');
    expect(license).toBe(readFileSync(join(root, 'LICENSE'), 'utf8'));
    expect(license).toMatch(/Apache License\s+Version 2\.0/);
  });
});
