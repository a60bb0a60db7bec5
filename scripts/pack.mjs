// `npm run pack [-- --out <dir>]`: the packages as npm would publish them. Makes the clone
// ready (pnpm, dependencies, a fresh build), then `pnpm pack`s every package into .packs/
// (or <dir>): pnpm writes real versions for `workspace:^` and drops the source-only exports.
// Install them into an application with one `npm install <dir>/*.tgz`.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bootstrap, ensureBuilt } from './bootstrap.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Packs every package into `dest` (emptied first) and returns the tarballs' paths. */
export function packAll(dest) {
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(dest, { recursive: true });
  for (const name of readdirSync(join(root, 'packages'))) {
    execFileSync('pnpm', ['pack', '--pack-destination', dest], {
      cwd: join(root, 'packages', name),
      stdio: 'ignore',
    });
  }
  return readdirSync(dest)
    .filter((file) => file.endsWith('.tgz'))
    .map((file) => join(dest, file));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const at = process.argv.indexOf('--out');
  const dest = resolve(at === -1 ? join(root, '.packs') : process.argv[at + 1]);
  if (process.env.PLANESYNC_SKIP_BOOTSTRAP === '1') ensureBuilt();
  else bootstrap();
  const tarballs = packAll(dest);
  for (const tarball of tarballs) console.log(tarball);
  console.log(`\nIn your application: npm install ${join(dest, '*.tgz')}`);
}
