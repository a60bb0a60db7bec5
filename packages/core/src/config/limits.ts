import { ConfigInvalidError, InvalidArgumentError } from '../errors.ts';

/**
 * How big a config may be, checked before anything walks it recursively. A config from a peer
 * (or a file) is hostile until checked: a deeply nested value would overflow the stack of every
 * recursive step after it (hashing, serializing), and millions of entities stall the event
 * loop for seconds and hold hundreds of MiB.
 */
export interface ConfigLimits {
  /** Deepest nesting of objects and arrays. Default 1 000, lua-cjson's decoding limit in Kong. */
  maxDepth?: number;
  /**
   * Most entities in one config: every item of a top-level collection, and those nested in
   * them (a service's routes, a route's plugins, an upstream's targets, …). Default 500 000,
   * ten times the largest Kong configs in the field.
   */
  maxEntities?: number;
}

/** The default {@link ConfigLimits}. */
export const DEFAULT_CONFIG_LIMITS: Readonly<Required<ConfigLimits>> = Object.freeze({
  maxDepth: 1_000,
  maxEntities: 500_000,
});

/** Fills in the defaults, refusing limits that are not positive integers. */
export function resolveLimits(limits: ConfigLimits = {}): Required<ConfigLimits> {
  const resolved = { ...DEFAULT_CONFIG_LIMITS, ...stripUndefined(limits) };
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isSafeInteger(value) || value < 1)
      throw new InvalidArgumentError(`limits.${name} must be a positive integer, got ${value}`);
  }
  return resolved;
}

/**
 * Throws `CONFIG_INVALID` when `config` holds more than `maxEntities` entities. Counts the
 * items of every top-level array and the arrays of objects nested in those items, two levels
 * down (services → routes → plugins): a few lookups per entity, no recursion.
 */
export function checkEntityCount(config: unknown, maxEntities: number): void {
  countEntities(config, maxEntities, undefined);
}

/**
 * `checkEntityCount` for a config made by a change from a published one: a top-level list
 * in `counted` (the very same array, counted before and kept by the change) is not counted
 * again. `counted` belongs to one publisher, which forgets it whenever a config comes in
 * whole: a list given again by setConfig may be an array counted before and edited since.
 */
export function checkChangedEntityCount(
  config: unknown,
  maxEntities: number,
  counted: WeakMap<readonly unknown[], number>,
): void {
  countEntities(config, maxEntities, counted);
}

function countEntities(
  config: unknown,
  maxEntities: number,
  counted: WeakMap<readonly unknown[], number> | undefined,
): void {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) return;
  let count = 0;
  for (const value of Object.values(config)) {
    if (!Array.isArray(value)) continue;
    let inList = counted?.get(value);
    if (inList === undefined) {
      // Counting stops once past what is left: a count that stopped is not remembered.
      const left = maxEntities - count;
      inList = countIn(value, 2, left);
      if (inList <= left) counted?.set(value, inList);
    }
    count += inList;
    if (count > maxEntities)
      throw new ConfigInvalidError([
        { path: '(root)', message: `holds more than ${maxEntities} entities (maxEntities)` },
      ]);
  }
}

/** The entities in `items` and nested `nested` levels in them, stopping past `limit`. */
function countIn(items: readonly unknown[], nested: number, limit: number): number {
  let count = items.length;
  if (count > limit || nested === 0) return count;
  for (const item of items) {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) continue;
    for (const key in item) {
      const value = (item as Record<string, unknown>)[key];
      if (Array.isArray(value) && value.length > 0 && isEntity(value[0]))
        count += countIn(value, nested - 1, limit - count);
      if (count > limit) return count;
    }
  }
  return count;
}

function isEntity(value: unknown): boolean {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
