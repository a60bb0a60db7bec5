import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type TLSSocket } from 'node:tls';
import {
  type CertificateKeyPair,
  decodePemCertificates,
  generateClusterCertificate,
} from '@planesync/core';
import { FakeClock } from '@planesync/core/testing';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { secureContextFor } from '../src/dial.ts';
import {
  dialedName,
  dialTls,
  peerCertificateChain,
  TLS_HARDENING,
  tlsIdentityOptions,
} from '../src/index.ts';
import { Arrivals, closedOf, silentServer } from './helpers.ts';

let cluster: CertificateKeyPair;
beforeAll(async () => {
  cluster = await generateClusterCertificate();
});

const stops: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

const tls = () => ({ cert: cluster.certificate, key: cluster.privateKey });

/** A TLS server on loopback that asks for a client certificate and records each SNI. */
async function tlsServer() {
  const sockets = new Arrivals<TLSSocket>();
  const server = createServer({
    cert: cluster.certificate,
    key: cluster.privateKey,
    ...TLS_HARDENING,
    requestCert: true,
    rejectUnauthorized: false,
  });
  server.on('secureConnection', (socket) => sockets.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stops.push(async () => {
    for (const socket of sockets.all) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return { port: (server.address() as { port: number }).port, sockets };
}

describe('dialTls', () => {
  it('completes mutual TLS with any CP certificate and reports the CP’s chain', async () => {
    const server = await tlsServer();
    const socket = await dialTls({ host: '127.0.0.1', port: server.port, tls: tls() });
    stops.push(() => socket.destroy());
    expect(peerCertificateChain(socket)).toEqual(decodePemCertificates(cluster.certificate));
    expect(peerCertificateChain(await server.sockets.next())).toEqual(
      decodePemCertificates(cluster.certificate),
    );
  });

  it('sends kong_clustering as SNI to an IP, the host to a name, and serverName when given', async () => {
    const server = await tlsServer();
    const names: Array<string | false | null> = [];
    for (const options of [
      { host: '127.0.0.1' },
      { host: 'localhost' },
      { host: '127.0.0.1', serverName: 'cp.cluster.internal' },
    ]) {
      const socket = await dialTls({ ...options, port: server.port, tls: tls() });
      stops.push(() => socket.destroy());
      names.push((await server.sockets.next()).servername);
    }
    expect(names).toEqual(['kong_clustering', 'localhost', 'cp.cluster.internal']);
    expect(dialedName({ host: '127.0.0.1' })).toBe('127.0.0.1');
    expect(dialedName({ host: '127.0.0.1', serverName: 'cp.internal' })).toBe('cp.internal');
  });

  it('gives up after timeoutMs on the injected clock, leaving no socket behind', async () => {
    const silent = await silentServer();
    stops.push(() => silent.close());
    const clock = new FakeClock();
    const outcome = dialTls({
      host: '127.0.0.1',
      port: silent.port,
      tls: tls(),
      timeoutMs: 5_000,
      clock,
    }).catch((error: unknown) => error);
    const peer = await silent.accepted();
    await clock.advance(4_999);
    expect(peer.closed).toBe(false);
    await clock.advance(1);
    expect(await outcome).toMatchObject({
      code: 'TRANSPORT_FAILED',
      message: expect.stringContaining('no TLS handshake within 5000 ms'),
    });
    await closedOf(peer);
  });

  it('rejects ABORTED when aborted mid-handshake, and closes the socket', async () => {
    const silent = await silentServer();
    stops.push(() => silent.close());
    const controller = new AbortController();
    const outcome = dialTls({
      host: '127.0.0.1',
      port: silent.port,
      tls: tls(),
      signal: controller.signal,
    }).catch((error: unknown) => error);
    const peer = await silent.accepted();
    controller.abort();
    expect(await outcome).toMatchObject({ code: 'ABORTED' });
    await closedOf(peer);
  });

  it('rejects ABORTED at once for a signal already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(
      dialTls({ host: '127.0.0.1', port: 9, tls: tls(), signal: controller.signal }),
    ).rejects.toMatchObject({ code: 'ABORTED' });
  });

  it('rejects TRANSPORT_FAILED naming the address when nothing listens', async () => {
    const silent = await silentServer();
    await silent.close();
    await expect(
      dialTls({ host: '127.0.0.1', port: silent.port, tls: tls() }),
    ).rejects.toMatchObject({
      code: 'TRANSPORT_FAILED',
      message: expect.stringContaining(`127.0.0.1:${silent.port}`),
    });
  });
});

describe('a DP dialing again with the same identity', () => {
  it('presents its certificate from one TLS context; a certificate replaced on disk is presented from the next dial', async () => {
    const { port, sockets } = await tlsServer();
    const dir = await mkdtemp(join(tmpdir(), 'planesync-dial-'));
    stops.push(() => rm(dir, { recursive: true, force: true }));
    const certFile = join(dir, 'dp.crt');
    const keyFile = join(dir, 'dp.key');
    await writeFile(certFile, cluster.certificate);
    await writeFile(keyFile, cluster.privateKey);
    const identity = { cert: certFile, key: keyFile };
    const presented = async () => {
      const socket = await dialTls({ host: '127.0.0.1', port, tls: identity });
      stops.push(() => socket.destroy());
      const server = await sockets.next();
      return server.getPeerCertificate().fingerprint256;
    };
    const first = await presented();
    expect(await presented()).toBe(first);
    expect(secureContextFor(tlsIdentityOptions(identity))).toBe(
      secureContextFor(tlsIdentityOptions(identity)),
    );
    // The files are replaced (a rotation): the next dial presents the new certificate.
    const renewed = await generateClusterCertificate();
    await writeFile(certFile, renewed.certificate);
    await writeFile(keyFile, renewed.privateKey);
    const after = await presented();
    expect(after).not.toBe(first);
    expect(after).toBe(new X509Certificate(renewed.certificate).fingerprint256);
  });
});
