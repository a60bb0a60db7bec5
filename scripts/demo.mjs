// The demo command (`npm run demo`): makes a fresh clone ready, then runs the narrated demo —
// a PKI, a Control Plane, two gateway Data Planes over wss and tcp, a config change, a third
// gateway speaking Kong's sync v1 to the same CP, a CP outage, a gateway restarted from its
// dbless.lmdb cache, the CP's return and its analytics.
import { spawnSync } from 'node:child_process';
import { bootstrap } from './bootstrap.mjs';

if (process.env.PLANESYNC_SKIP_BOOTSTRAP !== '1') bootstrap();
const demo = spawnSync(
  process.execPath,
  [
    '--conditions=@planesync/source',
    '--import',
    'tsx',
    'examples/demo/demo.ts',
    ...process.argv.slice(2),
  ],
  {
    stdio: 'inherit',
  },
);
process.exit(demo.status ?? 1);
