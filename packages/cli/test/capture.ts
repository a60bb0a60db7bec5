import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { type CliIo, run } from '../src/index.ts';

/** An io that records what the command printed, running in `cwd` at time `now`. */
export function capture(cwd = process.cwd(), now = Date.now()) {
  const out = { stdout: '', stderr: '' };
  const io: CliIo = {
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
  return {
    get dir() {
      return state.dir;
    },
    async cli(...argv: string[]) {
      const { out, io } = capture(state.dir);
      const code = await run(argv, io);
      return { code, ...out };
    },
  };
}
