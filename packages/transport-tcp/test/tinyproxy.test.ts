import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer, connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ControlPlane,
  DataPlane,
  generateClusterCertificate,
  type PlanesyncError,
  TrustVerifier,
} from '@planesync/core';
import { afterEach, describe, expect, it } from 'vitest';
import { tcpClient, tcpServer } from '../src/index.ts';

const hasTinyproxy = spawnSync('tinyproxy', ['-v']).status === 0;
if (!hasTinyproxy)
  console.log(
    'tinyproxy tests skipped: tinyproxy is not installed (.ci/run installs it where apt is available)',
  );

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts a real tinyproxy on loopback and waits (bounded) until it accepts connections. */
async function startTinyproxy(auth?: { user: string; password: string }) {
  const dir = await mkdtemp(join(tmpdir(), 'planesync-tinyproxy-'));
  const port = await freePort();
  const conf = [
    `Port ${port}`,
    'Listen 127.0.0.1',
    'Timeout 30',
    'Allow 127.0.0.1',
    'User nobody',
    'Group nogroup',
    'LogLevel Error',
    ...(auth ? [`BasicAuth ${auth.user} ${auth.password}`] : []),
  ].join('\n');
  await writeFile(join(dir, 'tinyproxy.conf'), `${conf}\n`);
  const proc = spawn('tinyproxy', ['-d', '-c', join(dir, 'tinyproxy.conf')], { stdio: 'ignore' });
  stops.push(async () => {
    proc.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });
  for (let attempt = 0; attempt < 100; attempt++) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = netConnect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (up) return port;
    await new Promise((resolve) => setTimeout(resolve, 30));
  }
  throw new Error('tinyproxy did not start');
}

describe('through a real tinyproxy on loopback (skipped when tinyproxy is not installed)', () => {
  it.skipIf(!hasTinyproxy)(
    'delivers config through the CONNECT tunnel, with and without Basic auth',
    async () => {
      const cluster = await generateClusterCertificate();
      const tls = { cert: cluster.certificate, key: cluster.privateKey };
      const trust = new TrustVerifier({ mode: 'pinned', certificates: [cluster.certificate] });
      const transport = tcpServer({ host: '127.0.0.1', port: 0, tls });
      const cp = new ControlPlane({ transport, trust, version: '3.10.0' });
      await cp.start();
      stops.push(() => cp.stop());
      const { hash } = await cp.setConfig({ _format_version: '3.0' });
      for (const auth of [undefined, { user: 'kong', password: 's3cret' }]) {
        const proxyPort = await startTinyproxy(auth);
        const credentials = auth ? `${auth.user}:${auth.password}@` : '';
        const dp = new DataPlane({
          transport: tcpClient({
            host: '127.0.0.1',
            port: transport.port!,
            tls,
            proxy: { url: `http://${credentials}127.0.0.1:${proxyPort}` },
          }),
          trust,
          version: '3.10.0',
          reconnectDelayMs: [50, 100],
        });
        stops.push(() => dp.stop());
        await dp.start();
        await dp.waitForConfig({ hash });
      }
    },
  );

  it.skipIf(!hasTinyproxy)('fails with PROXY_REFUSED on a wrong password', async () => {
    const cluster = await generateClusterCertificate();
    const proxyPort = await startTinyproxy({ user: 'kong', password: 's3cret' });
    const client = tcpClient({
      host: '127.0.0.1',
      port: 9,
      tls: { cert: cluster.certificate, key: cluster.privateKey },
      proxy: { url: `http://kong:wrong@127.0.0.1:${proxyPort}` },
    });
    const failure = (await client.connect().catch((error: unknown) => error)) as PlanesyncError & {
      status: number;
    };
    expect(failure.code).toBe('PROXY_REFUSED');
    // tinyproxy 1.11 answers a bad CONNECT password with 401 where RFC 9110 says 407.
    expect([401, 407]).toContain(failure.status);
  });
});
