/** Where a command writes and what it runs in; tests pass their own. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** The directory relative paths resolve against. */
  cwd: string;
  /** Now, in ms since the epoch (for days-to-expiry). */
  now(): number;
}

export const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  cwd: process.cwd(),
  now: () => Date.now(),
};

/** A mistake in how the command was called: exit code 2, with the command's usage. */
export class UsageError extends Error {}
