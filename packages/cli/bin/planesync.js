#!/usr/bin/env node
// The `planesync` command that package.json's "bin" names. This file is committed and
// dist/ is not, so installing the workspace links the command before anything is built;
// it runs the built command, or says how to build it.
import { existsSync } from 'node:fs';

const built = new URL('../dist/bin.js', import.meta.url);
if (!existsSync(built)) {
  process.stderr.write(
    'planesync: the command is not built yet (packages/cli/dist/bin.js is missing): ' +
      'run `pnpm run build` in the planesync checkout (`npm test` and `npm run demo` build it)\n',
  );
  process.exit(1);
}
await import(built.href);
