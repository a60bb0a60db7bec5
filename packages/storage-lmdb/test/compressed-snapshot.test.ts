import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import { gzipSync } from 'node:zlib';
import type { PlanesyncError } from '@planesync/core';
import { createTestCluster, sampleSnapshot } from '@planesync/core/testing';
import { open } from 'lmdb';
import { afterEach, describe, expect, it } from 'vitest';
import { packCompressedRecord } from '../src/compressed-record.ts';
import { readEnvironment } from '../src/environment-file.ts';
import { lmdbStore } from '../src/index.ts';
import { seal } from '../src/sealed-value.ts';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function freshPrefix(): Promise<string> {
  const prefix = await mkdtemp(join(tmpdir(), 'planesync-compressed-'));
  cleanups.push(() => rm(prefix, { recursive: true, force: true }));
  return prefix;
}

function store(options: Parameters<typeof lmdbStore>[0]) {
  const created = lmdbStore(options);
  cleanups.push(() => created.close());
  return created;
}

/** The snapshot value as it lies in the file, read by the checked reader. */
function storedValue(prefix: string): Buffer {
  const file = join(prefix, 'dbless.lmdb', 'data.mdb');
  const value = readEnvironment(file, file)?.values.get('snapshot');
  if (!value) throw new Error('no snapshot in the file');
  return value;
}

const encoder = new TextEncoder();

/** A config's JSON and a gzip of it in two members, as the planesync protocol sends it. */
function jsonAndGzip(config: unknown) {
  const json = encoder.encode(JSON.stringify(config));
  const cut = json.byteLength >> 1;
  const gzip = Buffer.concat([gzipSync(json.subarray(0, cut)), gzipSync(json.subarray(cut))]);
  return { json, gzip };
}

/** Writes `plaintext` as the snapshot value, sealed as the store seals it. */
async function writeRaw(prefix: string, plaintext: Uint8Array): Promise<void> {
  await mkdir(join(prefix, 'dbless.lmdb'), { recursive: true });
  const db = open<Uint8Array, string>({
    path: join(prefix, 'dbless.lmdb', 'data.mdb'),
    encoding: 'binary',
    compression: false,
  });
  await db.put('snapshot', seal(plaintext));
  await db.close();
}

/** A compressed record as lmdbStore writes one, its config as gzip. */
const pack = (head: Uint8Array, gzip: Uint8Array) =>
  packCompressedRecord(head, { encoding: 'gzip', bytes: gzip });

const head = (snapshot = sampleSnapshot(3)) => {
  const { config: _config, ...rest } = { format: 'planesync-config/1', ...snapshot, savedAt: 1 };
  return encoder.encode(JSON.stringify(rest));
};

describe('a config saved with the gzip it came in', () => {
  it('is kept as that gzip, a fraction of its JSON, and loads back the same snapshot, encrypted or not', async () => {
    for (const encryptionKey of [undefined, 'cd'.repeat(32)]) {
      const prefix = await freshPrefix();
      const snapshot = sampleSnapshot(5, 'control-plane', 2_000);
      const { json, gzip } = jsonAndGzip(snapshot.config);
      const options = { prefix, ...(encryptionKey ? { encryptionKey } : {}) };
      await store(options).save(snapshot, { json, gzip });
      // Sealed (36 bytes), maybe encrypted (32), the record's head, and the gzip as it came.
      expect(storedValue(prefix).byteLength).toBeLessThan(gzip.byteLength + 1_000);
      expect(gzip.byteLength).toBeLessThan(json.byteLength / 4);
      const loaded = await store(options).load();
      expect(loaded).toMatchObject({ version: 5, hash: snapshot.hash, hashes: snapshot.hashes });
      expect(JSON.stringify(loaded?.config)).toBe(JSON.stringify(snapshot.config));
    }
  });

  it.skipIf(typeof zlib.zstdCompressSync !== 'function')(
    'a config that came as zstd (a DP on Node 22.15 or later) is kept as that zstd frame, and loads back; a damaged one is STORE_CORRUPT (skipped: this Node has no zstd)',
    async () => {
      const prefix = await freshPrefix();
      const snapshot = sampleSnapshot(6, 'control-plane', 2_000);
      const json = encoder.encode(JSON.stringify(snapshot.config));
      const zstd = zlib.zstdCompressSync(json);
      await store({ prefix }).save(snapshot, { json, zstd });
      expect(storedValue(prefix).byteLength).toBeLessThan(zstd.byteLength + 1_000);
      const loaded = await store({ prefix }).load();
      expect(loaded).toMatchObject({ version: 6, hash: snapshot.hash });
      expect(JSON.stringify(loaded?.config)).toBe(JSON.stringify(snapshot.config));
      const damaged = await freshPrefix();
      await writeRaw(
        damaged,
        packCompressedRecord(head(), { encoding: 'zstd', bytes: Buffer.from('not zstd') }),
      );
      const error = await store({ prefix: damaged })
        .load()
        .catch((caught: PlanesyncError) => caught);
      expect(error).toMatchObject({ code: 'STORE_CORRUPT', message: /cannot be read as zstd/ });
    },
  );

  it('without its JSON the gzip is not used: the snapshot is written whole', async () => {
    const prefix = await freshPrefix();
    const snapshot = sampleSnapshot(5, 'control-plane', 2_000);
    const { gzip } = jsonAndGzip(snapshot.config);
    await store({ prefix }).save(snapshot, { gzip });
    expect(storedValue(prefix).byteLength).toBeGreaterThan(gzip.byteLength * 4);
    expect((await store({ prefix }).load())?.hash).toBe(snapshot.hash);
  });

  it('a DP that applied a config from the CP keeps it compressed, and serves it after a restart without a CP', async () => {
    const prefix = await freshPrefix();
    const cluster = await createTestCluster();
    cleanups.push(() => cluster.stop());
    const config = sampleSnapshot(1, 'control-plane', 2_000).config;
    const cache = lmdbStore({ prefix });
    const first = cluster.dataPlane({ storage: cache });
    await first.start();
    const { hash } = await cluster.cp.setConfig(config);
    await cluster.cp.waitForSync({ hash }); // acked: the save is done
    await cluster.cp.stop();
    await first.stop();
    await cache.close();
    const json = encoder.encode(JSON.stringify(config));
    expect(storedValue(prefix).byteLength).toBeLessThan(json.byteLength / 4);
    const second = cluster.dataPlane({ storage: store({ prefix }) });
    await second.start();
    expect(second.currentConfig).toMatchObject({ source: 'cache', hash });
    expect(JSON.stringify(second.currentConfig?.config)).toBe(JSON.stringify(config));
  });

  describe('a damaged compressed snapshot is STORE_CORRUPT, never a crash', () => {
    const cases: Array<[string, () => Uint8Array, RegExp]> = [
      ['cut before its head', () => Buffer.from('PSZ1\0\0'), /cut short/],
      [
        'a head longer than the value',
        () => pack(head(), gzipSync('{}')).fill(0xff, 4, 8),
        /cut short/,
      ],
      [
        'a config that is not gzip',
        () => pack(head(), Buffer.from('{"services":[]}')),
        /cannot be read as gzip/,
      ],
      ['a config that is not JSON', () => pack(head(), gzipSync('{"services":')), /not JSON/],
      [
        'a head that is not JSON',
        () => pack(encoder.encode('{"version":'), gzipSync('{}')),
        /not JSON/,
      ],
      [
        'a head that holds a config of its own',
        () => pack(encoder.encode('{"config":{}}'), gzipSync('{}')),
        /head is not a record/,
      ],
      [
        'a head that is a list',
        () => pack(encoder.encode('[]'), gzipSync('{}')),
        /head is not a record/,
      ],
      [
        'a head without a hash',
        () => pack(encoder.encode('{"format":"planesync-config/1"}'), gzipSync('{}')),
        /not a planesync config snapshot/,
      ],
    ];
    for (const [what, value, message] of cases)
      it(what, async () => {
        const prefix = await freshPrefix();
        await writeRaw(prefix, value());
        const error = await store({ prefix })
          .load()
          .catch((caught: PlanesyncError) => caught);
        expect(error).toMatchObject({ code: 'STORE_CORRUPT', message });
      });

    it('a config that inflates past maxConfigBytes is refused before it is all in memory', async () => {
      const prefix = await freshPrefix();
      // 16 MiB of spaces in a 16 KiB gzip: a bomb.
      const bomb = gzipSync(Buffer.alloc(16 * 1024 * 1024, 0x20), { level: 9 });
      await writeRaw(prefix, pack(head(), bomb));
      const error = await store({ prefix, maxConfigBytes: 1024 * 1024 })
        .load()
        .catch((caught: PlanesyncError) => caught);
      expect(error).toMatchObject({ code: 'STORE_CORRUPT', message: /larger than maxConfigBytes/ });
      // Within the limit, the same value reads (and is then not JSON).
      const within = await store({ prefix, maxConfigBytes: 17 * 1024 * 1024 })
        .load()
        .catch((caught: PlanesyncError) => caught);
      expect(within).toMatchObject({ code: 'STORE_CORRUPT', message: /not JSON/ });
    });
  });

  it('refuses a maxConfigBytes that is not a whole number of bytes', () => {
    for (const maxConfigBytes of [0, -1, 1.5, Number.NaN])
      expect(() => lmdbStore({ prefix: '/nowhere', maxConfigBytes })).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
      );
  });

  it('a save that lands while a load inflates is what the next delta goes on from', async () => {
    const prefix = await freshPrefix();
    const first = sampleSnapshot(1, 'control-plane', 60_000);
    const s = store({ prefix });
    await s.save(first, jsonAndGzip(first.config));
    const second = sampleSnapshot(2, 'control-plane', 40);
    // The load reads the file, then inflates megabytes in the pool; the small save lands first.
    const order: string[] = [];
    const loading = s.load().then((loaded) => {
      order.push('loaded');
      return loaded;
    });
    await s.save(second);
    order.push('saved');
    expect((await loading)?.version).toBe(1);
    expect(order).toEqual(['saved', 'loaded']);
    // A delta from the first must not be kept as one on the second, which the store now holds.
    const third = sampleSnapshot(3, 'control-plane', 40);
    await s.save(third, { delta: { base: first.hash, json: encoder.encode('{}') } });
    const reread = await store({ prefix }).load();
    expect(reread?.version).toBe(3);
    expect(JSON.stringify(reread?.config)).toBe(JSON.stringify(third.config));
  });

  it('a load that reads while a save is being written leaves the delta chain to that save', async () => {
    const prefix = await freshPrefix();
    const first = sampleSnapshot(1, 'control-plane', 60_000);
    const s = store({ prefix });
    await s.save(first, jsonAndGzip(first.config));
    const second = sampleSnapshot(2, 'control-plane', 40);
    // The save has begun (its write not landed) when the load reads the file: the load reads
    // the first, inflates megabytes in the pool, and the small save lands meanwhile.
    const saving = s.save(second).then(() => order.push('saved'));
    const order: string[] = [];
    const loaded = await s.load();
    order.push('loaded');
    await saving;
    expect(loaded?.version).toBe(1);
    expect(order).toEqual(['saved', 'loaded']);
    // A delta from the first must not be kept as one on the second, which the store now holds.
    const third = sampleSnapshot(3, 'control-plane', 40);
    await s.save(third, { delta: { base: first.hash, json: encoder.encode('{}') } });
    const reread = await store({ prefix }).load();
    expect(reread?.version).toBe(3);
    expect(JSON.stringify(reread?.config)).toBe(JSON.stringify(third.config));
  });
});
