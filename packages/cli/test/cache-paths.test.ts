import { existsSync } from 'node:fs';
import { mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ConfigStore, FileConfigStore, hashConfig } from '@planesync/core';
import { lmdbStore } from '@planesync/storage-lmdb';
import { describe, expect, it } from 'vitest';
import { cliInTempDir } from './capture.ts';

const temp = cliInTempDir('planesync-cache-paths-');
const cli = temp.cli;

const config = { _format_version: '3.0', services: [{ name: 'a', host: 'a.internal' }] };

async function seed(prefix: string, kind: 'lmdb' | 'file' = 'lmdb') {
  const store: ConfigStore =
    kind === 'lmdb' ? lmdbStore({ prefix }) : new FileConfigStore({ prefix });
  const { config_hash, hashes } = hashConfig(config);
  await store.save({
    version: 3,
    hash: config_hash,
    hashes,
    source: 'control-plane',
    config,
    appliedAt: 1,
  });
  await store.close?.();
}

describe('planesync cache inspect|export: reading never creates anything', () => {
  for (const command of ['inspect', 'export']) {
    it(`cache ${command} of a missing path says it does not exist, exits 1 and creates nothing`, async () => {
      const result = await cli('cache', command, 'missing/kong');
      expect(result).toEqual({
        code: 1,
        stdout: '',
        stderr: 'planesync: missing/kong does not exist\n',
      });
      expect(existsSync(join(temp.dir, 'missing'))).toBe(false);
    });
  }

  it('cache inspect of a missing dbless.lmdb directory creates nothing either', async () => {
    await mkdir(join(temp.dir, 'kong'));
    const result = await cli('cache', 'inspect', 'kong/dbless.lmdb');
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('planesync: kong/dbless.lmdb does not exist\n');
    expect(await readdir(join(temp.dir, 'kong'))).toEqual([]);
  });

  it('takes the dbless.lmdb directory itself, as a Kong user types it, and reads the real cache', async () => {
    await seed(join(temp.dir, 'kong'));
    const inspected = await cli('cache', 'inspect', 'kong/dbless.lmdb');
    expect(inspected.code).toBe(0);
    expect(inspected.stdout).toContain(`cache:     ${join(temp.dir, 'kong', 'dbless.lmdb')}\n`);
    expect(inspected.stdout).toContain('version:   3');
    const exported = await cli('cache', 'export', 'kong/dbless.lmdb');
    expect(exported.code).toBe(0);
    expect(JSON.parse(exported.stdout)).toMatchObject({ version: 3, config });
    expect(existsSync(join(temp.dir, 'kong', 'dbless.lmdb', 'dbless.lmdb'))).toBe(false);
  });

  it('refuses a regular file, saying what it expected', async () => {
    await writeFile(join(temp.dir, 'kong.yml'), '_format_version: "3.0"\n');
    const result = await cli('cache', 'inspect', 'kong.yml');
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'planesync: kong.yml is not a directory: expected a DP prefix (a directory holding dbless.lmdb or config.json.gz) or its dbless.lmdb directory\n',
    );
  });

  it('refuses a directory that holds no cache, saying what it expected, and creates nothing', async () => {
    await mkdir(join(temp.dir, 'elsewhere'));
    const result = await cli('cache', 'export', 'elsewhere');
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'planesync: elsewhere holds no planesync cache: expected a DP prefix (a directory holding dbless.lmdb or config.json.gz) or its dbless.lmdb directory\n',
    );
    expect(await readdir(join(temp.dir, 'elsewhere'))).toEqual([]);
  });

  it.skipIf(!existsSync('/proc/1'))(
    'answers at once for /proc/1 (a directory that is no prefix), without spinning',
    { timeout: 5_000 },
    async () => {
      const result = await cli('cache', 'inspect', '/proc/1');
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('/proc/1 holds no planesync cache');
    },
  );

  it('refuses an LMDB environment not named dbless.lmdb, which the store could not open', async () => {
    await seed(join(temp.dir, 'kong'));
    const { rename } = await import('node:fs/promises');
    await rename(join(temp.dir, 'kong', 'dbless.lmdb'), join(temp.dir, 'kong', 'backup'));
    const result = await cli('cache', 'inspect', 'kong/backup');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      'kong/backup holds an LMDB data.mdb but is not named dbless.lmdb',
    );
  });

  it('says which cache is missing when --format names the other one', async () => {
    await seed(join(temp.dir, 'kong'), 'lmdb');
    const result = await cli('cache', 'inspect', 'kong', '--format', 'file');
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('planesync: kong holds no config.json.gz\n');
  });

  it('reads the cache of a running DP, whose writer lock it does not need', async () => {
    await seed(join(temp.dir, 'kong'));
    const running = lmdbStore({ prefix: join(temp.dir, 'kong') });
    await running.open();
    try {
      const result = await cli('cache', 'inspect', 'kong');
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('version:   3');
    } finally {
      await running.close();
    }
  });

  it('says in words that a dbless.lmdb which is a file is no cache, for reading and import', async () => {
    await mkdir(join(temp.dir, 'kong'));
    await writeFile(join(temp.dir, 'kong', 'dbless.lmdb'), 'not a directory');
    await writeFile(join(temp.dir, 'kong.yml'), '_format_version: "3.0"\n');
    const message = `planesync: ${join(temp.dir, 'kong', 'dbless.lmdb')} is not a directory; an LMDB cache is a directory\n`;
    expect(await cli('cache', 'inspect', 'kong')).toEqual({ code: 1, stdout: '', stderr: message });
    expect((await cli('cache', 'import', 'kong', 'kong.yml', '--force')).stderr).toBe(message);
  });

  it('says in words that a new prefix cannot be created under a file', async () => {
    await writeFile(join(temp.dir, 'kong.yml'), '_format_version: "3.0"\n');
    const result = await cli('cache', 'import', 'kong.yml/prefix', 'kong.yml');
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: `planesync: cannot create kong.yml/prefix: ${join(temp.dir, 'kong.yml')} is not a directory\n`,
    });
  });

  it('refuses a symlinked dbless.lmdb for reading and for import, and writes nothing through it', async () => {
    await seed(join(temp.dir, 'real'));
    await mkdir(join(temp.dir, 'kong'));
    await symlink(join(temp.dir, 'real', 'dbless.lmdb'), join(temp.dir, 'kong', 'dbless.lmdb'));
    const inspected = await cli('cache', 'inspect', 'kong');
    expect(inspected.code).toBe(1);
    expect(inspected.stderr).toContain(
      `${join(temp.dir, 'kong', 'dbless.lmdb')} is a symbolic link; planesync does not follow links`,
    );
    await writeFile(join(temp.dir, 'kong.yml'), '_format_version: "3.0"\n');
    for (const path of ['kong', 'kong/dbless.lmdb']) {
      const imported = await cli('cache', 'import', path, 'kong.yml', '--force');
      expect(imported.code).toBe(1);
      expect(imported.stderr).toContain(
        'is a symbolic link; planesync does not write through links',
      );
    }
    const real = lmdbStore({ prefix: join(temp.dir, 'real') });
    expect((await real.load())?.version).toBe(3);
    await real.close();
  });
});
