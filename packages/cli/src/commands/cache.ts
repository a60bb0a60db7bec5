import { resolve } from 'node:path';
import {
  type ConfigStore,
  DECLARATIVE_ENTITY_TYPES,
  fileStore,
  PlanesyncError,
  StoreDecryptFailedError,
  type StoredSnapshot,
  StoreLockedError,
} from '@planesync/core';
import { toStoredRecord } from '@planesync/core/storage';
import { lmdbStore } from '@planesync/storage-lmdb';
import { CliError, type CliIo, UsageError } from '../io.ts';
import { parseOptions } from '../options.ts';
import { readImport } from './cache-import.ts';
import {
  type CacheKind,
  type CacheLocation,
  cachePath,
  locateForImport,
  locateForReading,
} from './cache-location.ts';

export const CACHE_USAGE = `Usage: planesync cache <command> PATH [options]

The DP's config cache: <prefix>/dbless.lmdb (LMDB), or <prefix>/config.json.gz. PATH is the
prefix (Kong's prefix, e.g. /usr/local/kong) or the dbless.lmdb directory itself.

Commands:
  inspect PATH            version, hash, source, save time and entity counts
  export PATH             the cached snapshot as JSON on stdout
  import PATH FILE        seed a cache from an export (or a declarative YAML/JSON config),
                          e.g. to start a disconnected DP with another DP's config; FILE is
                          validated as a DP validates a config. A new prefix is created.

inspect and export only read: they create nothing and take no lock, so they work on the
cache of a running DP. import refuses while a DP is using the cache.

Options:
  --format lmdb|file      which cache to use (default: the one that exists; lmdb for a new one)
  --encryption-key KEY    the key of an encrypted dbless.lmdb: 64 hex digits (32 bytes), or
                          base64, as the DP's lmdbStore({ encryptionKey }) takes it
  --force                 import: replace the config a cache already holds
`;

/** `planesync cache ...`; resolves with the exit code. */
export async function cacheCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) throw new UsageError(`cache needs a command\n\n${CACHE_USAGE}`);
  if (command === 'help' || argv.includes('--help') || argv.includes('-h')) {
    io.stdout(CACHE_USAGE);
    return 0;
  }
  if (!['inspect', 'export', 'import'].includes(command))
    throw new UsageError(`unknown cache command: ${command}\n\n${CACHE_USAGE}`);
  let options: ReturnType<typeof checkOptions>;
  try {
    options = checkOptions(command, rest);
  } catch (error) {
    if (error instanceof UsageError) throw new UsageError(`${error.message}\n\n${CACHE_USAGE}`);
    throw error;
  }
  const { path, file, format, encryptionKey, force } = options;
  const absolute = resolve(io.cwd, path);
  const location =
    command === 'import'
      ? locateForImport(absolute, path, format)
      : locateForReading(absolute, path, format);
  if (location.kind === 'file' && encryptionKey !== undefined)
    throw new UsageError(
      `--encryption-key applies to a dbless.lmdb cache; ${path} holds a config.json.gz, which is never encrypted`,
    );
  if (command === 'import') return importInto(location, file!, { encryptionKey, force }, io);
  const store = openStore(location, encryptionKey);
  try {
    const snapshot = await readable(location, encryptionKey, () => store.load());
    if (!snapshot) throw new CliError(`no cached config in ${cachePath(location)}`);
    if (command === 'export') {
      io.stdout(`${JSON.stringify(toStoredRecord(snapshot), null, 2)}\n`);
      return 0;
    }
    const nodeId = await readable(location, encryptionKey, () => store.loadNodeId());
    io.stdout(describe(location, snapshot, nodeId));
    return 0;
  } finally {
    await store.close?.();
  }
}

function checkOptions(command: string, argv: readonly string[]) {
  const { positionals, values } = parseOptions(argv, {
    format: { type: 'string' },
    'encryption-key': { type: 'string' },
    force: { type: 'boolean' },
  });
  const expected = command === 'import' ? 2 : 1;
  if (positionals.length !== expected)
    throw new UsageError(`cache ${command} takes ${expected === 2 ? 'PATH FILE' : 'PATH'}`);
  const format = values.format;
  if (format !== undefined && format !== 'lmdb' && format !== 'file')
    throw new UsageError(`--format must be lmdb or file, got ${format}`);
  const encryptionKey = values['encryption-key'];
  if (encryptionKey !== undefined) {
    // As lmdbStore takes it: hex, or the same 32 bytes in base64. The key itself is never echoed.
    if (!/^[0-9a-f]{64}$/i.test(encryptionKey) && !/^[A-Za-z0-9+/_-]{43}=?$/.test(encryptionKey))
      throw new UsageError(
        `--encryption-key must be 64 hex digits (32 bytes), or those 32 bytes in base64; got ${encryptionKey.length} characters`,
      );
    if (format === 'file')
      throw new UsageError('--encryption-key applies to a dbless.lmdb cache, not --format file');
  }
  if (values.force && command !== 'import')
    throw new UsageError(`--force applies to cache import only`);
  return {
    path: positionals[0]!,
    file: positionals[1],
    format: format as CacheKind | undefined,
    encryptionKey,
    force: values.force === true,
  };
}

function openStore(location: CacheLocation, encryptionKey: string | undefined): ConfigStore {
  return location.kind === 'lmdb'
    ? lmdbStore({ prefix: location.prefix, ...(encryptionKey ? { encryptionKey } : {}) })
    : fileStore({ prefix: location.prefix });
}

async function importInto(
  location: CacheLocation,
  file: string,
  options: { encryptionKey: string | undefined; force: boolean },
  io: CliIo,
): Promise<number> {
  const store = openStore(location, options.encryptionKey);
  try {
    const where = cachePath(location);
    let existing: StoredSnapshot | undefined;
    let unreadable: PlanesyncError | undefined;
    try {
      existing = await store.load();
    } catch (error) {
      if (!(error instanceof PlanesyncError)) throw error;
      unreadable = error;
    }
    if (!options.force && existing)
      throw new CliError(
        `${where} already holds a config (version ${existing.version}, ${existing.hash}); --force replaces it`,
      );
    if (!options.force && unreadable) {
      const why =
        unreadable instanceof StoreDecryptFailedError
          ? decryptFailure(location, options.encryptionKey, unreadable)
          : unreadable.message;
      throw new CliError(
        `${where} already holds a cache that cannot be read (${why}); --force replaces it`,
      );
    }
    const imported = await readImport(file, io);
    try {
      await store.save(imported.snapshot);
    } catch (error) {
      if (error instanceof StoreLockedError)
        throw new CliError(
          `a data plane (pid ${error.pid}) is using this cache (lock ${error.lockFile}); stop it first`,
        );
      throw error;
    }
    io.stdout(`imported ${imported.described} into ${where}\n`);
    return 0;
  } finally {
    await store.close?.();
  }
}

/** Runs a read, turning a decryption failure into words about --encryption-key. */
async function readable<T>(
  location: CacheLocation,
  encryptionKey: string | undefined,
  read: () => Promise<T>,
): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (!(error instanceof StoreDecryptFailedError)) throw error;
    throw new CliError(decryptFailure(location, encryptionKey, error));
  }
}

function decryptFailure(
  location: CacheLocation,
  encryptionKey: string | undefined,
  error: StoreDecryptFailedError,
): string {
  const where = cachePath(location);
  if (encryptionKey === undefined)
    return `${where} is encrypted: give its key with --encryption-key`;
  if (error.message.includes('is not encrypted'))
    return `${where} is not encrypted: leave out --encryption-key`;
  return `${where} cannot be decrypted with the --encryption-key given`;
}

function describe(
  location: CacheLocation,
  snapshot: StoredSnapshot,
  nodeId: string | undefined,
): string {
  const config = snapshot.config as Record<string, unknown> | null;
  const counts = DECLARATIVE_ENTITY_TYPES.filter((k) => Array.isArray(config?.[k])).map(
    (k) => `${k} ${(config![k] as unknown[]).length}`,
  );
  return [
    `cache:     ${cachePath(location)}`,
    `version:   ${snapshot.version}`,
    `hash:      ${snapshot.hash}`,
    `source:    ${snapshot.source}`,
    `saved at:  ${new Date(snapshot.savedAt).toISOString()}`,
    `entities:  ${counts.length > 0 ? counts.join(', ') : '(none)'}`,
    `node id:   ${nodeId ?? '(none)'}`,
    '',
  ].join('\n');
}
