// OCSP answers built by hand and served from loopback: what a malicious or broken responder
// may send — a delegate the issuer no longer vouches for, an answer about another
// certificate, one replayed from long ago, bytes that never stop or never end.
import { sign, webcrypto, X509Certificate } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
// @peculiar/x509 needs the Reflect metadata API first (as core's certificate tools install it).
import '../src/trust/reflect-polyfill.ts';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  type CertificateKeyPair,
  ControlPlane,
  createCertificateAuthority,
  DataPlane,
  generateClusterCertificate,
  issueCertificate,
  memoryTransport,
  silentLogger,
  TrustVerifier,
} from '../src/index.ts';
import { children, encode, oidContents, sequence } from '../src/trust/der.ts';
import { checkOcsp, ocspRequest } from '../src/trust/ocsp.ts';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;

function oid(dotted: string): Uint8Array {
  return encode(0x06, oidContents(dotted));
}

function generalizedTime(at: number): Uint8Array {
  const text = `${new Date(at).toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
  return encode(0x18, Buffer.from(text, 'latin1'));
}

async function importPrivate(pair: CertificateKeyPair) {
  const der = Buffer.from(pair.privateKey.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const certificate = new x509.X509Certificate(pair.certificate);
  return webcrypto.subtle.importKey(
    'pkcs8',
    der,
    certificate.publicKey.algorithm as webcrypto.EcKeyImportParams,
    false,
    ['sign'],
  );
}

/** A certificate `issuer` signs, valid over [notBefore, notAfter], with the extensions asked. */
async function certificate(
  issuer: CertificateKeyPair,
  name: string,
  options: { notBefore: number; notAfter: number; ocspUrl?: string; ocspSigning?: boolean },
): Promise<{ pem: string; keys: webcrypto.CryptoKeyPair }> {
  const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const issuerCertificate = new x509.X509Certificate(issuer.certificate);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    await x509.AuthorityKeyIdentifierExtension.create(
      issuerCertificate.publicKey,
      false,
      webcrypto,
    ),
  ];
  if (options.ocspUrl)
    extensions.push(new x509.AuthorityInfoAccessExtension({ ocsp: [options.ocspUrl] }));
  extensions.push(
    new x509.ExtendedKeyUsageExtension(
      options.ocspSigning ? ['1.3.6.1.5.5.7.3.9'] : [x509.ExtendedKeyUsage.clientAuth],
    ),
  );
  const created = await x509.X509CertificateGenerator.create(
    {
      serialNumber: `01${Math.floor(Math.random() * 2 ** 40).toString(16)}`,
      subject: `CN=${name}`,
      issuer: issuerCertificate.subject,
      notBefore: new Date(options.notBefore),
      notAfter: new Date(options.notAfter),
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' },
      publicKey: keys.publicKey,
      signingKey: await importPrivate(issuer),
      extensions,
    },
    webcrypto,
  );
  return { pem: created.toString('pem'), keys };
}

/** The CertID of an OCSP request for `leaf` (the one the responder is asked about). */
function certIdOf(leaf: X509Certificate, issuer: X509Certificate): Uint8Array {
  const request = ocspRequest(leaf, issuer);
  let node = sequence(request, 0, request.length);
  for (let depth = 0; depth < 4; depth++) node = children(request, node)[0]!;
  return request.subarray(node.headerStart, node.end);
}

/** A signed OCSPResponse saying `status` of `certId`, signed by `key`, carrying `certs`. */
async function answer(options: {
  certId: Uint8Array;
  status: 'good' | 'revoked';
  thisUpdate: number;
  nextUpdate?: number;
  key: webcrypto.CryptoKey | string;
  certs?: string[];
}): Promise<Uint8Array> {
  const certStatus =
    options.status === 'good'
      ? encode(0x80)
      : encode(0xa1, generalizedTime(options.thisUpdate - DAY));
  const single = encode(
    0x30,
    options.certId,
    certStatus,
    generalizedTime(options.thisUpdate),
    ...(options.nextUpdate !== undefined
      ? [encode(0xa0, generalizedTime(options.nextUpdate))]
      : []),
  );
  const tbs = encode(
    0x30,
    encode(0xa2, encode(0x04, new Uint8Array(20))),
    generalizedTime(options.thisUpdate),
    encode(0x30, single),
  );
  const key =
    typeof options.key === 'string'
      ? options.key
      : Buffer.from(await webcrypto.subtle.exportKey('pkcs8', options.key)).toString('base64');
  const pem = key.includes('-----')
    ? key
    : `-----BEGIN PRIVATE KEY-----\n${key}\n-----END PRIVATE KEY-----`;
  const signature = sign('sha256', tbs, pem);
  const certs = (options.certs ?? []).map((text) => new X509Certificate(text).raw);
  const basic = encode(
    0x30,
    tbs,
    encode(0x30, oid('1.2.840.10045.4.3.2')),
    encode(0x03, new Uint8Array([0]), signature),
    ...(certs.length > 0 ? [encode(0xa0, encode(0x30, ...certs))] : []),
  );
  return encode(
    0x30,
    encode(0x0a, new Uint8Array([0])),
    encode(0xa0, encode(0x30, oid('1.3.6.1.5.5.7.48.1.1'), encode(0x04, basic))),
  );
}

describe('OCSP answers a responder should not get away with', () => {
  let server: Server;
  let url: string;
  let respond: (response: ServerResponse) => void = (response) => response.end();
  let ca: CertificateKeyPair;
  let issuer: X509Certificate;
  let leaf: X509Certificate;
  const now = Date.now();

  beforeAll(async () => {
    server = createServer((request, response) => {
      request.resume();
      request.on('end', () => respond(response));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    ca = await createCertificateAuthority({ commonName: 'ocsp ca' });
    issuer = new X509Certificate(ca.certificate);
    leaf = new X509Certificate(
      (await certificate(ca, 'dp', { notBefore: now - DAY, notAfter: now + DAY, ocspUrl: url }))
        .pem,
    );
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const serve = (der: Uint8Array) => {
    respond = (response) => {
      response.writeHead(200, { 'content-type': 'application/ocsp-response' });
      response.end(der);
    };
  };

  it('takes a good answer signed by the issuer, or by a delegate it issued for OCSP signing', async () => {
    serve(
      await answer({
        certId: certIdOf(leaf, issuer),
        status: 'good',
        thisUpdate: now - HOUR,
        nextUpdate: now + HOUR,
        key: ca.privateKey,
      }),
    );
    expect(await checkOcsp(leaf, issuer, { at: now })).toMatchObject({ status: 'good' });
    const delegate = await certificate(ca, 'responder', {
      notBefore: now - DAY,
      notAfter: now + DAY,
      ocspSigning: true,
    });
    serve(
      await answer({
        certId: certIdOf(leaf, issuer),
        status: 'good',
        thisUpdate: now - HOUR,
        nextUpdate: now + HOUR,
        key: delegate.keys.privateKey,
        certs: [delegate.pem],
      }),
    );
    expect(await checkOcsp(leaf, issuer, { at: now })).toMatchObject({ status: 'good' });
  });

  it('does not take a good answer from a delegate whose certificate has run out or is not valid yet', async () => {
    for (const [notBefore, notAfter] of [
      [now - 30 * DAY, now - DAY],
      [now + DAY, now + 30 * DAY],
    ] as const) {
      const delegate = await certificate(ca, 'responder', {
        notBefore,
        notAfter,
        ocspSigning: true,
      });
      serve(
        await answer({
          certId: certIdOf(leaf, issuer),
          status: 'good',
          thisUpdate: now - HOUR,
          nextUpdate: now + HOUR,
          key: delegate.keys.privateKey,
          certs: [delegate.pem],
        }),
      );
      expect((await checkOcsp(leaf, issuer, { at: now })).status).toBe('unknown');
    }
  });

  it('does not take a delegate the issuer did not sign, nor one without the OCSP-signing usage', async () => {
    const stranger = await createCertificateAuthority({ commonName: 'ocsp ca' });
    const foreign = await certificate(stranger, 'responder', {
      notBefore: now - DAY,
      notAfter: now + DAY,
      ocspSigning: true,
    });
    const plain = await certificate(ca, 'another dp', {
      notBefore: now - DAY,
      notAfter: now + DAY,
    });
    for (const delegate of [foreign, plain]) {
      serve(
        await answer({
          certId: certIdOf(leaf, issuer),
          status: 'good',
          thisUpdate: now - HOUR,
          nextUpdate: now + HOUR,
          key: delegate.keys.privateKey,
          certs: [delegate.pem],
        }),
      );
      expect((await checkOcsp(leaf, issuer, { at: now })).status).toBe('unknown');
    }
  });

  it('does not take a good answer about another certificate, nor a stale one', async () => {
    const other = new X509Certificate(
      (await certificate(ca, 'other', { notBefore: now - DAY, notAfter: now + DAY, ocspUrl: url }))
        .pem,
    );
    serve(
      await answer({
        certId: certIdOf(other, issuer),
        status: 'good',
        thisUpdate: now - HOUR,
        nextUpdate: now + HOUR,
        key: ca.privateKey,
      }),
    );
    expect((await checkOcsp(leaf, issuer, { at: now })).status).toBe('unknown');
    serve(
      await answer({
        certId: certIdOf(leaf, issuer),
        status: 'good',
        thisUpdate: now - 30 * DAY,
        nextUpdate: now - 29 * DAY,
        key: ca.privateKey,
      }),
    );
    expect(await checkOcsp(leaf, issuer, { at: now })).toMatchObject({
      status: 'unknown',
      reason: 'the answer is stale',
    });
  });

  it('an answer that trickles in past the deadline is unknown by the deadline', async () => {
    respond = (response) => {
      response.writeHead(200, { 'content-type': 'application/ocsp-response' });
      response.write(Buffer.from([0x30]));
      const drip = setInterval(() => response.write(Buffer.from([0x00])), 20);
      response.on('close', () => clearInterval(drip));
    };
    const started = Date.now();
    const result = await checkOcsp(leaf, issuer, { at: now, timeoutMs: 300 });
    expect(result.status).toBe('unknown');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('an answer past 64 KiB is unknown, not held in memory', async () => {
    respond = (response) => {
      response.writeHead(200, { 'content-type': 'application/ocsp-response' });
      const chunk = Buffer.alloc(16 * 1024);
      const pump = setInterval(() => response.write(chunk), 1);
      response.on('close', () => clearInterval(pump));
    };
    const result = await checkOcsp(leaf, issuer, { at: now, timeoutMs: 5_000 });
    expect(result.status).toBe('unknown');
    expect(result.reason).toMatch(/64|65536/);
  });
});

describe('cluster_ocsp while the responder says nothing', () => {
  let server: Server;
  let url: string;
  /** The requests the responder holds open, and how many it was sent. */
  const held = new Set<ServerResponse>();
  let asked = 0;
  let ca: CertificateKeyPair;
  let cpChain: string[];
  let dpChain: string[];

  beforeAll(async () => {
    server = createServer((request, response) => {
      asked++;
      request.resume();
      held.add(response);
      response.on('close', () => held.delete(response));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    ca = await createCertificateAuthority({ commonName: 'ocsp ca' });
    const cp = await issueCertificate({
      issuer: ca,
      commonName: 'cp.internal',
      usage: 'server',
      altNames: ['cp.internal'],
    });
    cpChain = [cp.certificate, ca.certificate];
    const now = Date.now();
    dpChain = [
      (await certificate(ca, 'dp', { notBefore: now - DAY, notAfter: now + DAY, ocspUrl: url }))
        .pem,
      ca.certificate,
    ];
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  /** Polls a loopback server's state, which no fake clock drives. */
  async function waitFor(what: string, check: () => boolean) {
    for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
    expect(check(), what).toBe(true);
  }

  function planes() {
    const transport = memoryTransport({ certificates: cpChain });
    const trust = () => new TrustVerifier({ mode: 'pki', trustAnchors: [ca.certificate] });
    const cp = new ControlPlane({
      transport: transport.server,
      trust: trust(),
      version: '3.10.0',
      logger: silentLogger,
      ocsp: 'on',
      ocspTimeoutMs: 60_000,
    });
    const dp = () =>
      new DataPlane({
        transport: transport.client({ certificates: dpChain, serverName: 'cp.internal' }),
        trust: trust(),
        version: '3.10.0',
        logger: silentLogger,
        reconnectDelayMs: [60_000, 60_000],
      });
    return { cp, dp };
  }

  it('stop() ends the OCSP requests in flight, and serves no DP after', async () => {
    const { cp, dp } = planes();
    const connected = vi.fn();
    cp.on('dataPlaneConnected', connected);
    await cp.start();
    const node = dp();
    await node.start();
    const before = asked;
    await waitFor('the responder is asked', () => asked === before + 1 && held.size === 1);
    await cp.stop();
    await waitFor('no request is left open', () => held.size === 0);
    await node.stop();
    expect(connected).not.toHaveBeenCalled();
  });

  it('a DP that goes away while its certificate is asked about ends the request: DPs that come and go do not pile requests up', async () => {
    const { cp, dp } = planes();
    await cp.start();
    try {
      for (let i = 0; i < 5; i++) {
        const node = dp();
        const before = asked;
        await node.start();
        await waitFor('the responder is asked', () => asked === before + 1);
        await node.stop();
      }
      await waitFor('no request is left open', () => held.size === 0);
    } finally {
      await cp.stop();
    }
  });
});

describe('cluster_ocsp where it cannot ask', () => {
  it("is refused in pinned mode, as Kong's cluster_ocsp outside pki mode: it would check nothing", async () => {
    const pair = await generateClusterCertificate();
    const pinned = new TrustVerifier({ mode: 'pinned', certificates: [pair.certificate] });
    const transport = memoryTransport({ certificates: [pair.certificate] });
    const make = (ocsp: 'on' | 'optional' | 'off') =>
      new ControlPlane({ transport: transport.server, trust: pinned, version: '3.10.0', ocsp });
    expect(() => make('on')).toThrow(/pki/);
    expect(() => make('optional')).toThrow(/pki/);
    const ca = await createCertificateAuthority({ commonName: 'ca' });
    const cp = new ControlPlane({
      transport: transport.server,
      trust: new TrustVerifier({ mode: 'pki', trustAnchors: [ca.certificate] }),
      version: '3.10.0',
      ocsp: 'on',
    });
    expect(() => cp.setTrust(pinned)).toThrow(/pki/);
    expect(make('off')).toBeInstanceOf(ControlPlane);
  });

  it("'on' refuses a DP whose certificate is itself a trust anchor: there is no issuer to ask about it", async () => {
    const ca = await createCertificateAuthority({ commonName: 'ca' });
    const cpLeaf = await issueCertificate({
      issuer: ca,
      commonName: 'cp.internal',
      usage: 'server',
      altNames: ['cp.internal'],
    });
    const dpLeaf = await issueCertificate({ issuer: ca, commonName: 'dp', usage: 'client' });
    const outcome = async (ocsp: 'on' | 'optional') => {
      const transport = memoryTransport({ certificates: [cpLeaf.certificate, ca.certificate] });
      const cp = new ControlPlane({
        transport: transport.server,
        // The DP's leaf trusted as an anchor of its own.
        trust: new TrustVerifier({ mode: 'pki', trustAnchors: [dpLeaf.certificate] }),
        version: '3.10.0',
        logger: silentLogger,
        ocsp,
      });
      await cp.start();
      const dp = new DataPlane({
        transport: transport.client({
          certificates: [dpLeaf.certificate],
          serverName: 'cp.internal',
        }),
        trust: new TrustVerifier({ mode: 'pki', trustAnchors: [ca.certificate] }),
        version: '3.10.0',
        logger: silentLogger,
        reconnectDelayMs: [60_000, 60_000],
      });
      const seen = new Promise<string>((resolve) => {
        cp.once('dataPlaneRejected', (rejection) => resolve(rejection.code));
        cp.once('dataPlaneConnected', () => resolve('connected'));
      });
      await dp.start();
      try {
        return await seen;
      } finally {
        await dp.stop();
        await cp.stop();
      }
    };
    expect(await outcome('on')).toBe('TRUST_REVOCATION_UNKNOWN');
    expect(await outcome('optional')).toBe('connected');
  });
});
