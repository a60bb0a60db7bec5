import {
  type CertificateKeyPair,
  ControlPlane,
  createCertificateAuthority,
  issueCertificate,
  TrustVerifier,
} from '@planesync/core';
import { FakeClock } from '@planesync/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tcpClient, tcpServer } from '../src/index.ts';

const DAY = 86_400_000;

/**
 * Certificate abuse over real mutual TLS: each bad DP certificate is refused with its code,
 * and the DP receives not one byte of config.
 */
describe('certificate abuse over real TLS: refused with its code, no config byte sent', () => {
  let root: CertificateKeyPair;
  let intermediate: CertificateKeyPair;
  let cp: ControlPlane;
  let port: number;
  const cases: Array<[string, () => Promise<{ cert: string[]; key: string }>, string]> = [];

  beforeAll(async () => {
    root = await createCertificateAuthority({ commonName: 'Abuse Root' });
    intermediate = await createCertificateAuthority({
      commonName: 'Abuse Intermediate',
      issuer: root,
    });
    const server = await issueCertificate({
      issuer: intermediate,
      commonName: 'cp',
      usage: 'server',
      altNames: ['127.0.0.1'],
    });
    const transport = tcpServer({
      host: '127.0.0.1',
      port: 0,
      tls: { cert: [server.certificate, intermediate.certificate], key: server.privateKey },
    });
    cp = new ControlPlane({
      transport,
      trust: new TrustVerifier({ mode: 'pki', trustAnchors: [root.certificate] }),
      version: '3.10.0',
    });
    await cp.start();
    await cp.setConfig({
      _format_version: '3.0',
      services: [{ name: 'secret', host: 'secret.internal' }],
    });
    port = transport.port!;
  });
  afterAll(async () => {
    await cp.stop();
  });

  const leaf = async (options: Partial<Parameters<typeof issueCertificate>[0]> = {}) => {
    const pair = await issueCertificate({
      issuer: intermediate,
      commonName: 'dp',
      usage: 'client',
      ...options,
    });
    return { cert: [pair.certificate, intermediate.certificate], key: pair.privateKey };
  };
  cases.push(
    [
      'expired',
      () => leaf({ days: 1, clock: new FakeClock(Date.now() - 10 * DAY) }),
      'TRUST_EXPIRED',
    ],
    [
      'not yet valid',
      () => leaf({ clock: new FakeClock(Date.now() + 10 * DAY) }),
      'TRUST_NOT_YET_VALID',
    ],
    ['wrong EKU (a server certificate)', () => leaf({ usage: 'server' }), 'TRUST_MISSING_EKU'],
    [
      'issued by a certificate that is not a CA',
      async () => {
        const notCa = await issueCertificate({
          issuer: intermediate,
          commonName: 'not-a-ca',
          usage: 'client',
        });
        const pair = await issueCertificate({ issuer: notCa, commonName: 'dp', usage: 'client' });
        return {
          cert: [pair.certificate, notCa.certificate, intermediate.certificate],
          key: pair.privateKey,
        };
      },
      // The server reads the chain as node's X509Certificate links it (each certificate to the
      // one the client sent that issued it), so the non-CA reaches the verifier, which names it.
      'TRUST_NOT_A_CA',
    ],
    [
      'a chain deeper than 4 intermediates',
      async () => {
        let issuer = intermediate;
        const chain = [intermediate.certificate];
        for (let i = 0; i < 4; i++) {
          issuer = await createCertificateAuthority({ commonName: `Deep ${i}`, issuer });
          chain.unshift(issuer.certificate);
        }
        const pair = await issueCertificate({ issuer, commonName: 'dp', usage: 'client' });
        return { cert: [pair.certificate, ...chain], key: pair.privateKey };
      },
      'TRUST_PATH_LENGTH',
    ],
    [
      'another CA',
      async () => {
        const other = await createCertificateAuthority({ commonName: 'Abuse Root' });
        const pair = await issueCertificate({ issuer: other, commonName: 'dp', usage: 'client' });
        return { cert: [pair.certificate], key: pair.privateKey };
      },
      'TRUST_UNTRUSTED_ISSUER',
    ],
  );

  for (const [name, make, code] of cases) {
    it(`${name} → ${code}`, async () => {
      const rejected = new Promise<{ code: string }>((resolve) =>
        cp.once('dataPlaneRejected', resolve),
      );
      const connection = await tcpClient({ host: '127.0.0.1', port, tls: await make() }).connect({
        metadata: { node_id: 'abuser' },
      });
      const frames: Uint8Array[] = [];
      for await (const frame of connection) frames.push(frame);
      expect((await rejected).code).toBe(code);
      expect(frames).toEqual([]);
      expect(await connection.closed).toMatchObject({ code: 1008, reason: code });
    });
  }
});
