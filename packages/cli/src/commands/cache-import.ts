import {
  ConfigInvalidError,
  type ConfigSnapshot,
  DEFAULT_CONFIG_LIMITS,
  declarativeConfigSchema,
  hashConfig,
  parseDeclarativeConfig,
  StoreCorruptError,
  validateConfig,
} from '@planesync/core';
import { checkEntityCount, fromStoredRecord } from '@planesync/core/storage';
import { readInput } from '../files.ts';
import { CliError, type CliIo } from '../io.ts';

/** The largest file `cache import` reads: fileStore's default `maxConfigBytes`. */
export const MAX_IMPORT_BYTES = 256 * 1024 * 1024;

const EXPORT_FORMAT = 'planesync-config/1';
/** Problems listed in the message; `planesync config validate` lists them all. */
const MAX_LISTED = 20;

/** What an import would save, and what to say about it. */
export interface ImportedConfig {
  snapshot: ConfigSnapshot;
  described: string;
}

/**
 * Reads FILE and checks it as a DP checks a config before applying it: an export
 * (`format: planesync-config/1`) must hash to the hash it claims, stay within the nesting
 * and entity limits, and pass the declarative schema; a declarative YAML or JSON file is
 * parsed and validated. The snapshot holds what a DP would have applied: the validated
 * config, with the per-entity hashes computed here, never the file's. Throws
 * `CONFIG_INVALID`, `STORE_CORRUPT` (a damaged export) or a {@link CliError}; nothing is
 * written.
 */
export async function readImport(file: string, io: CliIo): Promise<ImportedConfig> {
  try {
    return await check(file, io);
  } catch (error) {
    if (!(error instanceof ConfigInvalidError)) throw error;
    const lines = error.problems.slice(0, MAX_LISTED).map((p) => `  ${p.path}: ${p.message}`);
    const more = error.problems.length - lines.length;
    if (more > 0) lines.push(`  … and ${more} more`);
    throw new CliError(
      `${file} is not a valid config (CONFIG_INVALID); nothing was imported:\n${lines.join('\n')}`,
    );
  }
}

async function check(file: string, io: CliIo): Promise<ImportedConfig> {
  const bytes = await readInput(file, io, { maxBytes: MAX_IMPORT_BYTES });
  const text = bytes.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined; // YAML, or broken JSON: the declarative parser says which
  }
  const format = (parsed as { format?: unknown } | null | undefined)?.format;
  if (typeof format === 'string' && format.startsWith('planesync-config/')) {
    if (format !== EXPORT_FORMAT)
      throw new CliError(
        `${file} is a planesync export of format ${format}; this planesync reads ${EXPORT_FORMAT}`,
      );
    return fromExport(parsed, file);
  }
  return fromDeclarative(parsed ?? text, io);
}

function fromExport(record: unknown, file: string): ImportedConfig {
  const exported = fromStoredRecord(record, file);
  const { config } = exported;
  let hashes = exported.hashes;
  if (isObject(config)) {
    // The hash walk bounds the nesting depth before anything else walks the config.
    const computed = hashConfig(config, { maxDepth: DEFAULT_CONFIG_LIMITS.maxDepth });
    if (computed.config_hash !== exported.hash)
      throw new StoreCorruptError(
        `${file}: its config hashes to ${computed.config_hash}, not the ${exported.hash} it claims`,
      );
    checkEntityCount(config, DEFAULT_CONFIG_LIMITS.maxEntities);
    hashes = computed.hashes;
  }
  // A config that is not an object is refused here, with the schema's words.
  const valid = validateConfig(config, declarativeConfigSchema);
  return {
    snapshot: {
      version: exported.version,
      hash: exported.hash,
      hashes,
      source: exported.source,
      config: valid,
      appliedAt: exported.appliedAt,
    },
    described: `version ${exported.version} (${exported.hash})`,
  };
}

function fromDeclarative(input: unknown, io: CliIo): ImportedConfig {
  if (isObject(input)) {
    hashConfig(input, { maxDepth: DEFAULT_CONFIG_LIMITS.maxDepth });
    checkEntityCount(input, DEFAULT_CONFIG_LIMITS.maxEntities);
  }
  const config = parseDeclarativeConfig(input as string | object);
  const { config_hash, hashes } = hashConfig(config, {
    maxDepth: DEFAULT_CONFIG_LIMITS.maxDepth,
  });
  checkEntityCount(config, DEFAULT_CONFIG_LIMITS.maxEntities);
  return {
    snapshot: {
      version: 0,
      hash: config_hash,
      hashes,
      source: 'manual',
      config,
      appliedAt: io.now(),
    },
    described: `a declarative config (${config_hash})`,
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
