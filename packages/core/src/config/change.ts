import { ConfigInvalidError, type ConfigProblem } from '../errors.ts';
import { NESTING } from './declarative-collections.ts';
import { ENTITIES } from './declarative-entities.ts';
import { REFERENCES, relationProblems, UNIQUE } from './declarative-references.ts';
import { expandUrl } from './declarative-service-url.ts';
import { checkChangedEntityCount, checkEntityCount } from './limits.ts';
import { formatPath } from './validate.ts';

/**
 * Incremental input: a change to the latest config, as entity upserts and deletes, so a host
 * managing 25 000 entities does not resubmit them all to change one.
 *
 * @module
 */

type Entity = Record<string, unknown>;

/**
 * A change to a CP's latest config ({@link ControlPlane.updateConfig}): entities added or
 * replaced, entities removed, top-level values set — by collection (`services`, `routes`,
 * `keyauth_credentials`, …), in the flat shape (a route names its `service`; nothing nested).
 */
export interface ConfigChange {
  /**
   * Entities to add or replace. One replaces the entity it identifies — by its `id` when it
   * has one (a name another entity holds is then a duplicate), else by its unique name (`name` for services, routes, upstreams and SNIs; `username` for consumers;
   * `instance_name` for plugins; `prefix` for vaults; `upstream` and `target` for targets) —
   * in place, keeping its position; one that identifies none is added at the end.
   */
  upsert?: Readonly<Record<string, readonly object[]>>;
  /** Entities to remove, each by its `id` or unique name as above. */
  delete?: Readonly<Record<string, readonly string[]>>;
  /** Top-level values to set (`_transform`, …); `undefined` removes the key. */
  set?: Readonly<Record<string, unknown>>;
}

/** What identifies an entity of a collection besides its `id`. */
const NATURAL_KEYS: Readonly<Record<string, (entity: Entity) => string | undefined>> = {
  services: (entity) => text(entity.name),
  routes: (entity) => text(entity.name),
  upstreams: (entity) => text(entity.name),
  snis: (entity) => text(entity.name),
  consumers: (entity) => text(entity.username),
  plugins: (entity) => text(entity.instance_name),
  vaults: (entity) => text(entity.prefix),
  targets: (entity) =>
    typeof entity.upstream === 'string' && typeof entity.target === 'string'
      ? `${entity.upstream}\0${entity.target}`
      : undefined,
};

const text = (value: unknown) => (typeof value === 'string' ? value : undefined);

/** The top-level values `set` may change, each with its check (`true`: fine). */
const SETTABLE: Readonly<Record<string, (value: unknown) => true | string>> = {
  _transform: (value) =>
    value === undefined || value === null || typeof value === 'boolean'
      ? true
      : 'expected a boolean',
  _comment: (value) =>
    value === undefined || (typeof value === 'string' && value.length <= 4096)
      ? true
      : 'expected a string of at most 4096 characters',
};

/** The keys an entity is known by: its id, and its natural key. */
function keysOf(collection: string, entity: Entity): string[] {
  const keys: string[] = [];
  if (typeof entity.id === 'string') keys.push(`id\0${entity.id}`);
  const natural = NATURAL_KEYS[collection]?.(entity);
  if (natural !== undefined) keys.push(`key\0${natural}`);
  return keys;
}

/**
 * Where the entities `upserts` name are in `list` (the last of each key), by the key each is
 * found by: an upsert of one service among 25 000 reads each id once and makes no string for
 * it, where indexing every key of every entity made three.
 */
function indexOf(collection: string, list: readonly Entity[], upserts: readonly unknown[]) {
  const ids = new Set<string>();
  const naturals = new Set<string>();
  for (const upsert of upserts) {
    if (typeof upsert !== 'object' || upsert === null) continue;
    const entity = upsert as Entity;
    if (typeof entity.id === 'string') ids.add(entity.id);
    else {
      const natural = NATURAL_KEYS[collection]?.(entity);
      if (natural !== undefined) naturals.add(natural);
    }
  }
  const index = new Map<string, number>();
  const natural = naturals.size > 0 ? NATURAL_KEYS[collection] : undefined;
  for (let at = 0; at < list.length; at++) {
    const entity = list[at]!;
    if (typeof entity.id === 'string' && ids.has(entity.id)) index.set(`id\0${entity.id}`, at);
    if (natural) {
      const key = natural(entity);
      if (key !== undefined && naturals.has(key)) index.set(`key\0${key}`, at);
    }
  }
  return index;
}

/** A delete names an entity by id or natural key; targets by `upstream` + NUL + `target`. */
function deleteKeys(reference: string): string[] {
  return [`id\0${reference}`, `key\0${reference}`];
}

/**
 * Applies `change` to `base` (the latest config, flat, already valid) without changing it:
 * the lists it touches are copies, the rest shared. Checks only what changed: each upserted
 * entity against its type's schema (the declarative schema's own rules), then the references
 * and unique names the change can have broken: names it claims, references it makes, names
 * it drops (each list read once, against the small set of values touched). Throws
 * `CONFIG_INVALID` listing every problem, each at its path in the change
 * (`upsert.services[0].port`). Returns the new config and the top-level keys it changed.
 * `counted` (the publisher's) holds the entity counts of lists kept from `base`; without it,
 * every list is counted.
 */
export function applyConfigChange(
  base: Readonly<Record<string, unknown>>,
  change: ConfigChange,
  maxEntities: number,
  counted?: WeakMap<readonly unknown[], number>,
): {
  config: Record<string, unknown>;
  changed: Set<string>;
  /** The entities the change brought (upserted), as they are in `config`. */
  brought: Set<unknown>;
} {
  if (typeof change !== 'object' || change === null)
    throw invalid([{ path: '(root)', message: 'a change is an object: { upsert, delete, set }' }]);
  const problems: ConfigProblem[] = [];
  const config: Record<string, unknown> = { ...base };
  const changed = new Set<string>();
  for (const [key, value] of Object.entries(change.set ?? {})) {
    const problem =
      SETTABLE[key]?.(value) ??
      `set takes ${Object.keys(SETTABLE).join(' and ')}; entities are upserted`;
    if (problem !== true) {
      problems.push({ path: formatPath(['set', key]), message: problem });
      continue;
    }
    changed.add(key);
    if (value === undefined) delete config[key];
    else config[key] = value;
  }
  const lists = new Map<string, Entity[]>();
  const addedBy = new Map<string, Entity[]>();
  const droppedBy = new Map<string, unknown[]>();
  const added = (collection: string) =>
    addedBy.get(collection) ?? addedBy.set(collection, []).get(collection)!;
  const dropped = (collection: string) =>
    droppedBy.get(collection) ?? droppedBy.set(collection, []).get(collection)!;
  /** The list of a collection, copied once; `undefined` for a key that is not one. */
  const listOf = (collection: string, path: (string | number)[]): Entity[] | undefined => {
    let list = lists.get(collection);
    if (!list) {
      const current = config[collection];
      // `_format_version` and the like are not collections; nor is a key holding a value.
      if (
        collection.startsWith('_') ||
        (current !== undefined && current !== null && !Array.isArray(current))
      ) {
        problems.push({
          path: formatPath(path),
          message: `${collection} is not a collection of entities`,
        });
        return undefined;
      }
      list = Array.isArray(current) ? [...(current as Entity[])] : [];
      lists.set(collection, list);
    }
    return list;
  };
  for (const [collection, references] of Object.entries(change.delete ?? {})) {
    if (!Array.isArray(references)) {
      problems.push({
        path: formatPath(['delete', collection]),
        message: 'expected a list of ids or names',
      });
      continue;
    }
    const list = listOf(collection, ['delete', collection]);
    if (!list) continue;
    references.forEach((reference, index) => {
      const wanted = new Set(deleteKeys(String(reference)));
      const at = list.findIndex((entity) =>
        keysOf(collection, entity).some((key) => wanted.has(key)),
      );
      if (at === -1)
        problems.push({
          path: formatPath(['delete', collection, index]),
          message: `no entity of ${collection} is ${JSON.stringify(reference)}`,
        });
      else dropped(collection).push(...list.splice(at, 1));
    });
  }
  for (const [collection, entities] of Object.entries(change.upsert ?? {})) {
    if (!Array.isArray(entities)) {
      problems.push({
        path: formatPath(['upsert', collection]),
        message: 'expected a list of entities',
      });
      continue;
    }
    const list = listOf(collection, ['upsert', collection]);
    if (!list) continue;
    const index = indexOf(collection, list, entities);
    entities.forEach((entity, at) => {
      const path = ['upsert', collection, at];
      const problem = entityProblems(collection, entity as Entity, path);
      if (problem.length > 0) {
        problems.push(...problem);
        return;
      }
      // An id identifies alone; without one, the natural key does.
      const [key] = keysOf(collection, entity as Entity);
      const found = key === undefined ? undefined : index.get(key);
      // A service's `url` is split into its parts, as setConfig's flattening does.
      const stored =
        collection === 'services' && typeof (entity as Entity).url === 'string'
          ? expandUrl(entity as Entity)
          : (entity as Entity);
      added(collection).push(stored);
      if (found !== undefined) {
        dropped(collection).push(list[found]);
        list[found] = stored;
      } else {
        list.push(stored);
        for (const key of keysOf(collection, stored)) index.set(key, list.length - 1);
      }
    });
  }
  for (const [collection, list] of lists) {
    // Nothing added to a collection that did not exist: it still does not.
    if (list.length === 0 && !Array.isArray(config[collection])) continue;
    config[collection] = list;
    changed.add(collection);
  }
  if (problems.length > 0) throw invalid(problems);
  if (counted) checkChangedEntityCount(config, maxEntities, counted);
  else checkEntityCount(config, maxEntities);
  // References and unique names: only the values the change touched, each list read once.
  const relations = changedRelationProblems(config, addedBy, droppedBy);
  if (relations.length > 0)
    throw invalid(
      relations.map((problem) => ({ path: formatPath(problem.path), message: problem.message })),
    );
  return { config, changed, brought: new Set([...addedBy.values()].flat()) };
}

/** One upserted entity against its type's schema, flat (nothing nested under it). */
function entityProblems(
  collection: string,
  entity: Entity,
  path: (string | number)[],
): ConfigProblem[] {
  if (typeof entity !== 'object' || entity === null || Array.isArray(entity))
    return [{ path: formatPath(path), message: 'expected an entity (an object)' }];
  const problems: ConfigProblem[] = [];
  for (const { parent, child } of NESTING)
    if (parent === collection && entity[child] !== undefined)
      problems.push({
        path: formatPath([...path, child]),
        message: `upsert ${child} in their own collection, naming their ${parent.slice(0, -1)}`,
      });
  const schema = (
    ENTITIES as Record<
      string,
      {
        safeParse(value: unknown): {
          success: boolean;
          error?: { issues: Array<{ path: PropertyKey[]; message: string }> };
        };
      }
    >
  )[collection];
  if (schema) {
    const result = schema.safeParse(entity);
    if (!result.success)
      for (const issue of result.error!.issues)
        problems.push({ path: formatPath([...path, ...issue.path]), message: issue.message });
  }
  return problems;
}

function invalid(problems: ConfigProblem[]): ConfigInvalidError {
  return new ConfigInvalidError(problems);
}

/**
 * Checks a config made by a delta from a valid one: the entities the delta brought, each
 * against its type's schema (flat), then the references and unique names they can have broken
 * — what a whole validation would find wrong in it, since everything else is the base's and was
 * checked. `dropped` are the base's entities the delta left out; without it, references and
 * names are checked across the whole result. Throws `CONFIG_INVALID`.
 */
export function checkDeltaResult(
  config: Readonly<Record<string, unknown>>,
  added: ReadonlyMap<string, readonly unknown[]>,
  dropped?: ReadonlyMap<string, readonly unknown[]>,
): void {
  const problems: ConfigProblem[] = [];
  const at = (collection: string, entity: unknown) =>
    (config[collection] as readonly unknown[] | undefined)?.indexOf(entity) ?? -1;
  for (const [collection, entities] of added)
    for (const entity of entities)
      problems.push(
        ...entityProblems(collection, entity as Entity, [collection, at(collection, entity)]),
      );
  if (problems.length > 0) throw invalid(problems);
  const relations = dropped
    ? changedRelationProblems(config, added, dropped)
    : relationProblems(config);
  if (relations.length > 0)
    throw invalid(
      relations.map((problem) => ({ path: formatPath(problem.path), message: problem.message })),
    );
}

/** The entities of `collection` in `config` (top-level), as entities. */
function entitiesOf(config: Readonly<Record<string, unknown>>, collection: string): Entity[] {
  const list = config[collection];
  return Array.isArray(list)
    ? (list.filter((entity) => typeof entity === 'object' && entity !== null) as Entity[])
    : [];
}

/** The name or id a reference field holds (`"x"`, `{ id }`, `{ name }`). */
function referenced(ref: unknown): string | undefined {
  if (typeof ref === 'string') return ref;
  if (typeof ref === 'object' && ref !== null) {
    const named = (ref as Entity).id ?? (ref as Entity).name;
    return typeof named === 'string' ? named : undefined;
  }
  return undefined;
}

/**
 * The reference and unique-name problems a change can cause, found by looking only for the
 * values it touches: names the added entities claim (held twice?), references they make
 * (to nothing?), and names the dropped entities held (still referred to, by no one else
 * held?). Each pass reads one collection once, against a small set.
 */
function changedRelationProblems(
  config: Readonly<Record<string, unknown>>,
  added: ReadonlyMap<string, readonly unknown[]>,
  dropped: ReadonlyMap<string, readonly unknown[]>,
): Array<{ path: Array<string | number>; message: string }> {
  const problems: Array<{ path: Array<string | number>; message: string }> = [];
  for (const { collection, keys } of UNIQUE) {
    const claimed = added.get(collection);
    if (!claimed?.length) continue;
    const left = dropped.get(collection) as readonly Entity[] | undefined;
    let list: Entity[] | undefined;
    for (const key of keys) {
      const values = new Set<unknown>();
      const twice = new Set<unknown>();
      for (const entity of claimed) {
        const value = (entity as Entity)[key];
        if (typeof value !== 'string') continue;
        if (values.has(value)) twice.add(value);
        values.add(value);
      }
      // A value an entity the change dropped held, claimed once: held by no other, since
      // the base held each value once (an upsert that keeps its entity's name).
      if (left) for (const entity of left) if (!twice.has(entity[key])) values.delete(entity[key]);
      if (values.size === 0) continue;
      list ??= entitiesOf(config, collection);
      const first = new Map<unknown, number>();
      list.forEach((entity, index) => {
        const value = entity[key];
        if (!values.has(value)) return;
        const earlier = first.get(value);
        if (earlier === undefined) first.set(value, index);
        else
          problems.push({
            path: [collection, index, key],
            message: `${key} ${JSON.stringify(value)} is already used by ${formatPath([collection, earlier])}`,
          });
      });
    }
  }
  for (const { from, field, to, keys } of REFERENCES) {
    // References the added entities make: to something that exists?
    const making = (added.get(from) ?? []) as Entity[];
    const wanted = new Set(
      making.map((entity) => referenced(entity[field])).filter((name) => name !== undefined),
    );
    // Names the dropped entities held: still held by another, or still referred to?
    const gone = new Set(
      ((dropped.get(to) ?? []) as Entity[]).flatMap((entity) =>
        keys
          .map((key) => entity[key])
          .filter((value): value is string => typeof value === 'string'),
      ),
    );
    if (wanted.size === 0 && gone.size === 0) continue;
    const held = new Set<string>();
    for (const entity of entitiesOf(config, to))
      for (const key of keys) {
        const value = entity[key];
        if (typeof value === 'string' && (wanted.has(value) || gone.has(value))) held.add(value);
      }
    for (const name of held) gone.delete(name);
    // Every name wanted is held and none gone: no entity of `from` can refer to nothing (a
    // service upserted under its own name skips reading every route and plugin).
    if (gone.size === 0 && [...wanted].every((name) => held.has(name))) continue;
    const check = (entity: Entity, index: number) => {
      const name = referenced(entity[field]);
      if (name === undefined || held.has(name) || !(wanted.has(name) || gone.has(name))) return;
      problems.push({
        path: [from, index, field],
        message: `references ${to.replace(/s$/, '')} ${JSON.stringify(name)}, which does not exist`,
      });
    };
    entitiesOf(config, from).forEach(check);
  }
  return problems;
}
