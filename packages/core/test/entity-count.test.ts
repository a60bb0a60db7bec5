import { describe, expect, it } from 'vitest';
import { checkChangedEntityCount, checkEntityCount } from '../src/config/limits.ts';
import { silentLogger } from '../src/index.ts';
import { createTestCluster } from '../src/testing/index.ts';

const services = (n: number, routesEach = 0) =>
  Array.from({ length: n }, (_, i) => ({
    name: `s${i}`,
    host: 'h',
    ...(routesEach > 0
      ? { routes: Array.from({ length: routesEach }, (_, r) => ({ name: `s${i}-r${r}` })) }
      : {}),
  }));

const refused = expect.objectContaining({ code: 'CONFIG_INVALID' });

describe('maxEntities counts every entity, nested ones too', () => {
  it('counts nested entities, whole or changed', () => {
    const config = { services: services(5, 1) }; // 10 entities
    expect(() => checkEntityCount(config, 10)).not.toThrow();
    expect(() => checkEntityCount(config, 9)).toThrow(refused);
    expect(() => checkChangedEntityCount(config, 10, new WeakMap())).not.toThrow();
    expect(() => checkChangedEntityCount(config, 9, new WeakMap())).toThrow(refused);
  });

  it('does not take a list counted only partly (past the limit) for its whole count', () => {
    const big = services(80, 1); // 160 entities with their routes
    const counted = new WeakMap<readonly unknown[], number>();
    expect(() => checkChangedEntityCount({ first: services(100), big }, 150, counted)).toThrow(
      refused,
    );
    // The same array again, alone: counted whole, still too many.
    expect(() => checkChangedEntityCount({ big }, 150, counted)).toThrow(refused);
  });

  it('updateConfig refuses a change past maxEntities and keeps the version', async () => {
    const cluster = await createTestCluster({
      controlPlane: { limits: { maxEntities: 10 }, logger: silentLogger },
    });
    try {
      await cluster.cp.setConfig({ _format_version: '3.0', services: services(6) });
      const more = services(10).slice(6);
      expect(await cluster.cp.updateConfig({ upsert: { services: more } })).toMatchObject({
        version: 2,
      });
      await expect(
        cluster.cp.updateConfig({
          upsert: { routes: [{ name: 'r', paths: ['/'], service: 's0' }] },
        }),
      ).rejects.toThrow(refused);
      expect(cluster.cp.currentConfig?.version).toBe(2);
    } finally {
      await cluster.stop();
    }
  });

  it('updateConfig counts again a list given again by setConfig after an edit in place', async () => {
    const cluster = await createTestCluster({
      controlPlane: { limits: { maxEntities: 10 }, logger: silentLogger },
    });
    try {
      const list = services(3);
      const whole = { _format_version: '3.0', services: list, routes: [] as object[] };
      await cluster.cp.setConfig(whole);
      // The update counts the services list it kept (3) and remembers the count.
      await cluster.cp.updateConfig({
        upsert: { routes: [{ name: 'r0', service: 's0', paths: ['/0'] }] },
      });
      list.push(...services(8).slice(3)); // 8 services now, the same array
      await cluster.cp.setConfig(whole); // 8 entities: within 10
      const routes = [1, 2, 3].map((i) => ({ name: `r${i}`, service: 's0', paths: [`/${i}`] }));
      await expect(cluster.cp.updateConfig({ upsert: { routes } })).rejects.toThrow(refused);
      expect(cluster.cp.currentConfig?.version).toBe(3);
    } finally {
      await cluster.stop();
    }
  });
});
