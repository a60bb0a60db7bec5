import {
  ControlPlane,
  DataPlane,
  generateClusterCertificate,
  type PlanesyncError,
  TrustVerifier,
} from '@planesync/core';
import { hasTinyproxy, startTinyproxy } from '@planesync/node-tls/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { tcpClient, tcpServer } from '../src/index.ts';

if (!hasTinyproxy())
  console.log(
    'tinyproxy tests skipped: tinyproxy is not installed (.ci/run installs it where apt is available)',
  );

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

describe('through a real tinyproxy on loopback (skipped when tinyproxy is not installed)', () => {
  it.skipIf(!hasTinyproxy())(
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
        const proxy = await startTinyproxy(auth);
        stops.push(() => proxy.close());
        const proxyPort = proxy.port;
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

  it.skipIf(!hasTinyproxy())('fails with PROXY_REFUSED on a wrong password', async () => {
    const cluster = await generateClusterCertificate();
    const proxy = await startTinyproxy({ user: 'kong', password: 's3cret' });
    stops.push(() => proxy.close());
    const proxyPort = proxy.port;
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
