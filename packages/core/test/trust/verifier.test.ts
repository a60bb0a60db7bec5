import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CertificateKeyPair,
  createCertificateAuthority,
  decodePemCertificates,
  generateClusterCertificate,
  issueCertificate,
  TrustVerifier,
} from '../../src/index.ts';

const DAY = 86_400_000;
let root: CertificateKeyPair; // the spec's cert3
let intermediate: CertificateKeyPair; // cert2
let leaf: CertificateKeyPair; // cert1, a DP certificate
let cp: CertificateKeyPair;
let otherRoot: CertificateKeyPair;
let strangerLeaf: CertificateKeyPair;

beforeAll(async () => {
  root = await createCertificateAuthority({ commonName: 'Cluster Root CA' });
  intermediate = await createCertificateAuthority({
    commonName: 'Cluster Intermediate CA',
    issuer: root,
  });
  leaf = await issueCertificate({ issuer: intermediate, commonName: 'dp-1', usage: 'client' });
  cp = await issueCertificate({
    issuer: intermediate,
    commonName: 'cp.cluster.internal',
    usage: 'server',
    altNames: ['cp.cluster.internal', '127.0.0.1'],
  });
  otherRoot = await createCertificateAuthority({ commonName: 'Someone Else Root CA' });
  strangerLeaf = await issueCertificate({ issuer: otherRoot, commonName: 'dp-1', usage: 'client' });
});

const asDp = { role: 'data-plane' } as const;

describe('certificate chain: the spec cert1/cert2/cert3 scenarios', () => {
  it('cert1 uploaded (pinned): the DP presents just cert1 and is trusted', () => {
    const verifier = new TrustVerifier({ mode: 'pinned', certificates: [leaf.certificate] });
    expect(verifier.verify(leaf.certificate, asDp).ok).toBe(true);
  });

  it('cert1 uploaded as a PKI anchor: the leaf alone is trusted, no issuer evaluated', () => {
    const verifier = new TrustVerifier({ mode: 'pki', trustAnchors: [leaf.certificate] });
    expect(verifier.verify(leaf.certificate, asDp).ok).toBe(true);
  });

  it('cert2 uploaded: any certificate the intermediate issued is trusted with just cert1', () => {
    const verifier = new TrustVerifier({ mode: 'pki', trustAnchors: [intermediate.certificate] });
    const result = verifier.verify(leaf.certificate, asDp);
    expect(result.ok).toBe(true);
    expect(result.ok && result.chain.map((c) => c.subject)).toEqual([
      'CN=dp-1',
      'CN=Cluster Intermediate CA',
    ]);
  });

  it('cert3 uploaded: the DP must send cert1 and cert2; the whole chain is trusted', () => {
    const verifier = new TrustVerifier({ mode: 'pki', trustAnchors: [root.certificate] });
    const result = verifier.verify([leaf.certificate, intermediate.certificate], asDp);
    expect(result.ok).toBe(true);
    expect(result.ok && result.chain).toHaveLength(3);
  });

  it('cert3 uploaded: cert1 alone is rejected (TRUST_UNTRUSTED_ISSUER)', () => {
    const verifier = new TrustVerifier({ mode: 'pki', trustAnchors: [root.certificate] });
    expect(verifier.verify(leaf.certificate, asDp)).toMatchObject({
      ok: false,
      code: 'TRUST_UNTRUSTED_ISSUER',
    });
  });

  it('cert2 uploaded: a certificate from another CA is rejected even with the same CN', () => {
    const verifier = new TrustVerifier({ mode: 'pki', trustAnchors: [intermediate.certificate] });
    expect(verifier.verify(strangerLeaf.certificate, asDp)).toMatchObject({
      ok: false,
      code: 'TRUST_UNTRUSTED_ISSUER',
    });
  });
});

describe('pinned mode (Kong shared mode)', () => {
  it('trusts the shared cluster certificate that both CP and DP present', async () => {
    const cluster = await generateClusterCertificate();
    const verifier = new TrustVerifier({ mode: 'pinned', certificates: [cluster.certificate] });
    expect(verifier.verify(cluster.certificate, { role: 'data-plane' }).ok).toBe(true);
    expect(verifier.verify(cluster.certificate, { role: 'control-plane' }).ok).toBe(true);
  });

  it('rejects any other certificate with TRUST_PIN_MISMATCH, even one with the same subject', async () => {
    const [a, b] = await Promise.all([generateClusterCertificate(), generateClusterCertificate()]);
    const verifier = new TrustVerifier({ mode: 'pinned', certificates: [a.certificate] });
    expect(verifier.verify(b.certificate, asDp)).toMatchObject({
      ok: false,
      code: 'TRUST_PIN_MISMATCH',
    });
  });

  it('accepts several pins, so a certificate can be rotated without downtime', async () => {
    const [old, next] = await Promise.all([
      generateClusterCertificate(),
      generateClusterCertificate(),
    ]);
    const verifier = new TrustVerifier({
      mode: 'pinned',
      certificates: [old.certificate, next.certificate],
    });
    expect(verifier.verify(old.certificate, asDp).ok).toBe(true);
    expect(verifier.verify(next.certificate, asDp).ok).toBe(true);
  });

  it('rejects an expired pinned certificate with TRUST_EXPIRED', async () => {
    const cluster = await generateClusterCertificate({ days: 1 });
    const verifier = new TrustVerifier({ mode: 'pinned', certificates: [cluster.certificate] });
    expect(
      verifier.verify(cluster.certificate, { ...asDp, at: Date.now() + 2 * DAY }),
    ).toMatchObject({
      code: 'TRUST_EXPIRED',
    });
  });
});

describe('PKI mode checks', () => {
  it('takes the presented intermediates as an unordered bag, ignoring extras and duplicates', () => {
    const verifier = new TrustVerifier({ mode: 'pki', trustAnchors: [root.certificate] });
    const bag = [
      leaf.certificate,
      otherRoot.certificate,
      intermediate.certificate,
      intermediate.certificate,
      cp.certificate,
    ];
    expect(verifier.verify(bag, asDp).ok).toBe(true);
  });

  it('reports the earliest expiry on the path as expiresAt', async () => {
    const shortLived = await issueCertificate({
      issuer: intermediate,
      commonName: 'dp-2',
      usage: 'client',
      days: 7,
    });
    const verifier = new TrustVerifier({ mode: 'pki', trustAnchors: [root.certificate] });
    const result = verifier.verify([shortLived.certificate, intermediate.certificate], asDp);
    const { X509Certificate } = await import('node:crypto');
    expect(result.ok && result.expiresAt.getTime()).toBe(
      Date.parse(new X509Certificate(shortLived.certificate).validTo),
    );
  });

  it('rejects a leaf that has expired or is not valid yet', () => {
    const verifier = new TrustVerifier({ mode: 'pki', trustAnchors: [intermediate.certificate] });
    expect(
      verifier.verify(leaf.certificate, { ...asDp, at: Date.now() + 400 * DAY }),
    ).toMatchObject({
      code: 'TRUST_EXPIRED',
    });
    expect(verifier.verify(leaf.certificate, { ...asDp, at: Date.now() - DAY })).toMatchObject({
      code: 'TRUST_NOT_YET_VALID',
    });
  });

  it('rejects a tampered signature with TRUST_BAD_SIGNATURE', () => {
    const der = decodePemCertificates(leaf.certificate)[0]!;
    const tampered = der.slice();
    tampered[tampered.length - 1]! ^= 0x01;
    const verifier = new TrustVerifier({ mode: 'pki', trustAnchors: [intermediate.certificate] });
    expect(verifier.verify([tampered], asDp)).toMatchObject({ code: 'TRUST_BAD_SIGNATURE' });
  });

  it('rejects a chain through a certificate that is not a CA with TRUST_NOT_A_CA', async () => {
    const signedByLeaf = await issueCertificate({
      issuer: leaf,
      commonName: 'dp-evil',
      usage: 'client',
    });
    const verifier = new TrustVerifier({ mode: 'pki', trustAnchors: [root.certificate] });
    const result = verifier.verify(
      [signedByLeaf.certificate, leaf.certificate, intermediate.certificate],
      asDp,
    );
    expect(result).toMatchObject({ code: 'TRUST_NOT_A_CA' });
  });

  it('enforces pathLenConstraint with TRUST_PATH_LENGTH', async () => {
    const limited = await createCertificateAuthority({
      commonName: 'Limited',
      issuer: root,
      pathLength: 0,
    });
    const below = await createCertificateAuthority({ commonName: 'Below', issuer: limited });
    const dp = await issueCertificate({ issuer: below, commonName: 'dp-3', usage: 'client' });
    const verifier = new TrustVerifier({ mode: 'pki', trustAnchors: [root.certificate] });
    expect(
      verifier.verify([dp.certificate, below.certificate, limited.certificate], asDp),
    ).toMatchObject({
      code: 'TRUST_PATH_LENGTH',
    });
  });

  it('caps the path at 4 intermediates by default, like Kong', async () => {
    let issuer = root;
    const chain: string[] = [];
    for (let i = 0; i < 5; i++) {
      issuer = await createCertificateAuthority({ commonName: `Level ${i}`, issuer });
      chain.unshift(issuer.certificate);
    }
    const dp = await issueCertificate({ issuer, commonName: 'deep', usage: 'client' });
    const verifier = new TrustVerifier({ mode: 'pki', trustAnchors: [root.certificate] });
    expect(verifier.verify([dp.certificate, ...chain], asDp)).toMatchObject({
      code: 'TRUST_PATH_LENGTH',
    });
    const roomy = new TrustVerifier({ mode: 'pki', trustAnchors: [root.certificate], maxDepth: 5 });
    expect(roomy.verify([dp.certificate, ...chain], asDp).ok).toBe(true);
  });

  it('needs clientAuth on a DP leaf and serverAuth on a CP leaf (TRUST_MISSING_EKU)', () => {
    const verifier = new TrustVerifier({ mode: 'pki', trustAnchors: [intermediate.certificate] });
    expect(verifier.verify(cp.certificate, asDp)).toMatchObject({ code: 'TRUST_MISSING_EKU' });
    expect(verifier.verify(leaf.certificate, { role: 'control-plane' })).toMatchObject({
      code: 'TRUST_MISSING_EKU',
    });
    expect(verifier.verify(cp.certificate, { role: 'control-plane' }).ok).toBe(true);
  });

  it('checks the CP server name against the SAN DNS and IP names (TRUST_NAME_MISMATCH)', () => {
    const verifier = new TrustVerifier({ mode: 'pki', trustAnchors: [intermediate.certificate] });
    const asCp = (serverName: string) =>
      verifier.verify(cp.certificate, { role: 'control-plane', serverName });
    expect(asCp('cp.cluster.internal').ok).toBe(true);
    expect(asCp('127.0.0.1').ok).toBe(true);
    expect(asCp('CP.Cluster.Internal').ok).toBe(true);
    expect(asCp('other.internal')).toMatchObject({ code: 'TRUST_NAME_MISMATCH' });
    expect(asCp('127.0.0.2')).toMatchObject({ code: 'TRUST_NAME_MISMATCH' });
  });

  it('does not check a DP certificate CN unless allowedCommonNames is given', () => {
    const any = new TrustVerifier({ mode: 'pki', trustAnchors: [intermediate.certificate] });
    expect(any.verify(leaf.certificate, asDp).ok).toBe(true);
    const allowed = new TrustVerifier({
      mode: 'pki',
      trustAnchors: [intermediate.certificate],
      allowedCommonNames: ['dp-2'],
    });
    expect(allowed.verify(leaf.certificate, asDp)).toMatchObject({ code: 'TRUST_NAME_MISMATCH' });
  });
});

describe('every trust code has a case (from x509-limbo where our tools cannot make one)', () => {
  const limbo = JSON.parse(
    readFileSync(new URL('../fixtures/x509-limbo/limbo.json', import.meta.url), 'utf8'),
  ) as { testcases: Array<Record<string, never>> };
  const cases: Array<[string, string]> = [
    ['rfc5280::leaf-ku-keycertsign', 'TRUST_KEY_USAGE'],
    ['rfc5280::eku::ee-wrong-eku', 'TRUST_MISSING_EKU'],
    ['rfc5280::intermediate-ca-without-ca-bit', 'TRUST_NOT_A_CA'],
    ['rfc5280::validity::expired-leaf', 'TRUST_EXPIRED'],
    ['rfc5280::unknown-critical-extension-ee', 'TRUST_MALFORMED'],
    ['rfc5280::serial::zero', 'TRUST_MALFORMED'],
    ['rfc5280::nc::permitted-dns-mismatch', 'TRUST_NAME_MISMATCH'],
    ['pathlen::intermediate-violates-pathlen-0', 'TRUST_PATH_LENGTH'],
    ['rfc5280::chain-untrusted-root', 'TRUST_UNTRUSTED_ISSUER'],
  ];
  for (const [id, code] of cases) {
    it(`${id} fails with ${code}`, () => {
      const t = limbo.testcases.find((c) => c.id === id) as unknown as {
        trusted_certs: string[];
        untrusted_intermediates: string[];
        peer_certificate: string;
        validation_time: string | null;
        expected_peer_name: { value: string };
      };
      const verifier = new TrustVerifier({ mode: 'pki', trustAnchors: t.trusted_certs });
      const result = verifier.verify([t.peer_certificate, ...t.untrusted_intermediates], {
        role: 'control-plane',
        serverName: t.expected_peer_name.value,
        ...(t.validation_time ? { at: Date.parse(t.validation_time) } : {}),
      });
      expect(result.ok ? 'trusted' : `${result.code}: ${result.message}`).toMatch(
        new RegExp(`^${code}:`),
      );
    });
  }
});

describe('hostile input never throws', () => {
  const verifier = () => new TrustVerifier({ mode: 'pki', trustAnchors: [root.certificate] });

  it('answers TRUST_NO_CERTIFICATE for an empty chain', () => {
    expect(verifier().verify([], asDp)).toMatchObject({ code: 'TRUST_NO_CERTIFICATE' });
  });

  it('answers TRUST_MALFORMED for bytes that are not a certificate', () => {
    const inputs: Array<Uint8Array | string> = [
      new Uint8Array([0x30, 0x03, 0x02, 0x01]),
      new Uint8Array(0),
      'not pem at all',
      '-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----',
      decodePemCertificates(leaf.certificate)[0]!.slice(0, 100),
    ];
    for (const input of inputs) {
      expect(() => verifier().verify([input], asDp)).not.toThrow();
      expect(verifier().verify([input], asDp)).toMatchObject({
        ok: false,
        code: 'TRUST_MALFORMED',
      });
    }
  });

  it('survives random byte flips in a valid chain', () => {
    const der = decodePemCertificates(leaf.certificate)[0]!;
    let seed = 7;
    for (let i = 0; i < 300; i++) {
      const mutated = der.slice();
      seed = (seed * 1103515245 + 12345) >>> 0;
      mutated[seed % mutated.length]! ^= 1 << (seed % 8);
      const result = verifier().verify([mutated, intermediate.certificate], asDp);
      expect(typeof result.ok).toBe('boolean');
    }
  });
});

describe('certificate inputs (the lua_ssl_trusted_certificate forms)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'planesync-trust-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('accepts PEM text, DER bytes, a PEM file, a DER file and base64-encoded PEM', async () => {
    const der = decodePemCertificates(intermediate.certificate)[0]!;
    await writeFile(join(dir, 'ca.pem'), intermediate.certificate);
    await writeFile(join(dir, 'ca.der'), der);
    const forms = [
      intermediate.certificate,
      der,
      join(dir, 'ca.pem'),
      join(dir, 'ca.der'),
      Buffer.from(intermediate.certificate).toString('base64'),
    ];
    for (const form of forms) {
      const verifier = new TrustVerifier({ mode: 'pki', trustAnchors: [form] });
      expect(verifier.verify(leaf.certificate, asDp).ok).toBe(true);
    }
  });

  it("loads the system bundle for 'system'", () => {
    const verifier = new TrustVerifier({ mode: 'pki', trustAnchors: ['system'] });
    expect(verifier.verify(leaf.certificate, asDp)).toMatchObject({
      code: 'TRUST_UNTRUSTED_ISSUER',
    });
  });

  it('refuses a configured certificate it cannot read with INVALID_ARGUMENT', () => {
    expect(() => new TrustVerifier({ mode: 'pki', trustAnchors: ['/nonexistent/ca.pem'] })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    expect(() => new TrustVerifier({ mode: 'pinned', certificates: [] })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});

describe('certificate tools', () => {
  it('generates a shared-mode pair like kong hybrid gen_cert: EC P-384, CN=kong_clustering, 1095 days', async () => {
    const { X509Certificate, createPrivateKey } = await import('node:crypto');
    const before = Math.floor(Date.now() / 1000) * 1000;
    const pair = await generateClusterCertificate();
    const certificate = new X509Certificate(pair.certificate);
    expect(certificate.subject).toBe('CN=kong_clustering');
    expect(certificate.issuer).toBe('CN=kong_clustering');
    expect(certificate.publicKey.asymmetricKeyDetails?.namedCurve).toBe('secp384r1');
    expect(Date.parse(certificate.validFrom)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(certificate.validTo) - Date.parse(certificate.validFrom)).toBe(1095 * DAY);
    expect(pair.privateKey).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(createPrivateKey(pair.privateKey).asymmetricKeyType).toBe('ec');
    expect(certificate.checkPrivateKey(createPrivateKey(pair.privateKey))).toBe(true);
  });

  it('honours --days and refuses nonsense', async () => {
    const { X509Certificate } = await import('node:crypto');
    const pair = await generateClusterCertificate({ days: 30 });
    const certificate = new X509Certificate(pair.certificate);
    expect(Date.parse(certificate.validTo) - Date.parse(certificate.validFrom)).toBe(30 * DAY);
    await expect(generateClusterCertificate({ days: 0 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });

  const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
  it.skipIf(!hasOpenssl)(
    'produces chains that openssl verify accepts with the right purpose',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'planesync-openssl-'));
      try {
        await writeFile(join(dir, 'root.pem'), root.certificate);
        await writeFile(join(dir, 'intermediate.pem'), intermediate.certificate);
        await writeFile(join(dir, 'dp.pem'), leaf.certificate);
        await writeFile(join(dir, 'cp.pem'), cp.certificate);
        const verify = (purpose: string, file: string) =>
          execFileSync(
            'openssl',
            [
              'verify',
              '-x509_strict',
              '-purpose',
              purpose,
              '-CAfile',
              join(dir, 'root.pem'),
              '-untrusted',
              join(dir, 'intermediate.pem'),
              join(dir, file),
            ],
            { encoding: 'utf8' },
          );
        expect(verify('sslclient', 'dp.pem')).toContain('OK');
        expect(verify('sslserver', 'cp.pem')).toContain('OK');
        expect(() => verify('sslserver', 'dp.pem')).toThrow();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );
});
