// A DataPlane whose dbless.lmdb sits on a small file system: it is pushed a config that fits,
// then one that does not. Prints what it saw as JSON and exits 0 — if it is still alive.
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
const services = (count: number, size: number) =>
  Array.from({ length: count }, (_, i) => ({ name: `s${i}`, host: `h${i}.${'x'.repeat(size)}` }));

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
const dp = new DataPlane({
  transport: transport.client({ certificates: [certificate] }),
  trust,
  version: '3.10.0',
  storage: lmdbStore({ prefix }),
  logger: silentLogger,
});
const errors: string[] = [];
dp.on('error', (error) => errors.push(error.code));
const acked = (hash: string) =>
  new Promise<void>((resolve) => {
    const check = () => {
      if (cp.dataPlanes()[0]?.configHash === hash) resolve();
      else setTimeout(check, 10);
    };
    check();
  });

await dp.start();
const small = await cp.setConfig({ _format_version: '3.0', services: services(10, 10) });
await acked(small.hash);
const big = await cp.setConfig({ _format_version: '3.0', services: services(40_000, 60) });
await acked(big.hash);
// lmdb reports a failed commit a second time, later: give it the time to end the process.
await new Promise((resolve) => setTimeout(resolve, 300));
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
