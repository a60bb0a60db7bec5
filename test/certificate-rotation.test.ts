// Certificates replaced at run time, end to end over real TLS on loopback, on both socket
// transports: the CP's own leaf rotated under 50 connected DPs, a DP's own pair, and the files
// an operator replaces on disk followed by watchIdentity.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CertificateKeyPair,
  ControlPlane,
  createCertificateAuthority,
  DataPlane,
  issueCertificate,
  memoryTransport,
  type PlanesyncError,
  silentLogger,
  type TransportClient,
  type TransportServer,
  TrustVerifier,
} from '@planesync/core';
import { FakeClock } from '@planesync/core/testing';
import { type TlsIdentity, watchIdentity, watchTrust } from '@planesync/node-tls';
import { tcpClient, tcpServer } from '@planesync/transport-tcp';
import { wsClient, wsServer } from '@planesync/transport-ws';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { crl } from '../packages/core/test/crl.ts';

interface Transport {
  name: string;
  server(tls: TlsIdentity): TransportServer & { readonly port: number | undefined };
  client(port: number, tls: TlsIdentity): TransportClient;
}

const TRANSPORTS: Transport[] = [
  {
    name: 'wss',
    server: (tls) => wsServer({ host: '127.0.0.1', port: 0, tls }),
    client: (port, tls) => wsClient({ url: `wss://127.0.0.1:${port}/planesync/v1`, tls }),
  },
  {
    name: 'tcp',
    server: (tls) => tcpServer({ host: '127.0.0.1', port: 0, tls }),
    client: (port, tls) => tcpClient({ host: '127.0.0.1', port, tls, serverName: '127.0.0.1' }),
  },
];

let root: CertificateKeyPair;
let intermediate: CertificateKeyPair;
const issue = (commonName: string, usage: 'server' | 'client') =>
  issueCertificate({
    issuer: intermediate,
    commonName,
    usage,
    ...(usage === 'server' ? { altNames: ['127.0.0.1'] } : {}),
  });
const identity = (pair: CertificateKeyPair): TlsIdentity => ({
  cert: [pair.certificate, intermediate.certificate],
  key: pair.privateKey,
});

beforeAll(async () => {
  root = await createCertificateAuthority({ commonName: 'rotation root' });
  intermediate = await createCertificateAuthority({ commonName: 'rotation CA', issuer: root });
});

const stops: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

const config = { _format_version: '3.0', services: [{ name: 'a', host: 'a.internal' }] };

describe.each(TRANSPORTS)('certificates replaced at run time over $name', (transport) => {
  async function startCp(pair: CertificateKeyPair) {
    const server = transport.server(identity(pair));
    const cp = new ControlPlane({
      transport: server,
      trust: new TrustVerifier({ mode: 'pki', trustAnchors: [root.certificate] }),
      version: '3.10.0',
      logger: silentLogger,
    });
    await cp.start();
    stops.push(() => cp.stop());
    return { cp, port: server.port! };
  }

  function dataPlane(port: number, pair: CertificateKeyPair, trust: TrustVerifier) {
    const dp = new DataPlane({
      transport: transport.client(port, identity(pair)),
      trust,
      version: '3.10.0',
      logger: silentLogger,
      reconnectDelayMs: [20, 40],
    });
    stops.push(() => dp.stop());
    return dp;
  }

  const pkiTrust = () => new TrustVerifier({ mode: 'pki', trustAnchors: [root.certificate] });

  it("rotates the CP's leaf while 50 DPs are connected: none disconnects, a new DP sees the new certificate", async () => {
    const [oldLeaf, newLeaf, dpPair] = await Promise.all([
      issue('cp', 'server'),
      issue('cp', 'server'),
      issue('dp', 'client'),
    ]);
    const { cp, port } = await startCp(oldLeaf);
    const { hash } = await cp.setConfig(config);
    let disconnects = 0;
    const fleet = Array.from({ length: 50 }, () => dataPlane(port, dpPair, pkiTrust()));
    await Promise.all(fleet.map((dp) => dp.start()));
    await Promise.all(fleet.map((dp) => dp.waitForConfig({ hash })));
    for (const dp of fleet) dp.on('disconnected', () => disconnects++);

    // Pinned to the new leaf only: this DP is refused by it until the CP presents it.
    const pinnedToNew = new TrustVerifier({ mode: 'pinned', certificates: [newLeaf.certificate] });
    const early = dataPlane(port, dpPair, pinnedToNew);
    const refused = new Promise<{ code: string }>((resolve) => early.once('rejected', resolve));
    await early.start();
    expect((await refused).code).toBe('TRUST_PIN_MISMATCH');
    await early.stop();

    cp.setIdentity(identity(newLeaf));
    const late = dataPlane(port, dpPair, pinnedToNew);
    await late.start();
    await late.waitForConfig({ hash });
    expect(late.status.connection).toBe('connected');

    // The 50 took a new config over the links they had: still up, still served.
    const next = await cp.setConfig({ ...config, services: [{ name: 'b', host: 'b.internal' }] });
    await Promise.all(fleet.map((dp) => dp.waitForConfig({ hash: next.hash })));
    expect(disconnects).toBe(0);
    expect(cp.dataPlanes().filter((dp) => dp.connected)).toHaveLength(51);
  }, 60_000);

  it('a DP takes a new pair for its next connection; the CP sees it, and the link up is not dropped', async () => {
    const [cpPair, first, second] = await Promise.all([
      issue('cp', 'server'),
      issue('dp', 'client'),
      issue('dp', 'client'),
    ]);
    const { cp, port } = await startCp(cpPair);
    const { hash } = await cp.setConfig(config);
    const dp = dataPlane(port, first, pkiTrust());
    await dp.start();
    await dp.waitForConfig({ hash });
    const fingerprint = () => cp.dataPlanes()[0]!.certFingerprint;
    const before = fingerprint();
    expect(() => dp.setIdentity({ cert: second.certificate, key: first.privateKey })).toThrow(
      /does not belong/,
    );
    dp.setIdentity(identity(second));
    expect(dp.status.connection).toBe('connected');
    expect(fingerprint()).toBe(before);
    // The next connection presents the new pair: the CP closes the link (a trust that takes
    // no one, rechecked), then takes the DP back.
    const stranger = await issueCertificate({ issuer: root, commonName: 'x', usage: 'client' });
    cp.setTrust(new TrustVerifier({ mode: 'pinned', certificates: [stranger.certificate] }), {
      recheck: true,
    });
    await new Promise((resolve) => dp.once('disconnected', resolve));
    const reconnected = new Promise((resolve) => cp.once('dataPlaneConnected', resolve));
    cp.setTrust(pkiTrust());
    await reconnected;
    expect(fingerprint()).not.toBe(before);
  }, 60_000);

  it('follows the files an operator replaces: a certificate before its key is refused and kept out, then the pair is taken', async () => {
    const [oldLeaf, newLeaf] = await Promise.all([issue('cp', 'server'), issue('cp', 'server')]);
    const dir = await mkdtemp(join(tmpdir(), 'planesync-rotation-'));
    stops.push(() => rm(dir, { recursive: true, force: true }));
    const files = { cert: [join(dir, 'cp.crt'), join(dir, 'ca.crt')], key: join(dir, 'cp.key') };
    await writeFile(files.cert[0]!, oldLeaf.certificate);
    await writeFile(files.cert[1]!, intermediate.certificate);
    await writeFile(files.key, oldLeaf.privateKey);
    const { cp, port } = await startCp(oldLeaf);
    const clock = new FakeClock();
    const errors: PlanesyncError[] = [];
    let taken = 0;
    // Each read after a change ends in one of the two callbacks.
    let outcome: () => void = () => undefined;
    const settled = () => new Promise<void>((resolve) => (outcome = resolve));
    const watch = watchIdentity(cp, files, {
      clock,
      onError: (error) => {
        errors.push(error);
        outcome();
      },
      onChange: () => {
        taken++;
        outcome();
      },
    });
    stops.push(async () => watch.close());
    // The first read is what the CP presents already.
    await watch.ready;

    await writeFile(files.cert[0]!, newLeaf.certificate);
    let next = settled();
    await clock.advance(1_000);
    await next;
    expect(errors.map((error) => error.code)).toEqual(['INVALID_ARGUMENT']);
    expect(taken).toBe(0);
    const pinnedToNew = new TrustVerifier({ mode: 'pinned', certificates: [newLeaf.certificate] });
    const dpPair = await issue('dp', 'client');
    const probe = dataPlane(port, dpPair, pinnedToNew);
    const refused = new Promise<{ code: string }>((resolve) => probe.once('rejected', resolve));
    await probe.start();
    expect((await refused).code).toBe('TRUST_PIN_MISMATCH');
    await probe.stop();

    await writeFile(files.key, newLeaf.privateKey);
    next = settled();
    await clock.advance(1_000);
    await next;
    expect(taken).toBe(1);
    const { hash } = await cp.setConfig(config);
    const dp = dataPlane(port, dpPair, pinnedToNew);
    await dp.start();
    await dp.waitForConfig({ hash });
  }, 60_000);
});

describe('a CRL replaced on disk, followed by watchTrust', () => {
  it('takes the new CRL and closes the connected DP it revokes; a CRL half written is refused and the trust in use stays', async () => {
    const [cpLeaf, good, bad] = await Promise.all([
      issue('cp.internal', 'server'),
      issue('good', 'client'),
      issue('bad', 'client'),
    ]);
    // Started once the certificates exist (issued by the real clock): none is "not yet valid".
    const clock = new FakeClock(Date.now());
    const dir = await mkdtemp(join(tmpdir(), 'planesync-crl-'));
    stops.push(() => rm(dir, { recursive: true, force: true }));
    const crlFile = join(dir, 'ca.crl');
    await writeFile(crlFile, await crl(intermediate, []));
    const trust = () =>
      new TrustVerifier({
        mode: 'pki',
        trustAnchors: [root.certificate],
        crls: [crlFile],
        clock,
      });
    const transport = memoryTransport({ clock, certificates: identity(cpLeaf).cert as string[] });
    const cp = new ControlPlane({
      transport: transport.server,
      trust: trust(),
      version: '3.10.0',
      clock,
      logger: silentLogger,
      pushIntervalMs: 0,
    });
    await cp.start();
    stops.push(() => cp.stop());
    const { hash } = await cp.setConfig(config);
    const dps = [good, bad].map((pair) => {
      const dp = new DataPlane({
        transport: transport.client({
          certificates: identity(pair).cert as string[],
          serverName: '127.0.0.1', // the name issue() gives a server certificate
        }),
        trust: new TrustVerifier({ mode: 'pki', trustAnchors: [root.certificate], clock }),
        version: '3.10.0',
        clock,
        logger: silentLogger,
        random: () => 0,
      });
      stops.push(() => dp.stop());
      return dp;
    });
    for (const dp of dps) {
      await dp.start();
      await dp.waitForConfig({ hash });
    }
    const errors: PlanesyncError[] = [];
    let taken = 0;
    let outcome: () => void = () => undefined;
    const settled = () => new Promise<void>((resolve) => (outcome = resolve));
    const watch = watchTrust(cp, [crlFile], trust, {
      clock,
      onError: (error) => {
        errors.push(error);
        outcome();
      },
      onChange: () => {
        taken++;
        outcome();
      },
    });
    stops.push(async () => watch.close());
    await watch.ready;
    const rejected: string[] = [];
    cp.on('dataPlaneRejected', (rejection) => rejected.push(rejection.code));

    // Half written: refused, the trust in use stays, both DPs connected.
    const revoking = await crl(intermediate, [bad]);
    await writeFile(crlFile, revoking.slice(0, revoking.length / 2));
    let next = settled();
    await clock.advance(1_000);
    await next;
    expect(errors.map((error) => error.code)).toEqual(['INVALID_ARGUMENT']);
    expect(dps.map((dp) => dp.status.connection)).toEqual(['connected', 'connected']);

    // Whole: taken, and the revoked DP is closed on the spot.
    await writeFile(crlFile, revoking);
    next = settled();
    await clock.advance(1_000);
    await next;
    expect(taken).toBe(1);
    expect(rejected).toEqual(['TRUST_REVOKED']);
    await clock.advance(10_000);
    expect(dps[0]!.status.connection).toBe('connected');
    expect(dps[1]!.status.connection).not.toBe('connected');
  }, 60_000);
});
