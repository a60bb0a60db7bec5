// Kong's cluster_ocsp against a real OCSP responder: `openssl ocsp` on loopback, answering
// from an OpenSSL CA database in which one DP certificate is revoked.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ControlPlane,
  createCertificateAuthority,
  DataPlane,
  issueCertificate,
  memoryTransport,
  silentLogger,
  TrustVerifier,
} from '../src/index.ts';
import { checkOcsp, ocspResponder } from '../src/trust/ocsp.ts';

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Resolves once `openssl ocsp` says it waits for clients. (A probe connection would not do:
 * the responder serves one connection at a time, and would wait on the probe.)
 */
function listening(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let said = '';
    const timer = setTimeout(
      () => reject(new Error(`openssl ocsp did not start: ${said}`)),
      10_000,
    );
    const hear = (chunk: Buffer) => {
      said += chunk.toString();
      if (said.includes('waiting for OCSP client connections')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', hear);
    child.stderr?.on('data', hear);
    child.once('exit', (code) => reject(new Error(`openssl ocsp exited (${code}): ${said}`)));
  });
}

describe.skipIf(!hasOpenssl())(
  'revocation by OCSP, against openssl ocsp on loopback (skipped without the openssl command)',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'planesync-ocsp-'));
    const file = (name: string) => join(dir, name);
    let responder: ChildProcess;
    let port: number;
    let caPem: string;
    let rootPem: string;
    let cpChain: string[];
    const dps: Record<string, { cert: string; key: string }> = {};
    /** Runs `openssl ca` on the responder's database. */
    let db: (...args: string[]) => void;

    /** `openssl ocsp` answering from the database as it is now (it reads it once). */
    async function startResponder(): Promise<void> {
      if (responder) {
        const exited = new Promise((resolve) => responder.once('exit', resolve));
        responder.kill();
        await exited;
      }
      responder = spawn(
        'openssl',
        [
          'ocsp',
          '-index',
          'index.txt',
          // OpenSSL 3.0 takes a port only (it listens on every address); only 127.0.0.1 asks.
          '-port',
          String(port),
          '-rsigner',
          'ca.crt',
          '-rkey',
          'ca.key',
          '-CA',
          'ca.crt',
          '-ignore_err',
        ],
        { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      await listening(responder);
    }

    /** A client certificate the CA signs with OpenSSL, naming `ocspUrl` as its responder. */
    function dpCertificate(name: string, ocspUrl: string) {
      writeFileSync(
        file(`${name}.cnf`),
        [
          '[leaf]',
          'basicConstraints = critical,CA:FALSE',
          'keyUsage = critical,digitalSignature',
          'extendedKeyUsage = clientAuth',
          'subjectKeyIdentifier = hash',
          'authorityKeyIdentifier = keyid',
          `authorityInfoAccess = OCSP;URI:${ocspUrl}`,
        ].join('\n'),
      );
      const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
      run(
        'req',
        '-new',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-subj',
        `/CN=${name}`,
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.csr`,
      );
      run(
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-set_serial',
        `0x${Math.floor(Math.random() * 2 ** 48).toString(16)}01`,
        '-days',
        '2',
        '-extfile',
        `${name}.cnf`,
        '-extensions',
        'leaf',
        '-out',
        `${name}.crt`,
      );
      dps[name] = {
        cert: readFileSync(file(`${name}.crt`), 'utf8'),
        key: readFileSync(file(`${name}.key`), 'utf8'),
      };
    }

    beforeAll(async () => {
      const root = await createCertificateAuthority({ commonName: 'ocsp root' });
      const ca = await createCertificateAuthority({ commonName: 'ocsp ca', issuer: root });
      const cp = await issueCertificate({
        issuer: ca,
        commonName: 'cp.internal',
        usage: 'server',
        altNames: ['cp.internal'],
      });
      rootPem = root.certificate;
      caPem = ca.certificate;
      cpChain = [cp.certificate, ca.certificate];
      writeFileSync(file('ca.crt'), ca.certificate);
      writeFileSync(file('ca.key'), ca.privateKey);
      writeFileSync(file('index.txt'), '');
      writeFileSync(
        file('db.cnf'),
        [
          '[ca]',
          'default_ca = db',
          '[db]',
          'database = ./index.txt',
          'default_md = sha256',
          'certificate = ./ca.crt',
          'private_key = ./ca.key',
        ].join('\n'),
      );
      port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      dpCertificate('good', url);
      dpCertificate('bad', url);
      dpCertificate('later', url);
      // Names a responder nothing listens on.
      dpCertificate('silent', `http://127.0.0.1:${await freePort()}`);
      db = (...args: string[]) =>
        execFileSync('openssl', ['ca', '-config', 'db.cnf', ...args], { cwd: dir, stdio: 'pipe' });
      db('-valid', 'good.crt');
      db('-valid', 'bad.crt');
      db('-valid', 'later.crt');
      db('-revoke', 'bad.crt');
      await startResponder();
    }, 60_000);

    afterAll(() => {
      responder?.kill();
      rmSync(dir, { recursive: true, force: true });
    });

    it('asks the responder the certificate names, and checks its signed answer: good and revoked', async () => {
      const ca = new X509Certificate(caPem);
      const good = new X509Certificate(dps.good!.cert);
      expect(ocspResponder(good)).toBe(`http://127.0.0.1:${port}`);
      expect(await checkOcsp(good, ca)).toMatchObject({ status: 'good' });
      expect(await checkOcsp(new X509Certificate(dps.bad!.cert), ca)).toMatchObject({
        status: 'revoked',
      });
      // An answer about this certificate, checked against an issuer that did not sign it.
      const other = new X509Certificate(rootPem);
      expect((await checkOcsp(good, other)).status).toBe('unknown');
      const silent = await checkOcsp(new X509Certificate(dps.silent!.cert), ca, {
        timeoutMs: 2_000,
      });
      expect(silent.status).toBe('unknown');
    });

    /** A CP with `ocsp` and one DP presenting `name`'s certificate: how the DP fares. */
    async function connect(ocsp: 'on' | 'optional' | 'off', name: string) {
      const anchors = [rootPem];
      const transport = memoryTransport({ certificates: cpChain });
      const cp = new ControlPlane({
        transport: transport.server,
        trust: new TrustVerifier({ mode: 'pki', trustAnchors: anchors }),
        version: '3.10.0',
        logger: silentLogger,
        ocsp,
        ocspTimeoutMs: 2_000,
      });
      await cp.start();
      const rejected = new Promise<string>((resolve) =>
        cp.once('dataPlaneRejected', (rejection) => resolve(rejection.code)),
      );
      const connected = new Promise<string>((resolve) =>
        cp.once('dataPlaneConnected', () => resolve('connected')),
      );
      const dp = new DataPlane({
        transport: transport.client({
          certificates: [dps[name]!.cert, caPem],
          serverName: 'cp.internal',
        }),
        trust: new TrustVerifier({ mode: 'pki', trustAnchors: anchors }),
        version: '3.10.0',
        logger: silentLogger,
        reconnectDelayMs: [60_000, 60_000],
      });
      await dp.start();
      try {
        return await Promise.race([rejected, connected]);
      } finally {
        await dp.stop();
        await cp.stop();
      }
    }

    it("cluster_ocsp 'on': a good certificate is served, a revoked one refused, one whose responder cannot say refused", async () => {
      expect(await connect('on', 'good')).toBe('connected');
      expect(await connect('on', 'bad')).toBe('TRUST_REVOKED');
      expect(await connect('on', 'silent')).toBe('TRUST_REVOCATION_UNKNOWN');
    }, 30_000);

    it("cluster_ocsp 'optional': only a revoked certificate is refused; 'off' asks nothing", async () => {
      expect(await connect('optional', 'bad')).toBe('TRUST_REVOKED');
      expect(await connect('optional', 'silent')).toBe('connected');
      expect(await connect('off', 'bad')).toBe('connected');
    }, 30_000);

    it('a recheck asks the responder again: a DP revoked since it connected is closed', async () => {
      const anchors = [rootPem];
      const trust = () => new TrustVerifier({ mode: 'pki', trustAnchors: anchors });
      const transport = memoryTransport({ certificates: cpChain });
      const cp = new ControlPlane({
        transport: transport.server,
        trust: trust(),
        version: '3.10.0',
        logger: silentLogger,
        ocsp: 'on',
        ocspTimeoutMs: 2_000,
      });
      await cp.start();
      const dp = new DataPlane({
        transport: transport.client({
          certificates: [dps.later!.cert, caPem],
          serverName: 'cp.internal',
        }),
        trust: trust(),
        version: '3.10.0',
        logger: silentLogger,
        reconnectDelayMs: [60_000, 60_000],
      });
      try {
        const connected = new Promise((resolve) => cp.once('dataPlaneConnected', resolve));
        await dp.start();
        await connected;
        db('-revoke', 'later.crt');
        await startResponder();
        const rejected = new Promise<{ code: string }>((resolve) =>
          cp.once('dataPlaneRejected', resolve),
        );
        const closed = new Promise((resolve) => dp.once('disconnected', resolve));
        cp.setTrust(trust(), { recheck: true });
        expect((await rejected).code).toBe('TRUST_REVOKED');
        await closed;
      } finally {
        await dp.stop();
        await cp.stop();
      }
    }, 30_000);
  },
);
