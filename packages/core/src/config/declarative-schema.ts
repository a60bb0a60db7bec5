import type { z } from 'zod';
import { declarativeDocument } from './declarative-document.ts';
import { DeclarativeFastPath } from './declarative-fast-path.ts';
import { flatten } from './declarative-flatten.ts';
import { relationProblems } from './declarative-references.ts';
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
 * This file puts the parts together: the document's shape (`declarative-document.ts`), the
 * checks across entities (`declarative-references.ts`), the flattening
 * (`declarative-flatten.ts`) and the compiled fast path (`declarative-fast-path.ts`).
 *
 * @module
 */

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
const zodSchema: z.ZodType<DeclarativeConfig, unknown> = declarativeDocument
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
  /**
   * Whether the compiled fast path validates (`true`), or zod alone, five to ten times slower
   * (`false`: the validator could not be compiled, and a `PLANESYNC_SLOW_VALIDATION` process
   * warning said why, once). The answers are the same either way. Reading it compiles the
   * validator when no config has been validated yet.
   */
  readonly fastPath: boolean;
}

/** The declarative schema over a given fast path; `declarativeConfigSchema` is the one users get. */
export function createDeclarativeConfigSchema(
  fastPath: DeclarativeFastPath,
): DeclarativeConfigSchema {
  return {
    zod: zodSchema,
    get fastPath() {
      return fastPath.enabled;
    },
    safeParse(value: unknown) {
      if (fastPath.accepts(value) && relationProblems(value).length === 0)
        return { success: true, data: flatten(value as DeclarativeConfig) };
      const result = zodSchema.safeParse(value);
      return result.success
        ? { success: true, data: result.data }
        : { success: false, error: { issues: result.error.issues } };
    },
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
 * declarativeConfigSchema.fastPath; // true: the compiled validator runs
 * ```
 */
export const declarativeConfigSchema: DeclarativeConfigSchema = createDeclarativeConfigSchema(
  new DeclarativeFastPath(),
);
