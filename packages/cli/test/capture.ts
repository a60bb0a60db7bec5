import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { type CliIo, run } from '../src/index.ts';
import { readStream } from '../src/io.ts';

/**
 * An io that records what the command printed, running in `cwd` at time `now`, with `stdin`
 * as its standard input (none when not given).
 */
export function capture(cwd = process.cwd(), now = Date.now(), stdin?: string | Uint8Array) {
  const out = { stdout: '', stderr: '' };
  const io: CliIo = {
    ...(stdin === undefined
      ? {}
      : {
          stdin: (maxBytes: number) =>
            readStream([typeof stdin === 'string' ? Buffer.from(stdin) : stdin], maxBytes),
        }),
    stdout: (text) => {
      out.stdout += text;
    },
    stderr: (text) => {
      out.stderr += text;
    },
    cwd,
    now: () => now,
  };
  return { out, io };
}

/**
 * A fresh temporary directory for each test, and `cli(...argv)` running the command in it.
 * Call at the top of a test file.
 */
export function cliInTempDir(prefix: string) {
  const state = { dir: '' };
  beforeEach(async () => {
    state.dir = await mkdtemp(join(tmpdir(), prefix));
  });
  afterEach(async () => {
    await rm(state.dir, { recursive: true, force: true });
  });
  /** `cli` at time `now`: certificate validity and expiry follow it. */
  const cliAt = async (now: number, ...argv: string[]) => {
    const { out, io } = capture(state.dir, now);
    const code = await run(argv, io);
    return { code, ...out };
  };
  return {
    get dir() {
      return state.dir;
    },
    cli: (...argv: string[]) => cliAt(Date.now(), ...argv),
    cliAt,
  };
}
