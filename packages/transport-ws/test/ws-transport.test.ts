import { gunzipSync } from 'node:zlib';
import {
  type CertificateKeyPair,
  ControlPlane,
  createCertificateAuthority,
  DataPlane,
  decodePemCertificates,
  generateClusterCertificate,
  hashConfig,
  issueCertificate,
  kongProtocol,
  planesyncProtocol,
  silentLogger,
  TrustVerifier,
} from '@planesync/core';
import { transportConformance } from '@planesync/core/testing';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type ClientOptions, WebSocket } from 'ws';
import { wsClient, wsServer } from '../src/index.ts';

let cluster: CertificateKeyPair;
beforeAll(async () => {
  cluster = await generateClusterCertificate();
});

const LIMIT = 4 * 1024 * 1024;
const node = {
  node_id: 'b1f6c0de-0000-4000-8000-000000000001',
  node_hostname: 'dp-1',
  node_version: '3.10.0',
};

const vitest = { describe, it, beforeEach, afterEach };

transportConformance(vitest, {
  name: 'WebSocket transport conformance over loopback wss',
  async setup() {
    const server = wsServer({
      host: '127.0.0.1',
      port: 0,
      tls: { cert: cluster.certificate, key: cluster.privateKey },
      maxPayloadBytes: LIMIT,
    });
    const der = decodePemCertificates(cluster.certificate);
    return {
      server,
      client: () =>
        wsClient({
          url: `wss://127.0.0.1:${server.port}/planesync/v1`,
          tls: { cert: cluster.certificate, key: cluster.privateKey },
        }),
      maxPayloadBytes: LIMIT,
      clientCertificates: der,
      serverCertificates: der,
    };
  },
  features: { request: true, controlFrames: true },
});

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

async function startCp(tls: { cert: string | string[]; key: string }, trust: TrustVerifier) {
  const transport = wsServer({ host: '127.0.0.1', port: 0, tls });
  const cp = new ControlPlane({ transport, trust, version: '3.10.0' });
  await cp.start();
  stops.push(() => cp.stop());
  return { cp, url: `wss://127.0.0.1:${transport.port}/planesync/v1`, port: transport.port! };
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

describe('ControlPlane ↔ DataPlane over wss', () => {
  it('pushes config end to end in pinned (shared) mode', async () => {
    const tls = { cert: cluster.certificate, key: cluster.privateKey };
    const trust = new TrustVerifier({ mode: 'pinned', certificates: [cluster.certificate] });
    const { cp, url } = await startCp(tls, trust);
    const { hash } = await cp.setConfig(config);
    const dp = startDp({
      transport: wsClient({ url, tls }),
      trust,
      version: '3.10.0',
      hostname: 'dp-1.internal',
    });
    await dp.start();
    await dp.waitForConfig({ hash });
    expect(cp.dataPlanes()[0]).toMatchObject({
      hostname: 'dp-1.internal',
      connected: true,
      ip: '127.0.0.1', // the address, without the port, as Kong records it
    });
  });

  it('one wss listener routes each path to its protocol: a fleet mid-migration syncs on both', async () => {
    const tls = { cert: cluster.certificate, key: cluster.privateKey };
    const trust = new TrustVerifier({ mode: 'pinned', certificates: [cluster.certificate] });
    const current = planesyncProtocol({
      route: { path: '/planesync/v1' },
      versions: ['planesync/1'],
    });
    const next = planesyncProtocol({ route: { path: '/planesync/v2' } });
    const transport = wsServer({ host: '127.0.0.1', port: 0, tls });
    const cp = new ControlPlane({
      transport,
      trust,
      version: '3.10.0',
      protocols: [current, next],
    });
    await cp.start();
    stops.push(() => cp.stop());
    const { hash } = await cp.setConfig(config);
    // The URL names the host; each protocol names its path.
    const url = `wss://127.0.0.1:${transport.port}`;
    const dps = [
      startDp({
        transport: wsClient({ url, tls }),
        trust,
        version: '3.10.0',
        nodeId: 'old',
        protocol: current,
      }),
      startDp({
        transport: wsClient({ url, tls }),
        trust,
        version: '3.10.0',
        nodeId: 'new',
        protocol: next,
      }),
    ];
    for (const dp of dps) await dp.start();
    await Promise.all(dps.map((dp) => dp.waitForConfig({ hash })));
    await cp.waitForSync({ hash });
    const byId = Object.fromEntries(cp.dataPlanes().map((record) => [record.id, record.protocol]));
    expect(byId).toEqual({ old: 'planesync/1', new: 'planesync/3' });
  });

  it("serves a client speaking Kong's sync v1 as a Kong DP does: basic_info, a gzip reconfigure, pings with the hash, empty pongs; 400 without node_id", async () => {
    const tls = { cert: cluster.certificate, key: cluster.privateKey };
    const trust = new TrustVerifier({ mode: 'pinned', certificates: [cluster.certificate] });
    const transport = wsServer({ host: '127.0.0.1', port: 0, tls });
    const cp = new ControlPlane({
      transport,
      trust,
      version: '3.10.0',
      protocols: [planesyncProtocol({ route: { path: '/planesync/v1' } }), kongProtocol()],
    });
    await cp.start();
    stops.push(() => cp.stop());
    const { hash } = await cp.setConfig(config);
    const outlet = `wss://127.0.0.1:${transport.port}/v1/outlet`;
    const client = {
      cert: cluster.certificate,
      key: cluster.privateKey,
      rejectUnauthorized: false,
    };
    // Kong's DP concatenates the query as it is, and sends the name kong_clustering.
    const kongDialOptions: ClientOptions & { servername: string } = {
      ...client,
      servername: 'kong_clustering',
    };
    const ws = new WebSocket(
      `${outlet}?node_id=kong-dp-1&node_hostname=dp.internal&node_version=3.10.0`,
      kongDialOptions,
    );
    stops.push(async () => ws.terminate());
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const reconfigure = new Promise<Buffer>((resolve) =>
      ws.once('message', (data, isBinary) => isBinary && resolve(data as Buffer)),
    );
    ws.send(Buffer.from(JSON.stringify({ type: 'basic_info', plugins: [], labels: {} })), {
      binary: true,
    });
    const message = JSON.parse(gunzipSync(await reconfigure).toString('utf8'));
    expect(message).toMatchObject({ type: 'reconfigure', config_hash: hash });
    const pong = new Promise<Buffer>((resolve) => ws.once('pong', resolve));
    ws.ping(Buffer.from(hash));
    expect((await pong).byteLength).toBe(0);
    expect((await cp.waitForSync({ hash }))[0]).toMatchObject({
      id: 'kong-dp-1',
      hostname: 'dp.internal',
      protocol: 'kong/sync-v1',
      configHash: hash,
    });
    const status = await new Promise<number | undefined>((resolve) => {
      const bare = new WebSocket(`${outlet}?node_hostname=dp.internal`, client);
      bare.on('error', () => undefined);
      bare.once('unexpected-response', (_request, response) => {
        resolve(response.statusCode);
        bare.terminate();
      });
    });
    expect(status).toBe(400);
  });

  describe("refuses an untrusted Kong DP as Kong's CP does", () => {
    /** The answer a raw client gets to an upgrade on `path`: an HTTP status, or none. */
    async function answer(port: number, path: string, certificate: CertificateKeyPair) {
      const ws = new WebSocket(
        `wss://127.0.0.1:${port}${path}?node_id=kong-dp-9&node_hostname=dp&node_version=3.10.0`,
        { cert: certificate.certificate, key: certificate.privateKey, rejectUnauthorized: false },
      );
      stops.push(async () => ws.terminate());
      return new Promise<number | 'no answer' | 'open'>((resolve) => {
        ws.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
        ws.once('open', () => resolve('open'));
        ws.once('error', () => resolve('no answer'));
      });
    }

    async function serve(trust: TrustVerifier, tls: { cert: string; key: string }) {
      const transport = wsServer({ host: '127.0.0.1', port: 0, tls });
      const cp = new ControlPlane({
        transport,
        trust,
        version: '3.10.0',
        protocols: [planesyncProtocol({ route: { path: '/planesync/v1' } }), kongProtocol()],
        logger: silentLogger,
      });
      const rejected: string[] = [];
      cp.on('dataPlaneRejected', (event) => rejected.push(event.code));
      await cp.start();
      stops.push(() => cp.stop());
      return { port: transport.port!, rejected };
    }

    it('pinned mode: a certificate other than the pinned one gets no HTTP answer on /v1/outlet (ngx.exit(444)), a 403 on planesync’s path', async () => {
      const stranger = await generateClusterCertificate();
      const { port, rejected } = await serve(
        new TrustVerifier({ mode: 'pinned', certificates: [cluster.certificate] }),
        { cert: cluster.certificate, key: cluster.privateKey },
      );
      expect(await answer(port, '/v1/outlet', stranger)).toBe('no answer');
      expect(await answer(port, '/planesync/v1', stranger)).toBe(403);
      expect(await answer(port, '/v1/outlet', cluster)).toBe('open');
      expect(rejected).toEqual(['TRUST_PIN_MISMATCH', 'TRUST_PIN_MISMATCH']);
    });

    it('PKI mode: a chain from another CA is answered HTTP 400 on /v1/outlet, as nginx with ssl_verify_client on', async () => {
      const root = await createCertificateAuthority({ commonName: 'cluster root' });
      const otherRoot = await createCertificateAuthority({ commonName: 'other root' });
      const cp = await issueCertificate({
        issuer: root,
        commonName: 'cp',
        usage: 'server',
        altNames: ['127.0.0.1'],
      });
      const dp = await issueCertificate({ issuer: root, commonName: 'dp', usage: 'client' });
      const stranger = await issueCertificate({
        issuer: otherRoot,
        commonName: 'dp',
        usage: 'client',
      });
      const { port } = await serve(
        new TrustVerifier({ mode: 'pki', trustAnchors: [root.certificate] }),
        { cert: cp.certificate, key: cp.privateKey },
      );
      expect(await answer(port, '/v1/outlet', stranger)).toBe(400);
      expect(await answer(port, '/v1/outlet', dp)).toBe('open');
    });
  });

  it("syncs a planesync DP speaking Kong from a Kong CP peer written from Kong's Lua (raw ws over mTLS): the frames byte by byte", async () => {
    const { createServer } = await import('node:https');
    const { createHash } = await import('node:crypto');
    const { gzipSync } = await import('node:zlib');
    const { WebSocketServer } = await import('ws');
    const pin = createHash('sha256')
      .update(decodePemCertificates(cluster.certificate)[0]!)
      .digest('hex');
    const seen = {
      url: '',
      headers: {} as Record<string, unknown>,
      first: undefined as { binary: boolean; json: unknown } | undefined,
      pings: [] as string[],
    };
    const sockets = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      autoPong: false,
    });
    const https = createServer({
      cert: cluster.certificate,
      key: cluster.privateKey,
      requestCert: true,
      rejectUnauthorized: false,
    });
    let pinged: (hash: string) => void = () => undefined;
    https.on('upgrade', (request, socket, head) => {
      // Kong's shared mode: the DP's leaf must be the CP's own cluster certificate.
      const leaf = (request.socket as import('node:tls').TLSSocket).getPeerCertificate();
      const digest = createHash('sha256').update(leaf.raw).digest('hex');
      if (request.url?.split('?')[0] !== '/v1/outlet' || digest !== pin) return socket.destroy();
      seen.url = request.url ?? '';
      seen.headers = request.headers;
      sockets.handleUpgrade(request, socket, head, (ws) => {
        ws.once('message', (data, isBinary) => {
          seen.first = { binary: isBinary, json: JSON.parse(String(data)) };
          const config_table = { _format_version: '3.0', services: [{ name: 's', host: 'h' }] };
          const message = {
            type: 'reconfigure',
            timestamp: Date.now() / 1000,
            config_table,
            config_hash: hashConfig(config_table).config_hash,
          };
          ws.send(gzipSync(JSON.stringify(message)), { binary: true });
        });
        ws.on('ping', (payload) => {
          seen.pings.push(payload.toString('latin1'));
          ws.pong(Buffer.alloc(0));
          pinged(payload.toString('latin1'));
        });
      });
    });
    await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
    stops.push(async () => {
      for (const ws of sockets.clients) ws.terminate();
      await new Promise((resolve) => https.close(resolve));
    });
    const port = (https.address() as import('node:net').AddressInfo).port;
    const expected = hashConfig({ _format_version: '3.0', services: [{ name: 's', host: 'h' }] });
    const applied = new Promise<void>((resolve) => {
      pinged = (hash) => hash === expected.config_hash && resolve();
    });
    const dp = startDp({
      transport: wsClient({
        url: `wss://127.0.0.1:${port}`,
        tls: { cert: cluster.certificate, key: cluster.privateKey },
      }),
      trust: new TrustVerifier({ mode: 'pinned', certificates: [cluster.certificate] }),
      version: '3.10.0',
      nodeId: 'b1f6c0de-0000-4000-8000-000000000009',
      hostname: 'dp-9',
      protocol: kongProtocol(),
      plugins: [{ name: 'key-auth', version: '3.10.0' }],
    });
    await dp.start();
    await applied;
    // The query as Kong's DP writes it; no subprotocol, no permessage-deflate offered.
    expect(seen.url).toBe(
      '/v1/outlet?node_id=b1f6c0de-0000-4000-8000-000000000009&node_hostname=dp-9&node_version=3.10.0',
    );
    expect(seen.headers['sec-websocket-protocol']).toBeUndefined();
    expect(seen.headers['sec-websocket-extensions']).toBeUndefined();
    // basic_info first, one binary frame of JSON; then pings of 32 characters: zeros, the hash.
    expect(seen.first).toEqual({
      binary: true,
      json: { type: 'basic_info', plugins: [{ name: 'key-auth', version: '3.10.0' }], labels: {} },
    });
    expect(seen.pings[0]).toBe('0'.repeat(32));
    expect(seen.pings.at(-1)).toBe(expected.config_hash);
    expect(dp.currentConfig?.hash).toBe(expected.config_hash);
    expect(dp.status).toMatchObject({ connection: 'connected', protocol: 'kong/sync-v1' });
  });

  it('takes the CP address as Kong writes it: host:port', async () => {
    const tls = { cert: cluster.certificate, key: cluster.privateKey };
    const trust = new TrustVerifier({ mode: 'pinned', certificates: [cluster.certificate] });
    const { cp, port } = await startCp(tls, trust);
    const { hash } = await cp.setConfig(config);
    const dp = startDp({
      transport: wsClient({ url: `127.0.0.1:${port}`, tls }),
      trust,
      version: '3.10.0',
    });
    await dp.start();
    await dp.waitForConfig({ hash });
    expect(() => wsClient({ url: 'cp.internal', tls })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });

  describe('PKI with the spec chain cert3 (root) → cert2 (intermediate) → cert1 (DP leaf)', () => {
    let root: CertificateKeyPair;
    let intermediate: CertificateKeyPair;
    let cpLeaf: CertificateKeyPair;
    let dpLeaf: CertificateKeyPair;
    beforeAll(async () => {
      root = await createCertificateAuthority({ commonName: 'cert3 root' });
      intermediate = await createCertificateAuthority({
        commonName: 'cert2 intermediate',
        issuer: root,
      });
      cpLeaf = await issueCertificate({
        issuer: intermediate,
        commonName: 'cp',
        usage: 'server',
        altNames: ['127.0.0.1'],
      });
      dpLeaf = await issueCertificate({
        issuer: intermediate,
        commonName: 'cert1 dp',
        usage: 'client',
      });
    });

    const cases: Array<[string, () => string[], () => string[], boolean]> = [
      [
        'cert1 on the CP, the DP sends cert1',
        () => [dpLeaf.certificate],
        () => [dpLeaf.certificate],
        true,
      ],
      [
        'cert2 on the CP, the DP sends cert1',
        () => [intermediate.certificate],
        () => [dpLeaf.certificate],
        true,
      ],
      [
        'cert3 on the CP, the DP sends cert1 + cert2',
        () => [root.certificate],
        () => [dpLeaf.certificate, intermediate.certificate],
        true,
      ],
      [
        'cert3 on the CP, the DP sends only cert1: rejected',
        () => [root.certificate],
        () => [dpLeaf.certificate],
        false,
      ],
    ];
    for (const [name, anchors, presented, trusted] of cases) {
      it(name, async () => {
        const { cp, url } = await startCp(
          { cert: [cpLeaf.certificate, intermediate.certificate], key: cpLeaf.privateKey },
          new TrustVerifier({ mode: 'pki', trustAnchors: anchors() }),
        );
        const { hash } = await cp.setConfig(config);
        const rejected = new Promise<{ code: string }>((resolve) =>
          cp.once('dataPlaneRejected', resolve),
        );
        const dp = startDp({
          transport: wsClient({ url, tls: { cert: presented(), key: dpLeaf.privateKey } }),
          trust: new TrustVerifier({ mode: 'pki', trustAnchors: [root.certificate] }),
          serverName: '127.0.0.1',
          version: '3.10.0',
        });
        await dp.start();
        if (trusted) {
          await dp.waitForConfig({ hash });
        } else {
          expect((await rejected).code).toBe('TRUST_UNTRUSTED_ISSUER');
          expect(dp.currentConfig?.source).toBe('empty');
        }
      });
    }

    describe('by default a DP checks the CP certificate against the name it dialed', () => {
      /** A CP at 127.0.0.1 presenting another server certificate of the same CA. */
      async function impostor() {
        const leaf = await issueCertificate({
          issuer: intermediate,
          commonName: 'impostor',
          usage: 'server',
          altNames: ['impostor.internal'],
        });
        return startCp(
          { cert: [leaf.certificate, intermediate.certificate], key: leaf.privateKey },
          new TrustVerifier({ mode: 'pki', trustAnchors: [root.certificate] }),
        );
      }
      const dpTls = () => ({
        cert: [dpLeaf.certificate, intermediate.certificate],
        key: dpLeaf.privateKey,
      });
      const pki = () => new TrustVerifier({ mode: 'pki', trustAnchors: [root.certificate] });

      it('refuses a CP whose CA-issued certificate is not for the dialed host (no serverName given)', async () => {
        const { url } = await impostor();
        const dp = startDp({
          transport: wsClient({ url, tls: dpTls() }),
          trust: pki(),
          version: '3.10.0',
        });
        const refused = new Promise<{ code: string }>((resolve) => dp.once('rejected', resolve));
        await dp.start();
        expect((await refused).code).toBe('TRUST_NAME_MISMATCH');
        expect(dp.status.connection).not.toBe('connected');
      });

      it('accepts the real CP, whose certificate names the dialed address', async () => {
        const { cp, url } = await startCp(
          { cert: [cpLeaf.certificate, intermediate.certificate], key: cpLeaf.privateKey },
          pki(),
        );
        const { hash } = await cp.setConfig(config);
        const dp = startDp({
          transport: wsClient({ url, tls: dpTls() }),
          trust: pki(),
          version: '3.10.0',
        });
        await dp.start();
        await dp.waitForConfig({ hash });
      });

      it('takes any certificate of the cluster CA only when verifyServerName is false', async () => {
        const { cp, url } = await impostor();
        const { hash } = await cp.setConfig(config);
        const dp = startDp({
          transport: wsClient({ url, tls: dpTls() }),
          trust: pki(),
          verifyServerName: false,
          version: '3.10.0',
        });
        await dp.start();
        await dp.waitForConfig({ hash });
      });
    });

    it('a DP refuses a CP whose certificate does not carry the server name', async () => {
      const { url } = await startCp(
        { cert: [cpLeaf.certificate, intermediate.certificate], key: cpLeaf.privateKey },
        new TrustVerifier({ mode: 'pki', trustAnchors: [root.certificate] }),
      );
      const dp = startDp({
        transport: wsClient({
          url,
          tls: { cert: [dpLeaf.certificate, intermediate.certificate], key: dpLeaf.privateKey },
        }),
        trust: new TrustVerifier({ mode: 'pki', trustAnchors: [root.certificate] }),
        serverName: 'cp.elsewhere.internal',
        version: '3.10.0',
      });
      const refused = new Promise<{ code: string }>((resolve) => dp.once('rejected', resolve));
      await dp.start();
      expect((await refused).code).toBe('TRUST_NAME_MISMATCH');
    });
  });

  it('refuses an untrusted DP at the upgrade, before a single frame, saying why', async () => {
    const tls = { cert: cluster.certificate, key: cluster.privateKey };
    const trust = new TrustVerifier({ mode: 'pinned', certificates: [cluster.certificate] });
    const { cp, url } = await startCp(tls, trust);
    const refusals: string[] = [];
    cp.on('dataPlaneRejected', (rejection) => refusals.push(rejection.code));
    await cp.setConfig(config);
    const stranger = await generateClusterCertificate();
    const client = wsClient({ url, tls: { cert: stranger.certificate, key: stranger.privateKey } });
    await expect(client.connect()).rejects.toMatchObject({
      code: 'PEER_REFUSED',
      closeCode: 1008,
      reason: 'TRUST_PIN_MISMATCH',
    });
    expect(refusals).toEqual(['TRUST_PIN_MISMATCH']);
    expect(cp.dataPlanes()).toEqual([]);
  });
});

describe('the WebSocket endpoint', () => {
  async function endpoint(maxPayloadBytes = LIMIT) {
    const server = wsServer({
      host: '127.0.0.1',
      port: 0,
      tls: { cert: cluster.certificate, key: cluster.privateKey },
      maxPayloadBytes,
    });
    const accepted: import('@planesync/core').Connection[] = [];
    await server.listen((connection) => accepted.push(connection));
    stops.push(() => server.close());
    return { server, accepted, base: `wss://127.0.0.1:${server.port}` };
  }
  const tls = () => ({ cert: cluster.certificate, key: cluster.privateKey });

  it('takes an upgrade without any query: nothing in core reads node_id and the rest', async () => {
    const { base, accepted } = await endpoint();
    const connection = await wsClient({ url: `${base}/planesync/v1`, tls: tls() }).connect();
    expect(accepted[0]!.metadata).toEqual({});
    expect(accepted[0]!.request).toEqual({
      path: '/planesync/v1',
      rawQuery: '',
      subprotocol: undefined,
    });
    await connection.close();
  });

  it("logs an onControl listener that throws to the transport's own logger, on both sides", async () => {
    const logged: Array<{ side: string; message: string }> = [];
    const logger = (side: string) => ({
      ...silentLogger,
      error: (_fields: object, message?: string) => {
        logged.push({ side, message: message ?? '' });
      },
    });
    const server = wsServer({
      host: '127.0.0.1',
      port: 0,
      tls: tls(),
      logger: logger('server'),
    });
    const accepted: import('@planesync/core').Connection[] = [];
    await server.listen((connection) => accepted.push(connection), {
      routes: [{ path: '/planesync/v1', pings: 'manual' }],
    });
    stops.push(() => server.close());
    const client = await wsClient({
      url: `wss://127.0.0.1:${server.port}/planesync/v1`,
      tls: tls(),
      logger: logger('client'),
    }).connect({ pings: 'manual' });
    stops.push(() => client.close());
    await expect.poll(() => accepted.length).toBe(1);
    const heard = { server: 0, client: 0 };
    accepted[0]!.onControl!(() => {
      heard.server++;
      throw new Error('a listener of the host');
    });
    client.onControl!(() => {
      heard.client++;
      throw new Error('a listener of the host');
    });
    await client.sendControl!({ kind: 'ping', payload: new Uint8Array([1]) });
    await expect.poll(() => heard.server).toBe(1);
    await accepted[0]!.sendControl!({ kind: 'ping', payload: new Uint8Array([2]) });
    await expect.poll(() => heard.client).toBe(1);
    expect(logged).toEqual([
      { side: 'server', message: 'an onControl listener threw' },
      { side: 'client', message: 'an onControl listener threw' },
    ]);
    // The connection outlives its listener's failure.
    await client.send(new Uint8Array([9]));
  });

  it('answers a wrong path with HTTP 404', async () => {
    const { base } = await endpoint();
    await expect(
      wsClient({ url: `${base}/v1/outlet`, tls: tls() }).connect(),
    ).rejects.toMatchObject({
      message: expect.stringContaining('HTTP 404'),
    });
  });

  it('closes a connection that sends a text message with PROTOCOL_VIOLATION (1002)', async () => {
    const { base, accepted } = await endpoint();
    const raw = new WebSocket(
      `${base}/planesync/v1?node_id=a&node_hostname=b&node_version=3.10.0`,
      {
        cert: cluster.certificate,
        key: cluster.privateKey,
        rejectUnauthorized: false,
      },
    );
    await new Promise((resolve) => raw.once('open', resolve));
    const closed = new Promise<number>((resolve) => raw.once('close', (code) => resolve(code)));
    raw.send('{"hello": "as text"}');
    expect(await closed).toBe(1002);
    expect((await accepted[0]!.closed).code).toBe(1002);
  });

  it('enforces maxPayloadBytes with ws’s own limit: an oversized message closes with 1009', async () => {
    const { base, accepted } = await endpoint(1024);
    const connection = await wsClient({ url: `${base}/planesync/v1`, tls: tls() }).connect();
    await connection.send(new Uint8Array(1025)).catch(() => undefined);
    expect((await accepted[0]!.closed).code).toBe(1009);
    expect((await connection.closed).code).toBe(1009);
  });

  it('carries the deprecated metadata (node id, hostname, version) as query parameters', async () => {
    const { base, accepted } = await endpoint();
    await wsClient({ url: `${base}/planesync/v1`, tls: tls() }).connect({ metadata: node });
    expect(accepted[0]!.metadata).toEqual(node);
    expect(accepted[0]!.request?.rawQuery).toBe(
      'node_id=b1f6c0de-0000-4000-8000-000000000001&node_hostname=dp-1&node_version=3.10.0',
    );
  });

  it('keeps the URL’s own query first, and a path the URL would rewrite is refused', async () => {
    const { base, accepted } = await endpoint();
    await wsClient({ url: `${base}/planesync/v1?cluster=eu`, tls: tls() }).connect({
      request: { query: [['node_id', 'n1']] },
    });
    expect(accepted[0]!.request?.rawQuery).toBe('cluster=eu&node_id=n1');
    await expect(
      wsClient({ url: `${base}/planesync/v1`, tls: tls() }).connect({
        request: { path: '/planesync/../v1' },
      }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('answers an admission refusal with the status core names and the reason as its body', async () => {
    const server = wsServer({ host: '127.0.0.1', port: 0, tls: tls() });
    await server.listen(() => undefined, {
      admit: () => ({ accept: false, code: 1008, reason: 'NOT_TODAY', status: 429 }),
    });
    stops.push(() => server.close());
    await expect(
      wsClient({ url: `wss://127.0.0.1:${server.port}/planesync/v1`, tls: tls() }).connect(),
    ).rejects.toMatchObject({
      code: 'TRANSPORT_FAILED',
      message: expect.stringContaining('HTTP 429 (NOT_TODAY)'),
    });
  });

  it('says why a subprotocol is refused: the route’s own, in the 400’s body', async () => {
    const server = wsServer({ host: '127.0.0.1', port: 0, tls: tls() });
    await server.listen(() => undefined, {
      routes: [{ path: '/v1/outlet', subprotocol: 'kong.v1' }],
    });
    stops.push(() => server.close());
    await expect(
      wsClient({ url: `wss://127.0.0.1:${server.port}/v1/outlet`, tls: tls() }).connect({
        request: { subprotocol: 'kong.v2' },
      }),
    ).rejects.toMatchObject({
      code: 'TRANSPORT_FAILED',
      message: expect.stringContaining(
        'HTTP 400 (/v1/outlet speaks subprotocol kong.v1; the client asked for kong.v2)',
      ),
    });
  });

  it('answers request headers over 8 KiB with 431 and never upgrades', async () => {
    const { base, accepted } = await endpoint();
    const { connect } = await import('node:tls');
    const socket = connect({
      host: '127.0.0.1',
      port: Number(new URL(base).port),
      cert: cluster.certificate,
      key: cluster.privateKey,
      rejectUnauthorized: false,
      servername: 'kong_clustering',
    });
    socket.on('error', () => undefined);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    await new Promise((resolve) => socket.once('secureConnect', resolve));
    socket.write(
      `GET /planesync/v1 HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(16 * 1024)}\r\n\r\n`,
    );
    await closed;
    expect(Buffer.concat(chunks).toString('latin1')).toMatch(/^HTTP\/1\.1 431/);
    expect(accepted).toEqual([]);
  });

  it('refuses a plain ws:// URL unless insecure is set', () => {
    expect(() => wsClient({ url: 'ws://127.0.0.1:1/planesync/v1', tls: tls() })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});
