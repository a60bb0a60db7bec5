import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatNumberG14 } from '../src/config/format-number.ts';
import {
  compareUtf8,
  EMPTY_CONFIG_HASH,
  EntityTexts,
  hashConfig,
  hashConfigRemembering,
} from '../src/config/hash.ts';

/**
 * Kong's buffer built the plainest way: each piece encoded by `Buffer.from(text, 'utf8')` (a
 * lone surrogate is U+FFFD), pieces joined, and before each value a buffer past 1 000 000 bytes
 * replaced by its raw md5. `hashConfig` streams the same bytes through its own UTF-8 encoder
 * in 64 KiB chunks; this is what it must equal.
 */
class ReferenceBuffer {
  parts: Buffer[] = [];
  length = 0;
  add(text: string): void {
    const bytes = Buffer.from(text, 'utf8');
    this.parts.push(bytes);
    this.length += bytes.length;
  }
  roll(): void {
    if (this.length <= 1_000_000) return;
    this.parts = [createHash('md5').update(Buffer.concat(this.parts)).digest()];
    this.length = 16;
  }
  hex(): string {
    return createHash('md5').update(Buffer.concat(this.parts)).digest('hex');
  }
}

function scalarText(value: unknown): string | undefined {
  if (value === null) return '/null/';
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return formatNumberG14(value);
  if (typeof value === 'boolean') return String(value);
  return undefined;
}

function serialise(value: unknown, buffer: ReferenceBuffer): void {
  buffer.roll();
  const scalar = scalarText(value);
  if (scalar !== undefined) {
    buffer.add(scalar);
  } else if (Array.isArray(value)) {
    if (value.length === 0) buffer.add('{}');
    for (let i = 0; i < value.length; i++) {
      if (value.length <= 5 && i > 0) buffer.add(';');
      serialise(value[i] ?? null, buffer);
      if (value.length > 5) buffer.add(';');
    }
  } else {
    const object = value as Record<string, unknown>;
    const keys = Object.keys(object)
      .filter((key) => object[key] !== undefined)
      .sort(compareUtf8);
    if (keys.length === 0) buffer.add('{}');
    for (const key of keys) {
      buffer.add(`${key}:`);
      serialise(object[key], buffer);
      buffer.add(';');
    }
  }
}

const ENTITY_KEYS = ['routes', 'services', 'plugins', 'upstreams', 'targets'];

function referenceHash(config: Record<string, unknown>): string {
  const part = (value: unknown) => {
    if (value === undefined) return EMPTY_CONFIG_HASH;
    const buffer = new ReferenceBuffer();
    serialise(value, buffer);
    return buffer.hex();
  };
  const rest = Object.fromEntries(Object.entries(config).filter(([k]) => !ENTITY_KEYS.includes(k)));
  const hashes = [...ENTITY_KEYS.map((key) => part(config[key])), part(rest)];
  return createHash('md5').update(hashes.join('')).digest('hex');
}

/** Strings of any UTF-16 units — lone surrogates, pairs, 2- and 3-byte characters — some long. */
const text = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }),
        fc.integer({ min: 2_000, max: 40_000 }),
      )
      .map(([piece, times]) => piece.repeat(times)),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.nat(40_000), fc.constantFrom('é', '€', '😀', '\ud800', '\udc00'))
      .map(([n, c]) => `${'a'.repeat(n)}${c.repeat(9_000)}`),
  },
);
const value = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: 'small' },
    text,
    fc.double(),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.dictionary(fc.string({ unit: 'binary', maxLength: 4 }), tie('node'), { maxKeys: 4 }),
    fc.array(tie('node'), { maxLength: 8 }),
  ),
})).node;
const config = fc.record(
  {
    _format_version: fc.constant('3.0'),
    services: fc.array(fc.dictionary(fc.constantFrom('name', 'host', 'tags', 'é', '😀'), value), {
      maxLength: 30,
    }),
    routes: fc.array(value, { maxLength: 4 }),
    other: value,
  },
  { requiredKeys: ['_format_version'] },
);

describe("Kong's hash streamed through planesync's own UTF-8 encoder", () => {
  it('equals the plainest build of Kong’s buffer for any JSON, whatever falls on a 64 KiB chunk boundary or the rollover', () => {
    fc.assert(
      fc.property(config, (generated) => {
        const expected = referenceHash(generated);
        expect(hashConfig(generated).config_hash).toBe(expected);
        // Remembering, twice: entities serialised, then written from what was remembered.
        const texts = new EntityTexts();
        expect(hashConfigRemembering(generated, { texts }).config_hash).toBe(expected);
        expect(hashConfigRemembering(generated, { texts }).config_hash).toBe(expected);
      }),
      { numRuns: 100 },
    );
  });

  it('encodes every character at every offset of a chunk as node does', () => {
    // A character of each UTF-8 length, and a lone surrogate, placed so that it starts at each
    // of the last bytes of the first 64 KiB chunk.
    for (const c of ['é', '€', '😀', '\ud83d', '\ude00', '\udbff\udfff'])
      for (let before = 65_530; before <= 65_537; before++) {
        const list = [`${'x'.repeat(before)}${c}${c}`, 'tail'];
        const buffer = new ReferenceBuffer();
        serialise(list, buffer);
        expect(hashConfig(list).config_hash, `${escape(c)} after ${before}`).toBe(buffer.hex());
      }
  });

  it('writes a remembered entity larger than a chunk whole, and rolls over inside one as Kong does', () => {
    const big = (n: number) => ({ name: `s${n}`, blob: `${'é'.repeat(50_000)}${n}` });
    const services = Array.from({ length: 30 }, (_, n) => big(n));
    const generated = { _format_version: '3.0', services };
    const texts = new EntityTexts();
    const expected = referenceHash(generated);
    expect(hashConfigRemembering(generated, { texts }).config_hash).toBe(expected);
    expect(hashConfigRemembering(generated, { texts }).config_hash).toBe(expected);
  });
});
