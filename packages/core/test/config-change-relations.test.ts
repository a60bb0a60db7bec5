import { describe, expect, it } from 'vitest';
import { checkDeltaResult } from '../src/config/change.ts';
import { random, uuid } from './seeded.ts';

type Entity = Record<string, unknown>;

/** The problems a check finds, by path; none when it passes. */
function problems(check: () => void): string[] {
  try {
    check();
    return [];
  } catch (error) {
    expect(error).toMatchObject({ code: 'CONFIG_INVALID' });
    return (error as { problems: Array<{ path: string }> }).problems.map((p) => p.path).sort();
  }
}

describe('a change is checked only where it touched, and finds what checking the whole config finds', () => {
  it('agrees with the whole check on names and references, over random renames, deletes and new routes', () => {
    let refused = 0;
    for (let seed = 1; seed <= 300; seed++) {
      const next = random(seed);
      const pick = <T>(list: readonly T[]) => list[Math.floor(next() * list.length)]!;
      const services: Entity[] = Array.from({ length: 8 }, (_, i) => ({
        ...(next() < 0.5 ? { id: uuid(i) } : {}),
        name: `s${i}`,
        host: `s${i}.internal`,
      }));
      const routes: Entity[] = Array.from({ length: 12 }, (_, i) => ({
        name: `r${i}`,
        paths: [`/r${i}`],
        service: next() < 0.5 ? `s${i % 8}` : { name: `s${i % 8}` },
      }));
      const plugins: Entity[] = Array.from({ length: 6 }, (_, i) => ({
        name: 'rate-limiting',
        service: `s${(i * 3) % 8}`,
        config: { minute: i + 1 },
      }));
      const base = { _format_version: '3.0', services, routes, plugins };
      // Edits a change could make: each list a copy, the untouched entities the base's own.
      const after = { services: [...services], routes: [...routes], plugins: [...plugins] };
      for (let edit = 0; edit < 1 + Math.floor(next() * 3); edit++) {
        const roll = next();
        if (roll < 0.25) {
          // a service renamed (or kept under its name, host moved; or given a name the base
          // had, maybe another's, maybe one deleted)
          const at = Math.floor(next() * after.services.length);
          const how = next();
          const name =
            how < 0.4
              ? after.services[at]!.name
              : how < 0.7
                ? `renamed-${seed}-${edit}`
                : pick(services).name;
          after.services[at] = { ...after.services[at], name, host: 'moved.internal' };
        } else if (roll < 0.45) {
          after.services.splice(Math.floor(next() * after.services.length), 1);
        } else if (roll < 0.6) {
          // a service taking a name another holds
          after.services.push({ name: pick(after.services).name, host: 'twin.internal' });
        } else if (roll < 0.8) {
          const service = next() < 0.7 ? pick(after.services).name : 'nowhere';
          after.routes.push({ name: `new-${seed}-${edit}`, paths: ['/n'], service });
        } else {
          const at = Math.floor(next() * after.plugins.length);
          const service = next() < 0.7 ? pick(after.services).name : 'gone';
          after.plugins[at] = { ...after.plugins[at], service };
        }
      }
      const config = { ...base, ...after };
      const added = new Map<string, unknown[]>();
      const dropped = new Map<string, unknown[]>();
      for (const key of ['services', 'routes', 'plugins'] as const) {
        const before = new Set<unknown>(base[key]);
        const now = new Set<unknown>(after[key]);
        added.set(
          key,
          after[key].filter((entity) => !before.has(entity)),
        );
        dropped.set(
          key,
          base[key].filter((entity) => !now.has(entity)),
        );
      }
      const whole = problems(() => checkDeltaResult(config, added));
      const touched = problems(() => checkDeltaResult(config, added, dropped));
      expect(touched, `seed ${seed}`).toEqual(whole);
      if (whole.length > 0) refused++;
    }
    // Both outcomes were exercised.
    expect(refused).toBeGreaterThan(30);
    expect(refused).toBeLessThan(270);
  });

  it('finds a name claimed twice by one change, even one the entity it replaced held', () => {
    const a = { name: 'a', host: 'a.internal' };
    const base = { _format_version: '3.0', services: [a, { name: 'b', host: 'b.internal' }] };
    const moved = { name: 'a', host: 'moved.internal' };
    const twin = { name: 'a', host: 'twin.internal' };
    const config = { ...base, services: [moved, base.services[1]!, twin] };
    const added = new Map([['services', [moved, twin]]]);
    const dropped = new Map([['services', [a]]]);
    expect(problems(() => checkDeltaResult(config, added, dropped))).toEqual(['services[2].name']);
    expect(problems(() => checkDeltaResult(config, added))).toEqual(['services[2].name']);
  });
});
