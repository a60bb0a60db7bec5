import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EntityTexts, hashConfig, hashConfigRemembering } from '../src/config/hash.ts';
import { ConfigPublisher } from '../src/config/publisher.ts';

// The control plane hashes a config again after an `updateConfig` with each unchanged
// entity's remembered serialisation: the result must be Kong's hash of the whole config,
// byte for byte, wherever Kong's buffer rolls over (every 1 000 000 bytes, between values).

type Entity = Record<string, unknown>;

/** One table for the file, as a publisher keeps one between whole configs. */
const texts = new EntityTexts();

/** An entity whose serialisation is about `size` bytes, with nested values to roll between. */
function entity(id: number, size: number, salt = ''): Entity {
  const part = Math.max(1, Math.floor(size / 4));
  return {
    id: `e-${id}${salt}`,
    name: 'n'.repeat(part),
    tags: ['t'.repeat(part), 'u'],
    config: { minute: id, note: 'é'.repeat(Math.floor(part / 2)), nested: { deep: [1, 2] } },
  };
}

function config(services: Entity[], routes: Entity[] = []): Record<string, unknown> {
  return { _format_version: '3.0', services, routes };
}

describe('hashing a config again with its entities remembered', () => {
  it("gives Kong's hash of the whole config, wherever the 1 000 000-byte rollover falls", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 200_000 }), { minLength: 6, maxLength: 30 }),
        fc.array(fc.nat({ max: 1_000 }), { maxLength: 6 }),
        fc.integer({ min: 1, max: 200_000 }),
        (sizes, replaced, newSize) => {
          const first = sizes.map((size, id) => entity(id, size));
          const whole = config(first);
          // Every entity new: each serialised, and remembered.
          expect(hashConfigRemembering(whole, { texts })).toEqual(hashConfig(whole));
          // A change: some entities replaced, the others the same objects.
          const next = [...first];
          const brought = new Set<unknown>();
          for (const at of replaced) {
            const fresh = entity(at, newSize, '-new');
            next[at % next.length] = fresh;
            brought.add(fresh);
          }
          const changed = config(next);
          expect(hashConfigRemembering(changed, { fresh: brought, texts })).toEqual(
            hashConfig(changed),
          );
        },
      ),
      { numRuns: 40, seed: 20261202 },
    );
  });

  it('rolls over inside an entity exactly where Kong does', () => {
    // The third entity starts below the limit and ends past it: Kong rolls between its values.
    const list = [600_000, 300_000, 600_000, 10, 10, 10].map((size, id) => entity(id, size));
    const whole = config(list);
    const expected = hashConfig(whole);
    expect(hashConfigRemembering(whole, { texts })).toEqual(expected);
    expect(hashConfigRemembering(whole, { texts })).toEqual(expected);
  });

  it('serialises again the entities a change brought, even ones seen before', () => {
    const list = [1, 2, 3, 4, 5, 6].map((id) => entity(id, 100));
    const whole = config(list);
    hashConfigRemembering(whole, { texts });
    const upserted = list[4] as Entity;
    upserted.name = 'upserted again, edited';
    expect(hashConfigRemembering(whole, { fresh: new Set([upserted]), texts }).config_hash).toBe(
      hashConfig(whole).config_hash,
    );
  });

  it('hashes an unchanged entity as it was published, not as edited since', () => {
    // What `known` hashes already do for unchanged collections, entity by entity.
    const list = [1, 2, 3, 4, 5, 6].map((id) => entity(id, 100));
    const published = hashConfigRemembering(config(list), { texts });
    (list[1] as Entity).name = 'edited behind the control plane';
    expect(hashConfigRemembering(config(list), { texts })).toEqual(published);
  });

  it('refuses an entity nested past maxDepth as hashConfig does, for each limit', () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 12; i++) deep = { deeper: deep };
    const list = [1, 2, 3, 4, 5].map((id) => entity(id, 50));
    const whole = config([...list, { id: 'deep', deep }]);
    // Remembered under a generous limit, then hashed under a strict one: still refused.
    expect(hashConfigRemembering(whole, { maxDepth: 100, texts })).toEqual(
      hashConfig(whole, { maxDepth: 100 }),
    );
    expect(() => hashConfig(whole, { maxDepth: 8 })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
    expect(() => hashConfigRemembering(whole, { maxDepth: 8, texts })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
  });

  it('hashes short lists, scalars and holes in lists as hashConfig does', () => {
    const whole = {
      services: [entity(1, 10), entity(2, 10)],
      routes: [entity(3, 10), null, 'text', 7, entity(4, 10), entity(5, 10), [1, 2]],
      plugins: [],
    };
    expect(hashConfigRemembering(whole, { texts })).toEqual(hashConfig(whole));
    expect(hashConfigRemembering(whole, { texts })).toEqual(hashConfig(whole));
  });
});

describe("a publisher's remembered entity texts", () => {
  type Whole = 'setConfig' | 'adopted';
  it.each<Whole>(['setConfig', 'adopted'])(
    'are forgotten when a config comes in whole (%s), whose entities may be ones remembered and edited since',
    (how) => {
      const publisher = new ConfigPublisher();
      const services: Entity[] = ['a', 'b', 'c', 'd', 'e', 'f'].map((name) => ({
        name,
        host: `${name}.x`,
      }));
      const whole = { _format_version: '3.0', services };
      const update = (base: Record<string, unknown>, name: string) => {
        const added = { name, host: `${name}.x` };
        const config = { ...base, services: [...(base.services as Entity[]), added] };
        const prepared = publisher.prepareValid(
          config,
          new Set(['_format_version']),
          new Set([added]),
        );
        publisher.commit(prepared);
        return { config, hash: prepared.hash };
      };
      publisher.commit(publisher.prepareValid(whole));
      update(whole, 'g'); // every service's text remembered
      (services[2] as Entity).host = 'edited.x';
      const again = { _format_version: '3.0', services: [...services] };
      const version = (publisher.latest?.version ?? 0) + 1;
      if (how === 'setConfig') publisher.commit(publisher.prepareValid(again));
      else {
        const { config_hash, hashes } = hashConfig(again);
        publisher.commit(
          publisher.verify({ version, hash: config_hash, hashes, config: again, publishedAt: 0 }),
        );
      }
      const { config, hash } = update(again, 'h');
      expect(hash).toBe(hashConfig(config).config_hash);
    },
  );
});
