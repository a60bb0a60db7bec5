import assert from 'node:assert/strict';
import {
  type AddressInfo,
  createServer as createNetServer,
  connect as netConnect,
  type Socket,
} from 'node:net';
import { createServer as createTlsServer, type TLSSocket, connect as tlsConnect } from 'node:tls';
import {
  type Admission,
  type CertificateKeyPair,
  type Clock,
  CloseCode,
  type Connection,
  createCertificateAuthority,
  decodePemCertificates,
  generateClusterCertificate,
  issueCertificate,
  type Logger,
  type PeerInfo,
  PlanesyncError,
  silentLogger,
  type TransportClient,
  type TransportServer,
  TrustVerifier,
} from '@planesync/core';
import { type ConformanceSkip, FakeClock, type TestApi } from '@planesync/core/testing';
import type { HandshakeLimits } from '../handshake-guard.ts';
import type { TlsIdentity } from '../tls-identity.ts';
import type { ProxyOptions } from '../tunnel.ts';
import { startProxy } from './proxy-fixture.ts';
import { hasTinyproxy, startTinyproxy } from './tinyproxy-fixture.ts';

/** What the suite asks of a server: loopback, a free port, this identity and these limits. */
export interface TlsServerSettings extends HandshakeLimits {
  tls: TlsIdentity;
}

/** What the suite asks of a client: where to dial, with what, through what. */
export interface TlsClientSettings {
  host: string;
  port: number;
  tls: TlsIdentity;
  serverName?: string;
  proxy?: ProxyOptions;
  connectTimeoutMs?: number;
  clock?: Clock;
}

/** How the suite builds a transport's servers and clients. */
export interface TlsTransportFixture {
  /** A server on `127.0.0.1` with port `0` (see `port` once listening). */
  server(settings: TlsServerSettings): TransportServer & { readonly port: number | undefined };
  /** A client of the server at `host:port`. */
  client(settings: TlsClientSettings): TransportClient;
  /**
   * What a peer sends right after its TLS handshake to become a connection: the TCP preface,
   * the WebSocket upgrade request.
   */
  opening: Uint8Array;
}

/** Options of {@link tlsTransportSuite}. */
export interface TlsTransportSuiteOptions {
  /** The `describe` title; default `'TLS and proxies on loopback'`. */
  name?: string;
  fixture: TlsTransportFixture;
  /** Cases this transport cannot run, each with its reason; printed in the case name. */
  skip?: ConformanceSkip;
}

interface Pki {
  cluster: CertificateKeyPair;
  stranger: CertificateKeyPair;
  root: CertificateKeyPair;
  intermediate: CertificateKeyPair;
  cp: CertificateKeyPair;
  dp: CertificateKeyPair;
  proxy: CertificateKeyPair;
}

async function makePki(): Promise<Pki> {
  const [cluster, stranger, root] = await Promise.all([
    generateClusterCertificate(),
    generateClusterCertificate(),
    createCertificateAuthority({ commonName: 'TLS suite root' }),
  ]);
  const intermediate = await createCertificateAuthority({
    commonName: 'TLS suite intermediate',
    issuer: root,
  });
  const [cp, dp, proxy] = await Promise.all([
    issueCertificate({
      issuer: intermediate,
      commonName: 'cp',
      usage: 'server',
      altNames: ['127.0.0.1', 'localhost'],
    }),
    issueCertificate({ issuer: intermediate, commonName: 'dp-1', usage: 'client' }),
    issueCertificate({
      issuer: root,
      commonName: 'proxy',
      usage: 'server',
      altNames: ['127.0.0.1'],
    }),
  ]);
  return { cluster, stranger, root, intermediate, cp, dp, proxy };
}

/** The admit step a ControlPlane runs: `trust` judges the chain; a refusal names its code. */
function judge(trust: TrustVerifier, asked: PeerInfo[] = []) {
  return (peer: PeerInfo): Admission => {
    asked.push(peer);
    const verdict = trust.verify([...peer.peerCertificates], { role: 'data-plane' });
    return verdict.ok
      ? { accept: true }
      : { accept: false, code: CloseCode.POLICY_VIOLATION, reason: verdict.code };
  };
}

/**
 * Registers the cases every transport over `node:tls` must pass, each over real TLS on
 * loopback: mutual TLS in pinned and PKI mode (with an intermediate), an untrusted client and
 * one without a certificate refused before any frame, the dialed name reported and sent as SNI,
 * a certificate replaced at run time (`setIdentity`: connections up stay, new ones see it; a
 * key not the certificate's refused), HTTP CONNECT proxies (the `Host` and
 * `Proxy-Authorization` they receive, a wrong password,
 * an `https://` proxy, a real tinyproxy when one is installed), the dial deadline and an abort
 * mid-dial, and the bounds on peers still handshaking (the handshake deadline, the cap, a host
 * logger that throws, renegotiation). Deadlines run on a `FakeClock`: no case sleeps.
 *
 * `test` is `{ describe, it, beforeEach, afterEach }` from vitest, `node:test`, jest or mocha;
 * the cases assert with `node:assert`.
 *
 * @example
 * ```ts
 * import { tlsTransportSuite } from '@planesync/node-tls/testing';
 * import { tcpClient, tcpServer } from '@planesync/transport-tcp';
 * import { afterEach, beforeEach, describe, it } from 'vitest'; // or 'node:test'
 *
 * const preface = Buffer.from('{}');
 * tlsTransportSuite({ describe, it, beforeEach, afterEach }, {
 *   name: 'TCP over TLS',
 *   fixture: {
 *     server: (settings) => tcpServer({ host: '127.0.0.1', port: 0, ...settings }),
 *     client: (settings) => tcpClient(settings),
 *     opening: Buffer.concat([Buffer.from([0, 0, 0, preface.length]), preface]),
 *   },
 * });
 * ```
 */
export function tlsTransportSuite(test: TestApi, options: TlsTransportSuiteOptions): void {
  const { fixture } = options;
  let pki: Promise<Pki> | undefined;
  const stops: Array<() => Promise<unknown> | unknown> = [];

  test.describe(options.name ?? 'TLS and proxies on loopback', () => {
    test.beforeEach(async () => {
      pki ??= makePki();
      await pki;
    });

    test.afterEach(async () => {
      for (const stop of stops.splice(0).reverse()) await stop();
    });

    /** A listening server whose connections arrive in `accepted`. */
    async function listen(
      settings: Partial<TlsServerSettings> & { admit?: (peer: PeerInfo) => Admission } = {},
    ) {
      const { cluster } = await pki!;
      const { admit, ...rest } = settings;
      const server = fixture.server({
        tls: { cert: cluster.certificate, key: cluster.privateKey },
        logger: silentLogger,
        ...rest,
      });
      const accepted = new Arrivals<Connection>();
      await server.listen((connection) => accepted.push(connection), admit ? { admit } : {});
      stops.push(async () => {
        await Promise.all(accepted.all.map((connection) => connection.close()));
        await server.close();
      });
      return { server, port: server.port!, accepted };
    }

    /** A client of `port` presenting the cluster pair (its settings' `extra` on top). */
    async function clusterClient(
      port: number,
      extra: Partial<TlsClientSettings> = {},
    ): Promise<TransportClient> {
      const { cluster } = await pki!;
      return fixture.client({
        host: '127.0.0.1',
        port,
        tls: { cert: cluster.certificate, key: cluster.privateKey },
        ...extra,
      });
    }

    /** Connects `client` and keeps the connection for the clean-up. */
    async function connect(client: TransportClient, signal?: AbortSignal) {
      const connection = await client.connect(signal ? { signal } : {});
      stops.push(() => connection.close());
      return connection;
    }

    /** A frame each way over a fresh pair: the link works end to end. */
    async function exchange(client: Connection, server: Connection) {
      const there = firstFrame(server);
      await client.send(Uint8Array.of(1, 2, 3));
      assert.deepEqual([...(await there)], [1, 2, 3]);
      const back = firstFrame(client);
      await server.send(Uint8Array.of(4, 5));
      assert.deepEqual([...(await back)], [4, 5]);
    }

    /** A raw TLS peer of the server at `port`, presenting `identity` when given. */
    async function tlsPeer(
      port: number,
      identity: { cert?: string; key?: string; maxVersion?: 'TLSv1.2' } = {},
    ) {
      const socket = tlsConnect({
        host: '127.0.0.1',
        port,
        servername: 'kong_clustering',
        rejectUnauthorized: false,
        ...identity,
      });
      socket.on('error', () => undefined);
      stops.push(() => socket.destroy());
      await new Promise((resolve) => socket.once('secureConnect', resolve));
      return socket;
    }

    /** A plain TCP peer of the server at `port`, once connected. */
    async function tcpPeer(port: number) {
      const socket = netConnect({ host: '127.0.0.1', port });
      socket.on('error', () => undefined);
      stops.push(() => socket.destroy());
      await new Promise((resolve) => socket.once('connect', resolve));
      return socket;
    }

    /** A TCP server that accepts and never says a word (no TLS either). */
    async function silentServer() {
      const sockets = new Arrivals<Socket>();
      const server = createNetServer((socket) => {
        socket.on('error', () => undefined);
        socket.resume();
        sockets.push(socket);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      stops.push(async () => {
        for (const socket of sockets.all) socket.destroy();
        await new Promise((resolve) => server.close(resolve));
      });
      return { port: (server.address() as AddressInfo).port, accepted: sockets };
    }

    const cases: Record<string, () => Promise<void>> = {
      'pinned mutual TLS: each side reports the other’s certificate, and the admit step judges it':
        async () => {
          const { cluster } = await pki!;
          const asked: PeerInfo[] = [];
          const trust = new TrustVerifier({ mode: 'pinned', certificates: [cluster.certificate] });
          const { port, accepted } = await listen({ admit: judge(trust, asked) });
          const client = await connect(await clusterClient(port));
          const server = await accepted.next();
          const der = decodePemCertificates(cluster.certificate);
          assert.deepEqual(
            asked.map((peer) => peer.peerCertificates.map(hex)),
            [der.map(hex)],
          );
          assert.deepEqual(server.peerCertificates.map(hex), der.map(hex));
          assert.deepEqual(client.peerCertificates.map(hex), der.map(hex));
          assert.equal(
            trust.verify([...client.peerCertificates], { role: 'control-plane' }).ok,
            true,
          );
          await exchange(client, server);
        },

      'PKI: a DP sending its intermediate is admitted against the root, and sees the CP’s chain':
        async () => {
          const { root, intermediate, cp, dp } = await pki!;
          const trust = new TrustVerifier({ mode: 'pki', trustAnchors: [root.certificate] });
          const { port, accepted } = await listen({
            tls: { cert: [cp.certificate, intermediate.certificate], key: cp.privateKey },
            admit: judge(trust),
          });
          const client = await connect(
            fixture.client({
              host: '127.0.0.1',
              port,
              tls: { cert: [dp.certificate, intermediate.certificate], key: dp.privateKey },
            }),
          );
          const server = await accepted.next();
          const chain = (...pems: string[]) =>
            pems.flatMap((pem) => decodePemCertificates(pem).map(hex));
          assert.deepEqual(
            server.peerCertificates.map(hex),
            chain(dp.certificate, intermediate.certificate),
          );
          assert.deepEqual(
            client.peerCertificates.map(hex),
            chain(cp.certificate, intermediate.certificate),
          );
          const verdict = trust.verify([...client.peerCertificates], {
            role: 'control-plane',
            serverName: client.serverName!,
          });
          assert.equal(verdict.ok, true);
          await exchange(client, server);
        },

      'an untrusted client is refused before any frame, and learns why': async () => {
        const { cluster, stranger } = await pki!;
        const trust = new TrustVerifier({ mode: 'pinned', certificates: [cluster.certificate] });
        const { port, accepted } = await listen({ admit: judge(trust) });
        const outcome = await fixture
          .client({
            host: '127.0.0.1',
            port,
            tls: { cert: stranger.certificate, key: stranger.privateKey },
          })
          .connect()
          .then(
            async (connection) => {
              stops.push(() => connection.close());
              let frames = 0;
              for await (const _ of connection) frames++;
              assert.equal(frames, 0, 'a refused client received frames');
              return connection.closed;
            },
            (error: unknown) => error,
          );
        assert.equal(accepted.all.length, 0);
        if (outcome instanceof PlanesyncError)
          assert.deepEqual(
            [outcome.code, (outcome as { reason?: string }).reason],
            ['PEER_REFUSED', 'TRUST_PIN_MISMATCH'],
          );
        else
          assert.deepEqual(
            [(outcome as { code: number }).code, (outcome as { reason: string }).reason],
            [CloseCode.POLICY_VIOLATION, 'TRUST_PIN_MISMATCH'],
          );
      },

      'a peer without a certificate is refused before its first frame, and nothing more is read':
        async () => {
          const { cluster } = await pki!;
          const trust = new TrustVerifier({ mode: 'pinned', certificates: [cluster.certificate] });
          const asked: PeerInfo[] = [];
          const { port, accepted } = await listen({ admit: judge(trust, asked) });
          const socket = await tlsPeer(port);
          const closed = received(socket);
          socket.write(fixture.opening);
          // a 16 MiB frame announced, then streamed: none of it may be buffered by the server
          socket.write(Uint8Array.of(1, 0, 0, 0));
          socket.write(Buffer.alloc(1024 * 1024, 0x41));
          const bytes = await closed;
          assert.deepEqual(
            asked.map((peer) => peer.peerCertificates.length),
            [0],
          );
          assert.match(bytes.toString('latin1'), /TRUST_NO_CERTIFICATE/);
          assert.equal(accepted.all.length, 0);
        },

      'reports the dialed name as serverName, and sends it as SNI (kong_clustering for an IP; none for a serverName that is an address)':
        async () => {
          const { cluster } = await pki!;
          const tls = { cert: cluster.certificate, key: cluster.privateKey };
          // the names a TLS server receives
          const names = new Arrivals<string | false | null>();
          const sni = createTlsServer({ ...tls, requestCert: true, rejectUnauthorized: false });
          sni.on('secureConnection', (socket: TLSSocket) => {
            names.push(socket.servername);
            socket.destroy();
          });
          sni.on('tlsClientError', () => undefined);
          await new Promise<void>((resolve) => sni.listen(0, '127.0.0.1', resolve));
          stops.push(() => new Promise((resolve) => sni.close(resolve)));
          const sniPort = (sni.address() as AddressInfo).port;
          const seen: Array<string | false | null> = [];
          for (const dial of [
            { host: '127.0.0.1' },
            { host: 'localhost' },
            { host: '127.0.0.1', serverName: 'cp.cluster.internal' },
            // RFC 6066 allows no address in SNI (Node 26 throws for one): none is sent.
            { host: 'localhost', serverName: '127.0.0.1' },
          ]) {
            const attempt = fixture.client({ ...dial, port: sniPort, tls }).connect();
            seen.push(await names.next());
            await attempt.then(
              (connection) => connection.close(),
              () => undefined,
            );
          }
          assert.deepEqual(seen, ['kong_clustering', 'localhost', 'cp.cluster.internal', false]);
          // and each connection says which name core must check the CP's certificate against
          const { port } = await listen();
          const byIp = await connect(fixture.client({ host: '127.0.0.1', port, tls }));
          const byName = await connect(
            fixture.client({ host: '127.0.0.1', port, tls, serverName: 'cp.cluster.internal' }),
          );
          const byAddress = await connect(
            fixture.client({ host: 'localhost', port, tls, serverName: '127.0.0.1' }),
          );
          assert.deepEqual(
            [byIp.serverName, byName.serverName, byAddress.serverName],
            ['127.0.0.1', 'cp.cluster.internal', '127.0.0.1'],
          );
        },

      'tunnels through an HTTP CONNECT proxy, sending Host and Proxy-Authorization: Basic':
        async () => {
          const { cluster } = await pki!;
          const tls = { cert: cluster.certificate, key: cluster.privateKey };
          const { port, accepted } = await listen();
          const proxy = await startProxy({ credentials: 'kong:s3cr3t' });
          stops.push(() => proxy.close());
          const client = await connect(
            fixture.client({
              host: '127.0.0.1',
              port,
              tls,
              proxy: { url: `http://kong:s3cr3t@127.0.0.1:${proxy.port}` },
            }),
          );
          await exchange(client, await accepted.next());
          assert.equal(proxy.requests.length, 1);
          assert.deepEqual(
            {
              target: proxy.requests[0]!.target,
              host: proxy.requests[0]!.headers.host,
              authorization: proxy.requests[0]!.headers['proxy-authorization'],
              tunnelled: proxy.requests[0]!.tunnelled,
            },
            {
              target: `127.0.0.1:${port}`,
              host: `127.0.0.1:${port}`,
              authorization: `Basic ${Buffer.from('kong:s3cr3t').toString('base64')}`,
              tunnelled: true,
            },
          );
        },

      'a wrong proxy password is PROXY_REFUSED with the status 407, and no tunnel opens':
        async () => {
          const { cluster } = await pki!;
          const { port, accepted } = await listen();
          const proxy = await startProxy({ credentials: 'kong:s3cr3t' });
          stops.push(() => proxy.close());
          await assert.rejects(
            fixture
              .client({
                host: '127.0.0.1',
                port,
                tls: { cert: cluster.certificate, key: cluster.privateKey },
                proxy: { url: `http://kong:wrong@127.0.0.1:${proxy.port}` },
              })
              .connect(),
            { code: 'PROXY_REFUSED', status: 407 },
          );
          assert.deepEqual(
            proxy.requests.map((request) => request.tunnelled),
            [false],
          );
          assert.equal(accepted.all.length, 0);
        },

      'reaches an https:// proxy verified against the given CA, and refuses one it cannot verify':
        async () => {
          const { cluster, root, proxy: identity } = await pki!;
          const tls = { cert: cluster.certificate, key: cluster.privateKey };
          const { port, accepted } = await listen();
          const proxy = await startProxy({
            tls: { cert: identity.certificate, key: identity.privateKey },
          });
          stops.push(() => proxy.close());
          const url = `https://127.0.0.1:${proxy.port}`;
          const client = await connect(
            fixture.client({
              host: '127.0.0.1',
              port,
              tls,
              proxy: { url, ca: [root.certificate] },
            }),
          );
          await exchange(client, await accepted.next());
          await assert.rejects(
            fixture
              .client({ host: '127.0.0.1', port, tls, proxy: { url, ca: ['system'] } })
              .connect(),
            { code: 'TRANSPORT_FAILED' },
          );
          await connect(
            fixture.client({ host: '127.0.0.1', port, tls, proxy: { url, verify: false } }),
          );
          assert.deepEqual(
            proxy.requests.map((request) => request.tunnelled),
            [true, true],
          );
        },

      'through a real tinyproxy with Basic auth; a wrong password is PROXY_REFUSED': async () => {
        const { cluster } = await pki!;
        const tls = { cert: cluster.certificate, key: cluster.privateKey };
        const { port, accepted } = await listen();
        const proxy = await startTinyproxy({ user: 'kong', password: 's3cr3t' });
        stops.push(() => proxy.close());
        const client = await connect(
          fixture.client({
            host: '127.0.0.1',
            port,
            tls,
            proxy: { url: `http://kong:s3cr3t@127.0.0.1:${proxy.port}` },
          }),
        );
        await exchange(client, await accepted.next());
        const failure = await fixture
          .client({
            host: '127.0.0.1',
            port,
            tls,
            proxy: { url: `http://kong:wrong@127.0.0.1:${proxy.port}` },
          })
          .connect()
          .then(
            () => assert.fail('connected with a wrong proxy password'),
            (error: unknown) => error as PlanesyncError & { status: number },
          );
        assert.equal(failure.code, 'PROXY_REFUSED');
        // tinyproxy 1.11 answers a bad CONNECT password with 401 where RFC 9110 says 407
        assert.ok([401, 407].includes(failure.status), `status ${failure.status}`);
      },

      'gives up a dial after connectTimeoutMs on its clock when the CP never answers TLS':
        async () => {
          const silent = await silentServer();
          const clock = new FakeClock();
          const attempt = (await clusterClient(silent.port, { connectTimeoutMs: 5_000, clock }))
            .connect()
            .catch((error: unknown) => error);
          const peer = await silent.accepted.next();
          await clock.advance(4_999);
          assert.equal(peer.closed, false, 'the dial gave up before connectTimeoutMs');
          await clock.advance(1);
          const failure = (await attempt) as PlanesyncError;
          assert.equal(failure.code, 'TRANSPORT_FAILED');
          assert.match(failure.message, /within 5000 ms/);
          await closedOf(peer);
        },

      'an abort while dialing rejects ABORTED and closes the socket': async () => {
        const silent = await silentServer();
        const controller = new AbortController();
        const attempt = (await clusterClient(silent.port))
          .connect({ signal: controller.signal })
          .catch((error: unknown) => error);
        const peer = await silent.accepted.next();
        controller.abort();
        assert.equal(((await attempt) as PlanesyncError).code, 'ABORTED');
        await closedOf(peer);
      },

      'drops a peer that sends no ClientHello after handshakeTimeoutMs on its clock': async () => {
        const clock = new FakeClock();
        const { port } = await listen({ handshakeTimeoutMs: 10_000, clock });
        const socket = await tcpPeer(port);
        const closed = received(socket);
        await until(() => clock.pendingTimers > 0, 'the server to watch the peer');
        await clock.advance(9_999);
        assert.equal(socket.closed, false, 'dropped before handshakeTimeoutMs');
        await clock.advance(1);
        await closed;
      },

      'drops a trusted peer that completes TLS and then says nothing, after handshakeTimeoutMs':
        async () => {
          const { cluster } = await pki!;
          const clock = new FakeClock();
          const { port, accepted } = await listen({ handshakeTimeoutMs: 10_000, clock });
          const socket = await tlsPeer(port, {
            cert: cluster.certificate,
            key: cluster.privateKey,
          });
          const closed = received(socket);
          await until(() => clock.pendingTimers > 0, 'the server to watch the peer');
          await clock.advance(9_999);
          assert.equal(socket.closed, false, 'dropped before handshakeTimeoutMs');
          await clock.advance(1);
          await closed;
          assert.equal(accepted.all.length, 0);
        },

      'keeps at most maxPendingConnections peers handshaking, dropping the oldest; a client still connects':
        async () => {
          const { port, accepted } = await listen({ maxPendingConnections: 5 });
          const idle = await Promise.all(Array.from({ length: 20 }, () => tcpPeer(port)));
          // 15 of them are dropped (the oldest the server accepted), 5 keep waiting
          let dropped = 0;
          await new Promise<void>((resolve) => {
            for (const socket of idle)
              void received(socket).then(() => {
                if (++dropped === 15) resolve();
              });
          });
          assert.equal(idle.filter((socket) => !socket.closed).length, 5);
          const client = await connect(await clusterClient(port));
          await exchange(client, await accepted.next());
        },

      'a host logger that throws never ends the server': async () => {
        const { cluster } = await pki!;
        const boom = () => {
          throw new Error('logger sink is broken');
        };
        const logger: Logger = { error: boom, warn: boom, info: boom, debug: boom };
        const trust = new TrustVerifier({ mode: 'pinned', certificates: [cluster.certificate] });
        const { port, accepted } = await listen({ logger, admit: judge(trust) });
        // a peer that is not TLS at all: its handshake fails, and the failure is logged
        const plain = await tcpPeer(port);
        const plainClosed = received(plain);
        plain.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
        await plainClosed;
        // a refused peer: the refusal is logged
        const refused = await tlsPeer(port);
        const refusedClosed = received(refused);
        refused.write(fixture.opening);
        await refusedClosed;
        const client = await connect(await clusterClient(port));
        await exchange(client, await accepted.next());
      },

      'takes a new certificate at run time: 50 connections up stay up, a new one sees the new certificate':
        async () => {
          const { intermediate, cp } = await pki!;
          const { server, port, accepted } = await listen({
            tls: { cert: [cp.certificate, intermediate.certificate], key: cp.privateKey },
          });
          assert.equal(typeof server.setIdentity, 'function', 'a TLS server has setIdentity');
          const pairs: Array<[Connection, Connection]> = [];
          for (let i = 0; i < 50; i++) {
            const client = await connect(await clusterClient(port));
            pairs.push([client, await accepted.next()]);
          }
          const next = await issueCertificate({
            issuer: intermediate,
            commonName: 'cp',
            usage: 'server',
            altNames: ['127.0.0.1', 'localhost'],
          });
          server.setIdentity!({
            cert: [next.certificate, intermediate.certificate],
            key: next.privateKey,
          });
          const [oldLeaf] = decodePemCertificates(cp.certificate).map(hex);
          const [newLeaf] = decodePemCertificates(next.certificate).map(hex);
          for (const [client, served] of pairs) {
            assert.equal(hex(client.peerCertificates[0]!), oldLeaf);
            await exchange(client, served);
          }
          const fresh = await connect(await clusterClient(port));
          assert.equal(hex(fresh.peerCertificates[0]!), newLeaf);
          const freshServed = await accepted.next();
          // Each side reports the certificate it presented: core watches its expiry.
          assert.equal(hex(freshServed.localCertificates![0]!), newLeaf);
          assert.equal(hex(pairs[0]![1].localCertificates![0]!), oldLeaf);
          assert.equal(hex(fresh.localCertificates![0]!), hex(freshServed.peerCertificates[0]!));
          await exchange(fresh, freshServed);
        },

      'refuses a certificate and key that do not belong together, keeping the pair it presents':
        async () => {
          const { intermediate, cp, dp } = await pki!;
          const { server, port } = await listen({
            tls: { cert: [cp.certificate, intermediate.certificate], key: cp.privateKey },
          });
          assert.throws(
            () => server.setIdentity!({ cert: [dp.certificate], key: cp.privateKey }),
            (error: unknown) =>
              error instanceof PlanesyncError && error.code === 'INVALID_ARGUMENT',
          );
          const client = await connect(await clusterClient(port));
          assert.equal(
            hex(client.peerCertificates[0]!),
            decodePemCertificates(cp.certificate).map(hex)[0],
          );
        },

      'a client takes a new certificate from its next connection on; the one up keeps its own':
        async () => {
          const { cluster, stranger } = await pki!;
          const { port, accepted } = await listen();
          const client = await clusterClient(port);
          assert.equal(typeof client.setIdentity, 'function', 'a TLS client has setIdentity');
          const before = await connect(client);
          const beforeServed = await accepted.next();
          assert.throws(
            () => client.setIdentity!({ cert: cluster.certificate, key: stranger.privateKey }),
            (error: unknown) =>
              error instanceof PlanesyncError && error.code === 'INVALID_ARGUMENT',
          );
          client.setIdentity!({ cert: stranger.certificate, key: stranger.privateKey });
          await connect(client);
          const afterServed = await accepted.next();
          assert.equal(
            hex(afterServed.peerCertificates[0]!),
            decodePemCertificates(stranger.certificate).map(hex)[0],
          );
          assert.equal(
            hex(beforeServed.peerCertificates[0]!),
            decodePemCertificates(cluster.certificate).map(hex)[0],
          );
          await exchange(before, beforeServed);
        },

      'refuses TLS renegotiation': async () => {
        const { cluster } = await pki!;
        const { port } = await listen();
        const socket = await tlsPeer(port, {
          cert: cluster.certificate,
          key: cluster.privateKey,
          maxVersion: 'TLSv1.2',
        });
        socket.resume(); // read what the server answers: the refusal is an alert
        socket.write(fixture.opening);
        const outcome = await new Promise<string>((resolve) => {
          socket.once('close', () => resolve('closed'));
          const asked = socket.renegotiate({}, (error) =>
            resolve(error ? 'refused' : 'renegotiated'),
          );
          if (!asked) resolve('refused');
        });
        assert.notEqual(outcome, 'renegotiated');
      },
    };

    const unavailable = new Map<string, string>();
    if (!hasTinyproxy())
      unavailable.set(
        'through a real tinyproxy with Basic auth; a wrong password is PROXY_REFUSED',
        'tinyproxy is not installed (planesync’s CI installs it where apt is available)',
      );
    const reasons = new Map(unavailable);
    for (const group of options.skip ?? []) {
      for (const name of group.tests) {
        if (!(name in cases)) throw new Error(`skip names an unknown case: ${name}`);
        reasons.set(name, group.reason);
      }
    }
    for (const [name, run] of Object.entries(cases)) {
      const reason = reasons.get(name);
      if (reason === undefined) test.it(name, run);
      else test.it.skip(`${name} (skipped: ${reason})`, run);
    }
  });
}

/** Values handed out in arrival order: `next()` resolves with the next one, now or later. */
class Arrivals<T> {
  readonly all: T[] = [];
  #ready: T[] = [];
  #waiting: Array<(value: T) => void> = [];

  push(value: T): void {
    this.all.push(value);
    const waiter = this.#waiting.shift();
    if (waiter) waiter(value);
    else this.#ready.push(value);
  }

  next(): Promise<T> {
    if (this.#ready.length > 0) return Promise.resolve(this.#ready.shift() as T);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }
}

/** Resolves with every byte `socket` received, once it has closed. */
function received(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve) => {
    if (socket.closed) resolve(Buffer.concat(chunks));
    else socket.once('close', () => resolve(Buffer.concat(chunks)));
  });
}

/** Resolves once `socket` has closed. */
function closedOf(socket: Socket): Promise<void> {
  return socket.closed
    ? Promise.resolve()
    : new Promise((resolve) => socket.once('close', () => resolve()));
}

/** Waits for `condition` through at most 10 000 turns of the event loop (no timer). */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (let turn = 0; turn < 10_000; turn++) {
    if (condition()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.fail(`gave up waiting for ${what}`);
}

/** The first frame `connection` receives. */
async function firstFrame(connection: Connection): Promise<Uint8Array> {
  for await (const frame of connection) return frame;
  throw new Error('the connection closed before a frame arrived');
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}
