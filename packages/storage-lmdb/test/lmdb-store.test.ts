import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { copyFile, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { type DataPlane, hashConfig, type PlanesyncError } from '@planesync/core';
import { configStoreConformance, createTestCluster, sampleSnapshot } from '@planesync/core/testing';
import { open as openLmdb } from 'lmdb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readEnvironment } from '../src/environment-file.ts';
import { lmdbStore } from '../src/index.ts';
import { bundleScript } from './bundle-script.ts';

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

  it('reads back every save of a cache LMDB has rewritten many times: a free list of page runs, empty slots and spare room is not damage', async () => {
    // A node id and a snapshot saved back to back, as a DP saves them, with values from a few
    // bytes to megabytes: LMDB frees and reuses runs of pages, and writes its free list as
    // lmdb-js's LMDB does — runs, empty slots, entries longer than their count, some on
    // overflow pages of their own. The checked reader once took all of that for damage from
    // the fourth save on, and the next save moved the cache aside.
    const s = store({ mapSize: 1024 * 1024 });
    const blobs = [0, 3_000, 40_000, 3_000_000, 200, 600_000, 9_000];
    for (let version = 1; version <= 3 * blobs.length; version++) {
      const base = sampleSnapshot(version);
      const config = {
        ...(base.config as object),
        blob: 'x'.repeat(blobs[version % blobs.length]!),
      };
      const { config_hash, hashes } = hashConfig(config);
      await s.saveNodeId(`node-${version}`);
      await s.save({ ...base, config, hash: config_hash, hashes });
      const fresh = lmdbStore({ prefix });
      const why = `after save ${version}`;
      expect(await fresh.loadNodeId(), why).toBe(`node-${version}`);
      expect((await fresh.load())?.hash, why).toBe(config_hash);
    }
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

  it('survives SIGKILL mid-save: after each kill a fresh store loads the last saved snapshot or the one being written, whole', {
    timeout: 60_000,
  }, async () => {
    // Where each kill lands, decided by the child's progress: just after a save begins (the
    // first one also opens the environment over the stale lock of the child before), or just
    // after one ends.
    const points: KillPoint[] = [
      ['begin', 1],
      ['begin', 2],
      ['end', 1],
      ['begin', 3],
      ['end', 2],
      ['begin', 1],
      ['begin', 2],
      ['end', 3],
      ['begin', 3],
      ['begin', 1],
      ['end', 1],
      ['begin', 2],
    ];
    const child = await bundleChild('crash-child.ts');
    let highest = 0;
    for (const point of points) {
      const run = await killChildAt(child, prefix, highest, point);
      const fresh = lmdbStore({ prefix });
      const loaded = await fresh.load();
      await fresh.close();
      const why = `killed after "${point.join(' ')}": began ${run.began}, ended ${run.ended}`;
      // Nothing saved is lost: at least the last save that ended (in this run or before; 0 is
      // none, an empty cache) …
      const saved = Math.max(highest, run.ended);
      // … and at most the one that had begun: a whole snapshot, never a mix of two.
      const allowed = run.began > saved ? [saved, run.began] : [saved];
      expect(loaded?.version ?? 0, why).toBeOneOf(allowed);
      if (loaded) {
        expect(hashConfig(loaded.config as Record<string, unknown>).config_hash, why).toBe(
          loaded.hash,
        );
        expect((loaded.config as { generation: number }).generation, why).toBe(loaded.version);
      }
      highest = loaded?.version ?? 0;
    }
    expect(highest).toBeGreaterThanOrEqual(points.length);
  });

  it('survives SIGKILL around back-to-back saves of the node id and the config: lmdb and the checked reader read the same file, and nothing saved is lost', {
    timeout: 60_000,
  }, async () => {
    // Each round writes two transactions, the node id then the config, over values from none
    // to megabytes (back-to-back-child.ts). Kills land while the node id is written, between
    // the two writes and just after both, so that the file the next child opens has been
    // rewritten many times, its free list too.
    const points: KillPoint[] = [
      ['node', 1],
      ['end', 2],
      ['begin', 3],
      ['node', 2],
      ['end', 4],
      ['begin', 2],
      ['node', 3],
      ['end', 1],
      ['begin', 4],
      ['node', 4],
      ['end', 3],
      ['begin', 1],
    ];
    const child = await bundleChild('back-to-back-child.ts');
    const file = join(prefix, 'dbless.lmdb', 'data.mdb');
    let highest = 0; // the config saved last; the child numbers its rounds after it
    let highestNodeId = 0;
    for (const point of points) {
      const run = await killChildAt(child, prefix, highest, point);
      const why = `killed after "${point.join(' ')}": began ${run.began}, node id saved ${run.nodeIdSaved}, ended ${run.ended}`;
      // What LMDB itself reads, from a copy (opening the file may write to it) …
      const copy = await freshPrefix();
      await copyFile(file, join(copy, 'data.mdb'));
      const lmdb = openLmdb<Buffer, string>({
        path: join(copy, 'data.mdb'),
        encoding: 'binary',
        compression: false,
      });
      const byLmdb = ['node_id', 'snapshot'].map((key) => digest(lmdb.get(key)));
      await lmdb.close();
      // … is what the checked reader reads: no false alarm, no other snapshot.
      const checked = readEnvironment(file, `${file} (${why})`)?.values;
      expect(
        ['node_id', 'snapshot'].map((key) => digest(checked?.get(key))),
        why,
      ).toEqual(byLmdb);
      // Nothing the child reported saved is lost (and the next child does not move the file
      // aside): at least the last node id and the last config saved, at most those under way.
      const fresh = lmdbStore({ prefix });
      const version = (await fresh.load())?.version ?? 0;
      const nodeId = Number((await fresh.loadNodeId())?.replace('node-', '') ?? 0);
      await fresh.close();
      const saved = Math.max(highest, run.ended);
      expect(version, why).toBeOneOf(run.began > saved ? [saved, run.began] : [saved]);
      const nodeIdSaved = Math.max(highestNodeId, run.nodeIdSaved);
      expect(nodeId, why).toBeOneOf(
        run.began > nodeIdSaved ? [nodeIdSaved, run.began] : [nodeIdSaved],
      );
      highest = version;
      highestNodeId = nodeId;
    }
    expect(highest).toBeGreaterThanOrEqual(points.length);
  });
});

/** A value's SHA-256, to compare megabytes at a glance; `none` for a missing one. */
function digest(value: Uint8Array | undefined): string {
  return value ? createHash('sha256').update(value).digest('hex') : 'none';
}

/**
 * Kill the child once it has printed `begin N`, `node N` (back-to-back-child.ts only) or
 * `end N` for its Nth save of the run.
 */
type KillPoint = ['begin' | 'node' | 'end', number];

/** A child script of this folder bundled into a directory removed after the test. */
async function bundleChild(script: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'planesync-crash-child-'));
  prefixes.push(dir);
  return bundleScript(script, dir);
}

/**
 * Starts the saving child (numbering its saves after `highest`), SIGKILLs it as soon as it
 * reports `point`, and returns the last save it reported begun, the last whose node id it
 * reported saved, and the last it reported ended. No timer: every wait is for the child's own
 * output or its exit.
 */
async function killChildAt(
  child: string,
  prefix: string,
  highest: number,
  [event, nth]: KillPoint,
) {
  const proc = spawn(process.execPath, [child, prefix, String(highest)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let began = highest;
  let nodeIdSaved = highest;
  let ended = highest;
  let errors = '';
  proc.stderr.on('data', (chunk) => {
    errors += chunk;
  });
  const target = `${event} ${highest + nth}`;
  const output = createInterface({ input: proc.stdout });
  const read = (async () => {
    let killed = false;
    for await (const line of output) {
      const [what, number] = line.split(' ');
      if (what === 'begin') began = Number(number);
      if (what === 'node') nodeIdSaved = Number(number);
      if (what === 'end') ended = Number(number);
      if (!killed && line === target) {
        killed = proc.kill('SIGKILL');
      }
    }
    return killed;
  })();
  const [code, signal] = await once(proc, 'close');
  const killed = await read; // every line the child wrote, read
  if (!killed)
    throw new Error(`the child exited (${code ?? signal}) before "${target}":\n${errors}`);
  return { began, nodeIdSaved, ended };
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
