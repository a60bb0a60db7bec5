import { createHash } from 'node:crypto';
import { Ajv, type ValidateFunction } from 'ajv';
import { z } from 'zod';
import { hashConfig } from './hash.ts';
import type { ConfigSchema } from './validate.ts';

/**
 * Kong's declarative config (`_format_version: "3.0"`) as a zod schema. It checks the fields
 * planesync and a gateway built on it rely on, keeps every other field and every unknown
 * top-level key (Kong has more entity types than are modelled here), flattens routes and
 * plugins nested under services (and targets under upstreams, plugins under routes and
 * consumers, SNIs under certificates) into the top-level collections with a reference to
 * their parent, and reports references to entities that do not exist.
 *
 * @module
 */

const NAME = /^[\w.~-]+$/;
const PROTOCOLS = [
  'http',
  'https',
  'grpc',
  'grpcs',
  'tcp',
  'tls',
  'tls_passthrough',
  'udp',
  'ws',
  'wss',
] as const;

function intRange(min: number, max: number) {
  const error = `expected integer ${min}..${max}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

const id = z.guid({ error: 'expected a UUID' });
const name = z.string({ error: 'expected a name' }).regex(NAME, {
  error: 'expected a name of letters, digits and . _ - ~',
});
const tags = z.array(z.string({ error: 'expected a string tag' }), {
  error: 'expected a list of tags',
});
const timeout = intRange(1, 2_147_483_646);
const serviceUrl = z.url({ error: 'expected a URL such as http://upstream:8080/path' });

/** A reference to another entity: its id or name as a string, or `{ id }` / `{ name }`. */
const reference = z.union(
  [z.string().min(1), z.looseObject({ id }), z.looseObject({ name: z.string().min(1) })],
  { error: 'expected a reference: an id or name, or { id } or { name }' },
);

const pluginShape = {
  id: id.optional(),
  name: z
    .string({ error: 'expected the plugin name' })
    .min(1, { error: 'expected the plugin name' }),
  instance_name: z.string().optional(),
  config: z.record(z.string(), z.unknown(), { error: 'expected an object' }).optional(),
  enabled: z.boolean({ error: 'expected true or false' }).optional(),
  protocols: z
    .array(z.enum(PROTOCOLS, { error: `expected one of ${PROTOCOLS.join(', ')}` }))
    .optional(),
  service: reference.nullable().optional(),
  route: reference.nullable().optional(),
  consumer: reference.nullable().optional(),
  tags: tags.optional(),
};
const plugin = z.looseObject(pluginShape);

const routeShape = {
  id: id.optional(),
  name: name.optional(),
  protocols: z
    .array(z.enum(PROTOCOLS, { error: `expected one of ${PROTOCOLS.join(', ')}` }))
    .min(1, { error: 'expected at least one protocol' })
    .optional(),
  methods: z
    .array(z.string().regex(/^[A-Z]+$/, { error: 'expected an upper-case HTTP method' }))
    .optional(),
  hosts: z.array(z.string().min(1, { error: 'expected a host name' })).optional(),
  paths: z
    .array(
      z
        .string()
        .regex(/^[/~]/, { error: "expected a path starting with '/' (or '~' for a regex)" }),
    )
    .optional(),
  headers: z.record(z.string(), z.array(z.string())).optional(),
  snis: z.array(z.string()).optional(),
  sources: z.array(z.looseObject({})).optional(),
  destinations: z.array(z.looseObject({})).optional(),
  strip_path: z.boolean({ error: 'expected true or false' }).optional(),
  preserve_host: z.boolean({ error: 'expected true or false' }).optional(),
  regex_priority: z.number().int().optional(),
  https_redirect_status_code: z
    .union([z.literal(426), z.literal(301), z.literal(302), z.literal(307), z.literal(308)])
    .optional(),
  path_handling: z.enum(['v0', 'v1']).optional(),
  service: reference.nullable().optional(),
  tags: tags.optional(),
  plugins: z.array(plugin).optional(),
};
const MATCHERS = [
  'methods',
  'hosts',
  'paths',
  'headers',
  'snis',
  'sources',
  'destinations',
] as const;
const route = z
  .looseObject(routeShape)
  .refine(
    (value) =>
      MATCHERS.some((key) => value[key] !== undefined && Object.keys(value[key] ?? {}).length > 0),
    { error: `a route needs at least one of ${MATCHERS.join(', ')}` },
  );

const serviceShape = {
  id: id.optional(),
  name: name.optional(),
  url: serviceUrl.optional(),
  protocol: z.enum(PROTOCOLS, { error: `expected one of ${PROTOCOLS.join(', ')}` }).optional(),
  host: z
    .string({ error: 'expected a host name' })
    .min(1, { error: 'expected a host name' })
    .optional(),
  port: intRange(0, 65535).optional(),
  path: z
    .string()
    .regex(/^\//, { error: "expected a path starting with '/'" })
    .nullable()
    .optional(),
  retries: intRange(0, 32767).optional(),
  connect_timeout: timeout.optional(),
  write_timeout: timeout.optional(),
  read_timeout: timeout.optional(),
  enabled: z.boolean({ error: 'expected true or false' }).optional(),
  tags: tags.optional(),
  routes: z.array(route).optional(),
  plugins: z.array(plugin).optional(),
};
const service = z
  .looseObject(serviceShape)
  .refine((value) => value.host !== undefined || value.url !== undefined, {
    error: 'a service needs a host (or a url)',
    path: ['host'],
  });

const consumer = z
  .looseObject({
    id: id.optional(),
    username: z.string().min(1).optional(),
    custom_id: z.string().min(1).optional(),
    tags: tags.optional(),
    plugins: z.array(plugin).optional(),
  })
  .refine((value) => value.username !== undefined || value.custom_id !== undefined, {
    error: 'a consumer needs a username or a custom_id',
  });

const target = z.looseObject({
  id: id.optional(),
  target: z
    .string({ error: 'expected host:port' })
    .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]+)(:\d{1,5})?$/, { error: 'expected host or host:port' }),
  weight: intRange(0, 65535).optional(),
  upstream: reference.optional(),
  tags: tags.optional(),
});

const upstream = z.looseObject({
  id: id.optional(),
  name: z
    .string({ error: 'expected the upstream name' })
    .min(1, { error: 'expected the upstream name' }),
  algorithm: z
    .enum(['round-robin', 'consistent-hashing', 'least-connections', 'latency', 'sticky-sessions'])
    .optional(),
  slots: intRange(10, 65536).optional(),
  tags: tags.optional(),
  targets: z.array(target).optional(),
});

const pem = (what: string) =>
  z
    .string({ error: `expected a PEM ${what}` })
    .regex(/-----BEGIN [A-Z ]+-----/, { error: `expected a PEM ${what}` });

const sni = z.looseObject({
  id: id.optional(),
  name: z.string({ error: 'expected a server name' }).min(1, { error: 'expected a server name' }),
  certificate: reference.optional(),
  tags: tags.optional(),
});

const certificate = z.looseObject({
  id: id.optional(),
  cert: pem('certificate'),
  key: pem('private key'),
  cert_alt: pem('certificate').optional(),
  key_alt: pem('private key').optional(),
  tags: tags.optional(),
  snis: z.array(z.union([z.string().min(1), sni])).optional(),
});

const caCertificate = z.looseObject({
  id: id.optional(),
  cert: pem('certificate'),
  cert_digest: z.string().optional(),
  tags: tags.optional(),
});

const vault = z.looseObject({
  id: id.optional(),
  prefix: z.string({ error: 'expected a vault prefix' }).regex(/^[a-z][a-z\d-]*$/, {
    error: 'expected a lower-case vault prefix',
  }),
  name: z.string({ error: 'expected the vault name' }).min(1),
  description: z.string().nullable().optional(),
  config: z.record(z.string(), z.unknown()).optional(),
  tags: tags.optional(),
});

/**
 * What the compiled validator needs beyond the zod definition: each entity as its own
 * definition (ajv then compiles it as its own small function, which V8 optimises; one
 * function for the whole config is too big to), and the rules of the refine() calls above
 * in JSON Schema, which zod cannot derive from a function.
 */
const jsonSchemaNotes = z.registry<Record<string, unknown>>();
jsonSchemaNotes.add(plugin, { id: 'plugin' });
jsonSchemaNotes.add(route, {
  id: 'route',
  anyOf: MATCHERS.map((key) => ({
    required: [key],
    properties: {
      [key]:
        key === 'headers' ? { type: 'object', minProperties: 1 } : { type: 'array', minItems: 1 },
    },
  })),
});
jsonSchemaNotes.add(service, {
  id: 'service',
  anyOf: [{ required: ['host'] }, { required: ['url'] }],
});
jsonSchemaNotes.add(consumer, {
  id: 'consumer',
  anyOf: [{ required: ['username'] }, { required: ['custom_id'] }],
});
for (const [schema, id] of [
  [target, 'target'],
  [upstream, 'upstream'],
  [sni, 'sni'],
  [certificate, 'certificate'],
  [caCertificate, 'ca_certificate'],
  [vault, 'vault'],
  [reference, 'reference'],
] as const)
  jsonSchemaNotes.add(schema, { id });

const collection = <T extends z.ZodType>(entity: T) =>
  z.array(entity, { error: 'expected a list' }).optional();

const declarativeShape = z.looseObject({
  _format_version: z.enum(['3.0', '2.1', '1.1'], { error: 'expected "3.0"' }),
  _transform: z.boolean({ error: 'expected true or false' }).optional(),
  services: collection(service),
  routes: collection(route),
  plugins: collection(plugin),
  consumers: collection(consumer),
  upstreams: collection(upstream),
  targets: collection(target),
  certificates: collection(certificate),
  ca_certificates: collection(caCertificate),
  snis: collection(sni),
  vaults: collection(vault),
});

type Entity = Record<string, unknown>;

/** A declarative config after validation: nested entities are in the top-level collections. */
export interface DeclarativeConfig {
  _format_version: string;
  _transform?: boolean;
  services?: Entity[];
  routes?: Entity[];
  plugins?: Entity[];
  consumers?: Entity[];
  upstreams?: Entity[];
  targets?: Entity[];
  certificates?: Entity[];
  ca_certificates?: Entity[];
  snis?: Entity[];
  vaults?: Entity[];
  [key: string]: unknown;
}

/** The zod definition: every rule, every error message, and the flattening. */
const zodSchema: z.ZodType<DeclarativeConfig, unknown> = declarativeShape.transform(
  (input, context) => {
    const config = flatten(input as unknown as DeclarativeConfig);
    for (const problem of checkReferences(config)) {
      context.issues.push({ code: 'custom', message: problem.message, input, path: problem.path });
    }
    return config;
  },
) as unknown as z.ZodType<DeclarativeConfig, unknown>;

/** Kong's declarative config schema: validates, flattens, and explains what is wrong. */
export interface DeclarativeConfigSchema extends ConfigSchema<DeclarativeConfig> {
  /** The zod definition, to compose with your own zod schemas. */
  readonly zod: z.ZodType<DeclarativeConfig, unknown>;
}

/**
 * The ajv validator compiled from the zod definition's JSON Schema (`undefined` until first
 * use, `null` if it could not be compiled). It only ever answers "valid" for configs the zod
 * definition accepts too — the refinements carry their JSON Schema in `jsonSchemaNotes`, and
 * each string format uses zod's own check — and runs five to ten times faster, so a valid
 * config (nearly every config a DP receives) skips zod. Anything it rejects goes to zod,
 * which decides and explains.
 */
let compiled: ValidateFunction | null | undefined;

/** Compiles the fast validator; `null` when it cannot be (then zod validates everything). */
export function compileDeclarativeValidator(): ValidateFunction | null {
  try {
    const ajv = new Ajv({
      strict: true,
      strictRequired: false,
      allowUnionTypes: true,
      inlineRefs: false,
      unicodeRegExp: false, // patterns run as zod runs them: without the u flag
    });
    ajv.addFormat('uuid', { validate: (value: string) => id.safeParse(value).success });
    ajv.addFormat('uri', { validate: (value: string) => serviceUrl.safeParse(value).success });
    return ajv.compile(
      z.toJSONSchema(declarativeShape, {
        io: 'input',
        target: 'draft-07',
        metadata: jsonSchemaNotes,
        reused: 'ref',
      }),
    );
  } catch {
    return null; // zod alone still validates everything
  }
}

/**
 * Kong's declarative config schema. Its output is the flattened config: every nested entity
 * moved to its top-level collection (after the top-level ones) with a reference to its parent
 * by id, or by name when the parent has no id. The input is never changed: entities that need
 * no change are shared with it, the rest are copies.
 *
 * @example
 * ```ts
 * import { declarativeConfigSchema } from '@planesync/core';
 * const result = declarativeConfigSchema.safeParse({
 *   _format_version: '3.0',
 *   services: [{ name: 'echo', host: 'echo.internal', routes: [{ paths: ['/echo'] }] }],
 * });
 * // result.data.routes: [{ paths: ['/echo'], service: 'echo' }]
 * ```
 */
export const declarativeConfigSchema: DeclarativeConfigSchema = {
  zod: zodSchema,
  safeParse(value: unknown) {
    compiled ??= compileDeclarativeValidator();
    if (compiled?.(value)) {
      const config = flatten(value as DeclarativeConfig);
      if (checkReferences(config).length === 0) return { success: true, data: config };
    }
    const result = zodSchema.safeParse(value);
    return result.success
      ? { success: true, data: result.data }
      : { success: false, error: { issues: result.error.issues } };
  },
};

/** Where each child collection nests, and how its entities name their parent. */
const NESTING: Array<{ parent: string; child: string; field: string }> = [
  { parent: 'services', child: 'routes', field: 'service' },
  { parent: 'services', child: 'plugins', field: 'service' },
  { parent: 'routes', child: 'plugins', field: 'route' },
  { parent: 'consumers', child: 'plugins', field: 'consumer' },
  { parent: 'upstreams', child: 'targets', field: 'upstream' },
  { parent: 'certificates', child: 'snis', field: 'certificate' },
];

/** Copy on write: the input itself when nothing changes, else copies of what changed. */
function flatten(input: DeclarativeConfig): DeclarativeConfig {
  let config = input;
  const writable = () => {
    if (config === input) config = { ...input };
    return config;
  };
  if (input.services?.some((service) => typeof service.url === 'string'))
    writable().services = input.services.map(expandUrl);
  // Order matters: routes nested in services may carry plugins of their own.
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
  return config;
}

/** Kong's `url` shorthand on a service becomes `protocol`, `host`, `port` and `path`. */
function expandUrl(service: Entity): Entity {
  if (typeof service.url !== 'string') return service;
  const { url, ...rest } = service;
  const parsed = new URL(url);
  const protocol = parsed.protocol.slice(0, -1);
  const defaultPort = protocol === 'https' || protocol === 'wss' || protocol === 'grpcs' ? 443 : 80;
  const expanded: Entity = {
    ...rest,
    protocol,
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: parsed.port === '' ? defaultPort : Number(parsed.port),
  };
  // `http://host:8080` has no path; `http://host:8080/` and `http://host/api` have one.
  const afterAuthority = url.replace(/^[a-z][a-z\d+.-]*:\/\/[^/?#]*/i, '');
  if (afterAuthority.startsWith('/')) expanded.path = parsed.pathname;
  return expanded;
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

function contentId(collectionName: string, entity: Entity): string {
  // Kong's config hash of the entity: the same fields give the same id in any key order.
  const hex = createHash('sha1')
    .update(`${collectionName}\0${hashConfig(entity).config_hash}`)
    .digest('hex');
  // Shaped as a version-5 UUID (name-based, SHA-1).
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${((Number.parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

interface ReferenceProblem {
  path: Array<string | number>;
  message: string;
}

/** Which collection each reference field points into, and by which keys it may name it. */
const REFERENCES: Array<{ from: string; field: string; to: string; keys: string[] }> = [
  { from: 'routes', field: 'service', to: 'services', keys: ['id', 'name'] },
  { from: 'plugins', field: 'service', to: 'services', keys: ['id', 'name'] },
  { from: 'plugins', field: 'route', to: 'routes', keys: ['id', 'name'] },
  { from: 'plugins', field: 'consumer', to: 'consumers', keys: ['id', 'username', 'custom_id'] },
  { from: 'targets', field: 'upstream', to: 'upstreams', keys: ['id', 'name'] },
  { from: 'snis', field: 'certificate', to: 'certificates', keys: ['id'] },
];

/** Names that must be unique within their collection, as Kong's schema requires. */
const UNIQUE: Array<{ collection: string; key: string }> = [
  { collection: 'services', key: 'id' },
  { collection: 'services', key: 'name' },
  { collection: 'routes', key: 'id' },
  { collection: 'routes', key: 'name' },
  { collection: 'consumers', key: 'username' },
  { collection: 'upstreams', key: 'name' },
  { collection: 'snis', key: 'name' },
  { collection: 'vaults', key: 'prefix' },
];

function checkReferences(config: DeclarativeConfig): ReferenceProblem[] {
  const problems: ReferenceProblem[] = [];
  const collection = (name: string) => (config[name] as Entity[] | undefined) ?? [];
  for (const { collection: name, key } of UNIQUE) {
    const seen = new Map<unknown, number>();
    const entities = collection(name);
    for (let index = 0; index < entities.length; index++) {
      const value = entities[index]![key];
      if (value === undefined) continue;
      const first = seen.get(value);
      if (first === undefined) seen.set(value, index);
      else
        problems.push({
          path: [name, index, key],
          message: `${key} ${JSON.stringify(value)} is already used by ${name}[${first}]`,
        });
    }
  }
  const indexes = new Map<string, Set<unknown>>();
  for (const { from, field, to, keys } of REFERENCES) {
    const entities = collection(from);
    if (entities.length === 0) continue;
    let known = indexes.get(`${to}:${keys.join()}`);
    if (!known) {
      known = new Set<unknown>();
      for (const entity of collection(to)) {
        for (const key of keys) if (entity[key] !== undefined) known.add(entity[key]);
      }
      indexes.set(`${to}:${keys.join()}`, known);
    }
    for (let index = 0; index < entities.length; index++) {
      const ref = entities[index]![field];
      if (ref === undefined || ref === null) continue;
      const named = typeof ref === 'string' ? ref : ((ref as Entity).id ?? (ref as Entity).name);
      if (!known.has(named)) {
        problems.push({
          path: [from, index, field],
          message: `references ${to.replace(/s$/, '')} ${JSON.stringify(named)}, which does not exist`,
        });
      }
    }
  }
  return problems;
}
