import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { ConfigInvalidError, type ConfigProblem, throwIfAborted } from '../errors.ts';
import type { AbortOptions } from '../transport/contract.ts';
import { type DeclarativeConfig, declarativeConfigSchema } from './declarative-schema.ts';
import { type ConfigSchema, validateConfig } from './validate.ts';

/** Options of {@link parseDeclarativeConfig} and {@link loadDeclarativeConfig}. */
export interface ParseConfigOptions<T> {
  /** Validates (and may transform) the parsed value; default `declarativeConfigSchema`. */
  schema?: ConfigSchema<T>;
}

/**
 * Parses a declarative config from YAML or JSON text (or takes an already-parsed object) and
 * validates it. Every failure — syntax, schema, dangling reference — is a `ConfigInvalidError`
 * (`CONFIG_INVALID`) listing each problem with its path, never a raw YAML or zod exception.
 *
 * @example
 * ```ts
 * import { parseDeclarativeConfig } from '@planesync/core';
 * const config = parseDeclarativeConfig(`
 * _format_version: "3.0"
 * services:
 *   - name: echo
 *     url: http://127.0.0.1:8080
 *     routes:
 *       - paths: [/echo]
 * `);
 * config.routes?.[0]?.service; // 'echo'
 * ```
 */
export function parseDeclarativeConfig(input: string | Uint8Array | object): DeclarativeConfig;
export function parseDeclarativeConfig<T>(
  input: string | Uint8Array | object,
  options: ParseConfigOptions<T>,
): T;
export function parseDeclarativeConfig<T>(
  input: string | Uint8Array | object,
  options: ParseConfigOptions<T> = {},
): T | DeclarativeConfig {
  const value = typeof input === 'string' || input instanceof Uint8Array ? parseText(input) : input;
  const schema = (options.schema ?? declarativeConfigSchema) as ConfigSchema<T | DeclarativeConfig>;
  return validateConfig(value, schema);
}

/**
 * Reads a declarative config file (YAML or JSON) and parses it like
 * {@link parseDeclarativeConfig}. A file that cannot be read is `CONFIG_INVALID` too, naming
 * the path.
 *
 * @example
 * ```ts
 * import { loadDeclarativeConfig } from '@planesync/core';
 * const config = await loadDeclarativeConfig('./kong.yml');
 * ```
 */
export async function loadDeclarativeConfig(
  path: string,
  options?: AbortOptions,
): Promise<DeclarativeConfig>;
export async function loadDeclarativeConfig<T>(
  path: string,
  options: AbortOptions & ParseConfigOptions<T>,
): Promise<T>;
export async function loadDeclarativeConfig<T>(
  path: string,
  options: AbortOptions & ParseConfigOptions<T> = {},
): Promise<T | DeclarativeConfig> {
  throwIfAborted(options.signal);
  let text: Buffer;
  try {
    text = await readFile(path, options.signal ? { signal: options.signal } : {});
  } catch (error) {
    throwIfAborted(options.signal);
    throw new ConfigInvalidError(
      [{ path, message: `cannot read the file: ${(error as Error).message}` }],
      {
        cause: error,
      },
    );
  }
  return parseDeclarativeConfig(text, options);
}

function parseText(input: string | Uint8Array): unknown {
  const text = typeof input === 'string' ? input : Buffer.from(input).toString('utf8');
  const start = text.trimStart()[0];
  return start === '{' || start === '[' ? parseJson(text) : parseYaml(text);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    const message = (error as Error).message;
    // V8 names the position for some errors only; the YAML parser (JSON is YAML) finds it then.
    const offset = Number(
      /position (\d+)/.exec(message)?.[1] ?? parseDocument(text).errors[0]?.pos[0],
    );
    const where = Number.isFinite(offset) ? location(text, offset) : '(root)';
    throw new ConfigInvalidError([{ path: where, message: `invalid JSON: ${message}` }], {
      cause: error,
    });
  }
}

function parseYaml(text: string): unknown {
  const document = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  if (document.errors.length > 0) {
    const problems: ConfigProblem[] = document.errors.map((error) => ({
      path: location(text, error.pos[0]),
      message: `invalid YAML: ${error.message.split('\n')[0]}`,
    }));
    throw new ConfigInvalidError(problems, { cause: document.errors[0] });
  }
  try {
    // A bounded alias count stops a "billion laughs" document from expanding without limit.
    return document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new ConfigInvalidError(
      [{ path: '(root)', message: `invalid YAML: ${(error as Error).message}` }],
      {
        cause: error,
      },
    );
  }
}

function location(text: string, offset: number): string {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return `(line ${line}, column ${offset - lineStart + 1})`;
}
