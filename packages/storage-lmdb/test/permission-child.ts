// A CP and a DP over wss on loopback, the DP caching in lmdb under `prefix`, run by the test
// under Node's permission model: it prints one JSON line with what it served and whether a
// write outside the prefix was refused.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ControlPlane,
  DataPlane,
  generateClusterCertificate,
  TrustVerifier,
} from '@planesync/core';
import { wsClient, wsServer } from '@planesync/transport-ws';
import { lmdbStore } from '../src/index.ts';

const [prefix, outside] = process.argv.slice(2) as [string, string];
const { certificate, privateKey } = await generateClusterCertificate();
const trust = new TrustVerifier({ mode: 'pinned', certificates: [certificate] });
const tls = { cert: certificate, key: privateKey };
const server = wsServer({ host: '127.0.0.1', port: 0, tls });
const cp = new ControlPlane({ transport: server, trust, version: '3.10.0' });
await cp.start();
const store = lmdbStore({ prefix });
const dp = new DataPlane({
  transport: wsClient({ url: `wss://127.0.0.1:${server.port}/planesync/v1`, tls }),
  trust,
  version: '3.10.0',
  storage: store,
});
await dp.start();
const { hash } = await cp.setConfig({
  _format_version: '3.0',
  services: [{ name: 'orders', host: 'orders.internal' }],
});
await dp.waitForConfig({ hash, signal: AbortSignal.timeout(20_000) });
await dp.stop();
await store.close();
let refused = '';
try {
  writeFileSync(join(outside, 'escaped'), 'x');
} catch (error) {
  refused = (error as NodeJS.ErrnoException).code ?? String(error);
}
await cp.stop();
// The cache the DP left, read back by a DP started from it (a restart under the same flags).
const again = new DataPlane({
  transport: wsClient({ url: 'wss://127.0.0.1:9/planesync/v1', tls }),
  trust,
  version: '3.10.0',
  storage: lmdbStore({ prefix }),
  reconnectDelayMs: [60_000, 60_000],
});
await again.start();
const restarted = { hash: again.status.hash, source: again.status.source };
await again.stop();
console.log(JSON.stringify({ served: hash, restarted, refused }));
