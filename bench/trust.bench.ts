import { X509Certificate } from 'node:crypto';
import { createCertificateAuthority, issueCertificate, TrustVerifier } from '@planesync/core';
import { type BenchResult, compare } from './harness.ts';

const ROUNDS = 200;

/**
 * TrustVerifier.verify of a depth-3 chain (leaf, intermediate → root anchor), against node's
 * own X509Certificate parse + signature check of the same two links.
 */
export async function run(): Promise<BenchResult[]> {
  const root = await createCertificateAuthority({ commonName: 'Bench Root' });
  const intermediate = await createCertificateAuthority({
    commonName: 'Bench Intermediate',
    issuer: root,
  });
  const leaf = await issueCertificate({ issuer: intermediate, commonName: 'dp', usage: 'client' });
  const verifier = new TrustVerifier({ mode: 'pki', trustAnchors: [root.certificate] });
  const chain = [leaf.certificate, intermediate.certificate];
  const rootKey = new X509Certificate(root.certificate).publicKey;
  const result = await compare({
    name: `trust verify, depth-3 chain (×${ROUNDS})`,
    subject: [
      'TrustVerifier.verify',
      () => {
        for (let i = 0; i < ROUNDS; i++)
          if (!verifier.verify(chain, { role: 'data-plane' }).ok) throw new Error('untrusted');
      },
    ],
    baseline: [
      'node X509Certificate parse + verify',
      () => {
        for (let i = 0; i < ROUNDS; i++) {
          const l = new X509Certificate(chain[0]!);
          const m = new X509Certificate(chain[1]!);
          if (!l.verify(m.publicKey) || !m.verify(rootKey)) throw new Error('bad signature');
        }
      },
    ],
    samples: 9,
  });
  const perVerification = ((result.subjectMs / ROUNDS) * 1000).toFixed(0);
  return [
    {
      ...result,
      notes:
        `${perVerification} µs per verification of a chain seen before (a DP reconnecting): parsed ` +
        'certificates and checked signatures are cached by fingerprint; the first sight of a chain ' +
        'costs its two P-384 signature checks, as the baseline does',
    },
  ];
}
