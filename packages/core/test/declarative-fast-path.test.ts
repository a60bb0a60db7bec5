import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileDeclarativeValidator } from '../src/config/declarative-fast-path.ts';
import { declarativeConfigSchema } from '../src/index.ts';

/** CI runs 10 000 configs; `pnpm soak` sets PLANESYNC_FUZZ_RUNS higher. */
const RUNS = Math.min(Number(process.env.PLANESYNC_FUZZ_RUNS ?? 10_000), 100_000);

const UUID = '5b6f9c5e-3c5a-4d0e-9d51-3f1f0c3a2b1e';
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----';

/** Values that are right for some field and wrong for most others. */
const tricky = fc.constantFrom<unknown>(
  '',
  'a',
  'svc-1',
  'two words',
  '/p',
  '//p',
  '~/re',
  'GET',
  'get',
  'http://h:8080/p',
  'https://[::1]',
  'not a url',
  'h:80',
  'h:99999',
  'a..b',
  '10.0.0.1',
  '10.0.0.0/8',
  '::1',
  '[::1]:8080',
  '*.example.com',
  'env-1',
  '{vault://env/cert}',
  UUID,
  'round-robin',
  'consistent-hashing',
  'v1',
  PEM,
  0,
  -1,
  64,
  65,
  80,
  1.5,
  65_536,
  426,
  1_700_000_000,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  true,
  null,
  undefined,
  [],
  ['a'],
  [''],
  [null],
  ['GET'],
  ['/p'],
  ['*.example.com'],
  [UUID],
  [{}],
  [{ ip: '10.0.0.1' }],
  [{ port: 80, extra: 1 }],
  {},
  { id: UUID },
  { name: 'a' },
  { 'x-h': ['v'] },
  { Host: ['v'] },
  { active: { type: 'tcp', healthy: { successes: 3 } } },
  { passive: { unhealthy: { timeouts: 300 } } },
  { active: { https_verify_certificate: null } },
  { threshold: 50, extra: true },
);

/** A valid entity of each collection, to mutate; nulls where Kong's export writes them. */
const TEMPLATES: Record<string, Record<string, unknown>> = {
  services: {
    name: 'a',
    host: 'a.internal',
    port: 80,
    protocol: 'https',
    tags: ['t'],
    path: null,
    client_certificate: null,
    tls_verify: true,
    tls_verify_depth: null,
    ca_certificates: [UUID],
    created_at: 1_700_000_000,
  },
  routes: {
    name: 'r',
    paths: ['/a'],
    methods: ['GET'],
    hosts: null,
    headers: null,
    service: 'a',
    strip_path: true,
    request_buffering: true,
    snis: null,
    sources: null,
  },
  plugins: {
    name: 'rate-limiting',
    config: { minute: 5 },
    enabled: true,
    protocols: ['http'],
    instance_name: null,
    consumer: null,
  },
  consumers: { username: 'alice', custom_id: 'c-1', tags: null },
  upstreams: {
    name: 'up',
    algorithm: 'round-robin',
    slots: 100,
    hash_on: 'none',
    healthchecks: { active: { http_path: '/', healthy: { interval: 0 } }, threshold: 0 },
    host_header: null,
  },
  targets: { target: 'h:80', weight: 100, upstream: 'up' },
  certificates: { id: UUID, cert: PEM, key: PEM, cert_alt: null, key_alt: null },
  ca_certificates: { cert: PEM, cert_digest: null },
  snis: { name: 'example.com', certificate: { id: UUID } },
  vaults: { prefix: 'env-1', name: 'env', description: null },
};
/** The field by which a nested entity's parent is implied, and which it must leave out. */
const PARENT_FIELDS = ['service', 'route', 'consumer', 'upstream', 'certificate'];
const FIELDS = [
  ...new Set(Object.values(TEMPLATES).flatMap((t) => Object.keys(t))),
  'id',
  'url',
  'hosts',
  'headers',
  'snis',
  'sources',
  'path',
  'retries',
  'routes',
  'https_redirect_status_code',
  'expression',
  'priority',
  'tls_verify_depth',
  'healthchecks',
  'host_header',
  'hash_on_cookie_path',
  'cert_alt',
  'key_alt',
  'updated_at',
  '_comment',
  // Fields no entity has: Kong's "unknown field".
  'extra',
  'prot',
  'hots',
];

/** Fields of each entity beyond its template's, to mutate. */
const MORE_FIELDS: Record<string, string[]> = {
  services: ['url', 'retries', 'connect_timeout', 'enabled', 'routes', 'plugins'],
  routes: [
    'paths',
    'destinations',
    'protocols',
    'https_redirect_status_code',
    'expression',
    'priority',
    'path_handling',
    'plugins',
  ],
  plugins: ['route', 'service', 'tags'],
  consumers: ['plugins'],
  upstreams: ['hash_fallback', 'hash_on_cookie_path', 'client_certificate', 'targets'],
  targets: [],
  certificates: ['snis', 'tags'],
  ca_certificates: [],
  snis: [],
  vaults: ['config'],
};

/** The collections Kong nests under each entity. */
const CHILDREN: Record<string, string[]> = {
  services: ['routes', 'plugins'],
  routes: ['plugins'],
  consumers: ['plugins'],
  upstreams: ['targets'],
  certificates: ['snis'],
};

/** Fields whose value must be unique in a collection: the n-th copy of a template gets its own. */
const UNIQUE_FIELDS = ['name', 'username', 'custom_id', 'prefix'];
function uniquely(list: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  return list.map((entity, n) => {
    if (n === 0) return entity;
    const copy = { ...entity };
    for (const field of UNIQUE_FIELDS)
      if (typeof copy[field] === 'string') copy[field] = `${copy[field]}-${n}`;
    if (copy.id === UUID) copy.id = `${UUID.slice(0, -1)}${n}`;
    return copy;
  });
}

/** A template with up to three fields set to tricky values or removed, and maybe children. */
function entity(
  collection: string,
  depth: number,
  nested = false,
): fc.Arbitrary<Record<string, unknown>> {
  // Mostly the entity's own fields; identity fields get extra weight (an owner without id or
  // name takes a content id); any field at all, Kong's "unknown field" for most entities.
  const own = [...Object.keys(TEMPLATES[collection]!), ...(MORE_FIELDS[collection] ?? [])];
  const field = fc.oneof(
    { arbitrary: fc.constantFrom(...own), weight: 6 },
    { arbitrary: fc.constantFrom('name', 'id', 'username'), weight: 1 },
    { arbitrary: fc.constantFrom(...FIELDS), weight: 1 },
  );
  const mutations = fc.array(fc.tuple(field, fc.oneof(tricky, fc.constant('<delete>'))), {
    maxLength: 3,
  });
  const kinds = CHILDREN[collection] ?? [];
  const children =
    depth > 0 && kinds.length > 0
      ? fc.option(
          fc
            .constantFrom(...kinds)
            .chain((child) =>
              fc.tuple(
                fc.constant(child),
                fc.array(entity(child, depth - 1, true), { maxLength: 2 }).map(uniquely),
              ),
            ),
          { nil: undefined },
        )
      : fc.constant(undefined);
  return fc.tuple(mutations, children).map(([changes, nestedChildren]) => {
    const result: Record<string, unknown> = { ...TEMPLATES[collection] };
    if (nested) for (const parent of PARENT_FIELDS) delete result[parent];
    for (const [field, value] of changes) {
      if (value === '<delete>') delete result[field];
      else result[field] = value;
    }
    if (nestedChildren) result[nestedChildren[0]] = nestedChildren[1];
    return result;
  });
}

const config = fc
  .tuple(
    fc.constantFrom<unknown>('3.0', '3.0', '3.0', '2.1', '1.1', '4.0', 3),
    fc.subarray(Object.keys(TEMPLATES)),
    fc.constantFrom<Record<string, unknown>>(
      {},
      {},
      { _transform: null, _comment: 'exported' },
      { _ignore: [1] },
      { _comment: 5 },
      { workspaces: [{ name: 'default' }] },
    ),
  )
  .chain(([version, collections, extra]) =>
    fc
      .tuple(
        ...collections.map((c) =>
          fc.oneof(
            { arbitrary: fc.array(entity(c, 2), { maxLength: 3 }).map(uniquely), weight: 9 },
            { arbitrary: fc.constant(null), weight: 1 },
          ),
        ),
      )
      .map((lists) => ({
        _format_version: version,
        ...extra,
        ...Object.fromEntries(collections.map((c, i) => [c, lists[i]])),
      })),
  );

describe('the compiled fast path of the declarative schema', () => {
  it('compiles (otherwise zod validates everything, five to ten times slower)', () => {
    expect(compileDeclarativeValidator()).toBeTypeOf('function');
  });

  it(
    'accepts exactly what the zod definition accepts, with the same output, never changing its input',
    () => {
      let accepted = 0;
      fc.assert(
        fc.property(config, (input) => {
          const before = structuredClone(input);
          const fast = declarativeConfigSchema.safeParse(input);
          expect(input).toEqual(before);
          const reference = declarativeConfigSchema.zod.safeParse(structuredClone(input));
          expect(fast.success).toBe(reference.success);
          if (fast.success && reference.success) {
            accepted++;
            expect(fast.data).toEqual(reference.data);
          }
        }),
        { numRuns: RUNS },
      );
      // The generator must exercise both answers, or the comparison proves little.
      expect(accepted).toBeGreaterThan(RUNS / 20);
      expect(accepted).toBeLessThan(RUNS - RUNS / 20);
      // Most configs are invalid and go through zod twice: ~1.5 ms each on a busy 2-core machine.
    },
    Math.max(60_000, RUNS * 6),
  );
});
