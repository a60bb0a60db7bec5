import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatNumberG14 } from '../src/config/format-number.ts';
import { compareUtf8, EMPTY_CONFIG_HASH, hashConfig } from '../src/config/hash.ts';

interface Vector {
  name: string;
  input?: unknown;
  absent?: boolean;
  expected: { config_hash: string; hashes?: Record<string, string> };
}

const vectorsUrl = new URL('./fixtures/kong-config-hash/vectors.json', import.meta.url);
const { vectors } = JSON.parse(readFileSync(vectorsUrl, 'utf8')) as { vectors: Vector[] };
const md5 = (text: string | Buffer) => createHash('md5').update(text).digest('hex');

describe('config hash (Kong calculate_config_hash)', () => {
  it('has vectors to check', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(16);
  });

  for (const vector of vectors) {
    it(`matches Kong's vector: ${vector.name}`, () => {
      const result = hashConfig(vector.absent ? undefined : vector.input);
      expect(result.config_hash).toBe(vector.expected.config_hash);
      if (vector.expected.hashes) expect(result.hashes).toEqual(vector.expected.hashes);
    });
  }

  it('hashes undefined (no value at all) as 32 zeros', () => {
    expect(hashConfig(undefined).config_hash).toBe(EMPTY_CONFIG_HASH);
  });

  it('hashes each absent entity collection as 32 zeros and the rest together', () => {
    const { hashes } = hashConfig({ _format_version: '3.0', services: [{ name: 'a' }] });
    expect(hashes.routes).toBe(EMPTY_CONFIG_HASH);
    expect(hashes.services).toBe(md5('name:a;'));
    expect(hashes.config).toBe(
      md5(
        `${EMPTY_CONFIG_HASH}${md5('name:a;')}${EMPTY_CONFIG_HASH.repeat(3)}${md5('_format_version:3.0;')}`,
      ),
    );
  });

  it('sorts keys by UTF-8 bytes, not UTF-16 units', () => {
    const keys = ['\u{1F600}', '\uFF5E', 'z', 'é'];
    expect([...keys].sort(compareUtf8)).toEqual(['z', 'é', '\uFF5E', '\u{1F600}']);
    expect(hashConfig({ rest: { '\u{1F600}': 1, '\uFF5E': 2 } }).hashes.config).toBe(
      md5(
        `${EMPTY_CONFIG_HASH.repeat(5)}${md5(Buffer.from('rest:\uFF5E:2;\u{1F600}:1;;', 'utf8'))}`,
      ),
    );
  });

  it('ignores keys whose value is undefined, as a Lua table would', () => {
    expect(hashConfig({ a: 1, b: undefined })).toEqual(hashConfig({ a: 1 }));
  });

  it('replaces the buffer by its raw md5 once it passes 1 000 000 bytes', () => {
    // 7 strings of 200 000 bytes: 6 or more elements, each followed by ';'.
    const piece = (c: string) => c.repeat(200_000);
    const items = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map(piece);
    // Kong: before each element, a buffer over 1 000 000 bytes becomes md5_bin(buffer).
    let buffer = Buffer.alloc(0);
    for (const item of items) {
      if (buffer.length > 1_000_000) buffer = createHash('md5').update(buffer).digest();
      buffer = Buffer.concat([buffer, Buffer.from(`${item};`)]);
    }
    expect(hashConfig(items).hashes.config).toBe(md5(buffer));
    // and the result differs from hashing the whole text without the rollover
    expect(md5(items.map((i) => `${i};`).join(''))).not.toBe(md5(buffer));
  });

  it('rejects values that are not JSON with INVALID_ARGUMENT', () => {
    expect(() => hashConfig({ f: () => 1 })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    expect(() => hashConfig({ n: 10n })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });

  it('does not change the config it hashes', () => {
    const config = { services: [{ name: 'a' }], routes: [], _format_version: '3.0' };
    const before = JSON.stringify(config);
    hashConfig(config);
    expect(JSON.stringify(config)).toBe(before);
  });
});

describe('numbers as C printf %.14g', () => {
  const cases: Array<[number, string]> = [
    [10, '10'],
    [0.9, '0.9'],
    [-0, '-0'],
    [0, '0'],
    [1e15, '1e+15'],
    [1e14, '1e+14'],
    [99999999999999, '99999999999999'],
    [123456789012345, '1.2345678901234e+14'], // exact tie, C rounds to even
    [123456789012355, '1.2345678901236e+14'], // exact tie, 5 is odd: rounds up
    [-123456789012345, '-1.2345678901234e+14'],
    [0.1, '0.1'],
    [1 / 3, '0.33333333333333'],
    [2 / 3, '0.66666666666667'],
    [0.0001, '0.0001'],
    [0.00001, '1e-05'],
    [1.5e-7, '1.5e-07'],
    [1700000000, '1700000000'],
    [9007199254740992, '9.007199254741e+15'],
    [1e100, '1e+100'],
    [5e-324, '4.9406564584125e-324'],
    [1.7976931348623157e308, '1.7976931348623e+308'],
    [0.5, '0.5'],
    [2.5, '2.5'],
    [12345678901234.5, '12345678901234'], // exact tie at 14 digits: 4 is even, stays
    [12345678901233.5, '12345678901234'], // exact tie: 3 is odd, rounds up
    [99999999999999.5, '1e+14'], // tie that carries into a new digit
    [Number.POSITIVE_INFINITY, 'inf'],
    [Number.NEGATIVE_INFINITY, '-inf'],
    [Number.NaN, 'nan'],
  ];
  for (const [value, text] of cases) {
    it(`writes ${String(value)} as ${text}`, () => {
      expect(formatNumberG14(value)).toBe(text);
    });
  }

  it('hashes only own keys: inherited enumerable ones, and a shape seen before with them as own keys, change nothing', () => {
    const plain = { a: 1, b: 2 };
    const withInherited = Object.assign(Object.create({ c: 3 }), plain) as Record<string, unknown>;
    const list = (entity: unknown) => ({ services: [entity, entity] });
    const expected = hashConfig(list(plain)).config_hash;
    // The shape a, b, c seen first as own keys: an object whose for…in gives the same keys
    // (two own, one inherited) must not take its sort.
    hashConfig(list({ a: 1, b: 2, c: 3 }));
    expect(hashConfig(list(withInherited)).config_hash).toBe(expected);
    expect(hashConfig(list(withInherited)).config_hash).toBe(expected);
    expect(hashConfig(list({ a: 1, b: 2, c: 3 })).config_hash).not.toBe(expected);
  });

  it('hashes an object the same whatever the order of its keys, shape after shape', () => {
    // Objects are sorted once per key list and the sort reused: shapes that share a first key
    // and objects with undefined values must still hash as their own keys say.
    const reversed = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(reversed);
      if (value === null || typeof value !== 'object') return value;
      return Object.fromEntries(
        Object.entries(value)
          .reverse()
          .map(([k, v]) => [k, reversed(v)]),
      );
    };
    const key = fc.constantFrom('a', 'b', 'name', 'host', 'ä', '😀', 'z', 'id');
    const leaf = fc.oneof(fc.string({ maxLength: 3 }), fc.integer(), fc.constant(undefined));
    const object = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        leaf,
        fc.dictionary(key, tie('node'), { maxKeys: 5 }),
        fc.array(tie('node'), { maxLength: 3 }),
      ),
    })).node;
    fc.assert(
      fc.property(
        fc.array(fc.dictionary(key, object, { maxKeys: 6 }), { maxLength: 8 }),
        (list) => {
          const forward = list.map((o) => hashConfig({ o }).config_hash);
          const backward = list.map((o) => hashConfig({ o: reversed(o) }).config_hash);
          expect(backward).toEqual(forward);
          const withoutUndefined = list.map(
            (o) => hashConfig({ o: JSON.parse(JSON.stringify(o)) }).config_hash,
          );
          expect(withoutUndefined).toEqual(forward);
        },
      ),
      { numRuns: 2_000 },
    );
  });
});
