/** Where a command writes and what it runs in; tests pass their own. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** The directory relative paths resolve against. */
  cwd: string;
  /** Now, in ms since the epoch (for days-to-expiry and certificate validity). */
  now(): number;
  /**
   * The whole of standard input, for a FILE given as `-`. Without it, `-` is refused.
   * At most `maxBytes` are read; more is an error.
   */
  stdin?(maxBytes: number): Promise<Uint8Array>;
}

export const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  cwd: process.cwd(),
  now: () => Date.now(),
  stdin: (maxBytes) => readStream(process.stdin, maxBytes),
};

/** Reads a stream to its end, refusing more than `maxBytes`. */
export async function readStream(
  stream: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
  maxBytes: number,
): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk);
    total += bytes.byteLength;
    if (total > maxBytes) throw new CliError(`standard input holds more than ${maxBytes} bytes`);
    chunks.push(bytes);
  }
  return Buffer.concat(chunks);
}

/** A mistake in how the command was called: exit code 2, with the command's usage. */
export class UsageError extends Error {}

/** The command was called rightly but cannot do what was asked: exit code 1, this message. */
export class CliError extends Error {}
