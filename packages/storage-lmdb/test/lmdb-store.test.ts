import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DataPlane, hashConfig, type PlanesyncError } from '@planesync/core';
import { configStoreConformance, createTestCluster, sampleSnapshot } from '@planesync/core/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lmdbStore } from '../src/index.ts';

const prefixes: string[] = [];
async function freshPrefix(): Promise<string> {
  const prefix = await mkdtemp(join(tmpdir(), 'planesync-lmdb-'));
  prefixes.push(prefix);
  return prefix;
}
async function removePrefixes() {
  await Promise.all(prefixes.splice(0).map((p) => rm(p, { recursive: true, force: true })));
}

const vitest = { describe, it, beforeEach, afterEach };

configStoreConformance(vitest, {
  name: 'lmdbStore conformance',
  async setup() {
    const prefix = await freshPrefix();
    return { store: lmdbStore({ prefix }), reopen: async () => lmdbStore({ prefix }) };
  },
  teardown: removePrefixes,
});

configStoreConformance(vitest, {
  name: 'lmdbStore conformance, encrypted',
  async setup() {
    const prefix = await freshPrefix();
    const encryptionKey = 'ab'.repeat(32);
    return {
      store: lmdbStore({ prefix, encryptionKey }),
      reopen: async () => lmdbStore({ prefix, encryptionKey }),
    };
  },
  teardown: removePrefixes,
});

describe('lmdbStore', () => {
  let prefix: string;
  const open: Array<{ close(): Promise<void> }> = [];
  beforeEach(async () => {
    prefix = await freshPrefix();
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((store) => store.close()));
    await removePrefixes();
  });
  const store = (options: Partial<Parameters<typeof lmdbStore>[0]> = {}) => {
    const created = lmdbStore({ prefix, ...options });
    open.push(created);
    return created;
  };

  it('keeps the cache in the directory <prefix>/dbless.lmdb, as Kong does', async () => {
    const s = store();
    await s.save(sampleSnapshot(1));
    expect(s.path).toBe(join(prefix, 'dbless.lmdb'));
    expect(await readdir(prefix)).toEqual(['dbless.lmdb']);
    expect((await readdir(join(prefix, 'dbless.lmdb'))).sort()).toEqual([
      'data.mdb',
      'data.mdb-lock',
      'planesync.pid', // the writer lock, while this store is open
    ]);
  });

  it('grows the map instead of failing: a 50 MB config round-trips from a 1 MiB map', async () => {
    const s = store({ mapSize: 1024 * 1024 });
    const big = sampleSnapshot(1, 'control-plane', 1);
    const config = { ...(big.config as object), blob: 'x'.repeat(50 * 1024 * 1024) };
    const { config_hash, hashes } = hashConfig(config);
    await s.save({ ...big, config, hash: config_hash, hashes });
    const loaded = await s.load();
    expect(loaded?.hash).toBe(config_hash);
    expect((loaded!.config as { blob: string }).blob.length).toBe(50 * 1024 * 1024);
  });

  it('stores nothing readable without the key, and fails with STORE_DECRYPT_FAILED on a wrong or missing key', async () => {
    const key = Buffer.alloc(32, 7);
    const secret = store({ encryptionKey: key });
    await secret.save(sampleSnapshot(3));
    await secret.close();
    const raw = await (await import('node:fs/promises')).readFile(
      join(prefix, 'dbless.lmdb', 'data.mdb'),
    );
    expect(raw.includes(Buffer.from('service-3-0'))).toBe(false);
    await expect(store({ encryptionKey: Buffer.alloc(32, 8) }).load()).rejects.toMatchObject({
      code: 'STORE_DECRYPT_FAILED',
    });
    await expect(store().load()).rejects.toMatchObject({ code: 'STORE_DECRYPT_FAILED' });
    expect((await store({ encryptionKey: key }).load())?.version).toBe(3);
  });

  it('is unencrypted by default, as the spec says', async () => {
    const plain = store();
    await plain.save(sampleSnapshot(4));
    await plain.close();
    const raw = await (await import('node:fs/promises')).readFile(
      join(prefix, 'dbless.lmdb', 'data.mdb'),
    );
    expect(raw.includes(Buffer.from('service-4-0'))).toBe(true);
  });

  it('refuses a key that is not 32 bytes', () => {
    expect(() => lmdbStore({ prefix, encryptionKey: Buffer.alloc(16) })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });

  it('reports a corrupt environment as STORE_CORRUPT', async () => {
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(prefix, 'dbless.lmdb'), { recursive: true });
    await writeFile(join(prefix, 'dbless.lmdb', 'data.mdb'), Buffer.alloc(64 * 1024, 0x5a));
    await expect(store().load()).rejects.toMatchObject({ code: 'STORE_CORRUPT' });
  });

  it('reports a truncated environment as STORE_CORRUPT instead of crashing the process', async () => {
    const s = store();
    const snapshot = sampleSnapshot(5, 'control-plane', 5_000);
    await s.save(snapshot);
    await open.splice(0)[0]!.close();
    const { readFile, truncate } = await import('node:fs/promises');
    const file = join(prefix, 'dbless.lmdb', 'data.mdb');
    const whole = await readFile(file);
    await truncate(file, 3 * 4096);
    await expect(store().load()).rejects.toMatchObject({ code: 'STORE_CORRUPT' });
    await writeFile(file, whole);
    expect((await store().load())?.version).toBe(5);
  });

  it('lets a DP fall through to its declarative file when the cache is corrupt', async () => {
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(prefix, 'dbless.lmdb'), { recursive: true });
    await writeFile(join(prefix, 'dbless.lmdb', 'data.mdb'), Buffer.alloc(64 * 1024, 0x5a));
    const cluster = await createTestCluster();
    try {
      const dp = cluster.dataPlane({
        storage: store(),
        declarativeConfig: { _format_version: '3.0' },
      });
      const errors: PlanesyncError[] = [];
      dp.on('error', (error) => errors.push(error));
      await dp.start();
      expect(dp.currentConfig?.source).toBe('declarative');
      expect(errors.map((e) => e.code)).toContain('STORE_CORRUPT');
    } finally {
      await cluster.stop();
    }
  });

  it('a restarted DP serves its dbless.lmdb cache without a CP', async () => {
    const cluster = await createTestCluster();
    try {
      const first = cluster.dataPlane({ storage: store() });
      await first.start();
      const { hash } = await cluster.cp.setConfig({
        _format_version: '3.0',
        services: [{ name: 'a', host: 'a' }],
      });
      await cluster.cp.waitForSync({ hash }); // acked: the save to dbless.lmdb is done
      await cluster.cp.stop();
      await first.stop();
      await open.splice(0)[0]!.close();
      const second: DataPlane = cluster.dataPlane({ storage: store() });
      await second.start();
      expect(second.currentConfig).toMatchObject({ source: 'cache', hash });
    } finally {
      await cluster.stop();
    }
  });

  it('lets a second process read the same cache while this one holds it open', async () => {
    const s = store();
    await s.save(sampleSnapshot(9));
    const output = await runNode(
      `import { lmdbStore } from ${JSON.stringify(new URL('../src/index.ts', import.meta.url).pathname)};
       const snapshot = await lmdbStore({ prefix: ${JSON.stringify(prefix)} }).load();
       process.stdout.write(String(snapshot.version));`,
    );
    expect(output).toBe('9');
  });

  it('survives SIGKILL mid-save: after each of 50 kills a fresh store loads a whole snapshot', {
    timeout: 120_000,
  }, async () => {
    // Two lanes (one store each) run side by side on the two cores; 25 kills each.
    const lanes = await Promise.all([
      crashLane(prefix, 25, 1),
      crashLane(await freshPrefix(), 25, 2),
    ]);
    for (const lane of lanes) {
      expect(lane.kills).toBe(25);
      expect(lane.highest).toBeGreaterThan(0);
    }
  });
});

/** Starts a saving child, kills it at a random moment, checks the store; `kills` times. */
async function crashLane(prefix: string, kills: number, seed: number) {
  const child = new URL('./crash-child.ts', import.meta.url).pathname;
  const random = () => {
    seed = (seed * 48271) % 2147483647;
    return seed / 2147483647;
  };
  let highest = 0;
  let done = 0;
  const deadline = Date.now() + 100_000;
  for (; done < kills && Date.now() < deadline; done++) {
    const proc = spawn(
      process.execPath,
      ['--conditions=@planesync/source', '--import', 'tsx', child, prefix, String(highest)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    await new Promise<void>((resolve) => proc.stdout.once('data', () => resolve()));
    await new Promise((resolve) => setTimeout(resolve, 5 + Math.floor(random() * 60)));
    proc.kill('SIGKILL');
    await new Promise((resolve) => proc.once('exit', resolve));
    const fresh = lmdbStore({ prefix });
    const loaded = await fresh.load();
    await fresh.close();
    if (loaded) {
      // a whole snapshot: its content hashes to the hash stored with it, and it never goes back
      expect(hashConfig(loaded.config as Record<string, unknown>).config_hash).toBe(loaded.hash);
      expect(loaded.version).toBeGreaterThanOrEqual(highest);
      highest = loaded.version;
    }
  }
  return { kills: done, highest };
}

function runNode(source: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const proc = spawn(
      process.execPath,
      ['--conditions=@planesync/source', '--import', 'tsx', '--input-type=module', '-e', source],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    proc.stdout.on('data', (chunk) => {
      out += chunk;
    });
    proc.once('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`child exited ${code}`)),
    );
  });
}
