import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const cli = fileURLToPath(new URL('..', import.meta.url));
const root = join(cli, '../..');
const manifest = JSON.parse(readFileSync(join(cli, 'package.json'), 'utf8'));

describe('the planesync command as installed', () => {
  it('is a committed, executable file, so installing links it before any build', () => {
    const bin = join(cli, manifest.bin.planesync);
    expect(manifest.bin.planesync).toBe('./bin/planesync.js');
    expect(statSync(bin).mode & 0o111).not.toBe(0);
    expect(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    const tracked = spawnSync('git', ['ls-files', '--stage', 'bin/planesync.js'], {
      cwd: cli,
      encoding: 'utf8',
    });
    expect(tracked.stdout).toMatch(/^100755 /);
  });

  it('runs from the workspace’s node_modules/.bin after the build', () => {
    const run = spawnSync(join(root, 'node_modules/.bin/planesync'), ['--help'], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(run.stderr).toBe('');
    expect(run.stdout).toContain('Usage: planesync <command>');
    expect(run.status).toBe(0);
  });

  it('says how to build it when dist/ is not there yet, and exits 1', () => {
    const copy = mkdtempSync(join(tmpdir(), 'planesync-bin-'));
    try {
      mkdirSync(join(copy, 'bin'));
      copyFileSync(join(cli, 'bin/planesync.js'), join(copy, 'bin/planesync.js'));
      const run = spawnSync(process.execPath, [join(copy, 'bin/planesync.js'), '--help'], {
        encoding: 'utf8',
      });
      expect(run.status).toBe(1);
      expect(run.stderr).toContain('run `pnpm run build`');
      expect(run.stdout).toBe('');
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });
});
