import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../src/index.ts';
import { capture, cliInTempDir } from './capture.ts';

const temp = cliInTempDir('planesync-cert-inspect-');
const { cli, cliAt } = temp;

const DAY = 86_400_000;
/** A fixed now, on a whole second as certificates are. */
const T = Date.UTC(2030, 0, 15, 12, 0, 0);

async function caAndServer() {
  expect((await cliAt(T, 'cert', 'ca', '--cn', 'Root')).code).toBe(0);
  const issued = await cliAt(
    T,
    'cert',
    'issue',
    '--issuer-cert',
    'ca.crt',
    '--issuer-key',
    'ca.key',
    '--cn',
    'cp',
    '--usage',
    'server',
    '--alt-name',
    'cp.internal',
    '--alt-name',
    '10.0.0.7',
    '--alt-name',
    '*.cp.internal',
  );
  expect(issued.code).toBe(0);
}

describe('planesync cert inspect', () => {
  it('prints subject, issuer, SANs, key usage, EKU (labelled EKU), CA, fingerprint and days left', async () => {
    await caAndServer();
    const result = await cliAt(T + 10 * DAY, 'cert', 'inspect', 'cp.crt');
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    const lines = result.stdout.split('\n');
    expect(lines).toContain('subject:      CN=cp');
    expect(lines).toContain('issuer:       CN=Root');
    expect(lines).toContain(
      'SANs:         DNS:cp.internal, IP Address:10.0.0.7, DNS:*.cp.internal',
    );
    expect(lines).toContain('key usage:    Digital Signature, Key Agreement');
    expect(lines).toContain('EKU:          TLS Web Server Authentication');
    expect(lines).toContain('CA:           no');
    expect(result.stdout).toMatch(/\nfingerprint: {2}SHA256:[0-9a-f]{64}\n/);
    expect(lines).toContain('valid until:  2031-01-15T12:00:00.000Z (355 days left)');
  });

  it('says a CA is one, with its pathlen', async () => {
    await cliAt(T, 'cert', 'ca', '--cn', 'Root', '--path-length', '1');
    const result = await cliAt(T, 'cert', 'inspect', 'ca.crt');
    expect(result.stdout).toContain('\nCA:           yes (pathlen:1)\n');
    expect(result.stdout).toContain(
      '\nkey usage:    Digital Signature, Certificate Sign, CRL Sign\n',
    );
    expect(result.stdout).toContain('\nSANs:         (none)\n');
  });

  it('counts a fresh 365-day certificate as 365 days left, not 364', async () => {
    await cliAt(T + 1234, 'cert', 'gen', '--days', '365');
    const result = await cliAt(T + 1234 + 5_000, 'cert', 'inspect', 'cluster.crt');
    expect(result.stdout).toContain('(365 days left)');
    expect(result.code).toBe(0);
  });

  it('counts a fresh 1-day certificate as 1 day left, not 0, and warns', async () => {
    await cliAt(T, 'cert', 'gen', '--days', '1');
    const result = await cliAt(T + 60_000, 'cert', 'inspect', 'cluster.crt');
    expect(result.stdout).toContain('(1 day left)');
    expect(result.stderr).toBe('warning: CN=kong_clustering expires in 1 day\n');
    expect(result.code).toBe(1);
  });

  it('warns when a certificate expires within 30 days, and exits 1', async () => {
    await cliAt(T, 'cert', 'gen', '--days', '20');
    const result = await cliAt(T, 'cert', 'inspect', 'cluster.crt');
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('warning: CN=kong_clustering expires in 20 days\n');
  });

  it('says how many days ago an expired certificate expired', async () => {
    await cliAt(T, 'cert', 'gen', '--days', '10');
    const result = await cliAt(T + 13 * DAY, 'cert', 'inspect', 'cluster.crt');
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('(expired 3 days ago)');
    expect(result.stderr).toBe('warning: CN=kong_clustering expired 3 days ago\n');
  });

  it('reads - as standard input', async () => {
    await cliAt(T, 'cert', 'gen');
    const pem = await readFile(join(temp.dir, 'cluster.crt'));
    const { out, io } = capture(temp.dir, T, pem);
    expect(await run(['cert', 'inspect', '-'], io)).toBe(0);
    expect(out.stdout).toContain('subject:      CN=kong_clustering');
  });

  it('names standard input as such when it holds no certificate', async () => {
    const { out, io } = capture(temp.dir, T, 'hello');
    expect(await run(['cert', 'inspect', '-'], io)).toBe(1);
    expect(out.stderr).toBe('planesync: standard input does not hold a certificate (PEM or DER)\n');
  });

  it('says when - is given but there is no standard input to read', async () => {
    const result = await cli('cert', 'inspect', '-');
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('planesync: cannot read standard input: there is none here\n');
  });

  it('reads a DER certificate too', async () => {
    await cliAt(T, 'cert', 'gen');
    const { X509Certificate } = await import('node:crypto');
    const der = new X509Certificate(await readFile(join(temp.dir, 'cluster.crt'))).raw;
    await writeFile(join(temp.dir, 'cluster.der'), der);
    expect((await cliAt(T, 'cert', 'inspect', 'cluster.der')).stdout).toContain(
      'subject:      CN=kong_clustering',
    );
  });
});

describe('planesync cert inspect errors name the file', () => {
  it('a missing file: "cannot read FILE: no such file", no raw ENOENT', async () => {
    expect(await cli('cert', 'inspect', 'missing.crt')).toEqual({
      code: 1,
      stdout: '',
      stderr: 'planesync: cannot read missing.crt: no such file\n',
    });
  });

  it('a private key given for a certificate: says what the file holds, no OpenSSL code', async () => {
    await cli('cert', 'gen');
    const result = await cli('cert', 'inspect', 'cluster.key');
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: 'planesync: cluster.key does not hold a PEM certificate (it holds a PRIVATE KEY)\n',
    });
  });

  it('a file that is no certificate at all', async () => {
    await writeFile(join(temp.dir, 'notes.txt'), 'hello');
    const result = await cli('cert', 'inspect', 'notes.txt');
    expect(result.stderr).toBe('planesync: notes.txt does not hold a certificate (PEM or DER)\n');
    expect(result.code).toBe(1);
  });

  it('a PEM block whose body is no certificate', async () => {
    await writeFile(
      join(temp.dir, 'broken.crt'),
      '-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n',
    );
    const result = await cli('cert', 'inspect', 'broken.crt');
    expect(result.stderr).toBe('planesync: broken.crt cannot be decoded as an X.509 certificate\n');
    expect(result.stderr).not.toMatch(/error:[0-9A-F]{8}/);
  });
});
