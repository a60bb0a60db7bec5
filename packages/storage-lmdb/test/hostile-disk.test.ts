import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { PlanesyncError } from '@planesync/core';
import { createTestCluster, sampleSnapshot } from '@planesync/core/testing';
import { open } from 'lmdb';
import { afterEach, describe, expect, it } from 'vitest';
import { packCompressedRecord } from '../src/compressed-record.ts';
import { readEnvironment } from '../src/environment-file.ts';
import { lmdbStore } from '../src/index.ts';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function freshPrefix(): Promise<string> {
  const prefix = await mkdtemp(join(tmpdir(), 'planesync-disk-'));
  cleanups.push(() => rm(prefix, { recursive: true, force: true }));
  return prefix;
}

/** A store closed after the test. */
function store(prefix: string) {
  const created = lmdbStore({ prefix });
  cleanups.push(() => created.close());
  return created;
}

const PAGE = 4096;

/** A value's SHA-256, to compare megabytes at a glance; `none` for a missing one. */
function digest(value: Uint8Array | undefined): string {
  return value ? createHash('sha256').update(value).digest('hex') : 'none';
}

/** Mounting a small tmpfs needs root (CI runs as root); elsewhere these tests say why they skip. */
const canMount = (() => {
  if (process.getuid?.() !== 0) return false;
  const probe = join(tmpdir(), `planesync-mount-probe-${process.pid}`);
  try {
    execFileSync('mkdir', ['-p', probe]);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    execFileSync('rm', ['-rf', probe]);
  }
})();

async function tmpfs(size: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'planesync-tmpfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  cleanups.push(async () => {
    execFileSync('umount', ['-l', dir]);
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

function runChild(script: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--conditions=@planesync/source', '--import', 'tsx', script, ...args],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    child.stderr.resume();
    child.once('exit', (code) => resolve({ code, out }));
  });
}

describe.skipIf(!canMount)('a full disk (a real small tmpfs; needs root to mount one)', () => {
  it('a save that does not fit is STORE_WRITE_FAILED: the DP lives, serves the new config, tells the CP its cache is behind, and a restart loads the previous snapshot', {
    timeout: 60_000,
  }, async () => {
    const prefix = await tmpfs('2m');
    const child = new URL('./disk-full-child.ts', import.meta.url).pathname;
    const { code, out } = await runChild(child, [prefix]);
    expect(code).toBe(0);
    const seen = JSON.parse(out) as Record<string, unknown>;
    expect(seen.errors).toContain('STORE_WRITE_FAILED');
    expect(seen.serving).toBe(seen.big);
    expect(seen.cacheHash).toBe(seen.small);
    expect(seen.reportedToCp).toBe(seen.small);
    const restarted = store(prefix);
    expect((await restarted.load())?.hash).toBe(seen.small);
  });
});

describe('a damaged dbless.lmdb is STORE_CORRUPT: never a crash, never a silent empty cache', () => {
  /** A cache with some history: freed pages, a free list, a value on overflow pages. */
  async function seededPrefix() {
    const prefix = await freshPrefix();
    const seed = lmdbStore({ prefix });
    await seed.saveNodeId('node-1');
    let last = sampleSnapshot(1);
    for (const [version, entities] of [
      [1, 100],
      [2, 2_000],
      [3, 3_000],
    ] as const) {
      last = sampleSnapshot(version, 'control-plane', entities);
      await seed.save(last);
    }
    await seed.close();
    const file = join(prefix, 'dbless.lmdb', 'data.mdb');
    return { prefix, file, original: await readFile(file), hash: last.hash };
  }

  it('every single-page corruption of the file loads the intact snapshot or fails with STORE_CORRUPT', {
    timeout: 60_000,
  }, async () => {
    const { prefix, file, original, hash } = await seededPrefix();
    const pages = original.length / PAGE;
    const kinds = {
      random: () => randomBytes(PAGE),
      zeros: () => Buffer.alloc(PAGE),
      // a misdirected write: another page's bytes, whole and plausible
      copy: (page: number) => {
        const from = 2 + ((page * 7) % (pages - 2));
        return original.subarray(from * PAGE, (from + 1) * PAGE);
      },
    };
    const outcomes = { intact: 0, corrupt: 0 };
    for (const [kind, make] of Object.entries(kinds)) {
      for (let page = 2; page < pages; page++) {
        const damaged = Buffer.from(original);
        make(page).copy(damaged, page * PAGE);
        if (damaged.equals(original)) continue;
        await writeFile(file, damaged);
        const loaded = await lmdbStore({ prefix })
          .load()
          .then(
            (snapshot) => snapshot,
            (error: PlanesyncError) => error,
          );
        if (loaded instanceof Error) {
          expect(loaded.code, `${kind} page ${page}`).toBe('STORE_CORRUPT');
          outcomes.corrupt++;
        } else {
          expect(loaded?.hash, `${kind} page ${page}`).toBe(hash);
          outcomes.intact++;
        }
      }
    }
    // The live pages (leaf, free list, the value's overflow pages) are found damaged; freed
    // pages of older snapshots do not matter.
    expect(outcomes.corrupt).toBeGreaterThanOrEqual(3 * 40);
    expect(outcomes.intact).toBeGreaterThan(0);
  });

  it('a leaf claiming a value larger than the file is STORE_CORRUPT (LMDB itself would read past the map)', async () => {
    const { prefix, file, original } = await seededPrefix();
    // The main database's leaf is the page whose nodes name "snapshot"; make its size absurd.
    const damaged = Buffer.from(original);
    const at = damaged.indexOf(Buffer.from('snapshot'));
    expect(at).toBeGreaterThan(0);
    damaged.writeUInt16LE(0xffff, at - 8); // low half of the value size
    damaged.writeUInt16LE(0x7fff, at - 6); // high half
    await writeFile(file, damaged);
    await expect(lmdbStore({ prefix }).load()).rejects.toMatchObject({ code: 'STORE_CORRUPT' });
  });

  it('a leaf pointing many times at one value is STORE_CORRUPT, never a copy per pointer', async () => {
    const { prefix, file, original } = await seededPrefix();
    const damaged = Buffer.from(original);
    // The main database's leaf: the page whose node names "snapshot".
    const at = damaged.indexOf(Buffer.from('snapshot'));
    const page = Math.floor(at / PAGE);
    const base = page * PAGE;
    const nodeOffset = at - 8 - base - 24; // node offsets count from the end of the header
    const upper = damaged.readUInt16LE(base + 22);
    const pointers = Math.floor(upper / 2);
    damaged.writeUInt16LE(pointers * 2, base + 20); // lower: that many pointers …
    for (let i = 0; i < pointers; i++) damaged.writeUInt16LE(nodeOffset, base + 24 + 2 * i); // … all alike
    // … and meta pages that agree with the crafted page's counts.
    const firstOverflow = Number(damaged.readBigUInt64LE(at + 8)); // the value's first page
    const overflow = damaged.readUInt32LE(firstOverflow * PAGE + 20); // and how many it spans
    for (const meta of [0, PAGE]) {
      const mainDb = meta + 24 + 24 + 48;
      damaged.writeBigUInt64LE(BigInt(pointers), mainDb + 32); // entries
      damaged.writeBigUInt64LE(BigInt(pointers * overflow), mainDb + 24); // overflow pages
    }
    await writeFile(file, damaged);
    const loaded = await lmdbStore({ prefix })
      .load()
      .catch((error: PlanesyncError) => error);
    expect(loaded).toMatchObject({ code: 'STORE_CORRUPT' });
  });

  it('a DP falls through to its declarative file, and its next save moves the damaged file aside', async () => {
    const { prefix, file, original } = await seededPrefix();
    const damaged = Buffer.from(original);
    damaged.fill(0, 2 * PAGE, original.length); // every page after the meta pages
    await writeFile(file, damaged);
    const cluster = await createTestCluster();
    cleanups.push(() => cluster.stop());
    const dp = cluster.dataPlane({
      storage: store(prefix),
      declarativeConfig: { _format_version: '3.0' },
    });
    const errors: string[] = [];
    dp.on('error', (error) => errors.push(error.code));
    await dp.start();
    expect(dp.currentConfig?.source).toBe('declarative');
    expect(errors).toContain('STORE_CORRUPT');
    const { hash } = await cluster.cp.setConfig({
      _format_version: '3.0',
      services: [{ name: 'a', host: 'a.internal' }],
    });
    // The DP acks once its save is done: the CP recording the ack means the cache is written.
    await cluster.cp.waitForSync({ hash });
    expect(existsSync(`${file}.corrupt`)).toBe(true);
    await dp.stop();
    const restarted = lmdbStore({ prefix });
    expect((await restarted.load())?.hash).toBe(hash);
  });

  it('a file that ends before its last page is whole when the pages missing are free ones LMDB never wrote; otherwise STORE_CORRUPT', async () => {
    const prefix = await freshPrefix();
    const file = join(prefix, 'dbless.lmdb', 'data.mdb');
    const seed = lmdbStore({ prefix });
    for (let version = 1; version <= 10; version++)
      await seed.save(sampleSnapshot(version, 'control-plane', 40));
    await seed.close();
    // One transaction that writes a large value and deletes it again: LMDB allocates its pages
    // past the end of the file, lists them as free, and never writes them.
    const lmdb = open<Uint8Array, string>({ path: file, encoding: 'binary', compression: false });
    await lmdb.transaction(() => {
      lmdb.put('scratch', Buffer.alloc(400_000));
      lmdb.remove('scratch');
    });
    await lmdb.close();
    const bytes = await readFile(file);
    const metas = [0, PAGE / 2, PAGE].map((page) => page + 24);
    const newest = metas.reduce((a, b) =>
      bytes.readBigUInt64LE(b + 128) > bytes.readBigUInt64LE(a + 128) ? b : a,
    );
    const lastPage = bytes.readBigUInt64LE(newest + 120);
    expect(BigInt(bytes.length / PAGE)).toBeLessThan(lastPage + 1n); // the file ends early
    expect((await lmdbStore({ prefix }).load())?.version).toBe(10);
    // A meta page naming pages past the end that are not free is damage.
    for (const meta of metas) bytes.writeBigUInt64LE(lastPage + 1_000n, meta + 120);
    await writeFile(file, bytes);
    await expect(lmdbStore({ prefix }).load()).rejects.toMatchObject({ code: 'STORE_CORRUPT' });
  });

  it('a cache written before checksums (planesync 0.1) still loads', async () => {
    const prefix = await freshPrefix();
    const snapshot = sampleSnapshot(7);
    await mkdir(join(prefix, 'dbless.lmdb'));
    const legacy = open<Uint8Array, string>({
      path: join(prefix, 'dbless.lmdb', 'data.mdb'),
      encoding: 'binary',
    });
    const record = { format: 'planesync-config/1', ...snapshot, savedAt: 1 };
    await legacy.put('snapshot', Buffer.from(JSON.stringify(record)));
    await legacy.put('node_id', Buffer.from('legacy-node'));
    await legacy.close();
    const s = store(prefix);
    expect((await s.load())?.hash).toBe(snapshot.hash);
    expect(await s.loadNodeId()).toBe('legacy-node');
  });

  it('a config kept compressed without its checksum is damage: compressed records were never written without one', async () => {
    const prefix = await freshPrefix();
    const snapshot = sampleSnapshot(7);
    await mkdir(join(prefix, 'dbless.lmdb'));
    const lmdb = open<Uint8Array, string>({
      path: join(prefix, 'dbless.lmdb', 'data.mdb'),
      encoding: 'binary',
    });
    const { config, ...head } = { format: 'planesync-config/1', ...snapshot, savedAt: 1 };
    const unsealed = packCompressedRecord(Buffer.from(JSON.stringify(head)), {
      encoding: 'gzip',
      bytes: gzipSync(JSON.stringify(config)),
    });
    await lmdb.put('snapshot', unsealed);
    await lmdb.close();
    await expect(store(prefix).load()).rejects.toMatchObject({ code: 'STORE_CORRUPT' });
  });
});

describe('after a restart of the machine, the snapshot LMDB itself opens', () => {
  /** The snapshot the checked reader reads, and the one LMDB reads from a copy of the file. */
  async function bothReadings(prefix: string, bytes: Buffer) {
    const file = join(prefix, 'dbless.lmdb', 'data.mdb');
    await writeFile(file, bytes);
    const copy = await freshPrefix();
    await writeFile(join(copy, 'data.mdb'), bytes);
    const lmdb = open<Buffer, string>({
      path: join(copy, 'data.mdb'),
      encoding: 'binary',
      compression: false,
    });
    const byLmdb = digest(lmdb.get('snapshot'));
    await lmdb.close();
    const loaded = await lmdbStore({ prefix })
      .load()
      .catch((error: PlanesyncError) => error);
    const checked = loaded instanceof Error ? loaded.code : loaded?.version;
    return {
      checked,
      agree: digest(readEnvironment(file, file)?.values.get('snapshot')) === byLmdb,
    };
  }

  it('passes over a commit not known to be flushed when it was written before the restart, as LMDB does, even if its pages never reached the disk', async () => {
    const prefix = await freshPrefix();
    const file = join(prefix, 'dbless.lmdb', 'data.mdb');
    const writer = lmdbStore({ prefix });
    await writer.save(sampleSnapshot(1, 'control-plane', 2_000));
    // lmdb-js reports a commit once it is flushed; the flushed copy of its meta (half a page
    // into page 0) now names the first save.
    const firstFlushed = await readFile(file);
    await writer.save(sampleSnapshot(2, 'control-plane', 2_000));
    await writer.close();
    const bytes = await readFile(file);
    // As if the second commit had been written but not flushed when its process was killed:
    // the flushed meta still names the first save.
    const flushedMeta = PAGE / 2 + 24;
    firstFlushed.copy(bytes, flushedMeta + 16, flushedMeta + 16, flushedMeta + 144);
    // Within the boot that wrote it, LMDB trusts the newer commit: so does the reader.
    expect(await bothReadings(prefix, bytes)).toEqual({ checked: 2, agree: true });
    // After a restart of the machine (its meta pages name another boot) LMDB goes back to the
    // flushed snapshot …
    for (const meta of [24, PAGE + 24]) bytes.writeBigInt64LE(0x5eedn, meta + 136);
    expect(await bothReadings(prefix, bytes)).toEqual({ checked: 1, agree: true });
    // … which stays whole when the second commit's pages never reached the disk: no
    // STORE_CORRUPT, no cache moved aside.
    const second = bytes.readBigUInt64LE(PAGE + 24 + 128) > bytes.readBigUInt64LE(24 + 128);
    const txnid = bytes.readBigUInt64LE((second ? PAGE : 0) + 24 + 128);
    for (let page = 2; page < bytes.length / PAGE; page++)
      if (bytes.readBigUInt64LE(page * PAGE + 8) === txnid)
        bytes.fill(0, page * PAGE, (page + 1) * PAGE);
    expect(await bothReadings(prefix, bytes)).toEqual({ checked: 1, agree: true });
  });
});

describe('one writer per prefix, as Kong runs one instance per prefix', () => {
  function holdInChild(prefix: string): Promise<ChildProcess> {
    const source = `import { lmdbStore } from ${JSON.stringify(new URL('../src/index.ts', import.meta.url).pathname)};
      await lmdbStore({ prefix: ${JSON.stringify(prefix)} }).open();
      process.stdout.write('ready');
      setInterval(() => {}, 1000);`;
    const child = spawn(
      process.execPath,
      ['--conditions=@planesync/source', '--import', 'tsx', '--input-type=module', '-e', source],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    cleanups.push(async () => {
      child.kill('SIGKILL');
    });
    return new Promise((resolve) => child.stdout.once('data', () => resolve(child)));
  }

  it('refuses a second DP on a prefix another process writes, with STORE_LOCKED naming it; readers still read', {
    timeout: 30_000,
  }, async () => {
    const prefix = await freshPrefix();
    const seed = lmdbStore({ prefix });
    await seed.save(sampleSnapshot(3));
    await seed.close();
    const holder = await holdInChild(prefix);
    const second = store(prefix);
    await expect(second.open()).rejects.toMatchObject({ code: 'STORE_LOCKED', pid: holder.pid });
    expect((await second.load())?.version).toBe(3); // `planesync cache inspect` works
    const cluster = await createTestCluster();
    cleanups.push(() => cluster.stop());
    const dp = cluster.dataPlane({ storage: store(prefix) });
    await expect(dp.start()).rejects.toMatchObject({ code: 'STORE_LOCKED' });
    // Once the holder is gone (killed: its pid file stays behind), the prefix is free again.
    holder.kill('SIGKILL');
    await new Promise((resolve) => holder.once('exit', resolve));
    await expect(store(prefix).open()).resolves.toEqual({ writable: true });
  });

  it('two stores in one process: the second writer waits for the first to close', async () => {
    const prefix = await freshPrefix();
    const first = lmdbStore({ prefix });
    await first.save(sampleSnapshot(1));
    const second = store(prefix);
    await expect(second.save(sampleSnapshot(2))).rejects.toMatchObject({ code: 'STORE_LOCKED' });
    await first.close();
    await second.save(sampleSnapshot(2));
    expect((await second.load())?.version).toBe(2);
  });
});

describe.skipIf(!canMount)('a read-only prefix (a tmpfs remounted read-only; needs root)', () => {
  it('serves the cache it holds and reports that saving is impossible', async () => {
    const prefix = await tmpfs('4m');
    const seed = lmdbStore({ prefix });
    const snapshot = sampleSnapshot(5);
    await seed.save(snapshot);
    await seed.close();
    execFileSync('mount', ['-o', 'remount,ro', prefix]);
    const s = store(prefix);
    await expect(s.open()).resolves.toEqual({ writable: false });
    await expect(s.save(sampleSnapshot(6))).rejects.toMatchObject({ code: 'STORE_WRITE_FAILED' });
    const cluster = await createTestCluster();
    cleanups.push(() => cluster.stop());
    const dp = cluster.dataPlane({ storage: store(prefix) });
    await dp.start();
    expect(dp.currentConfig).toMatchObject({ source: 'cache', hash: snapshot.hash });
    expect(dp.status).toMatchObject({ cacheWritable: false, cacheHash: snapshot.hash });
  });
});

describe('the cache path is what it says', () => {
  it('refuses a dbless.lmdb that is a symbolic link, for reading and writing', async () => {
    const prefix = await freshPrefix();
    const elsewhere = await freshPrefix();
    await symlink(elsewhere, join(prefix, 'dbless.lmdb'));
    const s = store(prefix);
    await expect(s.load()).rejects.toMatchObject({ code: 'STORE_CORRUPT' });
    await expect(s.save(sampleSnapshot(1))).rejects.toMatchObject({ code: 'STORE_WRITE_FAILED' });
    expect(await readdir(elsewhere)).toEqual([]);
  });

  it('reading never creates anything: a missing prefix stays missing', async () => {
    const prefix = join(await freshPrefix(), 'not', 'there');
    const s = store(prefix);
    expect(await s.load()).toBeUndefined();
    expect(await s.loadNodeId()).toBeUndefined();
    expect(existsSync(join(prefix, '..'))).toBe(false);
  });
});
