import { X509Certificate } from 'node:crypto';
import { connect, createServer, type TLSSocket } from 'node:tls';
import {
  createCertificateAuthority,
  generateClusterCertificate,
  issueCertificate,
} from '@planesync/core';
import { afterEach, describe, expect, it } from 'vitest';
import { localCertificateChain, serverPeerCertificateChain } from '../src/index.ts';

const stops: Array<() => unknown> = [];
afterEach(() => {
  for (const stop of stops.splice(0).reverse()) stop();
});

/** A TLS server on loopback asking for a client certificate, closed after the test. */
async function listening(pair: { certificate: string; privateKey: string }, ca?: string) {
  const server = createServer({
    cert: pair.certificate,
    key: pair.privateKey,
    requestCert: true,
    rejectUnauthorized: false,
    ...(ca ? { ca } : {}),
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stops.push(() => server.close());
  return server;
}

/** DER bytes of a PEM certificate. */
const der = (pem: string) => new Uint8Array(new X509Certificate(pem).raw);

/** The server side of a fresh mutual-TLS connection to `server`. */
async function accepted(
  server: ReturnType<typeof createServer>,
  client: { cert: string; key: string },
): Promise<TLSSocket> {
  const arrived = new Promise<TLSSocket>((resolve) => server.once('secureConnection', resolve));
  const port = (server.address() as { port: number }).port;
  const socket = connect({ port, host: '127.0.0.1', ...client, rejectUnauthorized: false });
  socket.on('error', () => undefined);
  stops.push(() => socket.destroy());
  return arrived;
}

describe('localCertificateChain', () => {
  it('gives every connection presenting one certificate the same frozen copy of it, and a new one after the server changes certificate', async () => {
    const first = await generateClusterCertificate();
    const second = await generateClusterCertificate();
    const server = await listening(first);
    const client = { cert: first.certificate, key: first.privateKey };

    const a = localCertificateChain(await accepted(server, client));
    const b = localCertificateChain(await accepted(server, client));
    expect(b).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
    expect(a).toEqual([der(first.certificate)]);

    server.setSecureContext({ cert: second.certificate, key: second.privateKey });
    const c = localCertificateChain(await accepted(server, client));
    expect(c).toEqual([der(second.certificate)]);
    expect(a).toEqual([der(first.certificate)]); // what an older connection reported stays
  });
});

/** What `serverPeerCertificateChain` reads from a client presenting leaf + intermediate, twice. */
async function chainPresented(serverNamesItsCa: boolean) {
  const root = await createCertificateAuthority({ commonName: 'Root' });
  const intermediate = await createCertificateAuthority({
    commonName: 'Intermediate',
    issuer: root,
    pathLength: 0,
  });
  const leaf = await issueCertificate({ issuer: intermediate, commonName: 'dp', usage: 'client' });
  const server = await listening(
    await generateClusterCertificate(),
    serverNamesItsCa ? root.certificate : undefined,
  );
  const socket = await accepted(server, {
    cert: `${leaf.certificate}\n${intermediate.certificate}`,
    key: leaf.privateKey,
  });
  return {
    expected: [der(leaf.certificate), der(intermediate.certificate)],
    // Node before 26 takes the intermediates out of the socket as it reads them: the second
    // answer comes from what the first read.
    reads: [serverPeerCertificateChain(socket), serverPeerCertificateChain(socket)],
  };
}

const node24 = process.versions.node.startsWith('24.');

describe('serverPeerCertificateChain', () => {
  it('gives the chain a client presented, leaf first, intermediates included, however often it is asked', async () => {
    const { expected, reads } = await chainPresented(false);
    expect(reads).toEqual([expected, expected]);
  });

  // Known and not fixed: Node 24 hands a server that has `ca` set only the client's leaf, through
  // getPeerX509Certificate and getPeerCertificate(true) alike (Node 20, 22 and 26 give the whole
  // chain), so there a DP whose certificate needs an intermediate the CP does not hold is refused.
  it.skipIf(node24)(
    'gives the whole chain when the server names its CA (skipped on Node 24, which hands over the leaf alone)',
    async () => {
      const { expected, reads } = await chainPresented(true);
      expect(reads).toEqual([expected, expected]);
    },
  );
});
