// Certificates over their whole life, on the memory transport and a fake clock: a DP's trust
// rotated (with and without recheck), chains that run out seen coming on both sides and their
// links closed once they have, and identities replaced on the memory transport.
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// @peculiar/x509 needs the Reflect metadata API first (as core's certificate tools install it).
import '../src/trust/reflect-polyfill.ts';
import * as x509 from '@peculiar/x509';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type CertificateKeyPair,
  ControlPlane,
  createCertificateAuthority,
  DataPlane,
  decodePemCertificates,
  generateClusterCertificate,
  issueCertificate,
  memoryTransport,
  silentLogger,
  TrustVerifier,
} from '../src/index.ts';
import { FakeClock } from '../src/testing/index.ts';
import { readCrls } from '../src/trust/revocation.ts';
import { crl } from './crl.ts';

const MINUTE = 60_000;
const DAY = 86_400_000;
const config = { _format_version: '3.0', services: [{ name: 'a', host: 'a.internal' }] };

const stops: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

/** A pinned pair that runs out `lifetimeMs` after `clock`'s now (issued earlier, valid now). */
function expiringIn(clock: FakeClock, lifetimeMs: number): Promise<CertificateKeyPair> {
  const days = Math.ceil(lifetimeMs / DAY) + 1;
  return generateClusterCertificate({
    clock: new FakeClock(clock.now() + lifetimeMs - days * DAY),
    days,
  });
}

/**
 * A CP presenting `cpPair` and a DP presenting `dpPair` on one memory transport, each pinning
 * both, on `clock`.
 */
async function link(
  clock: FakeClock,
  cpPair: CertificateKeyPair,
  dpPair: CertificateKeyPair,
  options: { certificateWarningMs?: number } = {},
) {
  const pins = [cpPair.certificate, dpPair.certificate];
  const trust = () => new TrustVerifier({ mode: 'pinned', certificates: pins, clock });
  const transport = memoryTransport({ clock, certificates: [cpPair.certificate] });
  const cp = new ControlPlane({
    transport: transport.server,
    trust: trust(),
    version: '3.10.0',
    clock,
    logger: silentLogger,
    pushIntervalMs: 0,
    ...options,
  });
  await cp.start();
  stops.push(() => cp.stop());
  const dp = new DataPlane({
    transport: transport.client({ certificates: [dpPair.certificate] }),
    trust: trust(),
    version: '3.10.0',
    clock,
    logger: silentLogger,
    random: () => 0,
    ...options,
  });
  stops.push(() => dp.stop());
  const { hash } = await cp.setConfig(config);
  await dp.start();
  await dp.waitForConfig({ hash });
  return { cp, dp, transport, hash };
}

describe('expiry before it bites', () => {
  it("the CP says a DP's certificate runs out within the warning time, once, then closes the link when it has", async () => {
    const clock = new FakeClock();
    const [cpPair, dpPair] = await Promise.all([
      generateClusterCertificate({ clock }),
      expiringIn(clock, 10 * MINUTE),
    ]);
    const { cp, dp, hash } = await link(clock, cpPair, dpPair, {
      certificateWarningMs: 5 * MINUTE,
    });
    const warnings: Array<{ nodeId: string; expiresAt: number }> = [];
    const rejections: Array<{ code: string }> = [];
    cp.on('certificateExpiring', (warning) => warnings.push(warning));
    cp.on('dataPlaneRejected', (rejection) => rejections.push(rejection));
    await clock.advance(4 * MINUTE);
    expect(warnings).toEqual([]);
    await clock.advance(2 * MINUTE);
    expect(warnings).toEqual([
      expect.objectContaining({ nodeId: dp.status.nodeId, expiresAt: expect.any(Number) }),
    ]);
    expect(warnings[0]!.expiresAt).toBe(cp.dataPlanes()[0]!.certExpiresAt);
    await clock.advance(3 * MINUTE);
    expect(warnings).toHaveLength(1); // once per DP and expiry
    expect(rejections).toEqual([]);
    // Past its end: closed as TRUST_EXPIRED, and refused from then on; the DP keeps serving.
    const closed = new Promise((resolve) => dp.once('disconnected', resolve));
    await clock.advance(2 * MINUTE);
    await closed;
    expect(rejections[0]).toMatchObject({ code: 'TRUST_EXPIRED', nodeId: dp.status.nodeId });
    expect(dp.currentConfig?.hash).toBe(hash);
    const refusedAgain = new Promise<{ code: string }>((resolve) => dp.once('rejected', resolve));
    await clock.advance(10_000);
    expect((await refusedAgain).code).toBe('TRUST_EXPIRED');
  });

  it('a DP whose chain runs out seconds after it connects is closed when it does, not at the next sweep', async () => {
    const clock = new FakeClock();
    const [cpPair, dpPair] = await Promise.all([
      generateClusterCertificate({ clock }),
      expiringIn(clock, 20_000),
    ]);
    const { cp, dp } = await link(clock, cpPair, dpPair);
    const rejections: Array<{ code: string }> = [];
    cp.on('dataPlaneRejected', (rejection) => rejections.push(rejection));
    const expiresAt = cp.dataPlanes()[0]!.certExpiresAt!;
    await clock.advance(expiresAt - clock.now());
    expect(rejections).toEqual([]);
    const closed = new Promise((resolve) => dp.once('disconnected', resolve));
    await clock.advance(1_000);
    await closed;
    expect(rejections[0]).toMatchObject({ code: 'TRUST_EXPIRED' });
  });

  it('a CP whose chain runs out between two heartbeats is left when it does, told once', async () => {
    const clock = new FakeClock();
    const [cpPair, dpPair] = await Promise.all([
      expiringIn(clock, 20_000),
      generateClusterCertificate({ clock }),
    ]);
    const { dp } = await link(clock, cpPair, dpPair);
    const rejections: Array<{ code: string }> = [];
    dp.on('rejected', (rejection) => rejections.push(rejection));
    const expiresAt = new TrustVerifier({
      mode: 'pinned',
      certificates: [cpPair.certificate],
      clock,
    }).verify(cpPair.certificate, { role: 'control-plane' });
    if (!expiresAt.ok) throw new Error(expiresAt.message);
    await clock.advance(expiresAt.expiresAt.getTime() - clock.now());
    expect(rejections).toEqual([]);
    const closed = new Promise((resolve) => dp.once('disconnected', resolve));
    await clock.advance(1_000);
    await closed;
    expect(rejections).toEqual([expect.objectContaining({ code: 'TRUST_EXPIRED' })]);
  });

  it("the DP says the CP's certificate runs out, once per link, and closes the link when it has, serving on", async () => {
    const clock = new FakeClock();
    const [cpPair, dpPair] = await Promise.all([
      expiringIn(clock, 10 * MINUTE),
      generateClusterCertificate({ clock }),
    ]);
    const { dp, hash } = await link(clock, cpPair, dpPair, { certificateWarningMs: 5 * MINUTE });
    const warnings: Array<{ expiresAt: number }> = [];
    const rejections: Array<{ code: string }> = [];
    dp.on('certificateExpiring', (warning) => warnings.push(warning));
    dp.on('rejected', (rejection) => rejections.push(rejection));
    await clock.advance(4 * MINUTE);
    expect(warnings).toEqual([]);
    // Looked at each heartbeat (30 s): within one of the warning time.
    await clock.advance(90_000);
    expect(warnings).toHaveLength(1);
    await clock.advance(4 * MINUTE);
    expect(warnings).toHaveLength(1);
    const closed = new Promise((resolve) => dp.once('disconnected', resolve));
    await clock.advance(MINUTE);
    await closed;
    expect(rejections[0]).toMatchObject({ code: 'TRUST_EXPIRED' });
    expect(dp.status.connection).not.toBe('connected');
    expect(dp.currentConfig?.hash).toBe(hash);
  });

  it('a DP connecting to a CP whose certificate runs out within the default 30 days is told at once', async () => {
    const clock = new FakeClock();
    const [cpPair, dpPair] = await Promise.all([
      expiringIn(clock, 20 * DAY),
      generateClusterCertificate({ clock }),
    ]);
    const transport = memoryTransport({ clock, certificates: [cpPair.certificate] });
    const trust = new TrustVerifier({
      mode: 'pinned',
      certificates: [cpPair.certificate, dpPair.certificate],
      clock,
    });
    const cp = new ControlPlane({
      transport: transport.server,
      trust,
      version: '3.10.0',
      clock,
      logger: silentLogger,
    });
    await cp.start();
    stops.push(() => cp.stop());
    const dp = new DataPlane({
      transport: transport.client({ certificates: [dpPair.certificate] }),
      trust,
      version: '3.10.0',
      clock,
      logger: silentLogger,
    });
    stops.push(() => dp.stop());
    const told = new Promise<{ expiresAt: number }>((resolve) =>
      dp.once('certificateExpiring', resolve),
    );
    await dp.start();
    const { expiresAt } = await told;
    expect(expiresAt - clock.now()).toBeGreaterThan(19 * DAY);
    expect(expiresAt - clock.now()).toBeLessThanOrEqual(20 * DAY);
  });
});

describe("a node's own certificate running out", () => {
  it('the CP and the DP each say their own certificate runs out within the warning time, once', async () => {
    const clock = new FakeClock();
    const [cpPair, dpPair] = await Promise.all([
      expiringIn(clock, 10 * MINUTE),
      expiringIn(clock, 20 * MINUTE),
    ]);
    const { cp, dp } = await link(clock, cpPair, dpPair, { certificateWarningMs: 15 * MINUTE });
    const cpOwn: number[] = [];
    const dpOwn: number[] = [];
    cp.on('identityExpiring', ({ expiresAt }) => cpOwn.push(expiresAt));
    dp.on('identityExpiring', ({ expiresAt }) => dpOwn.push(expiresAt));
    // The CP looks every minute; the DP at each heartbeat.
    await clock.advance(MINUTE);
    expect(cpOwn).toHaveLength(1);
    expect(cpOwn[0]! - clock.now()).toBeLessThanOrEqual(9 * MINUTE);
    expect(dpOwn).toEqual([]); // 19 minutes left: not within 15 yet
    await clock.advance(5 * MINUTE);
    expect(dpOwn).toHaveLength(1);
    expect(cpOwn).toHaveLength(1);
  });
});

describe("a DP's trust rotated", () => {
  it('setTrust: the link up stays; with recheck, a CP no longer trusted is refused and the DP serves on', async () => {
    const clock = new FakeClock();
    const [cpPair, dpPair, other] = await Promise.all([
      generateClusterCertificate({ clock }),
      generateClusterCertificate({ clock }),
      generateClusterCertificate({ clock }),
    ]);
    const { dp, hash } = await link(clock, cpPair, dpPair);
    const rejections: Array<{ code: string }> = [];
    dp.on('rejected', (rejection) => rejections.push(rejection));
    // A second pin beside the first (a rollover's first step): nothing moves.
    dp.setTrust(
      new TrustVerifier({
        mode: 'pinned',
        certificates: [cpPair.certificate, other.certificate],
        clock,
      }),
      { recheck: true },
    );
    expect(dp.status.connection).toBe('connected');
    // Without recheck, a trust that takes no longer this CP leaves the link up.
    const strangers = new TrustVerifier({
      mode: 'pinned',
      certificates: [other.certificate],
      clock,
    });
    dp.setTrust(strangers);
    expect(dp.status.connection).toBe('connected');
    // With recheck, it is judged now: refused, closed, and refused again on each retry.
    const closed = new Promise((resolve) => dp.once('disconnected', resolve));
    dp.setTrust(strangers, { recheck: true });
    await closed;
    expect(rejections).toEqual([expect.objectContaining({ code: 'TRUST_PIN_MISMATCH' })]);
    await clock.advance(10_000);
    expect(rejections.length).toBeGreaterThanOrEqual(2);
    expect(dp.currentConfig?.hash).toBe(hash);
    expect(() => dp.setTrust({} as TrustVerifier)).toThrow(/TrustVerifier/);
  });
});

describe('pinned mode: rolling the shared pair, as docs/trust.md says', () => {
  it('second pin on every node, new pair rolled out, old pin removed: links up stay until the last step, then come back on the new pair', async () => {
    const clock = new FakeClock();
    const [old, next] = await Promise.all([
      generateClusterCertificate({ clock }),
      generateClusterCertificate({ clock }),
    ]);
    const pinned = (...pairs: CertificateKeyPair[]) =>
      new TrustVerifier({ mode: 'pinned', certificates: pairs.map((p) => p.certificate), clock });
    const transport = memoryTransport({ clock, certificates: [old.certificate] });
    const cp = new ControlPlane({
      transport: transport.server,
      trust: pinned(old),
      version: '3.10.0',
      clock,
      logger: silentLogger,
      pushIntervalMs: 0,
    });
    await cp.start();
    stops.push(() => cp.stop());
    const { hash } = await cp.setConfig(config);
    const dps = [1, 2].map((n) => {
      const dp = new DataPlane({
        transport: transport.client({ certificates: [old.certificate] }),
        trust: pinned(old),
        version: '3.10.0',
        clock,
        logger: silentLogger,
        random: () => 0,
        nodeId: `dp-${n}`,
      });
      stops.push(() => dp.stop());
      return dp;
    });
    for (const dp of dps) {
      await dp.start();
      await dp.waitForConfig({ hash });
    }
    let drops = 0;
    for (const dp of dps) dp.on('disconnected', () => drops++);
    const leaf = (pair: CertificateKeyPair) =>
      createHash('sha256').update(decodePemCertificates(pair.certificate)[0]!).digest('hex');

    // 1. Every node trusts both pins.
    cp.setTrust(pinned(old, next), { recheck: true });
    for (const dp of dps) dp.setTrust(pinned(old, next), { recheck: true });
    // 2. Every node presents the new pair from its next handshake on.
    cp.setIdentity({ cert: next.certificate, key: next.privateKey });
    for (const dp of dps) dp.setIdentity({ cert: next.certificate, key: next.privateKey });
    const second = await cp.setConfig({ ...config, services: [{ name: 'b', host: 'b.internal' }] });
    for (const dp of dps) await dp.waitForConfig({ hash: second.hash });
    expect(drops).toBe(0);
    // 3. The old pin removed, rechecked: the links made under it close once and come back
    // presenting the new pair.
    for (const dp of dps) dp.setTrust(pinned(next));
    cp.setTrust(pinned(next), { recheck: true });
    await expect.poll(() => drops).toBe(2);
    await clock.advance(10_000);
    await expect
      .poll(() =>
        cp
          .dataPlanes()
          .filter((dp) => dp.connected)
          .map((dp) => dp.certFingerprint),
      )
      .toEqual([leaf(next), leaf(next)]);
  });
});

describe('identities replaced on the memory transport', () => {
  it("the CP's and a DP's setIdentity present the new pair from the next connection on; a key not the certificate's is refused", async () => {
    const clock = new FakeClock();
    const [first, second] = await Promise.all([
      generateClusterCertificate({ clock }),
      generateClusterCertificate({ clock }),
    ]);
    const { cp, dp } = await link(clock, first, first);
    for (const node of [cp, dp])
      expect(() => node.setIdentity({ cert: second.certificate, key: first.privateKey })).toThrow(
        /does not belong/,
      );
    const leaf = (pair: CertificateKeyPair) =>
      createHash('sha256').update(decodePemCertificates(pair.certificate)[0]!).digest('hex');
    cp.setIdentity({ cert: second.certificate, key: second.privateKey });
    dp.setIdentity({ cert: second.certificate, key: second.privateKey });
    // The link up keeps what it presented.
    expect(dp.status.connection).toBe('connected');
    expect(cp.dataPlanes()[0]!.certFingerprint).toBe(leaf(first));
    // Both sides trust the new pair as well; the CP drops the old one, rechecked: the DP's
    // next connection presents the new pair, and sees the CP's.
    const both = new TrustVerifier({
      mode: 'pinned',
      certificates: [first.certificate, second.certificate],
      clock,
    });
    dp.setTrust(both);
    const back = new Promise((resolve) => cp.once('dataPlaneConnected', resolve));
    cp.setTrust(new TrustVerifier({ mode: 'pinned', certificates: [second.certificate], clock }), {
      recheck: true,
    });
    await clock.advance(10_000);
    await back;
    expect(cp.dataPlanes()[0]!.certFingerprint).toBe(leaf(second));

    const bare = new ControlPlane({
      transport: { listen: async () => ({ address: 'x' }), close: async () => undefined },
      trust: new TrustVerifier({ mode: 'pinned', certificates: [first.certificate] }),
      version: '3.10.0',
    });
    expect(() => bare.setIdentity({ cert: second.certificate, key: second.privateKey })).toThrow(
      /cannot replace its certificate/,
    );
  });
});

describe('PKI rollovers', () => {
  /** A CP and `count` DPs on one memory transport in PKI mode, each trusting `anchors`. */
  async function pkiCluster(
    clock: FakeClock,
    cpChain: { cert: string[]; key: string },
    dpChain: { cert: string[]; key: string },
    anchors: string[],
  ) {
    const trust = () => new TrustVerifier({ mode: 'pki', trustAnchors: anchors, clock });
    const transport = memoryTransport({ clock, certificates: cpChain.cert });
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
    const dp = new DataPlane({
      transport: transport.client({ certificates: dpChain.cert, serverName: 'cp.internal' }),
      trust: trust(),
      version: '3.10.0',
      clock,
      logger: silentLogger,
      random: () => 0,
    });
    stops.push(() => dp.stop());
    const { hash } = await cp.setConfig(config);
    await dp.start();
    await dp.waitForConfig({ hash });
    return { cp, dp, transport, trust };
  }

  const leaf = (issuer: CertificateKeyPair, usage: 'server' | 'client', clock: FakeClock) =>
    issueCertificate({
      issuer,
      commonName: usage === 'server' ? 'cp.internal' : 'dp',
      usage,
      clock,
      ...(usage === 'server' ? { altNames: ['cp.internal'] } : {}),
    });
  const chain = (pair: CertificateKeyPair, ca: CertificateKeyPair) => ({
    cert: [pair.certificate, ca.certificate],
    key: pair.privateKey,
  });

  it('an intermediate replaced under the same root: the nodes present new chains, no link drops, anchors untouched', async () => {
    const clock = new FakeClock();
    const root = await createCertificateAuthority({ commonName: 'root', clock });
    const [oldCa, newCa] = await Promise.all([
      createCertificateAuthority({ commonName: 'ca-1', issuer: root, clock }),
      createCertificateAuthority({ commonName: 'ca-2', issuer: root, clock }),
    ]);
    const [cpOld, dpOld, cpNew, dpNew] = await Promise.all([
      leaf(oldCa, 'server', clock),
      leaf(oldCa, 'client', clock),
      leaf(newCa, 'server', clock),
      leaf(newCa, 'client', clock),
    ]);
    const { cp, dp } = await pkiCluster(clock, chain(cpOld, oldCa), chain(dpOld, oldCa), [
      root.certificate,
    ]);
    let drops = 0;
    dp.on('disconnected', () => drops++);
    cp.setIdentity(chain(cpNew, newCa));
    dp.setIdentity(chain(dpNew, newCa));
    // Rechecked against the same anchors: the links up stay.
    cp.setTrust(new TrustVerifier({ mode: 'pki', trustAnchors: [root.certificate], clock }), {
      recheck: true,
    });
    const next = await cp.setConfig({ ...config, services: [{ name: 'b', host: 'b.internal' }] });
    await dp.waitForConfig({ hash: next.hash });
    expect(drops).toBe(0);
  });

  it('a root replaced: both roots trusted, the chains reissued under the new one, the old root removed with recheck', async () => {
    const clock = new FakeClock();
    const [oldRoot, newRoot] = await Promise.all([
      createCertificateAuthority({ commonName: 'root-1', clock }),
      createCertificateAuthority({ commonName: 'root-2', clock }),
    ]);
    const [cpOld, dpOld, cpNew, dpNew, straggler] = await Promise.all([
      leaf(oldRoot, 'server', clock),
      leaf(oldRoot, 'client', clock),
      leaf(newRoot, 'server', clock),
      leaf(newRoot, 'client', clock),
      leaf(oldRoot, 'client', clock),
    ]);
    const { cp, dp, transport } = await pkiCluster(
      clock,
      chain(cpOld, oldRoot),
      chain(dpOld, oldRoot),
      [oldRoot.certificate],
    );
    // 1. Both roots trusted on every node: nothing moves.
    const both = new TrustVerifier({
      mode: 'pki',
      trustAnchors: [oldRoot.certificate, newRoot.certificate],
      clock,
    });
    cp.setTrust(both, { recheck: true });
    dp.setTrust(both, { recheck: true });
    expect(dp.status.connection).toBe('connected');
    // 2. Every node's chain reissued under the new root.
    cp.setIdentity(chain(cpNew, newRoot));
    dp.setIdentity(chain(dpNew, newRoot));
    // A node not reissued yet, connected meanwhile.
    const late = new DataPlane({
      transport: transport.client({
        certificates: [straggler.certificate, oldRoot.certificate],
        serverName: 'cp.internal',
      }),
      trust: both,
      version: '3.10.0',
      clock,
      logger: silentLogger,
      random: () => 0,
    });
    stops.push(() => late.stop());
    await late.start();
    await expect.poll(() => late.status.connection).toBe('connected');
    // 3. The old root removed, rechecked: links still on it close; the reissued DP's link was
    // made under the old chain, so it reconnects presenting the new one.
    const rejected: string[] = [];
    cp.on('dataPlaneRejected', (rejection) => rejected.push(rejection.code));
    const onlyNew = new TrustVerifier({ mode: 'pki', trustAnchors: [newRoot.certificate], clock });
    cp.setTrust(onlyNew, { recheck: true });
    dp.setTrust(onlyNew);
    expect(rejected).toContain('TRUST_UNTRUSTED_ISSUER');
    await clock.advance(10_000);
    await expect.poll(() => dp.status.connection).toBe('connected');
    expect(late.status.connection).not.toBe('connected');
    const next = await cp.setConfig({ ...config, services: [{ name: 'c', host: 'c.internal' }] });
    await dp.waitForConfig({ hash: next.hash });
  });
});

describe('a root changed over through a cross-signed period', () => {
  it('a chain under the new root with its cross-signed certificate is trusted by the old root and by the new one: no link drops as anchors change', async () => {
    // The certificates' clock and the verifiers': one, so none is "not yet valid".
    const clock = new FakeClock(Date.now());
    const [oldRoot, newRoot] = await Promise.all([
      createCertificateAuthority({ commonName: 'root-2020', clock }),
      createCertificateAuthority({ commonName: 'root-2030', clock }),
    ]);
    // The new root's name and key, signed by the old root.
    const cross = await createCertificateAuthority({
      commonName: 'ignored',
      issuer: oldRoot,
      crossSign: newRoot,
      clock,
    });
    const [cpLeaf, dpLeaf] = await Promise.all([
      issueCertificate({
        issuer: newRoot,
        commonName: 'cp.internal',
        usage: 'server',
        altNames: ['cp.internal'],
        clock,
      }),
      issueCertificate({ issuer: newRoot, commonName: 'dp', usage: 'client', clock }),
    ]);
    const verifier = (anchors: string[]) =>
      new TrustVerifier({ mode: 'pki', trustAnchors: anchors, clock });
    const dpChain = [dpLeaf.certificate, cross.certificate];
    // One chain, three trust states of the period.
    for (const anchors of [
      [oldRoot.certificate],
      [oldRoot.certificate, newRoot.certificate],
      [newRoot.certificate],
    ])
      expect(verifier(anchors).verify(dpChain, { role: 'data-plane' }).ok).toBe(true);
    // Without the cross-signed certificate, the old root knows nothing of it.
    expect(
      verifier([oldRoot.certificate]).verify([dpLeaf.certificate], { role: 'data-plane' }),
    ).toMatchObject({
      ok: false,
      code: 'TRUST_UNTRUSTED_ISSUER',
    });

    // End to end: nodes on the old root's trust take the reissued chains, then switch.
    const transport = memoryTransport({
      clock,
      certificates: [cpLeaf.certificate, cross.certificate],
    });
    const cp = new ControlPlane({
      transport: transport.server,
      trust: verifier([oldRoot.certificate]),
      version: '3.10.0',
      clock,
      logger: silentLogger,
      pushIntervalMs: 0,
    });
    await cp.start();
    stops.push(() => cp.stop());
    const dp = new DataPlane({
      transport: transport.client({ certificates: dpChain, serverName: 'cp.internal' }),
      trust: verifier([oldRoot.certificate]),
      version: '3.10.0',
      clock,
      logger: silentLogger,
      random: () => 0,
    });
    stops.push(() => dp.stop());
    const { hash } = await cp.setConfig(config);
    await dp.start();
    await dp.waitForConfig({ hash });
    let drops = 0;
    dp.on('disconnected', () => drops++);
    cp.setTrust(verifier([newRoot.certificate]), { recheck: true });
    dp.setTrust(verifier([newRoot.certificate]), { recheck: true });
    const next = await cp.setConfig({ ...config, services: [{ name: 'x', host: 'x.internal' }] });
    await dp.waitForConfig({ hash: next.hash });
    expect(drops).toBe(0);
    await expect(
      createCertificateAuthority({ commonName: 'x', crossSign: newRoot }),
    ).rejects.toThrow(/needs the issuer/);
  });
});

describe('revocation in PKI mode: CRLs', () => {
  async function pki() {
    const root = await createCertificateAuthority({ commonName: 'crl root' });
    const ca = await createCertificateAuthority({ commonName: 'crl ca', issuer: root });
    const [cpLeaf, good, bad] = await Promise.all([
      issueCertificate({
        issuer: ca,
        commonName: 'cp.internal',
        usage: 'server',
        altNames: ['cp.internal'],
      }),
      issueCertificate({ issuer: ca, commonName: 'good', usage: 'client' }),
      issueCertificate({ issuer: ca, commonName: 'bad', usage: 'client' }),
    ]);
    return { root, ca, cpLeaf, good, bad };
  }

  it('refuses a certificate its issuer revoked (TRUST_REVOKED), and only that one', async () => {
    const { root, ca, good, bad } = await pki();
    const list = await crl(ca, [bad]);
    const dir = await mkdtemp(join(tmpdir(), 'planesync-crl-'));
    stops.push(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'ca.crl'), list);
    // PEM text, DER and a file path are all CRLs.
    const der = new x509.X509Crl(list).rawData;
    for (const crls of [[list], [new Uint8Array(der)], [join(dir, 'ca.crl')]]) {
      const trust = new TrustVerifier({ mode: 'pki', trustAnchors: [root.certificate], crls });
      const judge = (pair: CertificateKeyPair) =>
        trust.verify([pair.certificate, ca.certificate], { role: 'data-plane' });
      expect(judge(bad)).toMatchObject({ ok: false, code: 'TRUST_REVOKED' });
      expect(judge(good).ok).toBe(true);
    }
  });

  it('a damaged CRL is INVALID_ARGUMENT, never another throw: every truncation and random byte flips', async () => {
    const { ca, bad } = await pki();
    const der = new Uint8Array(new x509.X509Crl(await crl(ca, [bad])).rawData);
    const outcome = (bytes: Uint8Array) => {
      try {
        readCrls([bytes]);
        return 'read';
      } catch (error) {
        return (error as { code?: string }).code ?? `threw ${String(error)}`;
      }
    };
    for (let length = 0; length < der.length; length++)
      expect(['read', 'INVALID_ARGUMENT']).toContain(outcome(der.subarray(0, length)));
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(der.length - 1), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 8,
        }),
        (flips) => {
          const copy = new Uint8Array(der);
          for (const [at, value] of flips) copy[at] = value;
          expect(['read', 'INVALID_ARGUMENT']).toContain(outcome(copy));
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('does not use a CRL its named issuer did not sign; refuses at once one naming an anchor that did not sign it', async () => {
    const { root, ca, good, bad } = await pki();
    // The same name as the CA, another key: not the CA's CRL.
    const impostor = await createCertificateAuthority({ commonName: 'crl ca', issuer: root });
    const forged = await crl(impostor, [bad, good]);
    const trust = new TrustVerifier({
      mode: 'pki',
      trustAnchors: [root.certificate],
      crls: [forged],
    });
    expect(trust.verify([bad.certificate, ca.certificate], { role: 'data-plane' }).ok).toBe(true);
    // A CRL naming the root, signed by another key: a wrong file, said when the verifier is made.
    const otherRoot = await createCertificateAuthority({ commonName: 'crl root' });
    const wrong = await crl(otherRoot, [ca]);
    expect(
      () => new TrustVerifier({ mode: 'pki', trustAnchors: [root.certificate], crls: [wrong] }),
    ).toThrow(/did not sign it/);
    expect(
      () =>
        new TrustVerifier({ mode: 'pki', trustAnchors: [root.certificate], crls: ['not a crl'] }),
    ).toThrow(/CRL/);
  });

  it('a new CRL taken at run time, rechecked: the revoked DP connected is closed and refused, the other stays', async () => {
    const { root, ca, cpLeaf, good, bad } = await pki();
    // The certificates were issued now, by the real clock.
    const clock = new FakeClock(Date.now());
    const anchors = [root.certificate];
    const transport = memoryTransport({
      clock,
      certificates: [cpLeaf.certificate, ca.certificate],
    });
    const cp = new ControlPlane({
      transport: transport.server,
      trust: new TrustVerifier({ mode: 'pki', trustAnchors: anchors }),
      version: '3.10.0',
      clock,
      logger: silentLogger,
    });
    await cp.start();
    stops.push(() => cp.stop());
    const { hash } = await cp.setConfig(config);
    const dps = [good, bad].map((pair) => {
      const dp = new DataPlane({
        transport: transport.client({
          certificates: [pair.certificate, ca.certificate],
          serverName: 'cp.internal',
        }),
        trust: new TrustVerifier({ mode: 'pki', trustAnchors: anchors }),
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
    const rejected: string[] = [];
    cp.on('dataPlaneRejected', (rejection) => rejected.push(rejection.code));
    cp.setTrust(
      new TrustVerifier({ mode: 'pki', trustAnchors: anchors, crls: [await crl(ca, [bad])] }),
      { recheck: true },
    );
    expect(rejected).toEqual(['TRUST_REVOKED']);
    await clock.advance(10_000);
    expect(dps[0]!.status.connection).toBe('connected');
    expect(dps[1]!.status.connection).not.toBe('connected');
    expect(rejected.filter((code) => code === 'TRUST_REVOKED').length).toBeGreaterThanOrEqual(2);
  });
});
