import { createHash } from 'node:crypto';
import { ConfigInvalidError, InvalidArgumentError } from '../errors.ts';
import { formatNumberG14 } from './format-number.ts';
import { DEFAULT_CONFIG_LIMITS } from './limits.ts';
import type { ConfigHashes } from './snapshot.ts';

/** Kong's hash of "no value at all": 32 zeros (`DECLARATIVE_EMPTY_CONFIG_HASH`). */
export const EMPTY_CONFIG_HASH = '00000000000000000000000000000000';

/** The hash of a config object: Kong's `config_hash` and the per-entity hashes it is made of. */
export interface ConfigHash {
  config_hash: string;
  hashes: ConfigHashes;
}

/** The hash of a value that is not an object (Kong hashes it whole, with no entity split). */
export interface ValueHash {
  config_hash: string;
  hashes: { config: string };
}

const COLON = 0x3a;
const SEMICOLON = 0x3b;

/** Kong rolls its buffer into an md5 once it holds more than this many bytes. */
const ROLLOVER_BYTES = 1_000_000;
const ENTITY_KEYS = ['routes', 'services', 'plugins', 'upstreams', 'targets'] as const;

/**
 * Kong's `calculate_config_hash`: the same config has the same hash here and in a Kong node,
 * so a hash in a ping means the same thing to both.
 *
 * `routes`, `services`, `plugins`, `upstreams` and `targets` are hashed separately (32 zeros
 * when absent), the other keys together; `config_hash` is the md5 of the six hex hashes.
 * Each part is md5 of a sorted serialisation: `/null/` for null, `%.14g` numbers, keys in
 * UTF-8 byte order, arrays of 2–5 joined by `;`, longer ones with `;` after every element,
 * and the buffer replaced by its raw md5 whenever it passes 1 000 000 bytes.
 *
 * @example
 * ```ts
 * import { hashConfig } from '@planesync/core';
 * const { config_hash, hashes } = hashConfig({ _format_version: '3.0', services: [] });
 * hashes.services; // md5('{}'): '99914b932bd37a50b983c5e7c90ae93b'
 * ```
 */
export function hashConfig(
  config: Readonly<Record<string, unknown>>,
  options?: HashOptions,
): ConfigHash;
export function hashConfig(value: unknown, options?: HashOptions): ConfigHash | ValueHash;
export function hashConfig(value: unknown, options: HashOptions = {}): ConfigHash | ValueHash {
  return hashWith(value, options, undefined);
}

/**
 * `hashConfig` that remembers each list entity's serialisation by object, in `texts`, for a
 * control plane hashing a config again after a change that kept most entities (an
 * `updateConfig` of one service of 25 000): only the entities not seen before, and those in
 * `fresh` (what the change brought, which may be objects given before and edited since), are
 * serialised; the rest are fed to md5 as they were first serialised. So an entity the caller
 * edited in place after it was hashed here hashes as it was: use it only where an unchanged
 * entity means "as published", and start a new `texts` whenever a config comes in another
 * way (a whole `setConfig`, a version adopted from another CP), whose entities may be objects
 * remembered before and edited since. The memory this holds, about the JSON size of the
 * entities it saw, goes with them (or with `texts`).
 */
export function hashConfigRemembering(
  config: Readonly<Record<string, unknown>>,
  options: HashOptions & { fresh?: ReadonlySet<unknown> | undefined; texts: EntityTexts },
): ConfigHash {
  const maxDepth = options.maxDepth ?? DEFAULT_CONFIG_LIMITS.maxDepth;
  const texts = options.texts.under(maxDepth);
  return hashWith(config, options, { texts, fresh: options.fresh }) as ConfigHash;
}

/** What `hashConfigRemembering` passes down: the table, and the entities not to read from it. */
interface Remembered {
  readonly texts: WeakMap<object, EntityText>;
  readonly fresh: ReadonlySet<unknown> | undefined;
}

/** An entity's serialisation (Kong's sorted string of it): its UTF-8 bytes as a latin1 string. */
interface EntityText {
  readonly text: string;
  readonly bytes: number;
}

/**
 * The entity texts {@link hashConfigRemembering} remembers: one per publisher, replaced by a
 * new one whenever the entities it may be asked about could have been edited since.
 */
export class EntityTexts {
  readonly #byDepth = new Map<number, WeakMap<object, EntityText>>();

  /** The table for one depth limit (in practice one): an entity's text holds only under its limit. */
  under(maxDepth: number): WeakMap<object, EntityText> {
    let texts = this.#byDepth.get(maxDepth);
    if (!texts) {
      if (this.#byDepth.size >= 4) this.#byDepth.clear();
      texts = new WeakMap();
      this.#byDepth.set(maxDepth, texts);
    }
    return texts;
  }
}

function hashWith(
  value: unknown,
  options: HashOptions,
  remembered: Remembered | undefined,
): ConfigHash | ValueHash {
  const sink = new HashSink(options.maxDepth ?? DEFAULT_CONFIG_LIMITS.maxDepth);
  // An array is hashed whole, like a scalar: planesync's vectors fix this, where Kong's Lua,
  // which cannot tell an array from a table, would split it like an object. Configs are objects.
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const config = hashPart(value, sink);
    return { config_hash: config, hashes: { config } };
  }
  const record = value as Record<string, unknown>;
  const [routes, services, plugins, upstreams, targets] = ENTITY_KEYS.map(
    (key) =>
      options.known?.[key] ??
      hashPart(Object.hasOwn(record, key) ? record[key] : undefined, sink, remembered),
  ) as [string, string, string, string, string];
  const rest = hashPart(withoutEntities(value), sink);
  const config = md5Hex(routes + services + plugins + upstreams + targets + rest);
  return { config_hash: config, hashes: { config, routes, services, plugins, upstreams, targets } };
}

/** Options of {@link hashConfig}. */
export interface HashOptions {
  /**
   * Deepest nesting hashed; deeper is `CONFIG_INVALID` (a stack overflow otherwise). Default
   * 1 000, as `DEFAULT_CONFIG_LIMITS.maxDepth`.
   */
  maxDepth?: number;
  /**
   * Hashes of collections the caller knows (unchanged since they were hashed, as a delta
   * says): taken as they are, not computed again. The rest of the config is always hashed.
   */
  known?: Partial<Record<(typeof ENTITY_KEYS)[number], string>>;
}

function withoutEntities(value: object): unknown {
  // No prototype: an own `__proto__` key is a key like any other (Kong's Lua sees it).
  const rest: Record<string, unknown> = Object.create(null);
  for (const [key, entry] of Object.entries(value)) {
    if (!(ENTITY_KEYS as readonly string[]).includes(key)) rest[key] = entry;
  }
  return rest;
}

function hashPart(value: unknown, sink: HashSink, remembered?: Remembered): string {
  if (value === undefined) return EMPTY_CONFIG_HASH;
  sink.reset();
  if (remembered && Array.isArray(value) && value.length > 5)
    writeEntities(value, sink, remembered);
  else writeSorted(value, sink, 1);
  return sink.digestHex();
}

/**
 * `writeSorted` of a list of more than five entities (at depth 1), each entity's text taken
 * from `remembered` when it may be and was serialised before (and remembered when not). Byte for byte what `writeSorted` writes:
 * the buffer rolls over only where a value starts, so a remembered text is written whole only
 * when the buffer cannot pass the limit inside it; else that entity is serialised again.
 */
function writeEntities(list: readonly unknown[], sink: HashSink, remembered: Remembered): void {
  const { texts, fresh } = remembered;
  // As writeSorted(list, sink, 1) would: the list at depth 1, its entities at depth 2.
  if (1 > sink.maxDepth) throw tooDeep(sink.maxDepth);
  const depth = 2;
  for (let i = 0; i < list.length; i++) {
    const entity = list[i] ?? null;
    sink.rollIfFull();
    if (typeof entity !== 'object' || entity === null) {
      writeSorted(entity, sink, depth);
    } else {
      let known = fresh?.has(entity) ? undefined : texts.get(entity);
      if (known === undefined) {
        known = sink.capture(entity, depth);
        texts.set(entity, known);
      }
      if (sink.fits(known.bytes)) sink.putKnown(known.text, known.bytes);
      else writeSorted(entity, sink, depth);
    }
    sink.putByte(SEMICOLON);
  }
}

function tooDeep(maxDepth: number): ConfigInvalidError {
  return new ConfigInvalidError([
    { path: '(root)', message: `is nested deeper than ${maxDepth} levels (maxDepth)` },
  ]);
}

function writeSorted(value: unknown, sink: HashSink, depth: number): void {
  sink.rollIfFull();
  if (value === null) {
    sink.putAscii('/null/');
    return;
  }
  switch (typeof value) {
    case 'string':
      sink.put(value);
      return;
    case 'number':
      sink.putAscii(formatNumberG14(value));
      return;
    case 'boolean':
      sink.putAscii(value ? 'true' : 'false');
      return;
    case 'object':
      if (depth > sink.maxDepth) throw tooDeep(sink.maxDepth);
      if (Array.isArray(value)) writeArray(value, sink, depth + 1);
      else writeObject(value as Record<string, unknown>, sink, depth + 1);
      return;
    default:
      throw new InvalidArgumentError(
        `cannot hash a ${typeof value}: only JSON values have a config hash`,
      );
  }
}

function writeArray(array: readonly unknown[], sink: HashSink, depth: number): void {
  const count = array.length;
  if (count === 0) {
    sink.putAscii('{}');
  } else if (count <= 5) {
    for (let i = 0; i < count; i++) {
      if (i > 0) sink.putByte(SEMICOLON);
      writeSorted(array[i] ?? null, sink, depth);
    }
  } else {
    for (let i = 0; i < count; i++) {
      writeSorted(array[i] ?? null, sink, depth);
      sink.putByte(SEMICOLON);
    }
  }
}

function writeObject(object: Record<string, unknown>, sink: HashSink, depth: number): void {
  let written = false;
  const keys = sortedKeys(object);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const value = object[key];
    // A Lua table cannot hold nil: keys whose value is undefined do not exist for Kong.
    if (value === undefined) continue;
    written = true;
    sink.put(key);
    sink.putByte(COLON);
    writeSorted(value, sink, depth);
    sink.putByte(SEMICOLON);
  }
  if (!written) sink.putAscii('{}');
}

/**
 * Key lists seen, with their sorted order, by first key and then by key count: the entities of
 * one collection usually share their keys in the same order, so most objects reuse a sort,
 * and are checked against it with `for…in`, which allocates nothing (`Object.keys` is an array
 * per object).
 */
const shapes = new Map<string, Array<Shape | undefined>>();

interface Shape {
  readonly own: readonly string[];
  readonly sorted: readonly string[];
}

/** Key counts above this are sorted each time. */
const MAX_SHAPE_KEYS = 64;
const NO_KEYS: readonly string[] = [];

/** An object's own keys in UTF-8 byte order, as C's strcmp orders them. */
function sortedKeys(object: Record<string, unknown>): readonly string[] {
  let count = 0;
  let first: string | undefined;
  for (const key in object) {
    if (count === 0) first = key;
    count++;
  }
  if (first === undefined) return Object.keys(object).length === 0 ? NO_KEYS : sortKeys(object);
  const shape = count <= MAX_SHAPE_KEYS ? shapes.get(first)?.[count] : undefined;
  if (shape !== undefined && hasShape(object, shape.own)) return shape.sorted;
  return sortKeys(object, first, count);
}

/** Whether `for…in` gives exactly `own` (as many keys as counted), each of them own. */
function hasShape(object: Record<string, unknown>, own: readonly string[]): boolean {
  let i = 0;
  for (const key in object) if (key !== own[i++] || !Object.hasOwn(object, key)) return false;
  return true;
}

/** Sorts the own keys, and remembers the sort when `for…in` saw exactly them. */
function sortKeys(object: Record<string, unknown>, first?: string, count?: number): string[] {
  const own = Object.keys(object);
  // Below U+D800, UTF-16 order is code point order, which is UTF-8 byte order.
  const sorted =
    own.length < 2
      ? own
      : own.every(belowSurrogates)
        ? [...own].sort()
        : [...own].sort(compareUtf8);
  if (first !== undefined && own.length === count && own[0] === first && count <= MAX_SHAPE_KEYS) {
    if (shapes.size > 256) shapes.clear();
    let byCount = shapes.get(first);
    if (!byCount) {
      byCount = [];
      shapes.set(first, byCount);
    }
    byCount[count] = { own, sorted };
  }
  return sorted;
}

function belowSurrogates(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) >= 0xd800) return false;
  return true;
}

/** Orders strings as their UTF-8 bytes compare (code point order), as C's strcmp does. */
export function compareUtf8(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      // UTF-16 puts surrogates (U+D800–DFFF) below U+E000–FFFF; code point order puts them above.
      if (x >= 0xd800 && y >= 0xd800) return surrogateRank(x) - surrogateRank(y);
      return x - y;
    }
  }
  return a.length - b.length;
}

function surrogateRank(unit: number): number {
  return unit >= 0xe000 ? unit - 0x800 : unit <= 0xdfff ? unit + 0x2000 : unit;
}

/**
 * Kong's string buffer, streamed: text is encoded to UTF-8 here, into a chunk that goes to md5
 * whenever it fills — no string is built, so hashing a freshly parsed config allocates next to
 * nothing (each string built would be garbage whose collection moves the config's own young
 * objects). Each time the buffer would pass `ROLLOVER_BYTES`, its md5 (raw bytes) stands in
 * for it, which is the digest so far fed into a fresh md5.
 */
class HashSink {
  #md5 = createHash('md5');
  /** Where bytes go: `#chunk`, on its way to md5, or a capture's own buffer. */
  #out: Buffer;
  #at = 0;
  /** Bytes of Kong's buffer already handed to md5 since its last rollover. */
  #flushed = 0;
  readonly #chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  #capturing = false;
  #captureBuffer: Buffer | undefined;

  constructor(readonly maxDepth: number) {
    this.#out = this.#chunk;
  }

  reset(): void {
    this.#md5 = createHash('md5');
    this.#at = 0;
    this.#flushed = 0;
  }

  /** Appends one ASCII character, by its code. */
  putByte(code: number): void {
    if (this.#at === this.#out.length) this.#full();
    this.#out[this.#at++] = code;
  }

  /** Appends text known to be ASCII. */
  putAscii(text: string): void {
    let out = this.#out;
    let at = this.#at;
    for (let i = 0; i < text.length; i++) {
      if (at === out.length) {
        this.#at = at;
        this.#full();
        out = this.#out;
        at = this.#at;
      }
      out[at++] = text.charCodeAt(i);
    }
    this.#at = at;
  }

  /** Appends text as UTF-8, a lone surrogate as U+FFFD (as node's UTF-8 encoder writes it). */
  put(text: string): void {
    let out = this.#out;
    let at = this.#at;
    const length = text.length;
    for (let i = 0; i < length; i++) {
      if (at > out.length - 4) {
        this.#at = at;
        this.#full();
        out = this.#out;
        at = this.#at;
      }
      const code = text.charCodeAt(i);
      if (code < 0x80) {
        out[at++] = code;
      } else if (code < 0x800) {
        out[at++] = 0xc0 | (code >> 6);
        out[at++] = 0x80 | (code & 0x3f);
      } else if (code < 0xd800 || code > 0xdfff) {
        out[at++] = 0xe0 | (code >> 12);
        out[at++] = 0x80 | ((code >> 6) & 0x3f);
        out[at++] = 0x80 | (code & 0x3f);
      } else {
        const low = i + 1 < length ? text.charCodeAt(i + 1) : 0;
        if (code <= 0xdbff && low >= 0xdc00 && low <= 0xdfff) {
          const point = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
          out[at++] = 0xf0 | (point >> 18);
          out[at++] = 0x80 | ((point >> 12) & 0x3f);
          out[at++] = 0x80 | ((point >> 6) & 0x3f);
          out[at++] = 0x80 | (point & 0x3f);
          i++;
        } else {
          out[at++] = 0xef;
          out[at++] = 0xbf;
          out[at++] = 0xbd;
        }
      }
    }
    this.#at = at;
  }

  /** Whether `bytes` more can be written without the buffer passing the rollover limit. */
  fits(bytes: number): boolean {
    return this.#flushed + this.#at + bytes <= ROLLOVER_BYTES;
  }

  /** Appends a captured text (its UTF-8 bytes as a latin1 string, `bytes` long). */
  putKnown(text: string, bytes: number): void {
    if (bytes > this.#out.length - this.#at) {
      this.#flush();
      if (bytes > this.#out.length) {
        this.#md5.update(text, 'latin1');
        this.#flushed += bytes;
        return;
      }
    }
    this.#at += this.#out.write(text, this.#at, 'latin1');
  }

  /**
   * The bytes `writeSorted(value, depth)` writes, captured rather than hashed (no flush, no
   * rollover), as one flat latin1 string; the sink is left as it was.
   */
  capture(value: object, depth: number): EntityText {
    const out = this.#out;
    const at = this.#at;
    const flushed = this.#flushed;
    this.#capturing = true;
    this.#out = this.#captureBuffer ??= Buffer.allocUnsafe(4096);
    this.#at = 0;
    try {
      writeSorted(value, this, depth);
      return { text: this.#out.toString('latin1', 0, this.#at), bytes: this.#at };
    } finally {
      this.#captureBuffer = this.#out;
      this.#capturing = false;
      this.#out = out;
      this.#at = at;
      this.#flushed = flushed;
    }
  }

  rollIfFull(): void {
    if (this.#flushed + this.#at <= ROLLOVER_BYTES || this.#capturing) return;
    this.#flush();
    const head = this.#md5.digest();
    this.#md5 = createHash('md5').update(head);
    this.#flushed = head.length;
  }

  digestHex(): string {
    this.#flush();
    return this.#md5.digest('hex');
  }

  /** `#out` is full: to md5 with it, or (capturing) a buffer twice the size. */
  #full(): void {
    if (!this.#capturing) {
      this.#flush();
      return;
    }
    const grown = Buffer.allocUnsafe(this.#out.length * 2);
    this.#out.copy(grown, 0, 0, this.#at);
    this.#out = grown;
  }

  #flush(): void {
    if (this.#capturing || this.#at === 0) return;
    this.#md5.update(this.#out.subarray(0, this.#at));
    this.#flushed += this.#at;
    this.#at = 0;
  }
}

/** Bytes gathered before they go to md5 in one call. */
const CHUNK_BYTES = 64 * 1024;

function md5Hex(text: string): string {
  return createHash('md5').update(text).digest('hex');
}
