import { z } from 'zod';
import {
  type AddProblem,
  anyInteger,
  bool,
  cookieName,
  decimal,
  defaulted,
  expected,
  headerName,
  headers,
  headersOf,
  host,
  hostName,
  hostWithOptionalPort,
  httpMethod,
  integer,
  ipOrCidr,
  META_FIELDS,
  mustBeNull,
  nullable,
  path,
  pem,
  pemOrReference,
  port,
  protocol,
  record,
  reference,
  routeHost,
  routerPath,
  serviceUrl,
  tags,
  text,
  timestamp,
  timestampMs,
  utf8Name,
  uuid,
  wildcardHost,
} from './declarative-fields.ts';

/**
 * The entities planesync validates, field by field as Kong 3.10 defines them
 * (`kong/db/schema/entities/*.lua`), without Kong's defaults: a config is validated, never
 * filled in, because a DP hashes what it receives. Each entity comes in two forms where Kong
 * nests it: at the top level its foreign fields name other entities; nested under its parent
 * they must be absent or `null` (the parent is implied).
 *
 * @module
 */

const list = <T extends z.ZodType>(entity: T) => z.array(entity, { error: expected('a list') });

/** Collections Kong nests under an entity that planesync passes through unvalidated. */
const passThrough = (...names: string[]) =>
  Object.fromEntries(names.map((name) => [name, nullable(z.array(z.unknown()))]));

/** Where the compiled validator reads a non-empty value for one of `keys` (an anyOf). */
function oneOfPresent(keys: readonly string[], schemaOf: (key: string) => object) {
  return { anyOf: keys.map((key) => ({ required: [key], properties: { [key]: schemaOf(key) } })) };
}

const present = (value: unknown) =>
  value !== undefined &&
  value !== null &&
  (typeof value !== 'object' || Object.keys(value).length > 0) &&
  value !== '';

// --- plugins ---------------------------------------------------------------------------------

function pluginShape(nested: boolean) {
  const foreign = nested ? mustBeNull.optional() : nullable(reference);
  return {
    id: uuid.optional(),
    created_at: nullable(timestamp),
    updated_at: nullable(timestamp),
    name: z.string({ error: expected('the plugin name') }).min(1, {
      error: 'expected the plugin name',
    }),
    instance_name: nullable(utf8Name),
    route: foreign,
    service: foreign,
    consumer: foreign,
    config: nullable(z.record(z.string(), z.unknown(), { error: expected('an object') })),
    protocols: defaulted(z.array(protocol, { error: expected('a list of protocols') })),
    enabled: defaulted(bool),
    tags: nullable(tags),
    ...META_FIELDS,
  };
}
const plugin = record(pluginShape(false), { notes: { id: 'plugin' } });
const nestedPlugin = record(pluginShape(true), { notes: { id: 'nested_plugin' } });

// --- routes ----------------------------------------------------------------------------------

const endpoint = record(
  { ip: nullable(ipOrCidr), port: nullable(port) },
  {
    check(value, problem) {
      if (!present(value.ip) && !present(value.port)) problem([], 'expected an ip or a port');
    },
    notes: oneOfPresent(['ip', 'port'], (key) =>
      key === 'ip' ? { type: 'string' } : { type: 'integer' },
    ),
  },
);

/** Route fields that make it match something; a route needs at least one. */
const MATCHERS = [
  'methods',
  'hosts',
  'paths',
  'headers',
  'snis',
  'sources',
  'destinations',
  'expression',
] as const;

/** A route matches the `Host` header with `hosts`, not with `headers`. */
const routeHeaders = headersOf(
  /^(?![Hh][Oo][Ss][Tt]$)[A-Za-z0-9_-]+$/,
  "expected a header name of A-Z, a-z, 0-9, _ and - other than 'host' (match it with 'hosts')",
);

function routeShape(nested: boolean) {
  return {
    id: uuid.optional(),
    created_at: nullable(timestamp),
    updated_at: nullable(timestamp),
    name: nullable(utf8Name),
    protocols: defaulted(
      z
        .array(protocol, { error: expected('a list of protocols') })
        .min(1, { error: 'expected at least one protocol' }),
    ),
    https_redirect_status_code: defaulted(
      z.union([z.literal(426), z.literal(301), z.literal(302), z.literal(307), z.literal(308)], {
        error: expected('one of 426, 301, 302, 307, 308'),
      }),
    ),
    strip_path: defaulted(bool),
    preserve_host: defaulted(bool),
    request_buffering: defaulted(bool),
    response_buffering: defaulted(bool),
    tags: nullable(tags),
    service: nested ? mustBeNull.optional() : nullable(reference),
    snis: nullable(z.array(wildcardHost, { error: expected('a list of server names') })),
    sources: nullable(list(endpoint)),
    destinations: nullable(list(endpoint)),
    methods: nullable(z.array(httpMethod, { error: expected('a list of HTTP methods') })),
    hosts: nullable(z.array(routeHost, { error: expected('a list of hosts') })),
    paths: nullable(z.array(routerPath, { error: expected('a list of paths') })),
    headers: nullable(routeHeaders),
    regex_priority: nullable(anyInteger),
    path_handling: nullable(z.enum(['v0', 'v1'], { error: expected('v0 or v1') })),
    // The `expressions` router's fields; a DP's router flavour is not known here.
    expression: nullable(text),
    priority: defaulted(integer(0, 2 ** 46 - 1)),
    plugins: nullable(list(nestedPlugin)),
    ...passThrough('filter_chains'),
    ...META_FIELDS,
  };
}

function routeChecks(value: Record<string, unknown>, problem: AddProblem) {
  if (!MATCHERS.some((key) => present(value[key])))
    problem([], `a route needs at least one of ${MATCHERS.join(', ')}`);
}

const routeNotes = oneOfPresent(MATCHERS, (key) =>
  key === 'headers'
    ? { type: 'object', minProperties: 1 }
    : key === 'expression'
      ? { type: 'string', minLength: 1 }
      : { type: 'array', minItems: 1 },
);
const route = record(routeShape(false), {
  check: routeChecks,
  notes: { id: 'route', ...routeNotes },
});
const nestedRoute = record(routeShape(true), {
  check: routeChecks,
  notes: { id: 'nested_route', ...routeNotes },
});

// --- services --------------------------------------------------------------------------------

const timeout = integer(1, 2 ** 31 - 2);

const service = record(
  {
    id: uuid.optional(),
    created_at: nullable(timestamp),
    updated_at: nullable(timestamp),
    name: nullable(utf8Name),
    retries: nullable(integer(0, 32767)),
    protocol: defaulted(protocol),
    host: host.optional(),
    port: defaulted(port),
    path: nullable(path),
    connect_timeout: nullable(timeout),
    write_timeout: nullable(timeout),
    read_timeout: nullable(timeout),
    tags: nullable(tags),
    client_certificate: nullable(reference),
    tls_verify: nullable(bool),
    tls_verify_depth: nullable(integer(0, 64)),
    ca_certificates: nullable(z.array(uuid, { error: expected('a list of CA certificate ids') })),
    enabled: defaulted(bool),
    // Kong's shorthand for protocol, host, port and path.
    url: serviceUrl.optional(),
    routes: nullable(list(nestedRoute)),
    plugins: nullable(list(nestedPlugin)),
    ...passThrough('filter_chains', 'oauth2_tokens', 'oauth2_authorization_codes'),
    ...META_FIELDS,
  },
  {
    check(value, problem) {
      if (value.host === undefined && value.url === undefined)
        problem(['host'], 'a service needs a host (or a url)');
    },
    notes: { id: 'service', anyOf: [{ required: ['host'] }, { required: ['url'] }] },
  },
);

// --- consumers -------------------------------------------------------------------------------

const consumer = record(
  {
    id: uuid.optional(),
    created_at: nullable(timestamp),
    updated_at: nullable(timestamp),
    username: nullable(text),
    custom_id: nullable(text),
    tags: nullable(tags),
    plugins: nullable(list(nestedPlugin)),
    // Credentials of Kong's bundled plugins, nested under their consumer.
    ...passThrough(
      'acls',
      'basicauth_credentials',
      'hmacauth_credentials',
      'jwt_secrets',
      'keyauth_credentials',
      'oauth2_credentials',
    ),
    ...META_FIELDS,
  },
  {
    check(value, problem) {
      if (!present(value.username) && !present(value.custom_id))
        problem([], 'a consumer needs a username or a custom_id');
    },
    notes: {
      id: 'consumer',
      ...oneOfPresent(['username', 'custom_id'], () => ({ type: 'string', minLength: 1 })),
    },
  },
);

// --- upstreams and targets -------------------------------------------------------------------

function targetShape(nested: boolean) {
  return {
    id: uuid.optional(),
    created_at: nullable(timestampMs),
    updated_at: nullable(timestampMs),
    upstream: nested ? mustBeNull.optional() : reference,
    target: hostWithOptionalPort,
    weight: nullable(integer(0, 65535)),
    tags: nullable(tags),
    ...META_FIELDS,
  };
}
const target = record(targetShape(false), { notes: { id: 'target' } });
const nestedTarget = record(targetShape(true), { notes: { id: 'nested_target' } });

const seconds = decimal(0, 65535);
const counter = integer(0, 255);
const statuses = z.array(integer(100, 999), { error: expected('a list of HTTP statuses') });
const checkType = z.enum(['tcp', 'http', 'https', 'grpc', 'grpcs'], {
  error: expected('one of tcp, http, https, grpc, grpcs'),
});

const healthchecks = record({
  active: nullable(
    record({
      type: nullable(checkType),
      timeout: nullable(seconds),
      concurrency: nullable(integer(1, 2 ** 31)),
      http_path: nullable(path),
      https_sni: nullable(hostName),
      https_verify_certificate: defaulted(bool),
      headers: nullable(headers),
      healthy: nullable(
        record({
          interval: nullable(seconds),
          http_statuses: nullable(statuses),
          successes: nullable(counter),
        }),
      ),
      unhealthy: nullable(
        record({
          interval: nullable(seconds),
          http_statuses: nullable(statuses),
          tcp_failures: nullable(counter),
          timeouts: nullable(counter),
          http_failures: nullable(counter),
        }),
      ),
    }),
  ),
  passive: nullable(
    record({
      type: nullable(checkType),
      healthy: nullable(
        record({ http_statuses: nullable(statuses), successes: nullable(counter) }),
      ),
      unhealthy: nullable(
        record({
          http_statuses: nullable(statuses),
          tcp_failures: nullable(counter),
          timeouts: nullable(counter),
          http_failures: nullable(counter),
        }),
      ),
    }),
  ),
  threshold: nullable(decimal(0, 100)),
});

const HASH_ON = ['none', 'consumer', 'ip', 'header', 'cookie', 'path', 'query_arg', 'uri_capture'];
const hashOn = z.enum(HASH_ON, { error: expected(`one of ${HASH_ON.join(', ')}`) });
const ALGORITHMS = [
  'round-robin',
  'consistent-hashing',
  'least-connections',
  'latency',
  // Kong Gateway Enterprise's, accepted as planesync always has.
  'sticky-sessions',
];

const upstream = record(
  {
    id: uuid.optional(),
    created_at: nullable(timestamp),
    updated_at: nullable(timestamp),
    name: hostName,
    algorithm: nullable(z.enum(ALGORITHMS, { error: expected(`one of ${ALGORITHMS.join(', ')}`) })),
    hash_on: nullable(hashOn),
    hash_fallback: nullable(hashOn),
    hash_on_header: nullable(headerName),
    hash_fallback_header: nullable(headerName),
    hash_on_cookie: nullable(cookieName),
    hash_on_cookie_path: nullable(path),
    hash_on_query_arg: nullable(text),
    hash_fallback_query_arg: nullable(text),
    hash_on_uri_capture: nullable(text),
    hash_fallback_uri_capture: nullable(text),
    slots: nullable(integer(10, 65536)),
    healthchecks: nullable(healthchecks),
    tags: nullable(tags),
    host_header: nullable(hostWithOptionalPort),
    client_certificate: nullable(reference),
    use_srv_name: nullable(bool),
    targets: nullable(list(nestedTarget)),
    ...META_FIELDS,
  },
  { notes: { id: 'upstream' } },
);

// --- certificates, SNIs, CA certificates -----------------------------------------------------

function sniShape(nested: boolean) {
  return {
    id: uuid.optional(),
    created_at: nullable(timestamp),
    updated_at: nullable(timestamp),
    name: wildcardHost,
    certificate: nested ? mustBeNull.optional() : reference,
    tags: nullable(tags),
    ...META_FIELDS,
  };
}
const sni = record(sniShape(false), { notes: { id: 'sni' } });
const nestedSni = record(sniShape(true), { notes: { id: 'nested_sni' } });

const hasText = (value: unknown) => typeof value === 'string';

const certificate = record(
  {
    id: uuid.optional(),
    created_at: nullable(timestamp),
    updated_at: nullable(timestamp),
    cert: pemOrReference('certificate'),
    key: pemOrReference('private key'),
    cert_alt: nullable(pemOrReference('certificate')),
    key_alt: nullable(pemOrReference('private key')),
    tags: nullable(tags),
    snis: nullable(
      z.array(
        z.union([wildcardHost, nestedSni], {
          error: expected('a server name or an SNI entity'),
        }),
        { error: expected('a list of server names or SNI entities') },
      ),
    ),
    // Entities whose client_certificate this is, nested under it.
    ...passThrough('services', 'upstreams'),
    ...META_FIELDS,
  },
  {
    check(value, problem) {
      if (hasText(value.cert_alt) && !hasText(value.key_alt))
        problem(['key_alt'], 'cert_alt and key_alt go together');
      if (hasText(value.key_alt) && !hasText(value.cert_alt))
        problem(['cert_alt'], 'cert_alt and key_alt go together');
    },
    notes: {
      id: 'certificate',
      // cert_alt ⇒ key_alt, key_alt ⇒ cert_alt.
      allOf: [
        { anyOf: [{ not: stringField('cert_alt') }, stringField('key_alt')] },
        { anyOf: [{ not: stringField('key_alt') }, stringField('cert_alt')] },
      ],
    },
  },
);

function stringField(key: string) {
  return { required: [key], properties: { [key]: { type: 'string' } } };
}

const caCertificate = record(
  {
    id: uuid.optional(),
    created_at: nullable(timestamp),
    updated_at: nullable(timestamp),
    cert: pem('certificate'),
    cert_digest: nullable(text),
    tags: nullable(tags),
    ...META_FIELDS,
  },
  { notes: { id: 'ca_certificate' } },
);

// --- vaults ----------------------------------------------------------------------------------

const vault = record(
  {
    id: uuid.optional(),
    created_at: nullable(timestamp),
    updated_at: nullable(timestamp),
    prefix: z.string({ error: expected('a vault prefix') }).regex(/^[a-z][a-z\d-]*[a-z\d]$/, {
      error: 'expected a vault prefix of lower-case letters, digits and -',
    }),
    name: z.string({ error: expected('the vault name') }).min(1, {
      error: 'expected the vault name',
    }),
    description: nullable(text),
    config: nullable(z.record(z.string(), z.unknown(), { error: expected('an object') })),
    tags: nullable(tags),
    ...META_FIELDS,
  },
  { notes: { id: 'vault' } },
);

/** The entity collections planesync validates, by top-level key. */
export const ENTITIES = {
  services: service,
  routes: route,
  plugins: plugin,
  consumers: consumer,
  upstreams: upstream,
  targets: target,
  certificates: certificate,
  ca_certificates: caCertificate,
  snis: sni,
  vaults: vault,
} as const;
