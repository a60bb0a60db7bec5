// The scratch application scripts/consumers.mjs builds from the packed tarballs, compiled
// once as ESM and once as CommonJS: a CP and a DP over WebSocket with mutual TLS (the DP
// caching in LMDB), then a CP and a DP over TCP, each syncing one config; then it exits.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ControlPlane,
  DataPlane,
  generateClusterCertificate,
  TrustVerifier,
} from '@planesync/core';
import { lmdbStore } from '@planesync/storage-lmdb';
import { tcpClient, tcpServer } from '@planesync/transport-tcp';
import { wsClient, wsServer } from '@planesync/transport-ws';

const config = {
  _format_version: '3.0',
  services: [{ name: 'echo', url: 'http://127.0.0.1:8080', routes: [{ paths: ['/echo'] }] }],
};

async function main(): Promise<void> {
  const prefix = await mkdtemp(join(tmpdir(), 'planesync-consumer-'));
  try {
    const { certificate, privateKey } = await generateClusterCertificate();
    const tls = { cert: certificate, key: privateKey };
    const trust = new TrustVerifier({ mode: 'pinned', certificates: [certificate] });

    const ws = wsServer({ host: '127.0.0.1', port: 0, tls });
    const wsCp = new ControlPlane({ transport: ws, trust, version: '3.10.0' });
    await wsCp.start();
    const wsDp = new DataPlane({
      transport: wsClient({ url: `wss://127.0.0.1:${ws.port}/planesync/v1`, tls }),
      trust,
      storage: lmdbStore({ prefix }),
      version: '3.10.0',
    });
    await wsDp.start();
    const { hash } = await wsCp.setConfig(config);
    await wsDp.waitForConfig({ hash });
    await wsDp.stop();
    await wsCp.stop();

    const tcp = tcpServer({ host: '127.0.0.1', port: 0, tls });
    const tcpCp = new ControlPlane({ transport: tcp, trust, version: '3.10.0' });
    await tcpCp.start();
    await tcpCp.setConfig(config);
    const tcpDp = new DataPlane({
      transport: tcpClient({ host: '127.0.0.1', port: tcp.port ?? 0, tls }),
      trust,
      version: '3.10.0',
    });
    await tcpDp.start();
    await tcpDp.waitForConfig({ hash });
    await tcpDp.stop();
    await tcpCp.stop();

    console.log(`the DPs serve ${hash} over wss and tcp`);
  } finally {
    await rm(prefix, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
