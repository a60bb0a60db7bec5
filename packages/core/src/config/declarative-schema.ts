import { Ajv, type ValidateFunction } from 'ajv';
import { z } from 'zod';
import { ENTITIES } from './declarative-entities.ts';
import {
  expected,
  FORMATS,
  jsonSchemaNotes,
  nullable,
  serviceUrl,
  text,
} from './declarative-fields.ts';
import { flatten, relationProblems } from './declarative-references.ts';
import type { ConfigSchema } from './validate.ts';

/**
 * Kong's declarative config (`_format_version: "3.0"`) as a zod schema. Each entity type
 * planesync models (services, routes, plugins, consumers, upstreams, targets, certificates,
 * CA certificates, SNIs, vaults) is checked field by field as Kong 3.10 defines it: a field
 * Kong does not know is an "unknown field", `null` is accepted wherever Kong accepts it, and
 * Kong's defaults are never filled in. Top-level keys of other entity types (workspaces,
 * key_sets, plugin entities such as keyauth_credentials, …) pass through unvalidated. Routes
 * and plugins nested under services (and targets under upstreams, plugins under routes and
 * consumers, SNIs under certificates) are flattened into the top-level collections with a
 * reference to their parent. Duplicate names and references to entities that do not exist
 * are reported with the schema's problems, all in one pass.
 *
 * @module
 */

const collection = <T extends z.ZodType>(entity: T) =>
  nullable(z.array(entity, { error: expected('a list') }));

const declarativeShape = z.looseObject(
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

type Entity = Record<string, unknown>;

/**
 * A declarative config after validation: nested entities are in the top-level collections. A
 * collection may be `null`, as in Kong's own export.
 */
export interface DeclarativeConfig {
  _format_version: string;
  _transform?: boolean | null;
  services?: Entity[] | null;
  routes?: Entity[] | null;
  plugins?: Entity[] | null;
  consumers?: Entity[] | null;
  upstreams?: Entity[] | null;
  targets?: Entity[] | null;
  certificates?: Entity[] | null;
  ca_certificates?: Entity[] | null;
  snis?: Entity[] | null;
  vaults?: Entity[] | null;
  [key: string]: unknown;
}

/** The zod definition: every rule, every error message, and the flattening. */
const zodSchema: z.ZodType<DeclarativeConfig, unknown> = declarativeShape
  .superRefine(
    (input, context) => {
      for (const problem of relationProblems(input))
        context.addIssue({ code: 'custom', message: problem.message, input, path: problem.path });
    },
    // Duplicates and dangling references are reported along with the schema's problems.
    { when: () => true },
  )
  .transform((input) => flatten(input as unknown as DeclarativeConfig)) as unknown as z.ZodType<
  DeclarativeConfig,
  unknown
>;

/** Kong's declarative config schema: validates, flattens, and explains what is wrong. */
export interface DeclarativeConfigSchema extends ConfigSchema<DeclarativeConfig> {
  /**
   * The zod definition (a `z.ZodType<DeclarativeConfig>`), to compose with your own zod
   * schemas: `declarativeConfigSchema.zod as z.ZodType<DeclarativeConfig>`. Typed here by its
   * `safeParse` only, so that planesync's declarations do not pull in zod's (which need
   * `esModuleInterop` in a CommonJS project).
   */
  readonly zod: ConfigSchema<DeclarativeConfig>;
}

/**
 * The ajv validator compiled from the zod definition's JSON Schema (`undefined` until first
 * use, `null` if it could not be compiled). It only ever answers "valid" for configs the zod
 * definition accepts too — the refinements and unknown-field checks carry their JSON Schema in
 * `jsonSchemaNotes`, and each string format runs the zod rule's own predicate — and runs five
 * to ten times faster, so a valid
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
      inlineRefs: false, // each entity stays its own function: see inlineFields
      unicodeRegExp: false, // patterns run as zod runs them: without the u flag
    });
    // zod writes its UUID check as a pattern beside the format: the pattern decides.
    ajv.addFormat('uuid', { validate: () => true });
    ajv.addFormat('uri', { validate: (value: string) => serviceUrl.safeParse(value).success });
    for (const [name, validate] of Object.entries(FORMATS)) ajv.addFormat(name, { validate });
    return ajv.compile(
      inlineFields(
        z.toJSONSchema(declarativeShape, {
          io: 'input',
          target: 'draft-07',
          metadata: jsonSchemaNotes,
          reused: 'ref',
        }) as JsonSchema,
      ),
    );
  } catch {
    return null; // zod alone still validates everything
  }
}

type JsonSchema = { [key: string]: unknown };

const COMPOSED = ['anyOf', 'oneOf', 'allOf', 'not', 'if', '$ref', 'const'];

/**
 * zod writes a nullable field as `anyOf: [schema, { type: 'null' }]`; for a schema with a
 * plain `type` the same is `type: [type, 'null']` (with `null` added to an `enum`), which
 * compiles to less code and runs without the anyOf's bookkeeping.
 */
function withNull(schema: JsonSchema): JsonSchema {
  const branches = schema.anyOf;
  if (Object.keys(schema).length !== 1 || !Array.isArray(branches) || branches.length !== 2)
    return schema;
  const [value, nothing] = branches as [JsonSchema, JsonSchema];
  if (Object.keys(nothing).length !== 1 || nothing.type !== 'null') return schema;
  if (typeof value.type !== 'string' || COMPOSED.some((key) => key in value)) return schema;
  const merged: JsonSchema = { ...value, type: [value.type, 'null'] };
  if (Array.isArray(value.enum)) merged.enum = [...value.enum, null];
  return merged;
}

/**
 * zod's JSON Schema names every reused part (`__schema12`), down to a single string field, and
 * a reference compiles to a function call. This puts the unnamed parts back in place, so that
 * each named definition (an entity, a reference) compiles to one function with its fields
 * checked inline.
 */
function inlineFields(schema: JsonSchema): JsonSchema {
  const definitions = (schema.definitions ?? {}) as Record<string, JsonSchema>;
  const unnamed = (ref: unknown) =>
    typeof ref === 'string' && /^#\/definitions\/__schema\d+$/.test(ref)
      ? ref.slice('#/definitions/'.length)
      : undefined;
  const inline = (node: unknown, depth: number): unknown => {
    if (Array.isArray(node)) return node.map((item) => inline(item, depth));
    if (typeof node !== 'object' || node === null) return node;
    let current = node as JsonSchema;
    // { $ref } of an unnamed part, or { allOf: [one] } alone: the part itself.
    for (;;) {
      const name = unnamed(current.$ref);
      const keys = Object.keys(current);
      if (name !== undefined && keys.length === 1) {
        // Unnamed parts never refer back to themselves; a cycle would be a bug, not a config.
        if (depth > 64) throw new Error('the declarative schema nests too deeply to inline');
        current = definitions[name]!;
      } else if (keys.length === 1 && Array.isArray(current.allOf) && current.allOf.length === 1)
        current = current.allOf[0] as JsonSchema;
      else break;
    }
    const inlined = Object.fromEntries(
      Object.entries(current).map(([key, value]) => [key, inline(value, depth + 1)]),
    );
    return withNull(inlined);
  };
  const named = Object.entries(definitions).filter(([name]) => !name.startsWith('__schema'));
  const { definitions: _, ...root } = schema;
  return {
    ...(inline(root, 0) as JsonSchema),
    definitions: Object.fromEntries(named.map(([name, part]) => [name, inline(part, 0)])),
  };
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
    if (compiled?.(value) && relationProblems(value).length === 0)
      return { success: true, data: flatten(value as DeclarativeConfig) };
    const result = zodSchema.safeParse(value);
    return result.success
      ? { success: true, data: result.data }
      : { success: false, error: { issues: result.error.issues } };
  },
};
