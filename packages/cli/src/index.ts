/**
 * `@planesync/cli`: the `planesync` command. `run(argv)` is the whole command as a function,
 * so it is tested without spawning a process.
 *
 * @module
 */

export { type CliIo, run } from './run.ts';
