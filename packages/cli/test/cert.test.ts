import { X509Certificate } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TrustVerifier } from '@planesync/core';
import { describe, expect, it } from 'vitest';
import { run } from '../src/index.ts';
import { capture, cliInTempDir } from './capture.ts';

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

  it('refuses to overwrite an existing file, and writes nothing', async () => {
    await writeFile(join(temp.dir, 'cluster.key'), 'precious');
    const result = await cli('cert', 'gen');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('refusing to overwrite');
    expect(await readFile(join(temp.dir, 'cluster.key'), 'utf8')).toBe('precious');
    await expect(stat(join(temp.dir, 'cluster.crt'))).rejects.toThrow();
  });

  it('errors when only one path is given', async () => {
    const result = await cli('cert', 'gen', 'only.crt');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('give both CERT and KEY paths, or neither');
  });

  it('rejects a bad --days', async () => {
    expect((await cli('cert', 'gen', '--days', 'soon')).code).toBe(2);
    expect((await cli('cert', 'gen', '--days', '0')).code).toBe(2);
  });
});

describe('planesync cert ca and issue (PKI mode)', () => {
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

describe('planesync cert inspect', () => {
  it('prints subject, issuer, EKU, fingerprint and days to expiry', async () => {
    await cli('cert', 'gen');
    const now = Date.now();
    const { out, io } = capture(temp.dir, now + 10 * 86_400_000);
    expect(await run(['cert', 'inspect', 'cluster.crt'], io)).toBe(0);
    expect(out.stdout).toContain('subject:      CN=kong_clustering');
    expect(out.stdout).toContain('TLS Web Server Authentication, TLS Web Client Authentication');
    expect(out.stdout).toMatch(/fingerprint: {2}SHA256:[0-9a-f]{64}/);
    expect(out.stdout).toContain('1084 days left');
    expect(out.stderr).toBe('');
  });

  it('warns when a certificate expires within 30 days, and exits 1', async () => {
    await cli('cert', 'gen', '--days', '20');
    const { out, io } = capture(temp.dir);
    expect(await run(['cert', 'inspect', 'cluster.crt'], io)).toBe(1);
    expect(out.stderr).toMatch(/warning: CN=kong_clustering expires in 1\d days/);
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
