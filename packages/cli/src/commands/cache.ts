import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  type ConfigStore,
  FileConfigStore,
  fromStoredRecord,
  hashConfig,
  parseDeclarativeConfig,
  StoreCorruptError,
  toStoredRecord,
} from '@planesync/core';
import { lmdbStore } from '@planesync/storage-lmdb';
import { type CliIo, UsageError } from '../io.ts';

export const CACHE_USAGE = `Usage: planesync cache <command> PREFIX [options]

The DP's config cache: <PREFIX>/dbless.lmdb (LMDB), or <PREFIX>/config.json.gz.

Commands:
  inspect PREFIX          version, hash, source, save time and entity counts
  export PREFIX           the cached snapshot as JSON on stdout
  import PREFIX FILE      seed a cache from an export (or a declarative YAML/JSON config),
                          e.g. to start a disconnected DP with another DP's config

Options:
  --format lmdb|file      which cache to use (default: the one that exists; lmdb for a new one)
  --encryption-key HEX    the 32-byte key of an encrypted dbless.lmdb
`;

const ENTITY_KINDS = [
  'services',
  'routes',
  'plugins',
  'consumers',
  'upstreams',
  'targets',
  'certificates',
  'snis',
];

/** `planesync cache ...`; resolves with the exit code. */
export async function cacheCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  if (
    command === undefined ||
    command === 'help' ||
    argv.includes('--help') ||
    argv.includes('-h')
  ) {
    io.stdout(CACHE_USAGE);
    return 0;
  }
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(rest);
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n\n${CACHE_USAGE}`);
  }
  const { positionals, values } = parsed;
  const expected = command === 'import' ? 2 : 1;
  if (!['inspect', 'export', 'import'].includes(command))
    throw new UsageError(`unknown cache command: ${command}\n\n${CACHE_USAGE}`);
  if (positionals.length !== expected) {
    throw new UsageError(
      `cache ${command} takes ${expected === 2 ? 'PREFIX FILE' : 'PREFIX'}\n\n${CACHE_USAGE}`,
    );
  }
  const prefix = resolve(io.cwd, positionals[0]!);
  const { store, kind } = openStore(prefix, values.format, values['encryption-key']);
  try {
    if (command === 'import')
      return await importInto(store, resolve(io.cwd, positionals[1]!), io, kind);
    const snapshot = await store.load();
    if (!snapshot) {
      io.stderr(`planesync: no cached config in ${prefix}\n`);
      return 1;
    }
    if (command === 'export') {
      io.stdout(`${JSON.stringify(toStoredRecord(snapshot), null, 2)}\n`);
      return 0;
    }
    const config = snapshot.config as Record<string, unknown>;
    const counts = ENTITY_KINDS.filter((k) => Array.isArray(config?.[k])).map(
      (k) => `${k} ${(config[k] as unknown[]).length}`,
    );
    io.stdout(
      [
        `cache:     ${kind === 'lmdb' ? join(prefix, 'dbless.lmdb') : join(prefix, 'config.json.gz')}`,
        `version:   ${snapshot.version}`,
        `hash:      ${snapshot.hash}`,
        `source:    ${snapshot.source}`,
        `saved at:  ${new Date(snapshot.savedAt).toISOString()}`,
        `entities:  ${counts.length > 0 ? counts.join(', ') : '(none)'}`,
        `node id:   ${(await store.loadNodeId()) ?? '(none)'}`,
        '',
      ].join('\n'),
    );
    return 0;
  } finally {
    await store.close?.();
  }
}

function parseOptions(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    options: { format: { type: 'string' }, 'encryption-key': { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
}

function openStore(prefix: string, format: string | undefined, encryptionKey: string | undefined) {
  if (format !== undefined && format !== 'lmdb' && format !== 'file') {
    throw new UsageError(`--format must be lmdb or file, got ${format}`);
  }
  const kind =
    (format as 'lmdb' | 'file' | undefined) ??
    (existsSync(join(prefix, 'dbless.lmdb')) || !existsSync(join(prefix, 'config.json.gz'))
      ? 'lmdb'
      : 'file');
  const store: ConfigStore =
    kind === 'lmdb'
      ? lmdbStore({ prefix, ...(encryptionKey ? { encryptionKey } : {}) })
      : new FileConfigStore({ prefix });
  return { store, kind };
}

async function importInto(
  store: ConfigStore,
  file: string,
  io: CliIo,
  kind: string,
): Promise<number> {
  const text = await readFile(file, 'utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if ((parsed as { format?: unknown } | undefined)?.format === 'planesync-config/1') {
    const snapshot = fromStoredRecord(parsed, file);
    const actual = hashConfig(snapshot.config as Record<string, unknown>).config_hash;
    if (actual !== snapshot.hash) {
      throw new StoreCorruptError(
        `${file}: its config hashes to ${actual}, not the ${snapshot.hash} it claims`,
      );
    }
    await store.save(snapshot);
    io.stdout(`imported version ${snapshot.version} (${snapshot.hash}) into the ${kind} cache\n`);
    return 0;
  }
  const config = parseDeclarativeConfig(text);
  const { config_hash, hashes } = hashConfig(config);
  await store.save({
    version: 0,
    hash: config_hash,
    hashes,
    source: 'manual',
    config,
    appliedAt: io.now(),
  });
  io.stdout(`imported a declarative config (${config_hash}) into the ${kind} cache\n`);
  return 0;
}
