import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { run } from '../src/index.ts';
import { capture } from './capture.ts';

describe('planesync command', () => {
  it('prints its usage for --help and exits 0', async () => {
    const { out, io } = capture();
    expect(await run(['--help'], io)).toBe(0);
    expect(out.stdout).toContain('Usage: planesync <command>');
  });

  it('prints the package version', async () => {
    const { out, io } = capture();
    const { version } = JSON.parse(
      readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
    );
    expect(await run(['version'], io)).toBe(0);
    expect(out.stdout).toBe(`${version}\n`);
  });

  it('bare planesync prints the usage on stderr and exits 2', async () => {
    const { out, io } = capture();
    expect(await run([], io)).toBe(2);
    expect(out.stderr).toContain('Usage: planesync <command>');
    expect(out.stdout).toBe('');
  });

  for (const group of ['cert', 'cache', 'config'])
    it(`bare planesync ${group} prints its usage on stderr and exits 2`, async () => {
      const { out, io } = capture();
      expect(await run([group], io)).toBe(2);
      expect(out.stderr).toContain(`Usage: planesync ${group}`);
      expect(out.stdout).toBe('');
    });

  it('rejects an unknown command with exit code 2 and the usage on stderr', async () => {
    const { out, io } = capture();
    expect(await run(['frobnicate'], io)).toBe(2);
    expect(out.stderr).toContain('unknown command: frobnicate');
    expect(out.stdout).toBe('');
  });
});
