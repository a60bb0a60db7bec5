import {
  type CertificateKeyPair,
  type Connection,
  ControlPlane,
  createCertificateAuthority,
  DataPlane,
  decodePemCertificates,
  generateClusterCertificate,
  issueCertificate,
  planesyncProtocol,
  TrustVerifier,
} from '@planesync/core';
import { transportConformance } from '@planesync/core/testing';
import { FRAMES_ONLY } from '@planesync/core/transport';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { closeFrame, FrameDecoder, frameHeader, MAX_PREFACE_BYTES } from '../src/framing.ts';
import { tcpClient, tcpServer } from '../src/index.ts';

let cluster: CertificateKeyPair;
beforeAll(async () => {
  cluster = await generateClusterCertificate();
});

const LIMIT = 4 * 1024 * 1024;

const vitest = { describe, it, beforeEach, afterEach };

transportConformance(vitest, {
  name: 'TCP transport conformance over loopback mutual TLS',
  carriesMetadata: true, // in its preface
  async setup() {
    const server = tcpServer({
      host: '127.0.0.1',
      port: 0,
      tls: { cert: cluster.certificate, key: cluster.privateKey },
      maxPayloadBytes: LIMIT,
    });
    const der = decodePemCertificates(cluster.certificate);
    return {
      server,
      client: () =>
        tcpClient({
          host: '127.0.0.1',
          port: server.port!,
          tls: { cert: cluster.certificate, key: cluster.privateKey },
          serverName: 'kong_clustering',
        }),
      maxPayloadBytes: LIMIT,
      clientCertificates: der,
      serverCertificates: der,
    };
  },
  features: FRAMES_ONLY,
});

describe('length-prefixed framing', () => {
  it('reassembles frames split across reads and several in one read', () => {
    const decoder = new FrameDecoder(1024);
    const wire = Buffer.concat([
      frameHeader(3),
      Buffer.from('abc'),
      frameHeader(0),
      frameHeader(2),
      Buffer.from('de'),
    ]);
    const events = [];
    for (let i = 0; i < wire.length; i += 2) events.push(...decoder.push(wire.subarray(i, i + 2)));
    expect(
      events.map((e) => (e.kind === 'frame' ? Buffer.from(e.frame).toString() : e.kind)),
    ).toEqual(['abc', '', 'de']);
    expect(new FrameDecoder(1024).push(wire).length).toBe(3);
  });

  it('reports an oversized length from the header alone, before buffering the body', () => {
    const decoder = new FrameDecoder(10);
    expect(decoder.push(frameHeader(11))).toEqual([{ kind: 'oversized', size: 11 }]);
    expect(decoder.push(Buffer.alloc(11))).toEqual([]);
  });

  it('carries a close code and reason', () => {
    expect(new FrameDecoder(10).push(closeFrame(4001, 'bye'))).toEqual([
      { kind: 'close', code: 4001, reason: 'bye' },
    ]);
  });

  it('stops after maxFrames and gives back the bytes after them (the preface)', () => {
    const decoder = new FrameDecoder(8, 1);
    const bytes = Buffer.concat([
      frameHeader(2),
      Buffer.from('{}'),
      frameHeader(100),
      Buffer.alloc(3),
    ]);
    expect(decoder.push(bytes)).toEqual([
      { kind: 'frame', frame: new Uint8Array(Buffer.from('{}')) },
    ]);
    expect(decoder.rest()).toEqual(Buffer.concat([frameHeader(100), Buffer.alloc(3)]));
  });

  it('once discarding, skips data frames unbuffered, across reads, and still reports a close', () => {
    const decoder = new FrameDecoder(1024);
    decoder.discard();
    expect(decoder.push(Buffer.concat([frameHeader(1000), Buffer.alloc(10)]))).toEqual([]);
    expect(decoder.push(Buffer.alloc(990))).toEqual([]);
    expect(
      decoder.push(Buffer.concat([frameHeader(5), Buffer.alloc(5), closeFrame(1000, 'ok')])),
    ).toEqual([{ kind: 'close', code: 1000, reason: 'ok' }]);
  });
});

interface Pki {
  root: CertificateKeyPair;
  intermediate: CertificateKeyPair;
  cp: CertificateKeyPair;
  dp: CertificateKeyPair;
}

async function makePki(): Promise<Pki> {
  const root = await createCertificateAuthority({ commonName: 'Root' });
  const intermediate = await createCertificateAuthority({
    commonName: 'Intermediate',
    issuer: root,
  });
  const cp = await issueCertificate({
    issuer: intermediate,
    commonName: 'cp',
    usage: 'server',
    altNames: ['127.0.0.1', 'localhost'],
  });
  const dp = await issueCertificate({ issuer: intermediate, commonName: 'dp-1', usage: 'client' });
  return { root, intermediate, cp, dp };
}

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

async function startCp(tls: { cert: string | string[]; key: string }, trust: TrustVerifier) {
  const transport = tcpServer({ host: '127.0.0.1', port: 0, tls });
  const cp = new ControlPlane({ transport, trust, version: '3.10.0' });
  await cp.start();
  stops.push(() => cp.stop());
  return { cp, port: transport.port! };
}

function startDp(options: ConstructorParameters<typeof DataPlane>[0]) {
  const dp = new DataPlane({ reconnectDelayMs: [50, 100], ...options });
  stops.push(() => dp.stop());
  return dp;
}

const config = {
  _format_version: '3.0',
  services: [{ name: 'echo', host: '127.0.0.1', port: 8080 }],
};

describe('ControlPlane ↔ DataPlane over TCP with mutual TLS', () => {
  it('pushes config end to end in pinned (shared) mode', async () => {
    const tls = { cert: cluster.certificate, key: cluster.privateKey };
    const trust = new TrustVerifier({ mode: 'pinned', certificates: [cluster.certificate] });
    const { cp, port } = await startCp(tls, trust);
    const { hash } = await cp.setConfig(config);
    const dp = startDp({
      transport: tcpClient({ host: '127.0.0.1', port, tls, serverName: 'kong_clustering' }),
      trust,
      version: '3.10.0',
    });
    await dp.start();
    expect((await dp.waitForConfig({ hash })).source).toBe('control-plane');
    expect(cp.dataPlanes()[0]?.ip).toBe('127.0.0.1'); // without the port, as Kong's ip
  });

  it('takes the CP address as Kong writes it: host:port', async () => {
    const tls = { cert: cluster.certificate, key: cluster.privateKey };
    const trust = new TrustVerifier({ mode: 'pinned', certificates: [cluster.certificate] });
    const { cp, port } = await startCp(tls, trust);
    const { hash } = await cp.setConfig(config);
    const dp = startDp({
      transport: tcpClient({ host: `127.0.0.1:${port}`, tls }),
      trust,
      version: '3.10.0',
    });
    await dp.start();
    await dp.waitForConfig({ hash });
    expect(() => tcpClient({ host: 'cp.internal', tls })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });

  it('pushes config end to end in PKI mode, the DP sending its intermediate (cert3 on the CP)', async () => {
    const pki = await makePki();
    const { cp, port } = await startCp(
      { cert: [pki.cp.certificate, pki.intermediate.certificate], key: pki.cp.privateKey },
      new TrustVerifier({ mode: 'pki', trustAnchors: [pki.root.certificate] }),
    );
    const { hash } = await cp.setConfig(config);
    const dp = startDp({
      transport: tcpClient({
        host: '127.0.0.1',
        port,
        tls: { cert: [pki.dp.certificate, pki.intermediate.certificate], key: pki.dp.privateKey },
      }),
      trust: new TrustVerifier({ mode: 'pki', trustAnchors: [pki.root.certificate] }),
      serverName: '127.0.0.1',
      version: '3.10.0',
    });
    await dp.start();
    await dp.waitForConfig({ hash });
  });

  it('in PKI mode a DP refuses a CP whose CA-issued certificate is not for the dialed host', async () => {
    const pki = await makePki();
    const impostor = await issueCertificate({
      issuer: pki.intermediate,
      commonName: 'impostor',
      usage: 'server',
      altNames: ['impostor.internal'],
    });
    const trust = new TrustVerifier({ mode: 'pki', trustAnchors: [pki.root.certificate] });
    const { port } = await startCp(
      { cert: [impostor.certificate, pki.intermediate.certificate], key: impostor.privateKey },
      trust,
    );
    const dp = startDp({
      transport: tcpClient({
        host: '127.0.0.1',
        port,
        tls: { cert: [pki.dp.certificate, pki.intermediate.certificate], key: pki.dp.privateKey },
      }),
      trust,
      version: '3.10.0',
    });
    const refused = new Promise<{ code: string }>((resolve) => dp.once('rejected', resolve));
    await dp.start();
    expect((await refused).code).toBe('TRUST_NAME_MISMATCH');
  });

  it('rejects a DP with an untrusted certificate: no config byte reaches it, only the close frame', async () => {
    const tls = { cert: cluster.certificate, key: cluster.privateKey };
    const trust = new TrustVerifier({ mode: 'pinned', certificates: [cluster.certificate] });
    const { cp, port } = await startCp(tls, trust);
    await cp.setConfig(config);
    const stranger = await generateClusterCertificate();
    // On the wire: every byte the CP sends an untrusted DP that dials it as a DataPlane does
    // (TLS, then its preface, then a hello) is one close frame naming the refusal.
    const { connect } = await import('node:tls');
    const socket = connect({
      host: '127.0.0.1',
      port,
      cert: stranger.certificate,
      key: stranger.privateKey,
      rejectUnauthorized: false,
      servername: 'kong_clustering',
    });
    socket.on('error', () => undefined);
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    const gone = new Promise((resolve) => socket.once('close', resolve));
    await new Promise((resolve) => socket.once('secureConnect', resolve));
    const preface = Buffer.from(JSON.stringify({ node_id: 'stranger' }));
    const hello = Buffer.from('{"type":"hello"}');
    socket.write(Buffer.concat([frameHeader(preface.length), preface]));
    socket.write(Buffer.concat([frameHeader(hello.length), hello]));
    await gone;
    expect(new FrameDecoder(1024 * 1024).push(Buffer.concat(received))).toEqual([
      { kind: 'close', code: 1008, reason: 'TRUST_PIN_MISMATCH' },
    ]);
    expect(Buffer.concat(received)).toEqual(closeFrame(1008, 'TRUST_PIN_MISMATCH'));
    // And a DataPlane dialing with that certificate is told why and keeps its empty config.
    const rejected = new Promise<{ code: string }>((resolve) =>
      cp.once('dataPlaneRejected', resolve),
    );
    const dp = startDp({
      transport: tcpClient({
        host: '127.0.0.1',
        port,
        tls: { cert: stranger.certificate, key: stranger.privateKey },
      }),
      trust,
      version: '3.10.0',
    });
    const refused = new Promise<{ code: string }>((resolve) => dp.once('rejected', resolve));
    await dp.start();
    expect((await rejected).code).toBe('TRUST_PIN_MISMATCH');
    expect((await refused).code).toBe('TRUST_PIN_MISMATCH');
    expect(dp.currentConfig?.source).toBe('empty');
    expect(cp.dataPlanes()).toEqual([]);
  });

  it('a DP presenting no certificate is rejected with TRUST_NO_CERTIFICATE', async () => {
    const tls = { cert: cluster.certificate, key: cluster.privateKey };
    const { cp, port } = await startCp(
      tls,
      new TrustVerifier({ mode: 'pinned', certificates: [cluster.certificate] }),
    );
    const rejected = new Promise<{ code: string }>((resolve) =>
      cp.once('dataPlaneRejected', resolve),
    );
    const { connect } = await import('node:tls');
    const socket = connect({
      host: '127.0.0.1',
      port,
      rejectUnauthorized: false,
      servername: 'kong_clustering',
    });
    socket.on('error', () => undefined);
    await new Promise((resolve) => socket.once('secureConnect', resolve));
    socket.write(Buffer.concat([frameHeader(2), Buffer.from('{}')]));
    expect((await rejected).code).toBe('TRUST_NO_CERTIFICATE');
    socket.destroy();
  });
});

describe('what TCP carries', () => {
  it('a protocol that needs a request path and ping frames cannot be combined with TCP: the CP and the DP say so at once', () => {
    const tls = { cert: cluster.certificate, key: cluster.privateKey };
    const trust = new TrustVerifier({ mode: 'pinned', certificates: [cluster.certificate] });
    // As Kong's protocol will: its own path, and pings carrying the DP's hash.
    const protocol = planesyncProtocol({ route: { path: '/v1/outlet', pings: 'manual' } });
    expect(
      () =>
        new ControlPlane({
          transport: tcpServer({ port: 0, tls }),
          trust,
          version: '3.10.0',
          protocols: [protocol],
        }),
    ).toThrow(
      /cannot carry the planesync protocol: it has no request step .* and no ping and pong/,
    );
    expect(
      () =>
        new DataPlane({
          transport: tcpClient({ host: '127.0.0.1', port: 1, tls }),
          trust,
          version: '3.10.0',
          protocol,
        }),
    ).toThrow(/cannot carry the planesync protocol/);
  });

  it('refuses a preface over 8 KiB from its header, without buffering it', async () => {
    const tls = { cert: cluster.certificate, key: cluster.privateKey };
    const server = tcpServer({ host: '127.0.0.1', port: 0, tls });
    const accepted: Connection[] = [];
    await server.listen((connection) => accepted.push(connection));
    stops.push(() => server.close());
    const { connect } = await import('node:tls');
    const socket = connect({
      host: '127.0.0.1',
      port: server.port!,
      ...tls,
      rejectUnauthorized: false,
      servername: 'kong_clustering',
    });
    socket.on('error', () => undefined);
    socket.resume();
    const closed = new Promise((resolve) => socket.once('close', resolve));
    await new Promise((resolve) => socket.once('secureConnect', resolve));
    socket.write(frameHeader(MAX_PREFACE_BYTES + 1));
    socket.write(Buffer.alloc(64 * 1024, 0x7b));
    await closed;
    expect(accepted).toEqual([]);
  });

  it('carries request.query pairs without a path as metadata in the preface, then the deprecated metadata', async () => {
    const server = tcpServer({
      host: '127.0.0.1',
      port: 0,
      tls: { cert: cluster.certificate, key: cluster.privateKey },
    });
    let onConnection!: (connection: Connection) => void;
    const accepted = new Promise<Connection>((resolve) => {
      onConnection = resolve;
    });
    await server.listen((connection) => onConnection(connection));
    stops.push(() => server.close());
    const client = tcpClient({
      host: '127.0.0.1',
      port: server.port!,
      tls: { cert: cluster.certificate, key: cluster.privateKey },
    });
    const connection = await client.connect({
      request: {
        query: [
          ['node_id', 'n1'],
          ['node_version', '3.9.0'],
        ],
      },
      metadata: { node_version: '3.10.0', node_hostname: 'dp-1' },
    });
    const peer = await accepted;
    expect(peer.metadata).toEqual({ node_id: 'n1', node_version: '3.10.0', node_hostname: 'dp-1' });
    expect(peer.request).toBeUndefined();
    expect(connection.request).toBeUndefined();
    await connection.close();
  });
});
