/**
 * The collections of a declarative config that planesync models, and how Kong nests them:
 * what {@link flatten} moves and what the reference checks walk.
 *
 * @module
 */

/**
 * The entity types the declarative schema models (Kong 3.10's fields, references, unique
 * names); every other top-level key passes through unvalidated.
 */
export const DECLARATIVE_ENTITY_TYPES: readonly string[] = [
  'services',
  'routes',
  'plugins',
  'consumers',
  'upstreams',
  'targets',
  'certificates',
  'ca_certificates',
  'snis',
  'vaults',
];

/** Where each child collection nests, and how its entities name their parent. In order:
 * routes nested in services may carry plugins of their own. */
export const NESTING: ReadonlyArray<{ parent: string; child: string; field: string }> = [
  { parent: 'services', child: 'routes', field: 'service' },
  { parent: 'services', child: 'plugins', field: 'service' },
  { parent: 'routes', child: 'plugins', field: 'route' },
  { parent: 'consumers', child: 'plugins', field: 'consumer' },
  { parent: 'upstreams', child: 'targets', field: 'upstream' },
  { parent: 'certificates', child: 'snis', field: 'certificate' },
];
