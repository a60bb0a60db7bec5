import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileDeclarativeValidator } from '../src/config/declarative-schema.ts';
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
  '~/re',
  'GET',
  'get',
  'http://h:8080/p',
  'https://[::1]',
  'not a url',
  'h:80',
  '[::1]:8080',
  UUID,
  'round-robin',
  'v1',
  PEM,
  0,
  -1,
  80,
  1.5,
  65_536,
  426,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  true,
  null,
  undefined,
  [],
  ['a'],
  [''],
  ['GET'],
  ['/p'],
  [{}],
  {},
  { id: UUID },
  { name: 'a' },
  { 'x-h': ['v'] },
);

/** A valid entity of each collection, to mutate. */
const TEMPLATES: Record<string, Record<string, unknown>> = {
  services: { name: 'a', host: 'a.internal', port: 80, protocol: 'http', tags: ['t'] },
  routes: { name: 'r', paths: ['/a'], methods: ['GET'], service: 'a', strip_path: true },
  plugins: { name: 'rate-limiting', config: { minute: 5 }, enabled: true, protocols: ['http'] },
  consumers: { username: 'alice', custom_id: 'c-1' },
  upstreams: { name: 'up', algorithm: 'round-robin', slots: 100 },
  targets: { target: 'h:80', weight: 100, upstream: 'up' },
  certificates: { id: UUID, cert: PEM, key: PEM },
  ca_certificates: { cert: PEM },
  snis: { name: 'example.com', certificate: { id: UUID } },
  vaults: { prefix: 'env', name: 'env' },
};
const FIELDS = [
  ...new Set(Object.values(TEMPLATES).flatMap((t) => Object.keys(t))),
  'id',
  'url',
  'hosts',
  'headers',
  'snis',
  'path',
  'retries',
  'routes',
  'https_redirect_status_code',
  'extra',
];

/** A template with up to three fields set to tricky values or removed, and maybe children. */
function entity(collection: string, depth: number): fc.Arbitrary<Record<string, unknown>> {
  // Identity fields get extra weight: an owner without id or name takes a content id.
  const field = fc.oneof(
    { arbitrary: fc.constantFrom(...FIELDS), weight: 3 },
    { arbitrary: fc.constantFrom('name', 'id', 'username'), weight: 1 },
  );
  const mutations = fc.array(fc.tuple(field, fc.oneof(tricky, fc.constant('<delete>'))), {
    maxLength: 3,
  });
  const children =
    depth > 0 &&
    ['services', 'routes', 'consumers', 'upstreams', 'certificates'].includes(collection)
      ? fc.option(
          fc
            .constantFrom('routes', 'plugins', 'targets', 'snis')
            .chain((child) =>
              fc.tuple(fc.constant(child), fc.array(entity(child, depth - 1), { maxLength: 2 })),
            ),
          { nil: undefined },
        )
      : fc.constant(undefined);
  return fc.tuple(mutations, children).map(([changes, nested]) => {
    const result: Record<string, unknown> = { ...TEMPLATES[collection] };
    for (const [field, value] of changes) {
      if (value === '<delete>') delete result[field];
      else result[field] = value;
    }
    if (nested) result[nested[0]] = nested[1];
    return result;
  });
}

const config = fc
  .tuple(
    fc.constantFrom<unknown>('3.0', '3.0', '2.1', '4.0', 3),
    fc.subarray(Object.keys(TEMPLATES)),
    fc.integer({ min: 0, max: 2 ** 31 }),
  )
  .chain(([version, collections]) =>
    fc.tuple(...collections.map((c) => fc.array(entity(c, 2), { maxLength: 3 }))).map((lists) => ({
      _format_version: version,
      ...Object.fromEntries(collections.map((c, i) => [c, lists[i]])),
    })),
  );

describe('the compiled fast path of the declarative schema', () => {
  it('compiles (otherwise zod validates everything, five to ten times slower)', () => {
    expect(compileDeclarativeValidator()).toBeTypeOf('function');
  });

  it('accepts exactly what the zod definition accepts, with the same output, never changing its input', () => {
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
  });
});
