import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConfigSnapshot } from '@planesync/core';
import { diffConfig, fingerprintConfig } from '@planesync/core/protocol';
import { createTestCluster, sampleSnapshot } from '@planesync/core/testing';
import { open as openLmdb } from 'lmdb';
import { afterEach, describe, expect, it } from 'vitest';
import { readEnvironment } from '../src/environment-file.ts';
import { type LmdbConfigStore, lmdbStore } from '../src/index.ts';

const prefixes: string[] = [];
const stores: LmdbConfigStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
  await Promise.all(prefixes.splice(0).map((p) => rm(p, { recursive: true, force: true })));
});

async function freshStore(options: Partial<Parameters<typeof lmdbStore>[0]> = {}) {
  const prefix = await mkdtemp(join(tmpdir(), 'planesync-deltas-'));
  prefixes.push(prefix);
  const store = lmdbStore({ prefix, ...options });
  stores.push(store);
  return { prefix, store, file: join(prefix, 'dbless.lmdb', 'data.mdb') };
}

/** The next version: one service's host changed (the usual small change). */
function next(snapshot: ConfigSnapshot, step: number): ConfigSnapshot {
  const config = snapshot.config as { services: { host: string }[] };
  const services = config.services.map((service, i) =>
    i === step ? { ...service, host: `changed-${step}.internal` } : service,
  );
  const hash = step.toString(16).padStart(32, '0');
  return { ...snapshot, version: snapshot.version + 1, hash, config: { ...config, services } };
}

function deltaOf(from: ConfigSnapshot, to: ConfigSnapshot) {
  const delta = diffConfig(
    fingerprintConfig(from.config as Record<string, unknown>),
    to.config as Record<string, unknown>,
  );
  return { base: from.hash, json: new TextEncoder().encode(JSON.stringify(delta)) };
}

const raw = (file: string, key: string) =>
  readEnvironment(file, file, new Set([key]))?.values.get(key);

describe('lmdbStore keeps deltas beside its snapshot', () => {
  it('saves a config that came as a delta as the delta: the snapshot stays as written, a restart loads the new config', async () => {
    const { prefix, store, file } = await freshStore();
    const base = sampleSnapshot(1, 'control-plane', 2_000);
    await store.save(base);
    const written = raw(file, 'snapshot');
    const changed = next(base, 7);
    await store.save(changed, { delta: deltaOf(base, changed) });
    expect(raw(file, 'snapshot')).toEqual(written);
    expect(raw(file, 'deltas')!.byteLength).toBeLessThan(1_000);
    expect(written!.byteLength).toBeGreaterThan(100_000);
    await store.close();
    const restarted = lmdbStore({ prefix });
    stores.push(restarted);
    const loaded = await restarted.load();
    expect(loaded).toMatchObject({ version: 2, hash: changed.hash });
    expect(JSON.stringify(loaded?.config)).toBe(JSON.stringify(changed.config));
  });

  it('writes the snapshot whole again after 16 deltas, and drops them', async () => {
    const { store, file } = await freshStore();
    let current = sampleSnapshot(1, 'control-plane', 200);
    await store.save(current);
    const first = raw(file, 'snapshot');
    for (let step = 1; step <= 16; step++) {
      const changed = next(current, step);
      await store.save(changed, { delta: deltaOf(current, changed) });
      current = changed;
    }
    expect(raw(file, 'snapshot')).toEqual(first);
    const seventeenth = next(current, 17);
    await store.save(seventeenth, { delta: deltaOf(current, seventeenth) });
    expect(raw(file, 'deltas')).toBeUndefined();
    const loaded = await store.load();
    expect(loaded?.hash).toBe(seventeenth.hash);
    expect(JSON.stringify(loaded?.config)).toBe(JSON.stringify(seventeenth.config));
  });

  it('writes whole once the deltas reach the set share of the snapshot', async () => {
    const { store, file } = await freshStore({ deltaChain: { maxRatio: 0.001 } });
    const base = sampleSnapshot(1, 'control-plane', 200);
    await store.save(base);
    const changed = next(base, 3);
    await store.save(changed, { delta: deltaOf(base, changed) });
    expect(raw(file, 'deltas')).toBeUndefined();
    expect(JSON.stringify((await store.load())?.config)).toBe(JSON.stringify(changed.config));
  });

  it('a chain of deltas that does not start from the stored snapshot is STORE_CORRUPT, never served', async () => {
    const one = await freshStore();
    const base = sampleSnapshot(1, 'control-plane', 50);
    await one.store.save(base);
    const changed = next(base, 2);
    await one.store.save(changed, { delta: deltaOf(base, changed) });
    const chain = raw(one.file, 'deltas');
    await one.store.close();
    // Another cache, whose snapshot is another config, given the first one's deltas.
    const two = await freshStore();
    await two.store.save(sampleSnapshot(9, 'control-plane', 50));
    await two.store.close();
    const lmdb = openLmdb<Buffer, string>({
      path: two.file,
      encoding: 'binary',
      compression: false,
    });
    await lmdb.put('deltas', chain!);
    await lmdb.close();
    const reopened = lmdbStore({ prefix: two.prefix });
    stores.push(reopened);
    await expect(reopened.load()).rejects.toMatchObject({
      code: 'STORE_CORRUPT',
      message: expect.stringContaining('deltas from'),
    });
  });

  it('an encrypted cache keeps its deltas encrypted', async () => {
    const encryptionKey = 'cd'.repeat(32);
    const { prefix, store, file } = await freshStore({ encryptionKey });
    const base = sampleSnapshot(1, 'control-plane', 50);
    await store.save(base);
    const changed = next(base, 4);
    await store.save(changed, { delta: deltaOf(base, changed) });
    expect(Buffer.from(raw(file, 'deltas')!).includes('changed-4.internal')).toBe(false);
    await store.close();
    const again = lmdbStore({ prefix, encryptionKey });
    stores.push(again);
    expect(JSON.stringify((await again.load())?.config)).toBe(JSON.stringify(changed.config));
  });
});

describe('a DataPlane on dbless.lmdb that receives deltas', () => {
  it('keeps them beside its snapshot, and a restart without the CP serves exactly the newest config', async () => {
    const cluster = await createTestCluster();
    try {
      const { prefix, store, file } = await freshStore();
      const first = cluster.dataPlane({ storage: store });
      let hash: string;
      await first.start();
      const services = Array.from({ length: 300 }, (_, i) => ({
        id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
        name: `service-${i}`,
        host: `backend-${i}.internal`,
      }));
      ({ hash } = await cluster.cp.setConfig({ _format_version: '3.0', services }));
      await cluster.cp.waitForSync({ hash });
      for (let step = 1; step <= 5; step++) {
        await cluster.clock.advance(1_000); // past the CP's push window
        ({ hash } = await cluster.cp.updateConfig({
          upsert: { services: [{ ...services[step * 7]!, host: `moved-${step}.internal` }] },
          ...(step === 3 ? { delete: { services: [services[100]!.id] } } : {}),
        }));
        await cluster.cp.waitForSync({ hash });
      }
      expect(cluster.cp.counters.deltasSent).toBe(5);
      expect(raw(file, 'deltas')).toBeDefined();
      const served = JSON.stringify(first.currentConfig?.config);
      await cluster.cp.stop();
      await first.stop();
      await store.close(); // the host's to close, as it opened it

      const again = lmdbStore({ prefix });
      stores.push(again);
      const restarted = cluster.dataPlane({ storage: again });
      await restarted.start();
      expect(restarted.currentConfig).toMatchObject({ source: 'cache', hash });
      expect(JSON.stringify(restarted.currentConfig?.config)).toBe(served);
      expect(JSON.stringify(restarted.currentConfig?.config)).toBe(
        JSON.stringify(cluster.cp.currentConfig?.config),
      );
    } finally {
      await cluster.stop();
    }
  });
});
