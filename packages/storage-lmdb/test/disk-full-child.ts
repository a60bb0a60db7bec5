// A DataPlane whose dbless.lmdb sits on a small file system: it is pushed a config that fits,
// then one that does not. Prints what it saw as JSON and exits 0 — if it is still alive.
// Every wait is for an event (an ack recorded by the CP, a write settled), none for time.
import { randomBytes } from 'node:crypto';
import {
  ControlPlane,
  DataPlane,
  generateClusterCertificate,
  memoryTransport,
  silentLogger,
  TrustVerifier,
} from '@planesync/core';
import { lmdbStore } from '../src/index.ts';

const prefix = process.argv[2]!;
// Random host names: the DP keeps a config as the gzip it came in, and the big one must not
// fit even so.
const services = (count: number, size: number) =>
  Array.from({ length: count }, (_, i) => ({
    name: `s${i}`,
    host: `h${i}.${randomBytes(size).toString('hex').slice(0, size)}`,
  }));

const { certificate } = await generateClusterCertificate();
const transport = memoryTransport({ certificates: [certificate] });
const trust = new TrustVerifier({ mode: 'pinned', certificates: [certificate] });
const cp = new ControlPlane({
  transport: transport.server,
  trust,
  version: '3.10.0',
  pushIntervalMs: 0,
  logger: silentLogger,
});
await cp.start();
const storage = lmdbStore({ prefix });
const dp = new DataPlane({
  transport: transport.client({ certificates: [certificate] }),
  trust,
  version: '3.10.0',
  storage,
  logger: silentLogger,
});
const errors: string[] = [];
dp.on('error', (error) => errors.push(error.code));
await dp.start();
const small = await cp.setConfig({ _format_version: '3.0', services: services(10, 10) });
await cp.waitForSync({ hash: small.hash });
const big = await cp.setConfig({ _format_version: '3.0', services: services(80_000, 60) });
await cp.waitForSync({ hash: big.hash });
// lmdb reports a failed commit a second time (its `commitError`), which, unhandled, would end
// the process. Its write thread takes transactions in order: once a later write has settled,
// every report of the failed one has been made; one more turn lets node judge them.
await storage.saveNodeId('after-the-failed-save').catch(() => undefined);
await new Promise((resolve) => setImmediate(resolve));
process.stdout.write(
  JSON.stringify({
    errors,
    small: small.hash,
    big: big.hash,
    serving: dp.currentConfig?.hash,
    cacheHash: dp.status.cacheHash,
    reportedToCp: cp.dataPlanes()[0]?.cacheHash,
  }),
);
await dp.stop();
await cp.stop();
