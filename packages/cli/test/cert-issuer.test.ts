import { spawnSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { altNameProblem } from '@planesync/core';
import { describe, expect, it } from 'vitest';
import { cliInTempDir } from './capture.ts';

const temp = cliInTempDir('planesync-cert-issuer-');
const { cli, cliAt } = temp;

const openssl = spawnSync('sh', ['-c', 'command -v openssl']).status === 0;
const DAY = 86_400_000;
const T = Date.UTC(2030, 0, 15, 12, 0, 0);

const issue = (...extra: string[]) =>
  cli('cert', 'issue', '--cn', 'dp-1', '--usage', 'client', ...extra);

async function files() {
  return (await readdir(temp.dir)).sort();
}

describe('planesync cert issue|ca check the issuer first, and write nothing it would not sign', () => {
  it('refuses an issuer key that does not belong to the issuer certificate', async () => {
    await cli('cert', 'ca', '--cn', 'A', 'a.crt', 'a.key');
    await cli('cert', 'ca', '--cn', 'B', 'b.crt', 'b.key');
    const before = await files();
    for (const command of [
      ['cert', 'issue', '--cn', 'dp-1', '--usage', 'client'],
      ['cert', 'ca', '--cn', 'Intermediate'],
    ]) {
      const result = await cli(...command, '--issuer-cert', 'a.crt', '--issuer-key', 'b.key');
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        'planesync: the issuer key b.key does not belong to the issuer certificate a.crt (their public keys differ)\n',
      );
    }
    expect(await files()).toEqual(before);
  });

  it('refuses a leaf as the issuer', async () => {
    await cli('cert', 'ca', '--cn', 'Root');
    await issue('--issuer-cert', 'ca.crt', '--issuer-key', 'ca.key', 'leaf.crt', 'leaf.key');
    const result = await cli(
      'cert',
      'issue',
      '--cn',
      'x',
      '--usage',
      'client',
      '--issuer-cert',
      'leaf.crt',
      '--issuer-key',
      'leaf.key',
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'planesync: the issuer certificate leaf.crt is not a CA (basicConstraints CA:FALSE): a leaf cannot sign certificates; give the CA that issued it\n',
    );
    await expect(readFile(join(temp.dir, 'x.crt'))).rejects.toThrow();
  });

  it('refuses an intermediate under a pathlen:0 CA, but issues leaves from it', async () => {
    await cli('cert', 'ca', '--cn', 'Root', '--path-length', '0');
    const refused = await cli(
      'cert',
      'ca',
      '--cn',
      'Intermediate',
      '--issuer-cert',
      'ca.crt',
      '--issuer-key',
      'ca.key',
      'int.crt',
      'int.key',
    );
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      'planesync: the issuer certificate ca.crt has pathlen:0: no CA may stand below it, only leaves (planesync cert issue)\n',
    );
    await expect(readFile(join(temp.dir, 'int.crt'))).rejects.toThrow();
    expect((await issue('--issuer-cert', 'ca.crt', '--issuer-key', 'ca.key')).code).toBe(0);
  });

  it('refuses a --path-length longer than the issuer leaves', async () => {
    await cli('cert', 'ca', '--cn', 'Root', '--path-length', '1');
    const args = ['--issuer-cert', 'ca.crt', '--issuer-key', 'ca.key', 'int.crt', 'int.key'];
    const refused = await cli('cert', 'ca', '--cn', 'Int', '--path-length', '1', ...args);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      '--path-length 1 is more than the issuer certificate ca.crt allows below it (pathlen:1, so at most 0)',
    );
    expect((await cli('cert', 'ca', '--cn', 'Int', '--path-length', '0', ...args)).code).toBe(0);
  });

  it('refuses an expired issuer', async () => {
    await cliAt(T, 'cert', 'ca', '--cn', 'Root', '--days', '1');
    const result = await cliAt(
      T + 2 * DAY,
      'cert',
      'issue',
      '--cn',
      'dp-1',
      '--usage',
      'client',
      '--issuer-cert',
      'ca.crt',
      '--issuer-key',
      'ca.key',
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'planesync: the issuer certificate ca.crt expired on 2030-01-16T12:00:00Z; renew it first\n',
    );
  });

  it('refuses an issuer that is not valid yet', async () => {
    await cliAt(T + 2 * DAY, 'cert', 'ca', '--cn', 'Root');
    const result = await cliAt(
      T,
      'cert',
      'issue',
      '--cn',
      'dp-1',
      '--usage',
      'client',
      '--issuer-cert',
      'ca.crt',
      '--issuer-key',
      'ca.key',
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'planesync: the issuer certificate ca.crt is not valid until 2030-01-17T12:00:00Z\n',
    );
  });

  it.skipIf(!openssl)(
    `refuses a CA whose key usage lacks Certificate Sign${openssl ? '' : ' (skipped: openssl, which makes that CA, is not on this machine)'}`,
    async () => {
      const made = spawnSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:P-384',
          '-nodes',
          '-subj',
          '/CN=No Sign CA',
          '-addext',
          'basicConstraints=critical,CA:TRUE',
          '-addext',
          'keyUsage=critical,digitalSignature',
          '-keyout',
          'nosign.key',
          '-out',
          'nosign.crt',
        ],
        { cwd: temp.dir, encoding: 'utf8', timeout: 60_000 },
      );
      expect(made.status).toBe(0);
      const result = await issue('--issuer-cert', 'nosign.crt', '--issuer-key', 'nosign.key');
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        'planesync: the issuer certificate nosign.crt may not sign certificates: its key usage lacks Certificate Sign (keyCertSign)\n',
      );
    },
  );

  it('shortens a leaf that would outlive its issuer, with a warning giving the new end date', async () => {
    await cliAt(T, 'cert', 'ca', '--cn', 'Root', '--days', '30');
    const result = await cliAt(
      T + 25 * DAY,
      'cert',
      'issue',
      '--cn',
      'dp-1',
      '--usage',
      'client',
      '--issuer-cert',
      'ca.crt',
      '--issuer-key',
      'ca.key',
      '--days',
      '365',
    );
    expect(result.code).toBe(0);
    expect(result.stderr).toBe(
      'planesync: warning: the issuer certificate ca.crt expires on 2030-02-14T12:00:00Z; the new certificate is valid for 5 days instead of 365, until 2030-02-14T12:00:00Z\n',
    );
    const leaf = new X509Certificate(await readFile(join(temp.dir, 'dp-1.crt')));
    const ca = new X509Certificate(await readFile(join(temp.dir, 'ca.crt')));
    expect(Date.parse(leaf.validTo)).toBeLessThanOrEqual(Date.parse(ca.validTo));
  });

  it('shortens an intermediate the same way: silently when --days was not given, with a warning when it was', async () => {
    await cliAt(T, 'cert', 'ca', '--cn', 'Root', '--days', '100');
    const args = ['--issuer-cert', 'ca.crt', '--issuer-key', 'ca.key'];
    const defaulted = await cliAt(T, 'cert', 'ca', '--cn', 'Int', ...args, 'd.crt', 'd.key');
    expect(defaulted.stderr).toBe(''); // the default (3650 days) simply ends with the issuer
    const asked = ['--days', '3650', 'i.crt', 'i.key'];
    const shortened = await cliAt(T, 'cert', 'ca', '--cn', 'Int', ...args, ...asked);
    expect(shortened.stderr).toContain('valid for 100 days instead of 3650');
    const fits = await cliAt(
      T,
      'cert',
      'ca',
      '--cn',
      'Int',
      ...args,
      '--days',
      '99',
      'j.crt',
      'j.key',
    );
    expect(fits.stderr).toBe('');
  });

  it('names the issuer file it cannot read, in words', async () => {
    await cli('cert', 'ca', '--cn', 'Root');
    expect((await issue('--issuer-cert', 'ca.crt', '--issuer-key', 'nope.key')).stderr).toBe(
      'planesync: cannot read the issuer key nope.key: no such file\n',
    );
    expect((await issue('--issuer-cert', 'nope.crt', '--issuer-key', 'ca.key')).stderr).toBe(
      'planesync: cannot read the issuer certificate nope.crt: no such file\n',
    );
    expect((await issue('--issuer-cert', 'ca.key', '--issuer-key', 'ca.key')).stderr).toBe(
      'planesync: the issuer certificate ca.key does not hold a PEM certificate (it holds a PRIVATE KEY)\n',
    );
    expect((await issue('--issuer-cert', 'ca.crt', '--issuer-key', 'ca.crt')).stderr).toBe(
      'planesync: the issuer key ca.crt does not hold a PEM private key (it holds a CERTIFICATE)\n',
    );
  });

  it('says an issuer key encrypted with a passphrase must be given decrypted', async () => {
    await cli('cert', 'ca', '--cn', 'Root');
    const { privateKey } = generateKeyPairSync('ec', {
      namedCurve: 'P-384',
      privateKeyEncoding: { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    await writeFile(join(temp.dir, 'locked.key'), privateKey);
    const result = await issue('--issuer-cert', 'ca.crt', '--issuer-key', 'locked.key');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      'the issuer key locked.key is encrypted with a passphrase; give it decrypted',
    );
  });

  it('takes an issuer key in SEC1 form (BEGIN EC PRIVATE KEY), as openssl ecparam writes it', async () => {
    await cli('cert', 'ca', '--cn', 'Root');
    const sec1 = createPrivateKey(await readFile(join(temp.dir, 'ca.key'))).export({
      type: 'sec1',
      format: 'pem',
    });
    await writeFile(join(temp.dir, 'ca-sec1.key'), sec1);
    const result = await issue('--issuer-cert', 'ca.crt', '--issuer-key', 'ca-sec1.key');
    expect(result).toMatchObject({ code: 0, stderr: '' });
    // Signed with that key: the CA's public key verifies the new certificate.
    const leaf = new X509Certificate(await readFile(join(temp.dir, 'dp-1.crt')));
    const ca = new X509Certificate(await readFile(join(temp.dir, 'ca.crt')));
    expect(leaf.checkIssued(ca)).toBe(true);
    expect(leaf.verify(ca.publicKey)).toBe(true);
  });

  it.skipIf(!openssl)(
    `refuses an issuer whose key is not an EC key it can sign with${openssl ? '' : ' (skipped: openssl, which makes the RSA CA, is not on this machine)'}`,
    async () => {
      const made = spawnSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-subj',
          '/CN=RSA Root',
          '-addext',
          'basicConstraints=critical,CA:TRUE',
          '-keyout',
          'rsa.key',
          '-out',
          'rsa.crt',
        ],
        { cwd: temp.dir, encoding: 'utf8', timeout: 60_000 },
      );
      expect(made.status).toBe(0);
      const result = await issue('--issuer-cert', 'rsa.crt', '--issuer-key', 'rsa.key');
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        'planesync: the issuer key rsa.key is an RSA key; planesync signs with EC keys on P-256, P-384 or P-521\n',
      );
    },
  );
});

describe('planesync cert issue --alt-name', () => {
  it('refuses "not a valid name!!" as a usage error, naming it, and writes nothing', async () => {
    await cli('cert', 'ca', '--cn', 'Root');
    const before = await files();
    const result = await issue(
      '--issuer-cert',
      'ca.crt',
      '--issuer-key',
      'ca.key',
      '--alt-name',
      'not a valid name!!',
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      'planesync: --alt-name "not a valid name!!" is neither an IP address nor a DNS name (letters, digits and inner hyphens, RFC 1123)\n',
    );
    expect(await files()).toEqual(before);
  });

  for (const name of [
    'cp.internal',
    'CP-1.Example.com',
    'localhost',
    '*.cp.internal',
    '127.0.0.1',
    '::1',
    '2001:db8::7',
    'a'.repeat(63),
  ])
    it(`takes ${name.length > 40 ? 'a 63-character label' : name}`, () => {
      expect(altNameProblem(name)).toBeUndefined();
    });

  for (const [name, problem] of [
    ['', 'is empty'],
    [
      'under_score.internal',
      'has a label "under_score" that is not letters, digits and inner hyphens (RFC 1123)',
    ],
    ['-lead.internal', 'has a label "-lead"'],
    ['trail-.internal', 'has a label "trail-"'],
    ['a..b', 'has an empty label (two dots)'],
    ['cp.internal.', 'ends with a dot'],
    ['cp.*.internal', 'has a wildcard that is not the leftmost label'],
    ['f*o.internal', 'has a wildcard that is not a whole label'],
    ['*.com', 'has a wildcard directly under a top-level name'],
    ['300.1.1.1', 'is not a valid IPv4 address'],
    ['1.2.3', 'is not a valid IPv4 address'],
    ['fe80::1%eth0', 'is an IPv6 address with a zone'],
    ['2001:db8::g', 'is not a valid IPv6 address'],
    [`${'a'.repeat(64)}.internal`, 'has a label longer than 63 characters'],
    [`${'abcdefghi.'.repeat(26)}com`, 'is longer than the 253 characters'],
  ] as const)
    it(`refuses ${JSON.stringify(name.length > 40 ? `${name.slice(0, 20)}…` : name)}: ${problem}`, () => {
      expect(altNameProblem(name)).toContain(problem);
    });
});

describe('what the CLI signs, openssl verifies', () => {
  it.skipIf(!openssl)(
    `a root, an intermediate (pathlen:0) and a leaf with SANs verify with openssl verify${openssl ? '' : ' (skipped: openssl is not on this machine)'}`,
    async () => {
      expect((await cli('cert', 'ca', '--cn', 'Root', 'root.crt', 'root.key')).code).toBe(0);
      const intermediate = await cli(
        'cert',
        'ca',
        '--cn',
        'Intermediate',
        '--issuer-cert',
        'root.crt',
        '--issuer-key',
        'root.key',
        '--path-length',
        '0',
        'int.crt',
        'int.key',
      );
      expect(intermediate.code).toBe(0);
      for (const [cn, usage, purpose] of [
        ['cp', 'server', 'sslserver'],
        ['dp-1', 'client', 'sslclient'],
      ]) {
        const leaf = await cli(
          'cert',
          'issue',
          '--issuer-cert',
          'int.crt',
          '--issuer-key',
          'int.key',
          '--cn',
          cn!,
          '--usage',
          usage!,
          '--alt-name',
          `${cn}.cluster.internal`,
          '--alt-name',
          '10.0.0.7',
        );
        expect(leaf.code).toBe(0);
        const verified = spawnSync(
          'openssl',
          [
            'verify',
            '-purpose',
            purpose!,
            '-CAfile',
            'root.crt',
            '-untrusted',
            'int.crt',
            `${cn}.crt`,
          ],
          { cwd: temp.dir, encoding: 'utf8', timeout: 60_000 },
        );
        expect(verified.stderr).toBe('');
        expect(verified.stdout).toBe(`${cn}.crt: OK\n`);
        expect(verified.status).toBe(0);
      }
    },
  );
});
