import { afterEach, describe, expect, it } from 'vitest';
import {
  type ConfigSnapshot,
  EMPTY_CONFIG_HASH,
  MemoryConfigStore,
  type SaveOptions,
  StoreWriteFailedError,
  silentLogger,
} from '../src/index.ts';
import { createTestCluster, type TestCluster } from '../src/testing/index.ts';

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

/** A store whose disk is full until `full` is set back to false. */
class FullDiskStore extends MemoryConfigStore {
  full = false;
  override async save(snapshot: ConfigSnapshot, options?: SaveOptions): Promise<void> {
    if (this.full) throw new StoreWriteFailedError('no space left on device');
    await super.save(snapshot, options);
  }
}

const config = (name: string) => ({
  _format_version: '3.0',
  services: [{ name, host: `${name}.internal` }],
});

describe('the CP sees when a DP could not cache its config', () => {
  it('a DP whose save failed acks with its older cache hash; the CP shows it; a heartbeat saves again', async () => {
    cluster = await createTestCluster();
    const storage = new FullDiskStore();
    const dp = cluster.dataPlane({ storage, logger: silentLogger });
    const errors: string[] = [];
    dp.on('error', (error) => errors.push(error.code));
    await dp.start();
    const first = await cluster.cp.setConfig(config('a'));
    await dp.waitForConfig({ hash: first.hash });
    await cluster.clock.advance(0);
    expect(cluster.cp.dataPlanes()[0]).toMatchObject({
      configHash: first.hash,
      cacheHash: first.hash,
    });

    storage.full = true;
    await cluster.clock.advance(1_000); // the CP's push window
    const second = await cluster.cp.setConfig(config('b'));
    await dp.waitForConfig({ hash: second.hash });
    await cluster.clock.advance(0);
    expect(errors).toEqual(['STORE_WRITE_FAILED']);
    expect(dp.status).toMatchObject({ hash: second.hash, cacheHash: first.hash });
    expect(cluster.cp.dataPlanes()[0]).toMatchObject({
      configHash: second.hash,
      cacheHash: first.hash,
    });

    storage.full = false;
    await cluster.clock.advance(30_000); // one heartbeat: the save is tried again
    expect((await storage.load())?.hash).toBe(second.hash);
    await cluster.clock.advance(30_000); // and the next ping says so
    expect(cluster.cp.dataPlanes()[0]?.cacheHash).toBe(second.hash);
  });

  it('a DP with nothing cached says so with 32 zeros', async () => {
    cluster = await createTestCluster();
    const dp = cluster.dataPlane({ declarativeConfig: config('local') });
    await dp.start();
    await cluster.clock.advance(30_000);
    expect(cluster.cp.dataPlanes()[0]?.cacheHash).toBe(EMPTY_CONFIG_HASH);
  });
});

describe('a cached config is what its hash says', () => {
  it('a cache whose config does not hash to its stored hash is STORE_CORRUPT: the DP falls through and the CP corrects it', async () => {
    const { hashConfig } = await import('../src/index.ts');
    cluster = await createTestCluster();
    const good = config('real');
    const { config_hash, hashes } = hashConfig(good);
    const storage = new MemoryConfigStore();
    // A store that mixed them up (or a file edited by hand): the good hash over another config.
    await storage.save({
      version: 1,
      hash: config_hash,
      hashes,
      source: 'control-plane',
      config: config('edited'),
      appliedAt: 0,
    });
    const latest = await cluster.cp.setConfig(good);
    const dp = cluster.dataPlane({
      storage,
      declarativeConfig: config('local'),
      logger: silentLogger,
    });
    const errors: string[] = [];
    dp.on('error', (error) => errors.push(error.code));
    await dp.start();
    expect(dp.currentConfig?.source).toBe('cache'); // served at once …
    await dp.waitForConfig({ hash: latest.hash, source: 'control-plane' }); // … then corrected
    expect(errors).toContain('STORE_CORRUPT');
  });
});
