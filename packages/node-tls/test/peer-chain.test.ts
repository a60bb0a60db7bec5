import { X509Certificate } from 'node:crypto';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { generateClusterCertificate } from '@planesync/core';
import { afterEach, describe, expect, it } from 'vitest';
import { localCertificateChain } from '../src/index.ts';

const stops: Array<() => unknown> = [];
afterEach(() => {
  for (const stop of stops.splice(0).reverse()) stop();
});

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
    const server = createServer({
      cert: first.certificate,
      key: first.privateKey,
      requestCert: true,
      rejectUnauthorized: false,
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    stops.push(() => server.close());
    const client = { cert: first.certificate, key: first.privateKey };
    const der = (pem: string) => new Uint8Array(new X509Certificate(pem).raw);

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
