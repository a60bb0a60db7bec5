import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ConfigStore, FileConfigStore, hashConfig } from '@planesync/core';
import { toStoredRecord } from '@planesync/core/storage';
import { lmdbStore } from '@planesync/storage-lmdb';
import { describe, expect, it } from 'vitest';
import { cliInTempDir } from './capture.ts';

const temp = cliInTempDir('planesync-cache-import-');
const cli = temp.cli;

const config = { _format_version: '3.0', services: [{ name: 'a', host: 'a.internal' }] };

/** An export as `cache export` writes it, of any config, with the hash that config has. */
function exportOf(value: unknown, hash?: string) {
  const computed =
    value !== null && typeof value === 'object' && !Array.isArray(value)
      ? hashConfig(value as Record<string, unknown>)
      : { config_hash: 'a'.repeat(32), hashes: hashConfig({}).hashes };
  return toStoredRecord({
    version: 5,
    hash: hash ?? computed.config_hash,
    hashes: computed.hashes,
    source: 'control-plane',
    config: value,
    appliedAt: 1,
    savedAt: 2,
  });
}

async function write(name: string, value: unknown) {
  await writeFile(join(temp.dir, name), typeof value === 'string' ? value : JSON.stringify(value));
}

async function load(prefix: string, kind: 'lmdb' | 'file' = 'lmdb') {
  const store: ConfigStore =
    kind === 'lmdb'
      ? lmdbStore({ prefix: join(temp.dir, prefix) })
      : new FileConfigStore({ prefix: join(temp.dir, prefix) });
  try {
    return await store.load();
  } finally {
    await store.close?.();
  }
}

describe('planesync cache import validates as a DP validates', () => {
  for (const [name, value] of [
    ['config: null', null],
    ['services: "x"', { _format_version: '3.0', services: 'x' }],
    ['port: "x"', { _format_version: '3.0', services: [{ name: 'a', host: 'h', port: 'x' }] }],
  ] as const) {
    it(`refuses an export whose hash matches but whose config is invalid (${name}), and writes nothing`, async () => {
      await write('export.json', exportOf(value));
      const result = await cli('cache', 'import', 'dp', 'export.json');
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        /^planesync: export\.json is not a valid config \(CONFIG_INVALID\); nothing was imported:\n {2}\S/,
      );
      expect(existsSync(join(temp.dir, 'dp'))).toBe(false);
    });
  }

  it('names the problem of an invalid export with its path', async () => {
    await write(
      'export.json',
      exportOf({ _format_version: '3.0', services: [{ name: 'a', host: 'h', port: 'x' }] }),
    );
    const result = await cli('cache', 'import', 'dp', 'export.json');
    expect(result.stderr).toContain('  services[0].port: ');
  });

  it('refuses an export nested deeper than the DP accepts (maxDepth), before validating it', async () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 1_100; i++) deep = { d: deep };
    // Too deep to hash here too: the envelope is written by hand.
    await write('export.json', {
      ...exportOf(config),
      hash: 'b'.repeat(32),
      config: { _format_version: '3.0', deep },
    });
    const result = await cli('cache', 'import', 'dp', 'export.json');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('is nested deeper than 1000 levels (maxDepth)');
    expect(existsSync(join(temp.dir, 'dp'))).toBe(false);
  });

  it('stores the per-entity hashes a DP computes, not the ones the file claims', async () => {
    const record = exportOf(config);
    const truth = hashConfig(config).hashes;
    await write('export.json', {
      ...record,
      hashes: { ...truth, services: 'f'.repeat(32) },
    });
    expect((await cli('cache', 'import', 'dp', 'export.json')).code).toBe(0);
    expect((await load('dp'))?.hashes).toEqual(truth);
  });

  it('stores the config as a DP applies it: routes nested under a service are flattened', async () => {
    const nested = {
      _format_version: '3.0',
      services: [{ name: 'a', host: 'a.internal', routes: [{ name: 'r', paths: ['/a'] }] }],
    };
    await write('export.json', exportOf(nested));
    expect((await cli('cache', 'import', 'dp', 'export.json')).code).toBe(0);
    const stored = await load('dp');
    expect(stored?.hash).toBe(hashConfig(nested).config_hash);
    expect(stored?.config).toMatchObject({
      services: [{ name: 'a', host: 'a.internal' }],
      routes: [{ name: 'r', paths: ['/a'], service: 'a' }],
    });
  });

  it('refuses an invalid declarative file with every problem, and writes nothing', async () => {
    await write('kong.yml', '_format_version: "3.0"\nservices:\n  - name: a\n    port: 70000\n');
    const result = await cli('cache', 'import', 'dp', 'kong.yml');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('kong.yml is not a valid config (CONFIG_INVALID)');
    expect(result.stderr).toContain('services[0].port: expected integer 0..65535');
    expect(existsSync(join(temp.dir, 'dp'))).toBe(false);
  });

  it('refuses an export of a format it does not know', async () => {
    await write('export.json', { ...exportOf(config), format: 'planesync-config/2' });
    const result = await cli('cache', 'import', 'dp', 'export.json');
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'planesync: export.json is a planesync export of format planesync-config/2; this planesync reads planesync-config/1\n',
    );
  });

  it('names a missing FILE in plain words, without a raw ENOENT', async () => {
    const result = await cli('cache', 'import', 'dp', 'missing.json');
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: 'planesync: cannot read missing.json: no such file\n',
    });
  });
});

describe('planesync cache import into an existing cache', () => {
  it('refuses to replace a cached config without --force, as cert gen refuses to overwrite', async () => {
    await write('one.json', exportOf(config));
    expect((await cli('cache', 'import', 'dp', 'one.json')).code).toBe(0);
    const other = { ...config, services: [{ name: 'b', host: 'b.internal' }] };
    await write('two.json', exportOf(other));
    const refused = await cli('cache', 'import', 'dp', 'two.json');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      `planesync: ${join(temp.dir, 'dp', 'dbless.lmdb')} already holds a config (version 5, ${hashConfig(config).config_hash}); --force replaces it\n`,
    );
    expect((await load('dp'))?.config).toEqual(config);
    expect((await cli('cache', 'import', 'dp', 'two.json', '--force')).code).toBe(0);
    expect((await load('dp'))?.config).toEqual(other);
  });

  it('refuses a file cache the same way', async () => {
    await write('one.json', exportOf(config));
    expect((await cli('cache', 'import', 'dp', 'one.json', '--format', 'file')).code).toBe(0);
    const refused = await cli('cache', 'import', 'dp', 'one.json');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('config.json.gz already holds a config');
  });

  it('imports into the dbless.lmdb directory given itself, not into a nested one', async () => {
    await write('one.json', exportOf(config));
    const result = await cli('cache', 'import', 'kong/dbless.lmdb', 'one.json');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      `imported version 5 (${hashConfig(config).config_hash}) into ${join(temp.dir, 'kong', 'dbless.lmdb')}\n`,
    );
    expect((await load('kong'))?.config).toEqual(config);
    expect(existsSync(join(temp.dir, 'kong', 'dbless.lmdb', 'dbless.lmdb'))).toBe(false);
  });

  it('says a running data plane uses the cache, by its pid, and to stop it first', async () => {
    // A DP holds the lock: its pid file names a live process other than this one.
    await mkdir(join(temp.dir, 'kong', 'dbless.lmdb'), { recursive: true });
    const lock = join(temp.dir, 'kong', 'dbless.lmdb', 'planesync.pid');
    await writeFile(lock, `${process.ppid}\n`);
    await write('one.json', exportOf(config));
    const result = await cli('cache', 'import', 'kong', 'one.json');
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `planesync: a data plane (pid ${process.ppid}) is using this cache (lock ${lock}); stop it first\n`,
    );
  });
});

describe('planesync cache --encryption-key', () => {
  const key = '0123456789abcdef'.repeat(4);

  it('says what --encryption-key must be, naming the flag, and exits 2', async () => {
    for (const bad of ['short', 'z'.repeat(64)]) {
      const result = await cli('cache', 'inspect', 'dp', '--encryption-key', bad);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('--encryption-key must be 64 hex digits (32 bytes)');
    }
  });

  it('takes the key in base64 too, as lmdbStore does', async () => {
    await write('one.json', exportOf(config));
    const base64 = Buffer.from(key, 'hex').toString('base64');
    expect(
      (await cli('cache', 'import', 'secret', 'one.json', '--encryption-key', base64)).code,
    ).toBe(0);
    expect((await cli('cache', 'inspect', 'secret', '--encryption-key', key)).code).toBe(0);
  });

  it('speaks of --encryption-key when the cache is encrypted, the key wrong, or not needed', async () => {
    await write('one.json', exportOf(config));
    expect((await cli('cache', 'import', 'secret', 'one.json', '--encryption-key', key)).code).toBe(
      0,
    );
    const where = join(temp.dir, 'secret', 'dbless.lmdb');
    expect((await cli('cache', 'inspect', 'secret')).stderr).toBe(
      `planesync: ${where} is encrypted: give its key with --encryption-key\n`,
    );
    expect(
      (await cli('cache', 'inspect', 'secret', '--encryption-key', 'f'.repeat(64))).stderr,
    ).toBe(`planesync: ${where} cannot be decrypted with the --encryption-key given\n`);
    const right = await cli('cache', 'inspect', 'secret', '--encryption-key', key);
    expect(right.code).toBe(0);
    expect(right.stdout).toContain('version:   5');
    expect((await cli('cache', 'import', 'plain', 'one.json')).code).toBe(0);
    expect((await cli('cache', 'export', 'plain', '--encryption-key', key)).stderr).toBe(
      `planesync: ${join(temp.dir, 'plain', 'dbless.lmdb')} is not encrypted: leave out --encryption-key\n`,
    );
  });
});
