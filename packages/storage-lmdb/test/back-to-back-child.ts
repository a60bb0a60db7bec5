// Saves a node id and then a config — two LMDB write transactions back to back, as a DP does —
// one round after the other until killed. The configs carry blobs from none to megabytes, so
// that LMDB frees and reuses runs of pages and its free list grows past a page. It says on
// stdout when a round has begun (`begin N`: the node id is being written), when the node id is
// saved (`node N`: the config is being written) and when the config is saved (`end N`), so that
// the parent can kill it at a point it chooses from that progress.
import { hashConfig } from '@planesync/core';
import { lmdbStore } from '../src/index.ts';

const BLOBS = [0, 3_000, 40_000, 3_000_000, 200, 600_000, 9_000];
const prefix = process.argv[2]!;
const store = lmdbStore({ prefix, mapSize: 1024 * 1024 });
let n = Number(process.argv[3] ?? 0);
for (;;) {
  n++;
  const config = {
    _format_version: '3.0',
    generation: n,
    services: [{ name: `s-${n}`, host: 'h.internal', port: 1 + (n % 65_000) }],
    blob: 'x'.repeat(BLOBS[n % BLOBS.length]!),
  };
  const { config_hash, hashes } = hashConfig(config);
  // Writes to a pipe are synchronous: once the parent reads a line, what it names is under way.
  const savingNodeId = store.saveNodeId(`node-${n}`);
  process.stdout.write(`begin ${n}\n`);
  await savingNodeId;
  const saving = store.save({
    version: n,
    hash: config_hash,
    hashes,
    source: 'control-plane',
    config,
    appliedAt: n,
  });
  process.stdout.write(`node ${n}\n`);
  await saving;
  process.stdout.write(`end ${n}\n`);
}
