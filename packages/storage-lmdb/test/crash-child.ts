// Saves ever-changing large configs into one lmdb store, one after the other, until killed.
// It says on stdout when each save has begun (`begin N`: the store has the snapshot and is
// writing it) and when it has ended (`end N`), so that the parent can kill it at a point it
// chooses from that progress and check what survives.
import { hashConfig } from '@planesync/core';
import { lmdbStore } from '../src/index.ts';

const prefix = process.argv[2]!;
const store = lmdbStore({ prefix, mapSize: 1024 * 1024 });
let n = Number(process.argv[3] ?? 0);
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
  const saving = store.save({
    version: n,
    hash: config_hash,
    hashes,
    source: 'control-plane',
    config,
    appliedAt: n,
  });
  // Writes to a pipe are synchronous: once the parent reads this line, the save is under way.
  process.stdout.write(`begin ${n}\n`);
  await saving;
  process.stdout.write(`end ${n}\n`);
}
