import { afterEach, describe, expect, it } from 'vitest';
import { hashConfig, silentLogger } from '../src/index.ts';
import { MessageType } from '../src/protocol/messages.ts';
import { createTestCluster, faultyClient, type TestCluster } from '../src/testing/index.ts';

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

const base = () => ({
  _format_version: '3.0',
  services: [
    { name: 'a', host: 'a.internal' },
    { name: 'b', host: 'b.internal' },
    { name: 'c', host: 'c.internal' },
  ],
  routes: [
    { name: 'ra', paths: ['/a'], service: 'a' },
    { name: 'rb', paths: ['/b'], service: 'b' },
  ],
  keyauth_credentials: [{ id: '0b1c2d3e-0000-4000-8000-000000000001', key: 'k1' }],
});

async function cpWith(config = base()) {
  cluster = await createTestCluster({ controlPlane: { logger: silentLogger } });
  await cluster.cp.setConfig(config);
  return cluster;
}

describe('updateConfig: entity upserts and deletes instead of the whole config', () => {
  it('replaces an entity in place by its name, appends a new one, and hashes as the whole config would', async () => {
    const { cp } = await cpWith();
    const { hash, version } = await cp.updateConfig({
      upsert: {
        services: [
          { name: 'b', host: 'b.internal', port: 8443 },
          { name: 'd', url: 'https://d.internal/api' },
        ],
      },
    });
    const expected = base();
    expected.services[1] = { name: 'b', host: 'b.internal', port: 8443 } as never;
    expected.services.push({
      name: 'd',
      protocol: 'https',
      host: 'd.internal',
      port: 443,
      path: '/api',
    } as never);
    expect(version).toBe(2);
    expect(cp.currentConfig?.config).toEqual(expected);
    expect(hash).toBe(hashConfig(expected).config_hash);
    expect(hash).toBe((await cp.setConfig(expected)).hash); // the same version: nothing new
  });

  it('removes entities by name or id, and refuses a delete that would leave a route without its service', async () => {
    const { cp } = await cpWith();
    await cp.updateConfig({
      delete: { routes: ['rb'], keyauth_credentials: ['0b1c2d3e-0000-4000-8000-000000000001'] },
    });
    expect(cp.currentConfig?.config).toMatchObject({
      routes: [{ name: 'ra' }],
      keyauth_credentials: [],
    });
    const before = cp.currentConfig?.hash;
    await expect(cp.updateConfig({ delete: { services: ['a'] } })).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      problems: [
        expect.objectContaining({
          path: 'routes[0].service',
          message: expect.stringContaining('"a"'),
        }),
      ],
    });
    expect(cp.currentConfig?.hash).toBe(before);
  });

  it.each([
    [
      'an invalid field',
      { upsert: { services: [{ name: 'x', host: 'x', port: 'http' }] } },
      'upsert.services[0].port',
    ],
    [
      'a nested route',
      { upsert: { services: [{ name: 'x', host: 'x', routes: [{ paths: ['/x'] }] }] } },
      'upsert.services[0].routes',
    ],
    [
      'a route naming a service that does not exist',
      { upsert: { routes: [{ name: 'rx', paths: ['/x'], service: 'nope' }] } },
      'routes[2].service',
    ],
    [
      'a duplicate name given by a new id',
      {
        upsert: {
          services: [{ id: '0b1c2d3e-0000-4000-8000-0000000000ff', name: 'a', host: 'a2' }],
        },
      },
      'services[3].name',
    ],
    ['a delete of what does not exist', { delete: { routes: ['missing'] } }, 'delete.routes[0]'],
    ['a list given to set', { set: { services: [] } }, 'set.services'],
    [
      'an upsert into a top-level value',
      { upsert: { _format_version: [{ name: 'x' }] } },
      'upsert._format_version',
    ],
  ])(
    'refuses %s with CONFIG_INVALID at its path, the latest version kept',
    async (_, change, path) => {
      const { cp } = await cpWith();
      const before = cp.currentConfig;
      await expect(cp.updateConfig(change as never)).rejects.toMatchObject({
        code: 'CONFIG_INVALID',
        problems: expect.arrayContaining([expect.objectContaining({ path })]),
      });
      expect(cp.currentConfig).toBe(before);
    },
  );

  it('makes no version of a change that changes nothing', async () => {
    const { cp } = await cpWith();
    const before = cp.currentConfig;
    expect(await cp.updateConfig({ upsert: { vaults: [] } })).toMatchObject({ version: 1 });
    expect(cp.currentConfig).toBe(before);
  });

  it('sets and removes a top-level value', async () => {
    const { cp } = await cpWith();
    await cp.updateConfig({ set: { _transform: false } });
    expect(cp.currentConfig?.config).toMatchObject({ _transform: false });
    await cp.updateConfig({ set: { _transform: undefined } });
    expect(cp.currentConfig?.config).not.toHaveProperty('_transform');
  });

  it('runs in order with setConfig calls, each change on the version before it', async () => {
    const { cp } = await cpWith();
    const results = await Promise.all([
      cp.updateConfig({ upsert: { services: [{ name: 'x', host: 'x' }] } }),
      cp.setConfig(base()),
      cp.updateConfig({ upsert: { services: [{ name: 'y', host: 'y' }] } }),
    ]);
    expect(results.map((result) => result.version)).toEqual([2, 3, 4]);
    const names = (cp.currentConfig!.config as { services: Array<{ name: string }> }).services.map(
      (service) => service.name,
    );
    expect(names).toEqual(['a', 'b', 'c', 'y']);
  });

  it('hashes an entity upserted again after an edit in place, and a whole config edited in place, as they are now', async () => {
    // Six services or more: the CP hashes the list with each entity's text remembered.
    const services = ['a', 'b', 'c', 'd', 'e', 'f'].map((name) => ({ name, host: `${name}.x` }));
    const whole = { _format_version: '3.0', services };
    const { cp } = await cpWith(whole as never);
    services[2]!.host = 'edited.x';
    const edited = await cp.setConfig(whole);
    expect(edited).toMatchObject({ version: 2, hash: hashConfig(whole).config_hash });
    const service = { name: 'g', host: 'g.x' };
    await cp.updateConfig({ upsert: { services: [service] } });
    service.host = 'g2.x';
    const again = await cp.updateConfig({ upsert: { services: [service] } });
    expect(again.version).toBe(4);
    expect(again.hash).toBe(hashConfig({ ...whole, services: [...services, service] }).config_hash);
  });

  it('hashes an entity edited in place and given again by setConfig as it is now, after an updateConfig remembered it', async () => {
    const services = ['a', 'b', 'c', 'd', 'e', 'f'].map((name) => ({ name, host: `${name}.x` }));
    const whole = { _format_version: '3.0', services };
    const { cp } = await cpWith(whole as never);
    // The update remembers every service's text; the edit and setConfig come after.
    await cp.updateConfig({ upsert: { services: [{ name: 'g', host: 'g.x' }] } });
    services[2]!.host = 'edited.x';
    const edited = await cp.setConfig(whole);
    expect(edited.hash).toBe(hashConfig(whole).config_hash);
    const next = await cp.updateConfig({ upsert: { services: [{ name: 'h', host: 'h.x' }] } });
    expect(next.hash).toBe(hashConfig(cp.currentConfig?.config).config_hash);
  });

  it('sends a DP a delta it accepts after setConfig of a list given before, with entities pushed into it', async () => {
    cluster = await createTestCluster({ controlPlane: { logger: silentLogger } });
    const dp = cluster.dataPlane();
    await dp.start();
    const whole = base();
    const first = await cluster.cp.setConfig(whole);
    await cluster.cp.waitForSync({ hash: first.hash });
    await cluster.clock.advance(1_000);
    whole.services.push({ name: 'd', host: 'd.internal' });
    const { hash } = await cluster.cp.setConfig(whole);
    await cluster.cp.waitForSync({ hash });
    expect(dp.currentConfig?.hash).toBe(hash);
    expect(cluster.cp.counters).toMatchObject({ deltasEncoded: 1, configsRejected: 0 });
  });

  it('sends a DP a delta it accepts for an entity upserted again after an edit in place', async () => {
    cluster = await createTestCluster({ controlPlane: { logger: silentLogger } });
    const dp = cluster.dataPlane();
    await dp.start();
    const first = await cluster.cp.setConfig(base());
    await cluster.cp.waitForSync({ hash: first.hash });
    const service = { name: 'd', host: 'd.internal' };
    // Upserted, then edited in place and upserted again (what the hash test above allows).
    for (const host of ['d.internal', 'd2.internal']) {
      service.host = host;
      await cluster.clock.advance(1_000);
      const { hash } = await cluster.cp.updateConfig({ upsert: { services: [service] } });
      // A DP that refuses the delta, then the whole config, never gets there.
      await cluster.cp.waitForSync({ hash, signal: AbortSignal.timeout(5_000) });
      expect(dp.currentConfig?.hash).toBe(hash);
    }
    expect(cluster.cp.counters).toMatchObject({ deltasEncoded: 2, configsRejected: 0 });
  });

  it('reaches planesync/2 DPs as a delta, the DPs ending on the CP hash', async () => {
    cluster = await createTestCluster({ controlPlane: { logger: silentLogger } });
    const types: number[] = [];
    const dp = cluster.dataPlane({
      transport: faultyClient(
        cluster.transport.client({ certificates: [cluster.certificate] }),
        (frame) => {
          if (frame.direction === 'in') types.push(frame.type);
          return { kind: 'pass' };
        },
      ),
    });
    await dp.start();
    const first = await cluster.cp.setConfig(base());
    await cluster.cp.waitForSync({ hash: first.hash });
    await cluster.clock.advance(1_000);
    const { hash } = await cluster.cp.updateConfig({
      upsert: { routes: [{ name: 'rc', paths: ['/c'], service: 'c' }] },
    });
    await cluster.cp.waitForSync({ hash });
    expect(types.filter((type) => type === MessageType.delta)).toHaveLength(1);
    expect(dp.currentConfig?.hash).toBe(hash);
  });
});
