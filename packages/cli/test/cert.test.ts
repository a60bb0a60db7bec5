import { X509Certificate } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TrustVerifier } from '@planesync/core';
import { describe, expect, it } from 'vitest';
import { cliInTempDir } from './capture.ts';

const temp = cliInTempDir('planesync-cli-');
const cli = temp.cli;

describe('planesync cert gen (kong hybrid gen_cert)', () => {
  it('writes cluster.crt (0644) and cluster.key (0600) in the current directory', async () => {
    const result = await cli('cert', 'gen');
    expect(result.code).toBe(0);
    const crt = await stat(join(temp.dir, 'cluster.crt'));
    const key = await stat(join(temp.dir, 'cluster.key'));
    expect(crt.mode & 0o777).toBe(0o644);
    expect(key.mode & 0o777).toBe(0o600);
    const certificate = new X509Certificate(await readFile(join(temp.dir, 'cluster.crt')));
    expect(certificate.subject).toBe('CN=kong_clustering');
    expect(Date.parse(certificate.validTo) - Date.parse(certificate.validFrom)).toBe(
      1095 * 86_400_000,
    );
  });

  it('takes both paths and --days', async () => {
    expect((await cli('cert', 'gen', 'a.crt', 'a.key', '--days', '30')).code).toBe(0);
    const certificate = new X509Certificate(await readFile(join(temp.dir, 'a.crt')));
    expect(Date.parse(certificate.validTo) - Date.parse(certificate.validFrom)).toBe(
      30 * 86_400_000,
    );
  });

  it('says an unknown option plainly', async () => {
    const result = await cli('cert', 'gen', '--bogus');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('unknown option --bogus');
  });

  it('refuses to overwrite an existing file, and writes nothing', async () => {
    await writeFile(join(temp.dir, 'cluster.key'), 'precious');
    const result = await cli('cert', 'gen');
    expect(result.code).toBe(1); // not a wrong call: the command did what it must
    expect(result.stderr).toContain('refusing to overwrite');
    expect(result.stderr).not.toContain('Usage:');
    expect(await readFile(join(temp.dir, 'cluster.key'), 'utf8')).toBe('precious');
    await expect(stat(join(temp.dir, 'cluster.crt'))).rejects.toThrow();
  });

  it('errors when only one path is given', async () => {
    const result = await cli('cert', 'gen', 'only.crt');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('give both CERT and KEY paths, or neither');
  });

  for (const days of ['soon', '0', '-5', 'NaN', '1.5', '36501', '1e3']) {
    it(`refuses --days ${days} as a usage error naming the range 1 to 36500, and writes nothing`, async () => {
      const result = await cli('cert', 'gen', '--days', days);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(
        `planesync: --days must be a whole number from 1 to 36500, got ${days}\n`,
      );
      await expect(stat(join(temp.dir, 'cluster.crt'))).rejects.toThrow();
    });
  }

  it('takes --days at both ends of its range', async () => {
    for (const [file, days, option] of [
      ['a', 1, ['--days', '1']],
      ['b', 36_500, ['--days=36500']],
    ] as const) {
      expect((await cli('cert', 'gen', `${file}.crt`, `${file}.key`, ...option)).code).toBe(0);
      const certificate = new X509Certificate(await readFile(join(temp.dir, `${file}.crt`)));
      expect(Date.parse(certificate.validTo) - Date.parse(certificate.validFrom)).toBe(
        days * 86_400_000,
      );
    }
  });

  it('documents the --days range in every help that takes it', async () => {
    for (const command of ['gen', 'ca', 'issue'])
      expect((await cli('cert', command, '--help')).stdout).toMatch(
        /--days N +validity in days, 1 to 36500 \(default/,
      );
  });

  it('says its directory does not exist when it cannot write there, without a raw ENOENT', async () => {
    const result = await cli('cert', 'gen', 'nowhere/a.crt', 'nowhere/a.key');
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `planesync: cannot write ${join(temp.dir, 'nowhere/a.crt')}: its directory does not exist\n`,
    );
  });
});

describe('planesync cert ca and issue (PKI mode)', () => {
  it('cross-signs a new root under the old one: a chain issued under the new root, with it, is trusted by the old root', async () => {
    expect((await cli('cert', 'ca', '--cn', 'Root 2020', 'old.crt', 'old.key')).code).toBe(0);
    expect((await cli('cert', 'ca', '--cn', 'Root 2030', 'new.crt', 'new.key')).code).toBe(0);
    const crossed = await cli(
      'cert',
      'ca',
      '--cross-sign-cert',
      'new.crt',
      '--cross-sign-key',
      'new.key',
      '--issuer-cert',
      'old.crt',
      '--issuer-key',
      'old.key',
    );
    expect(crossed.code).toBe(0);
    expect(crossed.stdout).toContain('cross-signed.crt');
    expect(
      (
        await cli(
          'cert',
          'issue',
          '--issuer-cert',
          'new.crt',
          '--issuer-key',
          'new.key',
          '--cn',
          'dp-9',
          '--usage',
          'client',
        )
      ).code,
    ).toBe(0);
    const read = (name: string) => readFile(join(temp.dir, name), 'utf8');
    const chain = [await read('dp-9.crt'), await read('cross-signed.crt')];
    for (const anchor of ['old.crt', 'new.crt']) {
      const trust = new TrustVerifier({ mode: 'pki', trustAnchors: [await read(anchor)] });
      expect(trust.verify(chain, { role: 'data-plane' }).ok).toBe(true);
    }
    // Files end in a newline: `cat a.crt b.crt > chain.pem` makes a chain openssl reads.
    for (const name of ['new.crt', 'new.key', 'cross-signed.crt', 'dp-9.crt'])
      expect((await read(name)).endsWith('-----\n')).toBe(true);
    const cross = new X509Certificate(await read('cross-signed.crt'));
    expect(cross.subject).toBe(new X509Certificate(await read('new.crt')).subject);
    expect(cross.issuer).toBe(new X509Certificate(await read('old.crt')).subject);
    // Without an issuer there is nothing to cross-sign with.
    const lonely = await cli(
      'cert',
      'ca',
      '--cross-sign-cert',
      'new.crt',
      '--cross-sign-key',
      'new.key',
    );
    expect(lonely.code).not.toBe(0);
    expect(lonely.stderr).toMatch(/needs --issuer-cert/);
  });

  it('builds root → intermediate → DP and CP leaves that the verifier trusts', async () => {
    expect((await cli('cert', 'ca', '--cn', 'Root CA', 'root.crt', 'root.key')).code).toBe(0);
    expect(
      (
        await cli(
          'cert',
          'ca',
          '--cn',
          'Intermediate CA',
          '--issuer-cert',
          'root.crt',
          '--issuer-key',
          'root.key',
          '--path-length',
          '0',
          'int.crt',
          'int.key',
        )
      ).code,
    ).toBe(0);
    const issued = await cli(
      'cert',
      'issue',
      '--issuer-cert',
      'int.crt',
      '--issuer-key',
      'int.key',
      '--cn',
      'dp-1',
      '--usage',
      'client',
    );
    expect(issued.code).toBe(0);
    expect(issued.stdout).toContain('dp-1.crt');
    expect(
      (
        await cli(
          'cert',
          'issue',
          '--issuer-cert',
          'int.crt',
          '--issuer-key',
          'int.key',
          '--cn',
          'cp',
          '--usage',
          'server',
          '--alt-name',
          'cp.internal',
          '--alt-name',
          '127.0.0.1',
        )
      ).code,
    ).toBe(0);
    const read = (name: string) => readFile(join(temp.dir, name), 'utf8');
    const verifier = new TrustVerifier({ mode: 'pki', trustAnchors: [await read('root.crt')] });
    expect(
      verifier.verify([await read('dp-1.crt'), await read('int.crt')], { role: 'data-plane' }).ok,
    ).toBe(true);
    expect(
      verifier.verify([await read('cp.crt'), await read('int.crt')], {
        role: 'control-plane',
        serverName: '127.0.0.1',
      }).ok,
    ).toBe(true);
  });

  it('requires --cn and a valid --usage', async () => {
    expect((await cli('cert', 'ca')).stderr).toContain('--cn is required');
    await cli('cert', 'ca', '--cn', 'Root');
    const bad = await cli(
      'cert',
      'issue',
      '--issuer-cert',
      'ca.crt',
      '--issuer-key',
      'ca.key',
      '--cn',
      'x',
      '--usage',
      'admin',
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--usage must be client, server or both');
  });
});

describe('--help on every command', () => {
  for (const argv of [
    ['--help'],
    ['cert', '--help'],
    ['cert', 'gen', '--help'],
    ['cert', 'ca', '--help'],
    ['cert', 'issue', '--help'],
    ['cert', 'inspect', '--help'],
  ]) {
    it(`planesync ${argv.join(' ')} prints usage and exits 0`, async () => {
      const result = await cli(...argv);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^Usage: planesync/);
    });
  }
});
