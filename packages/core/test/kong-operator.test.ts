import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { generateClusterCertificate, TrustVerifier } from '../src/index.ts';
import { createTestCluster, type TestCluster } from '../src/testing/index.ts';
import { hostOfAddress } from '../src/transport/index.ts';

let cluster: TestCluster | undefined;
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
  await cluster?.stop();
  cluster = undefined;
});

const config = { _format_version: '3.0', services: [{ name: 'a', host: 'a.internal' }] };

describe('what a Kong operator expects', () => {
  it('takes Kong’s word for pinned mode: shared', async () => {
    const { certificate } = await generateClusterCertificate();
    const verifier = new TrustVerifier({ mode: 'shared', certificates: [certificate] });
    expect(verifier.mode).toBe('pinned');
    expect(verifier.verify([certificate], { role: 'data-plane' }).ok).toBe(true);
  });

  it('refuses an unknown mode with INVALID_ARGUMENT naming the modes, not a TypeError', () => {
    expect(() => new TrustVerifier({ mode: 'mtls' } as never)).toThrow(
      expect.objectContaining({
        code: 'INVALID_ARGUMENT',
        message: expect.stringContaining("'pki'"),
      }),
    );
  });

  it('reads a certificate from a relative path such as cluster/cluster.crt', async () => {
    const { certificate } = await generateClusterCertificate();
    const dir = await mkdtemp(join(process.cwd(), 'planesync-cluster-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'cluster.crt'), certificate);
    const path = relative(process.cwd(), join(dir, 'cluster.crt'));
    expect(path).not.toMatch(/^[./]/);
    const verifier = new TrustVerifier({ mode: 'pinned', certificates: [path] });
    expect(verifier.verify([certificate], { role: 'data-plane' }).ok).toBe(true);
  });

  it('names the input that is not a certificate', () => {
    expect(() => new TrustVerifier({ mode: 'pinned', certificates: ['not a cert!'] })).toThrow(
      expect.objectContaining({ message: expect.stringContaining('"not a cert!"') }),
    );
  });

  it('reports the machine’s host name when the DP is given none, as Kong does', async () => {
    cluster = await createTestCluster();
    await cluster.dataPlane().start();
    await cluster.clock.advance(0);
    expect(cluster.cp.dataPlanes()[0]?.hostname).toBe(hostname());
  });

  it('a DP with no config at all reports 32 zeros, as a Kong DP does', async () => {
    cluster = await createTestCluster();
    const dp = cluster.dataPlane();
    await dp.start();
    expect(dp.currentConfig).toMatchObject({ source: 'empty', hash: '0'.repeat(32) });
    await cluster.clock.advance(0);
    expect(cluster.cp.dataPlanes()[0]?.configHash).toBe('0'.repeat(32));
  });

  it('the CP knows what a DP has cached from its hello on, and a refused DP knows its sync status', async () => {
    cluster = await createTestCluster();
    await cluster.dataPlane({ nodeId: 'ok' }).start();
    await cluster.clock.advance(0);
    expect(cluster.cp.dataPlanes()[0]?.cacheHash).toBe('0'.repeat(32));
    const old = cluster.dataPlane({ nodeId: 'old', version: '2.8.0' });
    await old.start();
    await cluster.clock.advance(0);
    expect(old.status.syncStatus).toBe('kong_version_incompatible');
  });

  it.each([
    ['127.0.0.1:52344', '127.0.0.1'],
    ['[::1]:8005', '::1'],
    ['[::ffff:10.0.0.7]:443', '10.0.0.7'],
    ['memory:client-1', 'memory:client-1'],
  ])('records the DP ip without its port: %s → %s', (address, ip) => {
    expect(hostOfAddress(address)).toBe(ip);
  });
});

describe('the CP can wait until a DP is in sync', () => {
  it('waitForSync resolves once the CP has recorded the DP on the hash', async () => {
    cluster = await createTestCluster();
    const dp = cluster.dataPlane({ nodeId: 'dp-1' });
    await dp.start();
    const { hash, version } = await cluster.cp.setConfig(config);
    const [status] = await cluster.cp.waitForSync({ nodeId: 'dp-1', hash });
    expect(status).toMatchObject({ id: 'dp-1', configHash: hash, configVersion: version });
    expect(cluster.cp.dataPlanes()[0]).toMatchObject({ configHash: hash, configVersion: version });
  });

  it('without a node id, waits for every connected compatible DP, on the latest hash by default', async () => {
    cluster = await createTestCluster();
    for (const nodeId of ['a', 'b', 'c']) await cluster.dataPlane({ nodeId }).start();
    await cluster.clock.advance(0);
    const { hash } = await cluster.cp.setConfig(config);
    const statuses = await cluster.cp.waitForSync();
    expect(statuses.map((s) => [s.id, s.configHash]).sort()).toEqual([
      ['a', hash],
      ['b', hash],
      ['c', hash],
    ]);
  });

  it('rejects with ABORTED when its signal aborts first', async () => {
    cluster = await createTestCluster();
    const controller = new AbortController();
    const waiting = cluster.cp.waitForSync({
      nodeId: 'nobody',
      hash: 'a'.repeat(32),
      signal: controller.signal,
    });
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'ABORTED' });
  });
});

describe('certificate tools', () => {
  it('refuse a subject alternative name that is neither a DNS name nor an IP address', async () => {
    const { createCertificateAuthority, issueCertificate } = await import('../src/index.ts');
    const ca = await createCertificateAuthority({ commonName: 'CA' });
    for (const bad of ['not a valid name!!', '1.2.3.999', 'a.*.example.com']) {
      await expect(
        issueCertificate({ issuer: ca, commonName: 'x', usage: 'server', altNames: [bad] }),
      ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
    const issued = await issueCertificate({
      issuer: ca,
      commonName: 'x',
      usage: 'server',
      altNames: ['cp.example.com', '*.cp.example.com', '10.0.0.1', '::1'],
    });
    // The names it takes are the names the certificate is valid for, and no others.
    const { TrustVerifier } = await import('../src/index.ts');
    const verifier = new TrustVerifier({ mode: 'pki', trustAnchors: [ca.certificate] });
    const as = (serverName: string) =>
      verifier.verify(issued.certificate, { role: 'control-plane', serverName });
    for (const name of ['cp.example.com', 'api.cp.example.com', '10.0.0.1', '::1'])
      expect(as(name), name).toMatchObject({ ok: true });
    for (const name of ['x', 'example.com', 'a.b.cp.example.com', '10.0.0.2'])
      expect(as(name), name).toMatchObject({ ok: false, code: 'TRUST_NAME_MISMATCH' });
  });
});
