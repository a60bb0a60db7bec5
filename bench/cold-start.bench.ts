import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  type ConfigStore,
  DataPlane,
  declarativeConfigSchema,
  fileStore,
  generateClusterCertificate,
  hashConfig,
  memoryTransport,
  silentLogger,
  TrustVerifier,
  validateConfig,
} from '@planesync/core';
import { lmdbStore } from '@planesync/storage-lmdb';
import { open } from 'lmdb';
import { largeConfig } from './fixtures.ts';
import { type BenchResult, compare } from './harness.ts';

/**
 * A DP's cold start from a cache of 25 000 entities (~7 MB of JSON): from `start()` to the
 * config active, against reading the same bytes raw (lmdb get + JSON.parse); the same from a
 * cache kept as the gzip a CP sent (as lmdbStore keeps a config from the CP), against lmdb
 * get + gunzip + JSON.parse; and the same DP start from FileConfigStore (config.json.gz).
 */
export async function run(): Promise<BenchResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'planesync-bench-cold-'));
  try {
    const config = validateConfig(largeConfig(25_000), declarativeConfigSchema);
    const { config_hash, hashes } = hashConfig(config);
    const snapshot = {
      version: 1,
      hash: config_hash,
      hashes,
      source: 'control-plane' as const,
      config,
      appliedAt: 0,
    };
    const seedLmdb = lmdbStore({ prefix: join(dir, 'lmdb') });
    await seedLmdb.save(snapshot);
    await seedLmdb.saveNodeId('bench-node');
    await seedLmdb.close();
    // As a DP keeps a config from its CP: the gzip it received beside the record's head.
    const json = Buffer.from(JSON.stringify(config));
    const gzip = gzipSync(json, { level: 1 });
    const seedGzip = lmdbStore({ prefix: join(dir, 'gzip') });
    await seedGzip.save(snapshot, { json, gzip });
    await seedGzip.saveNodeId('bench-node');
    await seedGzip.close();
    const seedFile = fileStore({ prefix: join(dir, 'file') });
    await seedFile.save(snapshot);
    await seedFile.saveNodeId('bench-node');
    await seedFile.close(); // gives up the prefix's writer lock for the DPs below

    const { certificate } = await generateClusterCertificate();
    const trust = new TrustVerifier({ mode: 'pinned', certificates: [certificate] });
    const nowhere = memoryTransport().client(); // no CP: the DP serves its cache alone
    const coldStart = async (storage: ConfigStore) => {
      const dp = new DataPlane({
        transport: nowhere,
        trust,
        version: '3.10.0',
        storage,
        logger: silentLogger,
      });
      await dp.start();
      if (dp.currentConfig?.hash !== config_hash) throw new Error('did not start from the cache');
      await dp.stop();
      await storage.close?.();
    };
    const rawLmdb = () => {
      const db = open({
        path: join(dir, 'lmdb', 'dbless.lmdb', 'data.mdb'),
        encoding: 'binary',
        compression: false,
      });
      // The stored value is the snapshot's JSON behind a 36-byte checksum header.
      const value = db.getBinary('snapshot')!.subarray(36);
      const parsed = JSON.parse(Buffer.from(value).toString('utf8'));
      if (parsed.hash !== config_hash) throw new Error('raw read failed');
      return db.close();
    };
    const rawGzip = () => {
      const db = open({
        path: join(dir, 'gzip', 'dbless.lmdb', 'data.mdb'),
        encoding: 'binary',
        compression: false,
      });
      // Behind the checksum header, "PSZ1", the head's length, the head, then the gzip.
      const value = Buffer.from(db.getBinary('snapshot')!.subarray(36));
      const headBytes = value.readUInt32BE(4);
      const head = JSON.parse(value.subarray(8, 8 + headBytes).toString('utf8'));
      JSON.parse(gunzipSync(value.subarray(8 + headBytes)).toString('utf8'));
      if (head.hash !== config_hash) throw new Error('raw read failed');
      return db.close();
    };
    const bytes = (Buffer.byteLength(JSON.stringify(config)) / 1e6).toFixed(1);
    return [
      await compare({
        name: `DP cold start from dbless.lmdb (${bytes} MB)`,
        subject: [
          'DataPlane.start + lmdbStore',
          () => coldStart(lmdbStore({ prefix: join(dir, 'lmdb') })),
        ],
        baseline: ['raw lmdb get + JSON.parse', rawLmdb],
        samples: 7,
      }),
      await compare({
        name: `DP cold start from dbless.lmdb kept as the CP's gzip (${bytes} MB)`,
        subject: [
          'DataPlane.start + lmdbStore',
          () => coldStart(lmdbStore({ prefix: join(dir, 'gzip') })),
        ],
        baseline: ['raw lmdb get + gunzip + JSON.parse', rawGzip],
        samples: 7,
      }),
      await compare({
        name: `DP cold start from config.json.gz (${bytes} MB)`,
        subject: [
          'DataPlane.start + FileConfigStore',
          () => coldStart(fileStore({ prefix: join(dir, 'file') })),
        ],
        baseline: ['raw lmdb get + JSON.parse', rawLmdb],
        samples: 7,
      }),
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
