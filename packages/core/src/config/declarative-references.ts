import { DECLARATIVE_ENTITY_TYPES, NESTING } from './declarative-collections.ts';
import { StringIndex } from './string-index.ts';
import { formatPath } from './validate.ts';

/**
 * The checks Kong makes across the entities of a whole config: references to entities that
 * exist, and names unique within their collection — nested entities included, each problem at
 * the path where the file has it.
 *
 * @module
 */

type Entity = Record<string, unknown>;
type Path = Array<string | number>;

/** A list of entities in the file: a top-level collection, or one nested under an owner. */
interface Source {
  key: string;
  list: readonly unknown[];
  owner: { source: Source; index: number } | undefined;
}

/** The path of the entity at `index` of `source`, built only for entities with a problem. */
function pathOf(source: Source, index: number): Path {
  const path: Path = [source.key, index];
  for (let at = source.owner; at; at = at.source.owner) path.unshift(at.source.key, at.index);
  return path;
}

const isEntity = (value: unknown): value is Entity =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Where each collection's entities are, in the order flattening leaves them: the
 * top-level list first, then the nested lists as their owners are adopted. Takes any value;
 * what is not a list is skipped (the schema reports it).
 */
function locateSources(config: unknown): Map<string, Source[]> {
  const sources = new Map<string, Source[]>();
  for (const key of DECLARATIVE_ENTITY_TYPES) {
    const list = isEntity(config) ? config[key] : undefined;
    sources.set(key, Array.isArray(list) ? [{ key, list, owner: undefined }] : []);
  }
  for (const { parent, child } of NESTING) {
    const children = sources.get(child)!;
    for (const source of [...sources.get(parent)!])
      for (let index = 0; index < source.list.length; index++) {
        const owner = source.list[index];
        const nested = isEntity(owner) ? owner[child] : undefined;
        if (Array.isArray(nested))
          children.push({ key: child, list: nested, owner: { source, index } });
      }
  }
  return sources;
}

/** The entity at `index` of `source` (a nested SNI given by name as `{ name }`), if any. */
function entityAt(source: Source, index: number): Entity | undefined {
  const entity = source.list[index];
  if (isEntity(entity)) return entity;
  return typeof entity === 'string' && source.owner ? { name: entity } : undefined;
}

/** Which collection each reference field points into, and by which keys it may name it (also what `toKongExport` resolves to ids). */
export const REFERENCES: ReadonlyArray<{
  from: string;
  field: string;
  to: string;
  keys: string[];
}> = [
  { from: 'routes', field: 'service', to: 'services', keys: ['id', 'name'] },
  { from: 'plugins', field: 'service', to: 'services', keys: ['id', 'name'] },
  { from: 'plugins', field: 'route', to: 'routes', keys: ['id', 'name'] },
  { from: 'plugins', field: 'consumer', to: 'consumers', keys: ['id', 'username', 'custom_id'] },
  { from: 'targets', field: 'upstream', to: 'upstreams', keys: ['id', 'name'] },
  { from: 'snis', field: 'certificate', to: 'certificates', keys: ['id'] },
  { from: 'services', field: 'client_certificate', to: 'certificates', keys: ['id'] },
  { from: 'upstreams', field: 'client_certificate', to: 'certificates', keys: ['id'] },
];

/** Fields that must be unique within their collection, as Kong's schemas require. */
export const UNIQUE: ReadonlyArray<{ collection: string; keys: string[] }> = [
  { collection: 'services', keys: ['id', 'name'] },
  { collection: 'routes', keys: ['id', 'name'] },
  { collection: 'plugins', keys: ['id', 'instance_name'] },
  { collection: 'consumers', keys: ['id', 'username', 'custom_id'] },
  { collection: 'upstreams', keys: ['id', 'name'] },
  { collection: 'targets', keys: ['id'] },
  { collection: 'certificates', keys: ['id'] },
  { collection: 'ca_certificates', keys: ['id', 'cert_digest'] },
  { collection: 'snis', keys: ['id', 'name'] },
  { collection: 'vaults', keys: ['id', 'prefix'] },
];

/** A problem found across entities, at the path where the file has the offending field. */
export interface RelationProblem {
  path: Path;
  message: string;
}

/**
 * Duplicate unique fields and references to entities that do not exist, each at the path of
 * the field in the file (nested entities included). Takes any value, valid or not, so that
 * these problems are reported along with the schema's.
 */
export function relationProblems(config: unknown): RelationProblem[] {
  const problems: RelationProblem[] = [];
  const sources = locateSources(config);
  // Each unique key's values, where first seen: the source's place in its collection's list
  // of sources times 2^32, plus the index (a number: no object per entity). The references
  // below look names up in these too, since they name entities by unique keys.
  const seenBy = new Map<string, Map<string, StringIndex>>();
  for (const { collection, keys } of UNIQUE) {
    const lists = sources.get(collection)!;
    const byKey = new Map<string, StringIndex>();
    seenBy.set(collection, byKey);
    let entities = 0;
    for (const source of lists) entities += source.list.length;
    for (const key of keys) {
      const seen = new StringIndex(entities);
      byKey.set(key, seen);
      for (let s = 0; s < lists.length; s++) {
        const source = lists[s]!;
        for (let index = 0; index < source.list.length; index++) {
          const value = entityAt(source, index)?.[key];
          if (typeof value !== 'string') continue;
          const first = seen.setFirst(value, s * PLACE + index);
          if (first === undefined) continue;
          const used = formatPath(pathOf(lists[Math.floor(first / PLACE)]!, first % PLACE));
          problems.push({
            path: [...pathOf(source, index), key],
            message: `${key} ${JSON.stringify(value)} is already used by ${used}`,
          });
        }
      }
    }
  }
  for (const { from, field, to, keys } of REFERENCES) {
    // Only top-level entities name their references: a nested entity's parent is implied, and
    // the schema reports any other foreign field it sets.
    const source = sources.get(from)![0];
    if (!source || source.owner) continue;
    let names: Array<StringIndex | ReadonlySet<string>> | undefined;
    for (let index = 0; index < source.list.length; index++) {
      const ref = entityAt(source, index)?.[field];
      if (ref === undefined || ref === null) continue;
      const named =
        typeof ref === 'string' ? ref : isEntity(ref) ? (ref.id ?? ref.name) : undefined;
      if (typeof named !== 'string') continue;
      names ??= keys.map((key) => seenBy.get(to)?.get(key) ?? namesOf(sources.get(to)!, [key]));
      if (names.some((held) => held.has(named))) continue;
      problems.push({
        path: [...pathOf(source, index), field],
        message: `references ${to.replace(/s$/, '')} ${JSON.stringify(named)}, which does not exist`,
      });
    }
  }
  return problems;
}

/** A source's place in a first-seen number: entities per source stay below it. */
const PLACE = 2 ** 32;

/** Every value of `keys` among the entities of `sources`. */
function namesOf(sources: readonly Source[], keys: readonly string[]): Set<string> {
  const names = new Set<string>();
  for (const source of sources)
    for (let index = 0; index < source.list.length; index++) {
      const entity = entityAt(source, index);
      if (!entity) continue;
      for (const key of keys) {
        const value = entity[key];
        if (typeof value === 'string') names.add(value);
      }
    }
  return names;
}
