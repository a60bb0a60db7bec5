// Makes a fresh clone ready on a machine with only Node 20 and npm: installs pnpm 10.34.9
// when it is missing, then the workspace's dependencies exactly as the lockfile pins them,
// then builds the packages when dist/ is missing or older than their sources (so the
// `planesync` command and the packed tarballs are there right after `npm test`).
// Safe to run again: each step is a quick no-op when done.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PNPM_VERSION = '10.34.9';
const root = fileURLToPath(new URL('..', import.meta.url));

function has(command, args) {
  const result = spawnSync(command, args, { stdio: 'ignore', shell: process.platform === 'win32' });
  return result.status === 0;
}

function newest(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newest(join(path, name))));
}

/** The packages whose dist/ is missing or older than their sources or build recipe. */
export function staleBuilds() {
  const packages = join(root, 'packages');
  const recipe = newest(join(root, 'tsup.preset.ts'));
  return readdirSync(packages).filter((name) => {
    const dir = join(packages, name);
    const output = join(dir, 'dist', 'index.js');
    if (!existsSync(output)) return true;
    const inputs = ['src', 'package.json', 'tsup.config.ts'].map((file) => join(dir, file));
    return Math.max(recipe, ...inputs.map(newest)) > statSync(output).mtimeMs;
  });
}

/** Builds every package when any of them is stale; quiet unless the build fails. */
export function ensureBuilt() {
  const stale = staleBuilds();
  if (stale.length === 0) return;
  console.log(`bootstrap: building the packages (${stale.join(', ')} not built or out of date)`);
  const build = spawnSync('pnpm', ['run', 'build'], { cwd: root, encoding: 'utf8' });
  if (build.status !== 0) {
    process.stderr.write(build.stdout + build.stderr);
    throw new Error('bootstrap: `pnpm run build` failed');
  }
}

/**
 * pnpm on the PATH: the one there, else installed globally with npm (as CI does), else — a
 * user who may not write npm's global folder — installed into this clone's `.tools/` and put
 * on the PATH of this process and its children.
 */
export function ensurePnpm() {
  if (has('pnpm', ['--version'])) return;
  const local = join(root, '.tools', 'node_modules', '.bin');
  const onPath = () => {
    process.env.PATH = `${local}${delimiter}${process.env.PATH ?? ''}`;
  };
  if (existsSync(join(local, 'pnpm'))) {
    onPath();
    return;
  }
  console.log(`bootstrap: pnpm is missing; installing pnpm ${PNPM_VERSION} globally with npm`);
  const global = spawnSync('npm', ['install', '--global', `pnpm@${PNPM_VERSION}`], {
    stdio: 'inherit',
    shell: process.platform === 'win32',
  });
  if (global.status === 0 && has('pnpm', ['--version'])) return;
  console.log(
    `bootstrap: cannot install globally (no write access to npm's global folder?); installing pnpm ${PNPM_VERSION} into .tools/ of this clone instead`,
  );
  execFileSync('npm', ['install', '--prefix', join(root, '.tools'), `pnpm@${PNPM_VERSION}`], {
    stdio: 'inherit',
    shell: process.platform === 'win32',
  });
  onPath();
}

export function bootstrap() {
  ensurePnpm();
  execFileSync('pnpm', ['install', '--frozen-lockfile'], { cwd: root, stdio: 'inherit' });
  ensureBuilt();
}

if (import.meta.url === `file://${process.argv[1]}`) bootstrap();
