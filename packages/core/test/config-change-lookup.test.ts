import { describe, expect, it } from 'vitest';
import { applyConfigChange } from '../src/config/change.ts';
import { random, uuid } from './seeded.ts';

type Entity = Record<string, unknown>;

/**
 * What an upsert replaced or appended, as the CP found entities before it looked only for the
 * keys a change names: every key (id, natural key) of every entity indexed, the last of each.
 */
function model(list: Entity[], upserts: Entity[], natural: (entity: Entity) => string | undefined) {
  const keys = (entity: Entity) => [
    ...(typeof entity.id === 'string' ? [`id\0${entity.id}`] : []),
    ...(natural(entity) !== undefined ? [`key\0${natural(entity)}`] : []),
  ];
  const out = [...list];
  const index = new Map<string, number>();
  out.forEach((entity, at) => {
    for (const key of keys(entity)) index.set(key, at);
  });
  for (const entity of upserts) {
    const [key] = keys(entity);
    const found = key === undefined ? undefined : index.get(key);
    if (found !== undefined) out[found] = entity;
    else {
      out.push(entity);
      for (const k of keys(entity)) index.set(k, out.length - 1);
    }
  }
  return out;
}

describe('an upsert finds the entity it replaces by id, or by natural key when it has no id', () => {
  it('agrees with indexing every key of every entity, over random services and targets', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const next = random(seed);
      const upstreams = ['u0', 'u1', 'u2'].map((name, i) => ({ id: uuid(900 + i), name }));
      const services: Entity[] = Array.from({ length: 30 }, (_, i) => ({
        ...(next() < 0.6 ? { id: uuid(i) } : {}),
        name: `s${i}`,
        host: `s${i}.internal`,
      }));
      const targets: Entity[] = Array.from({ length: 20 }, (_, i) => ({
        ...(next() < 0.5 ? { id: uuid(100 + i) } : {}),
        upstream: `u${i % 3}`,
        target: `10.0.0.${i}:80`,
      }));
      const pick = <T>(list: T[]) => list[Math.floor(next() * list.length)]!;
      const serviceUpserts: Entity[] = [];
      const targetUpserts: Entity[] = [];
      for (let k = 0; k < 1 + Math.floor(next() * 4); k++) {
        const roll = next();
        const existing = pick(services);
        if (roll < 0.4 && typeof existing.id === 'string')
          serviceUpserts.push({
            id: existing.id,
            name: existing.name,
            host: `moved-${k}.internal`,
          });
        else if (roll < 0.8)
          serviceUpserts.push({ name: existing.name, host: `renamed-${k}.internal` });
        else serviceUpserts.push({ name: `new-${seed}-${k}`, host: 'new.internal' });
      }
      for (let k = 0; k < Math.floor(next() * 3); k++) {
        const existing = pick(targets);
        targetUpserts.push(
          next() < 0.5 && typeof existing.id === 'string'
            ? { id: existing.id, upstream: existing.upstream, target: existing.target, weight: 5 }
            : { upstream: existing.upstream, target: existing.target, weight: 7 },
        );
      }
      const base = { _format_version: '3.0', services, upstreams, targets };
      const { config } = applyConfigChange(
        base,
        { upsert: { services: serviceUpserts, targets: targetUpserts } },
        1_000_000,
      );
      expect(config.services).toEqual(model(services, serviceUpserts, (e) => e.name as string));
      expect(config.targets).toEqual(
        model(targets, targetUpserts, (e) => `${e.upstream as string}\0${e.target as string}`),
      );
    }
  });
});
