import type { CliIo } from '../src/index.ts';

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
