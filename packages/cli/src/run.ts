import { readFileSync } from 'node:fs';

/** Where the command writes; tests pass buffers. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
}

const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

const USAGE = `Usage: planesync <command> [options]

Commands:
  help               show this help
  version            print the planesync version

Options:
  -h, --help         show this help
  -v, --version      print the version

The cert and cache commands arrive with the trust and storage-lmdb work.
`;

/**
 * Runs the `planesync` command with `argv` (without `node` and the script) and resolves with
 * the exit code.
 *
 * @example
 * ```ts
 * import { run } from '@planesync/cli';
 * const code = await run(['--version']); // prints 0.1.0, resolves 0
 * ```
 */
export async function run(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '-h' || command === '--help') {
    io.stdout(USAGE);
    return 0;
  }
  if (command === 'version' || command === '-v' || command === '--version') {
    if (rest.length > 0) return usageError(io, `version takes no arguments, got ${rest.join(' ')}`);
    io.stdout(`${packageVersion()}\n`);
    return 0;
  }
  return usageError(io, `unknown command: ${command}`);
}

function usageError(io: CliIo, message: string): number {
  io.stderr(`planesync: ${message}\n\n${USAGE}`);
  return 2;
}

function packageVersion(): string {
  const url = new URL('../package.json', import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
}
