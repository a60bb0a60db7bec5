// Makes a fresh clone ready on a machine with only Node 20 and npm: installs pnpm 10.34.9
// when it is missing, then the workspace's dependencies exactly as the lockfile pins them.
// Safe to run again: both steps are quick no-ops when done.
import { execFileSync, spawnSync } from 'node:child_process';

const PNPM_VERSION = '10.34.9';

function has(command, args) {
  const result = spawnSync(command, args, { stdio: 'ignore', shell: process.platform === 'win32' });
  return result.status === 0;
}

export function bootstrap() {
  if (!has('pnpm', ['--version'])) {
    console.log(`bootstrap: installing pnpm ${PNPM_VERSION} with npm`);
    execFileSync('npm', ['install', '--global', `pnpm@${PNPM_VERSION}`], { stdio: 'inherit' });
  }
  execFileSync('pnpm', ['install', '--frozen-lockfile'], { stdio: 'inherit' });
}

if (import.meta.url === `file://${process.argv[1]}`) bootstrap();
