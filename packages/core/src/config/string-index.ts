import { randomBytes } from 'node:crypto';

/**
 * Strings, each with the number first stored under it: what a check across a config's entities
 * keeps of their names and ids. A `Map` does this at ~340 ns a string for the tens of thousands
 * of fresh strings a parsed config holds (it hashes each, and grows its table as it fills);
 * this open-addressing table over a hash of the strings' own UTF-16 units does it at ~70.
 *
 * Hostile input cannot make it quadratic: the hash is seeded per process, and the first lookup
 * or insert that walks more than {@link MAX_PROBES} slots (strings made to share hashes, or to
 * fill a run of slots) moves every entry into a `Map`, whose hashing V8 seeds itself; from
 * then on the table is that `Map`.
 *
 * Internal: the relation checks of the declarative schema.
 */
export class StringIndex {
  /** Made at the first insert: a key no entity has costs nothing. */
  #slots = EMPTY;
  #mask = 0;
  /** Entry `i`'s key and value, for `i` below `#size`; a slot holds `i + 1` (0 is empty). */
  #keys: Array<string | undefined> = [];
  #values = EMPTY_VALUES;
  #size = 0;
  #map: Map<string, number> | undefined;
  readonly #expected: number;
  readonly #seed: number;

  /** A table for about `expected` strings (it grows past them); `seed` is for tests. */
  constructor(expected = 8, seed = SEED) {
    this.#expected = expected;
    this.#seed = seed;
  }

  /** Whether it has given way to a `Map` (for tests). */
  get isMap(): boolean {
    return this.#map !== undefined;
  }

  get size(): number {
    return this.#map ? this.#map.size : this.#size;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** The number stored under `key`, if any. */
  get(key: string): number | undefined {
    if (this.#map) return this.#map.get(key);
    if (this.#size === 0) return undefined;
    const slots = this.#slots;
    const keys = this.#keys;
    const mask = this.#mask;
    let slot = stringHash(key, this.#seed) & mask;
    for (let probes = 0; probes <= MAX_PROBES; probes++) {
      const at = slots[slot]!;
      if (at === 0) return undefined;
      if (keys[at - 1] === key) return this.#values[at - 1];
      slot = (slot + 1) & mask;
    }
    return this.#toMap().get(key);
  }

  /** Stores `value` under `key` when it holds nothing there yet; returns what it held first. */
  setFirst(key: string, value: number): number | undefined {
    if (this.#map) return setFirstIn(this.#map, key, value);
    // At most half full: arrays sized with the table, written in place (no push).
    if (this.#size * 2 >= this.#slots.length) this.#grow();
    const slots = this.#slots;
    const keys = this.#keys;
    const mask = this.#mask;
    let slot = stringHash(key, this.#seed) & mask;
    for (let probes = 0; probes <= MAX_PROBES; probes++) {
      const at = slots[slot]!;
      if (at === 0) {
        const entry = this.#size++;
        slots[slot] = entry + 1;
        keys[entry] = key;
        this.#values[entry] = value;
        return undefined;
      }
      if (keys[at - 1] === key) return this.#values[at - 1];
      slot = (slot + 1) & mask;
    }
    return setFirstIn(this.#toMap(), key, value);
  }

  #grow(): void {
    const size = this.#slots.length === 0 ? tableSize(this.#expected) : this.#slots.length * 2;
    const slots = new Int32Array(size);
    const mask = size - 1;
    const keys: Array<string | undefined> = new Array(size / 2);
    const values = new Float64Array(size / 2);
    values.set(this.#values.subarray(0, this.#size));
    for (let i = 0; i < this.#size; i++) {
      const key = this.#keys[i]!;
      keys[i] = key;
      let slot = stringHash(key, this.#seed) & mask;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = i + 1;
    }
    this.#slots = slots;
    this.#mask = mask;
    this.#keys = keys;
    this.#values = values;
  }

  #toMap(): Map<string, number> {
    const map = new Map<string, number>();
    for (let i = 0; i < this.#size; i++) map.set(this.#keys[i]!, this.#values[i]!);
    this.#map = map;
    this.#keys = [];
    this.#values = EMPTY_VALUES;
    this.#slots = EMPTY;
    this.#size = 0;
    return map;
  }
}

const EMPTY = new Int32Array(0);
const EMPTY_VALUES = new Float64Array(0);

/** Slots walked before the table gives way to a `Map`. */
export const MAX_PROBES = 64;

function setFirstIn(map: Map<string, number>, key: string, value: number): number | undefined {
  const first = map.get(key);
  if (first === undefined) map.set(key, value);
  return first;
}

/** A power of two at least twice `expected`: the table stays at most half full. */
function tableSize(expected: number): number {
  let size = 16;
  while (size < expected * 2 && size < 2 ** 30) size *= 2;
  return size;
}

const SEED = randomBytes(4).readInt32LE(0);

/** FNV-1a over the string's UTF-16 units from `seed`, then mixed. */
export function stringHash(text: string, seed: number): number {
  let hash = seed ^ 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  // Linear probing takes the low bits: fold the high ones in.
  hash ^= hash >>> 15;
  hash = Math.imul(hash, 0x2c1b3c6d);
  return hash ^ (hash >>> 12);
}
