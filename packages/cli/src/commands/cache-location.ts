import { lstatSync, type Stats, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { readFailure } from '../files.ts';
import { CliError, UsageError } from '../io.ts';

/** Which store a cache is: `<prefix>/dbless.lmdb` or `<prefix>/config.json.gz`. */
export type CacheKind = 'lmdb' | 'file';

/** Where a cache is: its prefix and which store; `shown` is the path as the user typed it. */
export interface CacheLocation {
  prefix: string;
  kind: CacheKind;
  shown: string;
}

const LMDB_DIR = 'dbless.lmdb';
const FILE_CACHE = 'config.json.gz';
const EXPECTED = `a DP prefix (a directory holding ${LMDB_DIR} or ${FILE_CACHE}) or its ${LMDB_DIR} directory`;

/**
 * Finds the cache to read at `path`: a prefix holding `dbless.lmdb` or `config.json.gz`, or
 * the `dbless.lmdb` directory itself. Looks, never creates: a path that does not exist, or
 * holds neither, is a {@link CliError} saying what was expected.
 */
export function locateForReading(
  path: string,
  shown: string,
  format: CacheKind | undefined,
): CacheLocation {
  const stats = look(path, shown);
  if (!stats) throw new CliError(`${shown} does not exist`);
  if (!stats.isDirectory()) throw new CliError(`${shown} is not a directory: expected ${EXPECTED}`);
  if (isLmdbDirectory(path, shown)) {
    if (format === 'file')
      throw new UsageError(`--format file, but ${shown} is a ${LMDB_DIR} directory`);
    checkLmdbDirectory(join(dirname(path), LMDB_DIR), 'read');
    return { prefix: dirname(path), kind: 'lmdb', shown };
  }
  const hasLmdb = look(join(path, LMDB_DIR), shown) !== undefined;
  const hasFile = look(join(path, FILE_CACHE), shown) !== undefined;
  const kind = format ?? (hasLmdb ? 'lmdb' : hasFile ? 'file' : undefined);
  if (kind === undefined)
    throw new CliError(`${shown} holds no planesync cache: expected ${EXPECTED}`);
  if (kind === 'lmdb' && !hasLmdb) throw new CliError(`${shown} holds no ${LMDB_DIR}`);
  if (kind === 'file' && !hasFile) throw new CliError(`${shown} holds no ${FILE_CACHE}`);
  if (kind === 'lmdb') checkLmdbDirectory(join(path, LMDB_DIR), 'read');
  return { prefix: path, kind, shown };
}

/**
 * Finds where to import at `path`: a prefix (created when missing) or a `dbless.lmdb`
 * directory. Default kind: the cache already there, else lmdb.
 */
export function locateForImport(
  path: string,
  shown: string,
  format: CacheKind | undefined,
): CacheLocation {
  const stats = look(path, shown);
  if (stats && !stats.isDirectory())
    throw new CliError(`${shown} is not a directory: expected ${EXPECTED}`);
  if (!stats) checkCreatable(path, shown);
  if (stats ? isLmdbDirectory(path, shown) : basename(path) === LMDB_DIR) {
    if (format === 'file')
      throw new UsageError(`--format file, but ${shown} is a ${LMDB_DIR} directory`);
    checkLmdbDirectory(join(dirname(path), LMDB_DIR), 'write');
    return { prefix: dirname(path), kind: 'lmdb', shown };
  }
  const hasLmdb = stats !== undefined && look(join(path, LMDB_DIR), shown) !== undefined;
  const hasFile = stats !== undefined && look(join(path, FILE_CACHE), shown) !== undefined;
  const kind = format ?? (hasLmdb || !hasFile ? 'lmdb' : 'file');
  if (kind === 'lmdb') checkLmdbDirectory(join(path, LMDB_DIR), 'write');
  return { prefix: path, kind, shown };
}

/** The cache file or directory of a location, for messages. */
export function cachePath(location: CacheLocation): string {
  return join(location.prefix, location.kind === 'lmdb' ? LMDB_DIR : FILE_CACHE);
}

/**
 * A `dbless.lmdb` directory. The store always opens `<prefix>/dbless.lmdb`, so an LMDB
 * environment under another name cannot be read as one: refused, not guessed at.
 */
function isLmdbDirectory(path: string, shown: string): boolean {
  if (basename(path) === LMDB_DIR) return true;
  if (look(join(path, 'data.mdb'), shown) !== undefined)
    throw new CliError(
      `${shown} holds an LMDB data.mdb but is not named ${LMDB_DIR}: expected ${EXPECTED}`,
    );
  return false;
}

/**
 * lmdbStore refuses a linked `dbless.lmdb`, and cannot open one that is a file: say so before
 * it does, in words.
 */
function checkLmdbDirectory(lmdbDir: string, purpose: 'read' | 'write'): void {
  let stats: Stats;
  try {
    stats = lstatSync(lmdbDir);
  } catch {
    return; // missing: nothing to refuse
  }
  if (stats.isSymbolicLink())
    throw new CliError(
      purpose === 'read'
        ? `${lmdbDir} is a symbolic link; planesync does not follow links in a cache`
        : `${lmdbDir} is a symbolic link; planesync does not write through links in a cache: replace the link with a directory`,
    );
  if (!stats.isDirectory())
    throw new CliError(`${lmdbDir} is not a directory; an LMDB cache is a directory`);
}

/** A new prefix is created with its parents: the nearest existing one must be a directory. */
function checkCreatable(path: string, shown: string): void {
  for (let parent = dirname(path); parent !== dirname(parent); parent = dirname(parent)) {
    const stats = look(parent, parent);
    if (!stats) continue;
    if (!stats.isDirectory())
      throw new CliError(`cannot create ${shown}: ${parent} is not a directory`);
    return;
  }
}

/** The path's stats (following a link given as the path itself), or undefined when absent. */
function look(path: string, shown: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      // A dangling link still is something: lstat tells.
      try {
        return lstatSync(path);
      } catch {
        return undefined;
      }
    }
    throw new CliError(`cannot look at ${shown}: ${readFailure(error)}`);
  }
}
