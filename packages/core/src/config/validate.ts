import { ConfigInvalidError, type ConfigProblem } from '../errors.ts';

/** One problem a schema found: where (`['services', 2, 'port']`) and what. zod's issues are these. */
export interface ConfigIssue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/**
 * What validates a config: any zod schema, or anything with zod's `safeParse` shape — the
 * declarative schema by default, a host's own schema when it brings one. Returning the input
 * object itself as `data` means "unchanged" (a DP then caches the bytes it received); a schema
 * that changes the config returns a new object, as zod does.
 */
export interface ConfigSchema<T = unknown> {
  safeParse(
    value: unknown,
  ): { success: true; data: T } | { success: false; error: { issues: readonly ConfigIssue[] } };
}

/**
 * Validates `value` with `schema` and returns its output; throws `CONFIG_INVALID` listing every
 * problem with its path (`services[2].port: expected integer 0..65535`).
 *
 * @example
 * ```ts
 * import { declarativeConfigSchema, validateConfig } from '@planesync/core';
 * const config = validateConfig({ _format_version: '3.0' }, declarativeConfigSchema);
 * ```
 */
export function validateConfig<T>(value: unknown, schema: ConfigSchema<T>): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new ConfigInvalidError(result.error.issues.map(toProblem), { cause: result.error });
}

function toProblem(issue: ConfigIssue): ConfigProblem {
  return { path: formatPath(issue.path), message: issue.message };
}

/** `['services', 2, 'port']` → `services[2].port`; `[]` → `(root)`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else if (typeof segment === 'string' && /^[A-Za-z_$][\w$]*$/.test(segment))
      text += text ? `.${segment}` : segment;
    else text += `[${JSON.stringify(String(segment))}]`;
  }
  return text || '(root)';
}
