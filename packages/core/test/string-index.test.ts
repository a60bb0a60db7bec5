import { describe, expect, it } from 'vitest';
import { MAX_PROBES, StringIndex, stringHash } from '../src/config/string-index.ts';
import { random } from './seeded.ts';

describe('StringIndex: the names and ids a relation check keeps', () => {
  it('answers as a Map does over random strings, duplicates, unicode and the empty string, growing past what it expected', () => {
    for (const seed of [1, 2, 3]) {
      const next = random(seed);
      const pool = [
        '',
        'a',
        'é',
        '😀',
        '\u{d800}',
        ...Array.from({ length: 1_500 }, (_, i) => `name-${i}-${Math.floor(next() * 1e9)}`),
      ];
      const index = new StringIndex(10);
      const map = new Map<string, number>();
      for (let step = 0; step < 6_000; step++) {
        const key = pool[Math.floor(next() * pool.length)]!;
        if (next() < 0.5) {
          const first = map.get(key);
          if (first === undefined) map.set(key, step);
          expect(index.setFirst(key, step)).toBe(first);
        } else {
          expect(index.get(key)).toBe(map.get(key));
          expect(index.has(key)).toBe(map.has(key));
        }
        expect(index.size).toBe(map.size);
      }
      // A string equal to a stored one but made apart from it is found.
      const made = pool[10]!.split('').join('');
      if (map.has(pool[10]!)) expect(index.get(made)).toBe(map.get(pool[10]!));
      expect(index.isMap).toBe(false);
    }
  });

  it('keeps numbers above 2^32 (a source place times 2^32 plus an index)', () => {
    const index = new StringIndex();
    expect(index.setFirst('x', 3 * 2 ** 32 + 7)).toBeUndefined();
    expect(index.get('x')).toBe(3 * 2 ** 32 + 7);
  });

  it('strings made to fill one run of slots make it a Map, never a walk per string: same answers, bounded time', () => {
    // With the seed known (an attacker guessing it), find strings whose hashes land in the
    // first 200 slots of a table sized for 1 000 (2 048 slots).
    const seed = 12_345;
    const mask = 2 ** 11 - 1;
    const crafted: string[] = [];
    for (let n = 0; crafted.length < 200; n++) {
      const text = `k${n}`;
      if ((stringHash(text, seed) & mask) < 200) crafted.push(text);
    }
    const index = new StringIndex(1_000, seed);
    const map = new Map<string, number>();
    for (const [i, text] of crafted.entries()) {
      expect(index.setFirst(text, i)).toBeUndefined();
      map.set(text, i);
    }
    expect(index.isMap).toBe(true);
    for (const text of crafted) expect(index.get(text)).toBe(map.get(text));
    expect(index.setFirst(crafted[5]!, 99)).toBe(5);
    expect(index.get('absent')).toBeUndefined();
    expect(index.size).toBe(200);
    // Before it gave way, no insert walked more than MAX_PROBES slots: 200 strings in one run
    // would otherwise walk 200 · 199 / 2.
    expect(MAX_PROBES).toBeLessThan(200);
  });

  it('a lookup that walks a long run also makes it a Map', () => {
    const seed = 777;
    const mask = 2 ** 11 - 1;
    // 60 strings in slots 0–59 (each insert walks fewer than MAX_PROBES), then lookups of
    // absent strings hashed to slot 0 walk the run to its end.
    const stored: string[] = [];
    const absent: string[] = [];
    for (let n = 0; stored.length < 60 || absent.length < 5; n++) {
      const text = `s${n}`;
      const slot = stringHash(text, seed) & mask;
      if (slot === stored.length && stored.length < 60) stored.push(text);
      else if (slot === 0 && absent.length < 5 && stored.length === 60) absent.push(text);
    }
    const index = new StringIndex(1_000, seed);
    for (const [i, text] of stored.entries()) index.setFirst(text, i);
    expect(index.isMap).toBe(false);
    // Another 10 in the run's next slots: the run is now 70 long.
    let added = 0;
    for (let n = 0; added < 10; n++) {
      const text = `t${n}`;
      if ((stringHash(text, seed) & mask) === 60 + added) {
        index.setFirst(text, 100 + added);
        added++;
      }
    }
    expect(index.isMap).toBe(false);
    for (const text of absent) expect(index.get(text)).toBeUndefined();
    expect(index.isMap).toBe(true);
    for (const [i, text] of stored.entries()) expect(index.get(text)).toBe(i);
  });
});
