import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashConfig, kongProtocol, silentLogger } from '@planesync/core';
import { createTestCluster, type TestCluster } from '@planesync/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { lmdbStore } from '../src/index.ts';

/** Kong 3.10 OSS's export shape (see packages/core/test/fixtures/README.md). */
const fixture = new URL('../../core/test/fixtures/kong-export/config-3.10.json', import.meta.url);

let cluster: TestCluster | undefined;
let prefix: string | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
  if (prefix) await rm(prefix, { recursive: true, force: true });
  prefix = undefined;
});

describe("A config in Kong's export shape through a Kong-mode DP and its dbless.lmdb", () => {
  it('is cached as the CP sent it and served again after a restart with the hash unchanged', async () => {
    prefix = await mkdtemp(join(tmpdir(), 'planesync-kong-lmdb-'));
    cluster = await createTestCluster({
      controlPlane: { protocols: [kongProtocol()], logger: silentLogger },
    });
    const plugins = [
      { name: 'key-auth', version: '3.10.0' },
      { name: 'rate-limiting', version: '3.10.0' },
    ];
    const config = JSON.parse(readFileSync(fixture, 'utf8'));
    const firstStore = lmdbStore({ prefix });
    const first = cluster.dataPlane({
      protocol: kongProtocol(),
      storage: firstStore,
      plugins,
      nodeId: 'kong-mode-dp',
    });
    await first.start();
    const { hash } = await cluster.cp.setConfig(config);
    expect(hash).toBe(hashConfig(config).config_hash);
    await first.waitForConfig({ hash });
    // Kong's DP pings right after it has applied (and here saved) a config.
    await cluster.cp.waitForSync({ hash });
    await first.stop();
    await firstStore.close();
    await cluster.cp.stop();

    // The stored record holds the config_table bytes of the CP's message, unchanged (LMDB
    // keeps a large value on contiguous overflow pages: its bytes are in the file as they are).
    const file = readFileSync(join(prefix, 'dbless.lmdb', 'data.mdb'));
    expect(file.includes(Buffer.from(JSON.stringify(config)))).toBe(true);

    const store = lmdbStore({ prefix });
    const again = cluster.dataPlane({
      protocol: kongProtocol(),
      storage: store,
      plugins,
      nodeId: 'kong-mode-dp',
    });
    const errors: string[] = [];
    again.on('error', (error) => errors.push(error.code));
    await again.start();
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(again.currentConfig).toMatchObject({ source: 'cache', hash });
    expect(again.currentConfig?.config).toEqual(config);
    expect(errors).not.toContain('STORE_CORRUPT');
    await again.stop();
    await store.close();
  });
});
