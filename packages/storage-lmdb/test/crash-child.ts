// Saves ever-changing large configs into one lmdb store as fast as it can, until killed.
// The parent kills it with SIGKILL at random moments and checks what survives.
import { hashConfig } from '@planesync/core';
import { lmdbStore } from '../src/index.ts';

const prefix = process.argv[2]!;
const store = lmdbStore({ prefix, mapSize: 1024 * 1024 });
let n = Number(process.argv[3] ?? 0);
process.stdout.write('ready\n');
for (;;) {
  n++;
  const config = {
    _format_version: '3.0',
    generation: n,
    services: Array.from({ length: 2_000 }, (_, i) => ({
      name: `s-${n}-${i}`,
      host: `h${i}.internal`,
      port: 1 + ((n + i) % 65_000),
    })),
  };
  const { config_hash, hashes } = hashConfig(config);
  await store.save({
    version: n,
    hash: config_hash,
    hashes,
    source: 'control-plane',
    config,
    appliedAt: n,
  });
}
