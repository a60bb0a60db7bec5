import { createHash } from 'node:crypto';
import { DECLARATIVE_ENTITY_TYPES } from '../config/declarative-collections.ts';
import { contentId } from '../config/declarative-content-id.ts';
import { REFERENCES } from '../config/declarative-references.ts';
import { type DeclarativeConfig, declarativeConfigSchema } from '../config/declarative-schema.ts';
import { validateConfig } from '../config/validate.ts';

/**
 * A planesync declarative config in the shape Kong's CP exports it for its DPs
 * (`kong/db/declarative/export.lua`).
 *
 * @module
 */

type Entity = Record<string, unknown>;

/** The namespace of Kong's declarative ids (`kong/db/schema/others/declarative_config.lua`). */
const KONG_ENTITIES_NAMESPACE = 'fd02801f-0957-4a15-a55a-c8d9606f30b5';

/**
 * The key Kong derives an entity's id from when the config gives none: its endpoint key,
 * when that is unique (`declarative_config.lua`, `get_key_for_uuid_gen`). For these types
 * `toKongExport` gives the id a Kong node would generate itself.
 */
const KONG_ID_KEYS: Readonly<Record<string, string>> = {
  services: 'name',
  routes: 'name',
  consumers: 'username',
  upstreams: 'name',
  snis: 'name',
};

/** A name-based (version 5, SHA-1) UUID, as RFC 4122 §4.3 makes it. */
export function uuidV5(namespace: string, name: string): string {
  const bytes = createHash('sha1')
    .update(Buffer.from(namespace.replaceAll('-', ''), 'hex'))
    .update(name, 'utf8')
    .digest()
    .subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const namespaces = new Map<string, string>();

/** The id Kong's declarative loader generates for an entity of `collection` keyed `key`. */
export function kongGeneratedId(collection: string, key: string): string {
  let namespace = namespaces.get(collection);
  if (!namespace) {
    namespace = uuidV5(KONG_ENTITIES_NAMESPACE, collection);
    namespaces.set(collection, namespace);
  }
  return uuidV5(namespace, key);
}

/** The key planesync derives an id from for an entity Kong would give a random one. */
function ownKey(collection: string, entity: Entity): string | undefined {
  const text = (value: unknown) => (typeof value === 'string' ? value : '');
  switch (collection) {
    // Kong's cache keys: stable while the entity's configuration changes.
    case 'targets':
      return `${text(entity.upstream)}:${text(entity.target)}`;
    case 'plugins':
      return [entity.name, entity.route, entity.service, entity.consumer, entity.instance_name]
        .map(text)
        .join(':');
    case 'vaults':
      return text(entity.prefix) || undefined;
    case 'certificates':
    case 'ca_certificates':
      return typeof entity.cert === 'string'
        ? createHash('sha256').update(entity.cert.trim()).digest('hex')
        : undefined;
    default:
      return undefined;
  }
}

/**
 * Turns a planesync declarative config into the shape Kong's CP sends its DPs, for a
 * ControlPlane that serves Kong data planes (`kongProtocol()`): validated and flattened
 * (nested entities moved to their top-level collections, a service's `url` split into its
 * parts), `_format_version: "3.0"`, every entity of the types planesync models with an
 * `id`, and every reference between them an id string (`"service": "<uuid>"`), as Kong's
 * export flattens foreign keys. Other entity types (`workspaces`, `keys`,
 * `keyauth_credentials`, …) pass as they are; no `ws_id` is added (an OSS DP refuses one).
 *
 * Ids are derived, never random, so the same config always converts the same way and an
 * entity keeps its id across changes:
 * - services, routes, upstreams and SNIs by `name`, consumers by `username`: the id Kong's
 *   own declarative loader generates (a version-5 UUID in Kong's namespace);
 * - targets by upstream and target, plugins by name, route, service, consumer and
 *   instance name (Kong's cache key), vaults by prefix, certificates by their PEM's SHA-256;
 * - anything else without an id (a route without a name) by its content.
 *
 * A config already in Kong's export shape (every entity with its id) comes back as it is:
 * the same object. `_transform` is kept as given: set `_transform: false` only for a config
 * whose credentials Kong has already transformed (hashed passwords), as its export has.
 * Throws `CONFIG_INVALID` as `validateConfig` does.
 *
 * @example
 * ```ts
 * import { toKongExport } from '@planesync/core';
 * const exported = toKongExport({
 *   _format_version: '3.0',
 *   services: [{ name: 'echo', url: 'http://echo.internal', routes: [{ name: 'echo', paths: ['/echo'] }] }],
 * });
 * // exported.routes[0].service === exported.services[0].id
 * ```
 */
export function toKongExport(config: unknown): DeclarativeConfig {
  const flat = validateConfig(config, declarativeConfigSchema);
  const out: DeclarativeConfig = { ...flat, _format_version: '3.0' };
  let changed = flat._format_version !== '3.0';
  const collections = new Map<string, Entity[]>();
  const collection = (name: string): Entity[] => {
    let entities = collections.get(name);
    if (!entities) {
      const given = out[name];
      entities = Array.isArray(given) ? given.map((entity: Entity) => ({ ...entity })) : [];
      collections.set(name, entities);
    }
    return entities;
  };
  const setId = (entity: Entity, id: string) => {
    entity.id = id;
    changed = true;
  };
  // 1. Ids Kong itself would derive, from unique endpoint keys.
  for (const [name, key] of Object.entries(KONG_ID_KEYS))
    for (const entity of collection(name))
      if (entity.id === undefined && typeof entity[key] === 'string')
        setId(entity, kongGeneratedId(name, entity[key]));
  // 2. References by name (or `{ id }`, `{ name }`) become id strings.
  for (const { from, field, to, keys } of REFERENCES) {
    const index = indexBy(collection(to), keys);
    for (const entity of collection(from)) {
      const ref = entity[field];
      if (ref === undefined || ref === null) continue;
      const id = resolve(index, ref);
      if (id !== undefined && id !== ref) {
        entity[field] = id;
        changed = true;
      }
    }
  }
  // 3. Ids for the rest: Kong's cache key where it has one, else the content.
  for (const name of DECLARATIVE_ENTITY_TYPES)
    for (const entity of collection(name)) {
      if (entity.id !== undefined) continue;
      const key = ownKey(name, entity);
      setId(entity, key !== undefined ? kongGeneratedId(name, key) : contentId(name, entity));
    }
  if (!changed) return flat;
  for (const [name, entities] of collections) if (out[name] !== undefined) out[name] = entities;
  return out;
}

/** For each key (in order of precedence), the id of the entity holding each value. */
function indexBy(entities: readonly Entity[], keys: readonly string[]) {
  return keys.map((key) => {
    const ids = new Map<unknown, string>();
    for (const entity of entities)
      if (typeof entity.id === 'string' && !ids.has(entity[key])) ids.set(entity[key], entity.id);
    return ids;
  });
}

/** The id of the entity `ref` names (by id, or by one of the index's keys). */
function resolve(index: ReadonlyArray<ReadonlyMap<unknown, string>>, ref: unknown) {
  const wanted =
    typeof ref === 'string'
      ? ref
      : typeof ref === 'object' && ref !== null
        ? ((ref as Entity).id ?? (ref as Entity).name)
        : undefined;
  if (typeof wanted !== 'string') return undefined;
  for (const ids of index) {
    const id = ids.get(wanted);
    if (id !== undefined) return id;
  }
  return undefined;
}
