import { NESTING } from './declarative-collections.ts';
import { contentId } from './declarative-content-id.ts';
import { expandUrl } from './declarative-service-url.ts';

/**
 * Flattening a declarative config: every nested entity (routes under services, …) moves to
 * its top-level collection with a reference to its parent, as Kong loads a declarative file.
 *
 * @module
 */

type Entity = Record<string, unknown>;
type Config = Record<string, unknown>;

/**
 * Copy on write: the input itself when nothing changes, else copies of what changed. Every
 * nested entity moves to its top-level collection (after the top-level ones) with a reference
 * to its parent; a service's `url` becomes `protocol`, `host`, `port` and `path`.
 */
export function flatten<T extends Config>(input: T): T {
  let config: Config = input;
  const writable = () => {
    if (config === input) config = { ...input };
    return config;
  };
  const services = input.services as Entity[] | undefined;
  if (services?.some((service) => typeof service.url === 'string'))
    writable().services = services.map(expandUrl);
  for (const { parent, child, field } of NESTING) {
    const parents = config[parent] as Entity[] | undefined;
    if (!parents) continue;
    let owners: Entity[] | undefined;
    const adopted: Entity[] = [];
    for (let index = 0; index < parents.length; index++) {
      if (parents[index]![child] === undefined) continue;
      const { [child]: nested, ...owner } = parents[index]!;
      owners ??= [...parents];
      owners[index] = owner;
      if (nested === null) continue;
      const ownerRef = referenceTo(owner, parent);
      for (const entity of nested as Array<Entity | string>)
        adopted.push({
          ...(typeof entity === 'string' ? { name: entity } : entity),
          [field]: ownerRef,
        });
    }
    if (!owners) continue;
    writable()[parent] = owners;
    config[child] = [...((config[child] as Entity[] | undefined) ?? []), ...adopted];
  }
  return config as T;
}

/**
 * The id of an entity, else its name (username for consumers); an entity with neither gets a
 * deterministic id derived from its content, so the same file always flattens the same way.
 */
function referenceTo(entity: Entity, collectionName: string): string {
  if (typeof entity.id === 'string') return entity.id;
  const key = collectionName === 'consumers' ? entity.username : entity.name;
  if (typeof key === 'string') return key;
  entity.id = contentId(collectionName, entity);
  return entity.id as string;
}
