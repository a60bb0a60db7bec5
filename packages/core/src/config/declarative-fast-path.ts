import { Ajv, type ValidateFunction } from 'ajv';
import { z } from 'zod';
import { declarativeDocument } from './declarative-document.ts';
import { FORMATS, jsonSchemaNotes, serviceUrl } from './declarative-fields.ts';

/**
 * The compiled fast path of the declarative schema: ajv compiles the zod definition's JSON
 * Schema into a validator that only ever answers "valid" for configs the zod definition
 * accepts too — the refinements and unknown-field checks carry their JSON Schema in
 * `jsonSchemaNotes`, and each string format runs the zod rule's own predicate — and runs five
 * to ten times faster, so a valid config (nearly every config a DP receives) skips zod.
 * Anything it rejects goes to zod, which decides and explains.
 *
 * When it cannot be compiled (ajv generates code: Node's
 * `--disallow-code-generation-from-strings` forbids that) zod validates everything, with the
 * same answers, and the process is told once: a warning with the code
 * {@link SLOW_VALIDATION_WARNING}.
 *
 * @module
 */

/** The `code` of the process warning emitted once when the compiled fast path is off. */
export const SLOW_VALIDATION_WARNING = 'PLANESYNC_SLOW_VALIDATION';

/** A compiled validator: `true` for a config the zod definition accepts, `false` to ask zod. */
export type FastValidator = (value: unknown) => boolean;

/** Compiles the fast validator; throws what ajv threw when it cannot. */
export function compileDeclarativeValidator(): FastValidator {
  const ajv = new Ajv({
    strict: true,
    strictRequired: false,
    allowUnionTypes: true,
    inlineRefs: false, // each entity stays its own function: see inlineFields
    unicodeRegExp: false, // patterns run as zod runs them: without the u flag
    logger: false, // a failure is reported once, as SLOW_VALIDATION_WARNING, not as ajv's dump
  });
  // zod writes its UUID check as a pattern beside the format: the pattern decides.
  ajv.addFormat('uuid', { validate: () => true });
  ajv.addFormat('uri', { validate: (value: string) => serviceUrl.safeParse(value).success });
  for (const [name, validate] of Object.entries(FORMATS)) ajv.addFormat(name, { validate });
  const { root, collections } = splitCollections(
    inlineFields(
      z.toJSONSchema(declarativeDocument, {
        io: 'input',
        target: 'draft-07',
        metadata: jsonSchemaNotes,
        reused: 'ref',
      }) as JsonSchema,
    ),
  );
  const document = ajv.compile(root);
  const entities = collections.map(({ key, entity }) => ({ key, validate: ajv.compile(entity) }));
  return (value) => {
    if (!document(value)) return false;
    const config = value as Record<string, unknown>;
    for (const { key, validate } of entities) {
      const list = config[key];
      // Absent or null: the document's own check says which it may be.
      if (!Array.isArray(list)) continue;
      for (let i = 0; i < list.length; i++) if (!validate(list[i], NO_PATHS)) return false;
    }
    return true;
  };
}

/**
 * ajv's context for an entity's call, given once: without one, its defaults are an object made
 * per call. The paths are for errors this path never reports; `rootData` is read only by `$data`
 * and dynamic references, which the declarative schema has none of.
 */
const NO_PATHS: NonNullable<Parameters<ValidateFunction>[1]> = Object.freeze({
  instancePath: '',
  parentData: {},
  parentDataProperty: '',
  rootData: {},
  dynamicAnchors: {},
});

/**
 * The document without its collections' items, and each collection's entity schema as a
 * schema of its own. ajv calls an entity's function from a list with a fresh object of paths
 * (`instancePath: '/services/' + i`, …) for errors this path never reports: ~170 bytes of
 * garbage an entity, which sets off collections that move a freshly parsed config. Called from
 * here, each entity's function gets the entity alone.
 */
function splitCollections(schema: JsonSchema): {
  root: JsonSchema;
  collections: Array<{ key: string; entity: JsonSchema }>;
} {
  const definitions = (schema.definitions ?? {}) as Record<string, JsonSchema>;
  const properties = { ...(schema.properties as Record<string, JsonSchema>) };
  const collections: Array<{ key: string; entity: JsonSchema }> = [];
  for (const [key, property] of Object.entries(properties)) {
    const { items, ...rest } = property;
    const ref = (items as JsonSchema | undefined)?.$ref;
    const name = typeof ref === 'string' ? ref.replace(/^#\/definitions\//, '') : undefined;
    if (name === undefined || Object.keys(items as JsonSchema).length !== 1) continue;
    const entity = definitions[name];
    if (!entity) continue;
    properties[key] = rest;
    collections.push({ key, entity: { ...entity, definitions } });
  }
  return { root: { ...schema, properties }, collections };
}

/**
 * The compiled validator, built on first use. `compile` is the seam a test uses to make the
 * build fail; by default it is {@link compileDeclarativeValidator}.
 */
export class DeclarativeFastPath {
  readonly #compile: () => FastValidator;
  /** `undefined` until first use, `null` if it could not be compiled. */
  #validate: FastValidator | null | undefined;

  constructor(compile: () => FastValidator = compileDeclarativeValidator) {
    this.#compile = compile;
  }

  /** Whether the compiled validator runs; compiles it if nothing has yet. */
  get enabled(): boolean {
    return this.#validator() !== null;
  }

  /**
   * `true` when the compiled validator accepts `value` (the zod definition accepts it too);
   * `false` when it rejects it, or is off: then zod decides.
   */
  accepts(value: unknown): boolean {
    return this.#validator()?.(value) === true;
  }

  #validator(): FastValidator | null {
    if (this.#validate === undefined) {
      try {
        this.#validate = this.#compile();
      } catch (error) {
        this.#validate = null; // zod alone still validates everything
        warnSlowValidation(error);
      }
    }
    return this.#validate;
  }
}

/** Set on `globalThis`, so that an ESM and a CommonJS copy of core in one process warn once. */
const WARNED = Symbol.for('@planesync/core:slow-validation-warned');

/** Tells the process, once, that every config goes through zod alone. */
function warnSlowValidation(error: unknown): void {
  const registry = globalThis as { [WARNED]?: true };
  if (registry[WARNED]) return;
  registry[WARNED] = true;
  const reason = error instanceof Error ? error.message : String(error);
  process.emitWarning(
    `planesync: the declarative schema's compiled validator could not be built (${reason}); ` +
      'every config is validated by zod alone, with the same answers, five to ten times slower',
    {
      code: SLOW_VALIDATION_WARNING,
      detail:
        'ajv compiles the validator with generated code, which --disallow-code-generation-from-strings ' +
        'forbids. declarativeConfigSchema.fastPath says whether it runs; see docs/declarative-config.md.',
    },
  );
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
