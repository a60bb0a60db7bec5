import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlPlane, DataPlane, generateClusterCertificate, TrustVerifier } from '@planesync/core';
import { lmdbStore } from '@planesync/storage-lmdb';
import { wsClient, wsServer } from '@planesync/transport-ws';

// `kong hybrid gen_cert`: one certificate and key, copied to the CP and to every DP
const dir = await mkdtemp(join(tmpdir(), 'planesync-'));
const { certificate, privateKey } = await generateClusterCertificate();
await writeFile(join(dir, 'cluster.crt'), certificate);
await writeFile(join(dir, 'cluster.key'), privateKey, { mode: 0o600 });
const tls = { cert: join(dir, 'cluster.crt'), key: join(dir, 'cluster.key') };
const trust = new TrustVerifier({ mode: 'pinned', certificates: [tls.cert] });

// on the CP host: Kong listens on 8005 (cluster_listen); port 0 takes any free port here
const server = wsServer({ host: '127.0.0.1', port: 0, tls });
const cp = new ControlPlane({ transport: server, trust, version: '3.10.0' });
await cp.start();
const { hash } = await cp.setConfig({
  _format_version: '3.0',
  services: [{ name: 'echo', url: 'http://127.0.0.1:8080', routes: [{ paths: ['/echo'] }] }],
});

// on each DP host: dial the CP, keep the last config it pushed in <prefix>/dbless.lmdb
const dp = new DataPlane({
  transport: wsClient({ url: `wss://127.0.0.1:${server.port}/planesync/v1`, tls, serverName: 'kong_clustering' }),
  trust,
  storage: lmdbStore({ prefix: dir }),
  version: '3.10.0',
});
await dp.start(); // serves its cache (or a declarativeConfig file, or nothing) until the CP answers
await dp.waitForConfig({ hash });
console.log(`DP serves ${dp.currentConfig?.hash}, cached in ${join(dir, 'dbless.lmdb')}`);

await dp.stop();
await cp.stop();
await rm(dir, { recursive: true, force: true });
