import { hash } from 'node:crypto';
import { ConfigDeltaInvalidError } from '../errors.ts';

/**
 * Config deltas: what changed from one version to the next, as planesync/2 sends it.
 *
 * A delta lists the new config's top-level keys in order; each key is carried by the base
 * (unchanged), set whole (a value that is not a list, or a list that did not exist), or — a
 * list of entities — rebuilt from runs: `[start, end]` copies the base list's entities
 * `start` to `end - 1`, `{ e: entity }` adds one entity as it is. The result is the new config
 * exactly, entity order included (Kong's hash depends on it), and with the same key order
 * (so its JSON is byte-identical to a full push).
 *
 * Entities are matched by content (an entity whose fields changed travels whole), never by
 * id or name: a delta needs no ids, and the CP never adds any to a config.
 *
 * @module
 */

/** A piece of a rebuilt list: a range of the base list, or one entity given whole. */
export type DeltaRun = [start: number, end: number] | { e: unknown };

/** The change from one config to the next (see the module's description). */
export interface ConfigDelta {
  /** The new config's top-level keys, in order. */
  keys: string[];
  /** Keys whose whole value is given. */
  set: Record<string, unknown>;
  /** Lists rebuilt from runs. */
  lists: Record<string, DeltaRun[]>;
}

/** What a version needs remembered for a delta to be made from it: fingerprints, not the config. */
export interface ConfigFingerprint {
  /** The top-level keys, in order. */
  readonly keys: readonly string[];
  /** For each key holding a list, one fingerprint per entity. */
  readonly lists: ReadonlyMap<string, readonly string[]>;
  /** For each other key, the fingerprint of its value. */
  readonly values: ReadonlyMap<string, string>;
  /** About how much memory this takes (bytes), for the history's bound. */
  readonly bytes: number;
}

/**
 * Fingerprints by object: an entity a new version shares with the last (an `updateConfig`
 * that changed one service of 25 000) is not serialised again. Configs handed to the CP are
 * not changed afterwards (its `setConfig` says so); were one changed, its delta would not hash
 * right on the DP, which then gets the whole config.
 */
const known = new WeakMap<object, string>();

/**
 * SHA-1 (base64) of a value's JSON: equal content, equal fingerprint. A value in `fresh` (an
 * entity upserted again, maybe edited in place since it was fingerprinted) is read again.
 */
function fingerprint(value: unknown, fresh?: ReadonlySet<unknown>): string {
  const cached =
    typeof value === 'object' && value !== null && !fresh?.has(value)
      ? known.get(value)
      : undefined;
  if (cached !== undefined) return cached;
  // The one-shot hash: a Hash object per entity costs more than hashing its JSON (45 000
  // fresh services: ~2× the time).
  const print = hash('sha1', JSON.stringify(value) ?? 'undefined', 'base64');
  if (typeof value === 'object' && value !== null) known.set(value, print);
  return print;
}

/**
 * The fingerprints of `config`'s entities and values. With `previous` (an earlier config and
 * its fingerprints), a key holding the very same list or value as there takes its
 * fingerprints as they are: an `updateConfig` that changed one collection reads only that one.
 * `fresh`: entities to fingerprint again even when seen before (what an update brought).
 */
export function fingerprintConfig(
  config: Readonly<Record<string, unknown>>,
  previous?: { config: Readonly<Record<string, unknown>>; print: ConfigFingerprint },
  fresh?: ReadonlySet<unknown>,
): ConfigFingerprint {
  // A key whose value is undefined is not in the config's JSON: not in its delta either.
  const keys = Object.keys(config).filter((key) => config[key] !== undefined);
  const lists = new Map<string, readonly string[]>();
  const values = new Map<string, string>();
  let bytes = 64;
  for (const key of keys) {
    const value = config[key];
    bytes += 2 * key.length + 64;
    const same =
      previous !== undefined &&
      Object.hasOwn(previous.config, key) &&
      previous.config[key] === value;
    if (Array.isArray(value)) {
      const prints =
        (same ? previous.print.lists.get(key) : undefined) ??
        value.map((entity) => fingerprint(entity, fresh));
      lists.set(key, prints as string[]);
      bytes += prints.length * 72;
    } else {
      const print = same ? previous.print.values.get(key) : undefined;
      values.set(key, print ?? fingerprint(value));
    }
  }
  return { keys, lists, values, bytes };
}

/**
 * The delta that turns the config `base` describes into `next`. Runs reuse the longest
 * stretches of the base list they can: an unchanged list is not in the delta at all, a list
 * with one entity changed is three runs.
 */
export function diffConfig(
  base: ConfigFingerprint,
  next: Readonly<Record<string, unknown>>,
  nextPrints: ConfigFingerprint = fingerprintConfig(next),
): ConfigDelta {
  const delta: ConfigDelta = { keys: [...nextPrints.keys], set: {}, lists: {} };
  for (const key of nextPrints.keys) {
    const value = next[key];
    const prints = nextPrints.lists.get(key);
    if (!prints) {
      if (base.values.get(key) !== nextPrints.values.get(key)) put(delta.set, key, value);
      continue;
    }
    const old = base.lists.get(key);
    if (!old) {
      put(delta.set, key, value);
      continue;
    }
    if (old.length === prints.length && old.every((print, index) => print === prints[index]))
      continue;
    put(delta.lists, key, runsFor(old, prints, value as readonly unknown[]));
  }
  return delta;
}

/**
 * Runs rebuilding `prints` from `old`: each base entity is copied at most once (a receiver
 * enforces it, so a delta never rebuilds more than its base and its own entities hold); an
 * entity whose every copy in the base is taken travels whole. The head and tail the two
 * lists share are one run each, found without indexing them: a list of 5 000 with one entity
 * changed indexes none.
 */
function runsFor(
  old: readonly string[],
  prints: readonly string[],
  entities: readonly unknown[],
): DeltaRun[] {
  const shortest = Math.min(old.length, prints.length);
  let head = 0;
  while (head < shortest && old[head] === prints[head]) head++;
  let tail = 0;
  while (tail < shortest - head && old[old.length - 1 - tail] === prints[prints.length - 1 - tail])
    tail++;
  const oldEnd = old.length - tail;
  const runs: DeltaRun[] = head > 0 ? [[0, head]] : [];
  // Where each fingerprint appears in the base between head and tail, in order (equal
  // content: any copy will do); the head's and tail's entities are taken already.
  const at = new Map<string, number[]>();
  for (let index = oldEnd - 1; index >= head; index--) {
    const indices = at.get(old[index]!);
    if (indices) indices.push(index);
    else at.set(old[index]!, [index]);
  }
  const used = new Uint8Array(old.length);
  const take = (print: string): number | undefined => {
    const indices = at.get(print);
    while (indices && indices.length > 0) {
      const index = indices.pop()!;
      if (!used[index]) return index;
    }
    return undefined;
  };
  let run: [number, number] | undefined;
  for (let index = head; index < prints.length - tail; index++) {
    const print = prints[index]!;
    if (run && run[1] < oldEnd && !used[run[1]] && old[run[1]] === print) {
      used[run[1]] = 1;
      run[1]++;
      continue;
    }
    const from = take(print);
    if (from === undefined) {
      run = undefined;
      runs.push({ e: entities[index] });
      continue;
    }
    used[from] = 1;
    run = [from, from + 1];
    runs.push(run);
  }
  if (tail > 0) {
    // The tail continues the last run when that run ended where the tail starts.
    if (run && run === runs[runs.length - 1] && run[1] === oldEnd) run[1] = old.length;
    else runs.push([oldEnd, old.length]);
  }
  return runs;
}

const MAX_KEYS = 10_000;

/**
 * Applies a delta received from a peer to `base`, checking every part of it first (a delta is
 * untrusted): its shape, that every key it keeps exists in the base, that every run lies
 * within its base list. Throws `CONFIG_DELTA_INVALID` otherwise; `base` is never changed.
 * Returns the new config and the keys it changed (the rest are the base's own values).
 */
export function applyDelta(
  base: Readonly<Record<string, unknown>>,
  delta: unknown,
): {
  config: Record<string, unknown>;
  changed: Set<string>;
  /**
   * The entities the delta brought, by list (the rest are the base's own, checked when it
   * was); `undefined` when it set a top-level value that is not a list, or a list where the
   * base held none.
   */
  added: Map<string, unknown[]> | undefined;
  /** The base's entities the delta left out, by list. */
  dropped: Map<string, unknown[]>;
} {
  if (typeof delta !== 'object' || delta === null || Array.isArray(delta))
    throw new ConfigDeltaInvalidError('a delta is an object');
  const { keys, set, lists } = delta as Partial<ConfigDelta>;
  if (
    !Array.isArray(keys) ||
    keys.length > MAX_KEYS ||
    !keys.every((key) => typeof key === 'string')
  )
    throw new ConfigDeltaInvalidError('a delta names its keys: a list of strings');
  if (!isRecord(set) || !isRecord(lists))
    throw new ConfigDeltaInvalidError('a delta has `set` and `lists` objects');
  const named = new Set(keys);
  if (named.size !== keys.length) throw new ConfigDeltaInvalidError('a delta names a key twice');
  for (const key of [...Object.keys(set), ...Object.keys(lists)])
    if (!named.has(key)) throw new ConfigDeltaInvalidError(`"${key}" is not among the keys`);
  const config: Record<string, unknown> = {};
  const changed = new Set<string>();
  let added: Map<string, unknown[]> | undefined = new Map();
  const dropped = new Map<string, unknown[]>();
  for (const key of keys) {
    let value: unknown;
    if (Object.hasOwn(lists, key)) {
      const entities: unknown[] = [];
      const left: unknown[] = [];
      value = rebuild(key, base[key], lists[key], entities, left);
      added?.set(key, entities);
      dropped.set(key, left);
      changed.add(key);
    } else if (Object.hasOwn(set, key)) {
      value = set[key];
      // A list where the base held one: entities added. A list where the base held none (or
      // a value: `_format_version: []`) is a key whose kind was never checked: a whole check.
      if (Array.isArray(value) && Array.isArray(base[key])) added?.set(key, value);
      else added = undefined;
      if (Array.isArray(base[key])) dropped.set(key, base[key] as unknown[]);
      changed.add(key);
    } else if (Object.hasOwn(base, key)) value = base[key];
    else throw new ConfigDeltaInvalidError(`"${key}" is kept but the base has no such key`);
    put(config, key, value);
  }
  for (const key of Object.keys(base))
    if (!named.has(key)) {
      changed.add(key);
      // A key removed (`_format_version`, say) is a change the entities alone do not show.
      added = undefined;
    }
  return { config, changed, added, dropped };
}

function rebuild(
  key: string,
  base: unknown,
  runs: unknown,
  added: unknown[],
  dropped: unknown[],
): unknown[] {
  if (!Array.isArray(base))
    throw new ConfigDeltaInvalidError(
      `"${key}" is rebuilt from runs, but the base has no list there`,
    );
  if (!Array.isArray(runs)) throw new ConfigDeltaInvalidError(`"${key}": runs are a list`);
  const list: unknown[] = [];
  // Each base entity is copied at most once: the result is never larger than the base and
  // the delta's own entities together (a few runs of [0, n] cannot multiply a config).
  const used = new Uint8Array(base.length);
  for (const run of runs) {
    if (Array.isArray(run)) {
      const [start, end] = run as unknown[];
      if (
        run.length !== 2 ||
        !Number.isInteger(start) ||
        !Number.isInteger(end) ||
        (start as number) < 0 ||
        (start as number) >= (end as number) ||
        (end as number) > base.length
      )
        throw new ConfigDeltaInvalidError(
          `"${key}": run ${JSON.stringify(run)} is not a range of the base's ${base.length} entities`,
        );
      for (let index = start as number; index < (end as number); index++) {
        if (used[index])
          throw new ConfigDeltaInvalidError(
            `"${key}": entity ${index} of the base is copied twice`,
          );
        used[index] = 1;
        list.push(base[index]);
      }
    } else if (isRecord(run) && Object.hasOwn(run, 'e') && Object.keys(run).length === 1) {
      list.push(run.e);
      added.push(run.e);
    } else throw new ConfigDeltaInvalidError(`"${key}": a run is [start, end] or { e }`);
  }
  for (let index = 0; index < base.length; index++) if (!used[index]) dropped.push(base[index]);
  return list;
}

/** Sets a key, `__proto__` included, as a key like any other (never the prototype). */
function put(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
