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
    expect(() => checkChangedEntityCount(config, 10)).not.toThrow();
    expect(() => checkChangedEntityCount(config, 9)).toThrow(refused);
  });

  it('does not take a list counted only partly (past the limit) for its whole count', () => {
    const big = services(80, 1); // 160 entities with their routes
    expect(() => checkChangedEntityCount({ first: services(100), big }, 150)).toThrow(refused);
    // The same array again, alone: counted whole, still too many.
    expect(() => checkChangedEntityCount({ big }, 150)).toThrow(refused);
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
});
