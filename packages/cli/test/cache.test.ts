import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ConfigStore, FileConfigStore, hashConfig } from '@planesync/core';
import { lmdbStore } from '@planesync/storage-lmdb';
import { describe, expect, it } from 'vitest';
import { cliInTempDir } from './capture.ts';

const temp = cliInTempDir('planesync-cache-cli-');
const cli = temp.cli;

const config = {
  _format_version: '3.0',
  services: [
    { name: 'a', host: 'a.internal' },
    { name: 'b', host: 'b.internal' },
  ],
  routes: [{ name: 'r', paths: ['/a'], service: 'a' }],
};

async function seed(prefix: string, kind: 'lmdb' | 'file') {
  const store: ConfigStore =
    kind === 'lmdb' ? lmdbStore({ prefix }) : new FileConfigStore({ prefix });
  const { config_hash, hashes } = hashConfig(config);
  await store.save({
    version: 7,
    hash: config_hash,
    hashes,
    source: 'control-plane',
    config,
    appliedAt: 1,
  });
  await store.saveNodeId('dp-node-1');
  await store.close?.();
  return config_hash;
}

describe('planesync cache', () => {
  for (const kind of ['lmdb', 'file'] as const) {
    it(`inspects a ${kind === 'lmdb' ? 'dbless.lmdb' : 'config.json.gz'} cache: version, hash, source, entity counts`, async () => {
      const hash = await seed(join(temp.dir, 'dp1'), kind);
      const result = await cli('cache', 'inspect', 'dp1');
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(kind === 'lmdb' ? 'dbless.lmdb' : 'config.json.gz');
      expect(result.stdout).toContain('version:   7');
      expect(result.stdout).toContain(`hash:      ${hash}`);
      expect(result.stdout).toContain('source:    control-plane');
      expect(result.stdout).toContain('entities:  services 2, routes 1');
      expect(result.stdout).toContain('node id:   dp-node-1');
    });

    it(`exports a ${kind} cache and imports it into another DP's prefix (the FAQ's manual copy)`, async () => {
      const hash = await seed(join(temp.dir, 'dp1'), kind);
      const exported = await cli('cache', 'export', 'dp1');
      expect(exported.code).toBe(0);
      await writeFile(join(temp.dir, 'config.json'), exported.stdout);
      const imported = await cli('cache', 'import', 'dp2', 'config.json', '--format', kind);
      expect(imported.code).toBe(0);
      const store: ConfigStore =
        kind === 'lmdb'
          ? lmdbStore({ prefix: join(temp.dir, 'dp2') })
          : new FileConfigStore({ prefix: join(temp.dir, 'dp2') });
      expect(await store.load()).toMatchObject({ version: 7, hash, config });
      await store.close?.();
    });
  }

  it('imports a declarative YAML file into a new lmdb cache', async () => {
    await writeFile(
      join(temp.dir, 'kong.yml'),
      '_format_version: "3.0"\nservices:\n  - name: a\n    host: a.internal\n',
    );
    expect((await cli('cache', 'import', 'dp3', 'kong.yml')).code).toBe(0);
    const store = lmdbStore({ prefix: join(temp.dir, 'dp3') });
    expect((await store.load())?.config).toEqual({
      _format_version: '3.0',
      services: [{ name: 'a', host: 'a.internal' }],
    });
    await store.close();
  });

  it('refuses an export whose config does not match its hash, and writes nothing', async () => {
    await seed(join(temp.dir, 'dp1'), 'file');
    const exported = JSON.parse((await cli('cache', 'export', 'dp1')).stdout);
    exported.config.services[0].host = 'tampered.internal';
    await writeFile(join(temp.dir, 'tampered.json'), JSON.stringify(exported));
    const result = await cli('cache', 'import', 'dp4', 'tampered.json');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('STORE_CORRUPT');
    expect(existsSync(join(temp.dir, 'dp4'))).toBe(false);
  });

  it('says so when a dbless.lmdb holds no config yet', async () => {
    await mkdir(join(temp.dir, 'empty', 'dbless.lmdb'), { recursive: true });
    const result = await cli('cache', 'inspect', 'empty');
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `planesync: no cached config in ${join(temp.dir, 'empty', 'dbless.lmdb')}\n`,
    );
  });

  it('reports a corrupt cache with its code', async () => {
    await seed(join(temp.dir, 'dp1'), 'file');
    await writeFile(join(temp.dir, 'dp1', 'config.json.gz'), 'garbage');
    const result = await cli('cache', 'inspect', 'dp1');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('[STORE_CORRUPT]');
  });

  it('answers --help and rejects wrong arguments', async () => {
    expect((await cli('cache', '--help')).stdout).toMatch(/^Usage: planesync cache/);
    expect((await cli('cache', 'import', 'only-prefix')).code).toBe(2);
    expect((await cli('cache', 'inspect', 'p', '--format', 'sqlite')).code).toBe(2);
    expect((await cli('cache', 'inspect', 'p', '--force')).code).toBe(2);
    expect(await readFile(join(temp.dir, 'nothing'), 'utf8').catch(() => 'absent')).toBe('absent');
  });
});
