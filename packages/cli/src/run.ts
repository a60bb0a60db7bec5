import { readFileSync } from 'node:fs';
import { PlanesyncError } from '@planesync/core';
import { cacheCommand } from './commands/cache.ts';
import { certCommand } from './commands/cert.ts';
import { configCommand } from './commands/config.ts';
import { readFailure } from './files.ts';
import { CliError, type CliIo, processIo, UsageError } from './io.ts';

export type { CliIo } from './io.ts';

const USAGE = `Usage: planesync <command> [options]

Commands:
  cert gen|ca|issue|inspect   certificates for pinned (shared) and PKI modes
  cache inspect|export|import the DP config cache (dbless.lmdb or config.json.gz)
  config validate FILE        check a declarative config (YAML or JSON); every problem with
                              its line and column
  help                        show this help
  version                     print the planesync version

Options:
  -h, --help         show this help (also after any command)
  -v, --version      print the version

Exit codes: 0 done, 1 failed (or a certificate expires within 30 days), 2 called wrongly.
`;

/**
 * Runs the `planesync` command with `argv` (without `node` and the script) and resolves with
 * the exit code: 0 done, 1 failed (or a certificate about to expire), 2 called wrongly (no
 * command at all, too: the usage goes to stderr).
 *
 * @example
 * ```ts
 * import { run } from '@planesync/cli';
 * const code = await run(['cert', 'gen', '--days', '365']); // writes cluster.crt, cluster.key
 * ```
 */
export async function run(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined) throw new UsageError(`a command is needed\n\n${USAGE}`);
    if (command === 'help' || command === '-h' || command === '--help') {
      io.stdout(USAGE);
      return 0;
    }
    if (command === 'version' || command === '-v' || command === '--version') {
      if (rest.length > 0)
        throw new UsageError(`version takes no arguments, got ${rest.join(' ')}`);
      io.stdout(`${packageVersion()}\n`);
      return 0;
    }
    if (command === 'cert') return await certCommand(rest, io);
    if (command === 'cache') return await cacheCommand(rest, io);
    if (command === 'config') return await configCommand(rest, io);
    throw new UsageError(`unknown command: ${command}\n\n${USAGE}`);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`planesync: ${error.message}\n`);
      return 2;
    }
    io.stderr(`planesync: ${describe(error)}\n`);
    return 1;
  }
}

/** A failure in words: a planesync error with its code, a file error without `ENOENT`. */
function describe(error: unknown): string {
  if (error instanceof CliError) return error.message;
  if (error instanceof PlanesyncError) return `${error.message} [${error.code}]`;
  const { path, syscall } = error as NodeJS.ErrnoException;
  if (path !== undefined)
    return `cannot ${syscall === 'open' || syscall === 'read' ? 'read' : 'use'} ${path}: ${readFailure(error)}`;
  return (error as Error)?.message ?? String(error);
}

function packageVersion(): string {
  const url = new URL('../package.json', import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
}
