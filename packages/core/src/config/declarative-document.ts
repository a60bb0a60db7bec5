import { z } from 'zod';
import { ENTITIES } from './declarative-entities.ts';
import { expected, nullable, text } from './declarative-fields.ts';

/**
 * The top level of a declarative file as zod checks it: `_format_version` and Kong's other
 * underscore keys, and a collection of each entity type planesync models. Keys of other
 * entity types pass through unvalidated. The zod definition and the compiled validator both
 * start from it.
 *
 * @module
 */

const collection = <T extends z.ZodType>(entity: T) =>
  nullable(z.array(entity, { error: expected('a list') }));

/** A declarative file's top level, before the checks across entities and the flattening. */
export const declarativeDocument = z.looseObject(
  {
    _format_version: z.enum(['3.0', '2.1', '1.1'], { error: 'expected "3.0"' }),
    _transform: nullable(z.boolean({ error: expected('true or false') })),
    _comment: nullable(text),
    _ignore: nullable(z.array(z.unknown(), { error: expected('a list') })),
    services: collection(ENTITIES.services),
    routes: collection(ENTITIES.routes),
    plugins: collection(ENTITIES.plugins),
    consumers: collection(ENTITIES.consumers),
    upstreams: collection(ENTITIES.upstreams),
    targets: collection(ENTITIES.targets),
    certificates: collection(ENTITIES.certificates),
    ca_certificates: collection(ENTITIES.ca_certificates),
    snis: collection(ENTITIES.snis),
    vaults: collection(ENTITIES.vaults),
  },
  { error: 'expected a declarative config: an object with _format_version' },
);
