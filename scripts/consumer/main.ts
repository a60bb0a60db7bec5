// The scratch application scripts/consumers.mjs builds from the packed tarballs, compiled
// once as ESM and once as CommonJS: a CP and a DP over WebSocket with mutual TLS (the DP
// caching in LMDB) with the CP's @planesync/admin handler read over http (its status page is
// in the tarball, and loads in ESM and CommonJS alike), then a CP and a DP over TCP, each
// syncing one config; then it exits.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { controlPlaneAdmin } from '@planesync/admin';
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
    const admin = createServer(controlPlaneAdmin(wsCp));
    await new Promise<void>((resolve) => admin.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(admin.address() as AddressInfo).port}`;
      const page = await (await fetch(`${base}/`)).text();
      if (!page.includes('status.js')) throw new Error(`the status page is not served: ${page}`);
      const planes = (await (await fetch(`${base}/clustering/data-planes`)).json()) as {
        data: Array<{ config_hash: string }>;
      };
      if (planes.data[0]?.config_hash !== hash)
        throw new Error(`GET /clustering/data-planes: ${JSON.stringify(planes)}`);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      if (!metrics.includes('kong_data_plane_last_seen{'))
        throw new Error(`GET /metrics: ${metrics}`);
    } finally {
      admin.closeAllConnections();
      admin.close();
    }
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

    console.log(`the DPs serve ${hash} over wss and tcp; the admin handler lists it`);
  } finally {
    await rm(prefix, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
