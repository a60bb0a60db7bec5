import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CertificateKeyPair,
  createCertificateAuthority,
  decodePemCertificates,
  generateClusterCertificate,
  issueCertificate,
} from '@planesync/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tlsIdentityOptions, toPemChain, toPemKey } from '../src/index.ts';

let root: CertificateKeyPair;
let leaf: CertificateKeyPair;
let dir: string;
beforeAll(async () => {
  root = await createCertificateAuthority({ commonName: 'Root' });
  leaf = await issueCertificate({ issuer: root, commonName: 'dp', usage: 'client' });
  dir = await mkdtemp(join(tmpdir(), 'planesync-node-tls-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('TLS identities', () => {
  it('joins a chain given as PEM, DER and file paths into PEM, leaf first', async () => {
    const file = join(dir, 'root.crt');
    await writeFile(file, root.certificate);
    const [leafDer] = decodePemCertificates(leaf.certificate);
    const pem = toPemChain([leafDer!, file]);
    expect(decodePemCertificates(pem)).toEqual([
      ...decodePemCertificates(leaf.certificate),
      ...decodePemCertificates(root.certificate),
    ]);
  });

  it('refuses an identity without a certificate', () => {
    expect(() => toPemChain([])).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('reads the key as PEM text, PEM bytes or a PEM file path', async () => {
    const file = join(dir, 'dp.key');
    await writeFile(file, leaf.privateKey);
    expect(toPemKey(leaf.privateKey)).toBe(leaf.privateKey);
    expect(toPemKey(Buffer.from(leaf.privateKey))).toBe(leaf.privateKey);
    expect(toPemKey(` ${file}\n`)).toBe(leaf.privateKey);
  });

  it('refuses a key file that cannot be read, or that holds no PEM', async () => {
    expect(() => toPemKey(join(dir, 'missing.key'))).toThrow(
      expect.objectContaining({
        code: 'INVALID_ARGUMENT',
        message: expect.stringContaining('cannot read'),
      }),
    );
    const file = join(dir, 'not-pem.key');
    await writeFile(file, 'hello');
    expect(() => toPemKey(file)).toThrow(
      expect.objectContaining({
        code: 'INVALID_ARGUMENT',
        message: expect.stringContaining('PEM'),
      }),
    );
  });

  it('gives node’s tls its cert, key and (when named) the CAs to ask clients for', async () => {
    const cluster = await generateClusterCertificate();
    expect(tlsIdentityOptions({ cert: cluster.certificate, key: cluster.privateKey })).toEqual({
      cert: toPemChain(cluster.certificate),
      key: cluster.privateKey,
    });
    expect(
      tlsIdentityOptions({ cert: leaf.certificate, key: leaf.privateKey, ca: [root.certificate] })
        .ca,
    ).toEqual([toPemChain(root.certificate)]);
  });
});
