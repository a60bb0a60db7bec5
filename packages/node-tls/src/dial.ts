import { createHash } from 'node:crypto';
import { isIP, type Socket } from 'node:net';
import {
  createSecureContext,
  type SecureContext,
  type TLSSocket,
  connect as tlsConnect,
} from 'node:tls';
import { AbortedError, type Clock, TransportFailedError } from '@planesync/core';
import { throwIfAborted } from '@planesync/core/transport';
import { withDeadline } from './deadline.ts';
import { TLS_HARDENING } from './handshake-guard.ts';
import { type TlsIdentity, tlsIdentityOptions } from './tls-identity.ts';
import { openTunnel, type ProxyOptions } from './tunnel.ts';

/** Where and how to dial a CP. */
export interface DialOptions {
  host: string;
  port: number;
  /** This DP's certificate (chain) and key, presented to the CP. */
  tls: TlsIdentity;
  /** TLS server name (SNI), Kong's `cluster_server_name`; default the host, or `kong_clustering` for an IP. */
  serverName?: string;
  /** Tunnel through an HTTP CONNECT proxy first. */
  proxy?: ProxyOptions;
  /** ALPN protocols to offer. */
  alpn?: readonly string[];
  /**
   * The whole dial — tunnel and TLS handshake — at most this long; `Infinity` when the caller
   * holds a deadline of its own (pass its `signal`). Default 30 000 ms.
   */
  timeoutMs?: number;
  /** The clock the deadline reads; a `FakeClock` in tests. Default the system clock. */
  clock?: Clock;
  signal?: AbortSignal;
}

/**
 * The name a DP dialed, as core checks the CP's certificate against it: the `serverName`
 * option, else the host (an IP address too: the certificate then needs it as an IP SAN).
 *
 * @example
 * ```ts
 * import { dialedName } from '@planesync/node-tls';
 * dialedName({ host: '10.0.0.7', serverName: 'cp.internal' }); // 'cp.internal'
 * ```
 */
export function dialedName(options: { host: string; serverName?: string | undefined }): string {
  return options.serverName ?? options.host;
}

/**
 * Dials a CP with mutual TLS (1.2 or later), directly or through a CONNECT tunnel, and
 * resolves once the handshake is done. The CP's certificate is *not* judged here — core's
 * TrustVerifier does that from `peerCertificateChain(socket)` — so this resolves for any CP.
 * Rejects with `TRANSPORT_FAILED` (unreachable, handshake failed, no handshake within
 * `timeoutMs`), `PROXY_REFUSED`, or `ABORTED` when `signal` aborts first; an aborted or
 * timed-out dial leaves no socket behind.
 *
 * @example
 * ```ts
 * import { dialTls, peerCertificateChain } from '@planesync/node-tls';
 * const socket = await dialTls({
 *   host: 'cp.internal', port: 8005,
 *   tls: { cert: '/cluster/dp.crt', key: '/cluster/dp.key' },
 * });
 * const chain = peerCertificateChain(socket); // for core's TrustVerifier
 * ```
 */
export async function dialTls(options: DialOptions): Promise<TLSSocket> {
  throwIfAborted(options.signal);
  const timeoutMs = options.timeoutMs ?? 30_000;
  return withDeadline(
    { timeoutMs, clock: options.clock, signal: options.signal },
    (signal) => dial({ ...options, signal }),
    (cause) =>
      new TransportFailedError(
        `cannot connect to ${options.host}:${options.port}: no TLS handshake within ${timeoutMs} ms`,
        { cause },
      ),
  );
}

/** The secure contexts of the identities dialed lately, by a digest of their PEM text. */
const contexts = new Map<string, SecureContext>();
const MAX_CONTEXTS = 16;

/**
 * @internal The TLS context of an identity, made once and used by every dial with the same
 * certificate, key and CAs: a DP reconnecting (or a thousand in one process) does not parse
 * its key again each time. The PEM text is read at each dial, so a certificate replaced on
 * disk is used from the next dial on.
 */
export function secureContextFor(identity: ReturnType<typeof tlsIdentityOptions>): SecureContext {
  const digest = createHash('sha256')
    .update(identity.cert)
    .update('\0')
    .update(identity.key)
    .update('\0')
    .update((identity.ca ?? []).join('\0'))
    .digest('hex');
  let context = contexts.get(digest);
  if (context) {
    contexts.delete(digest); // re-inserted last: least recently used first
  } else {
    context = createSecureContext({ ...identity, ...TLS_HARDENING });
    if (contexts.size >= MAX_CONTEXTS) contexts.delete(contexts.keys().next().value!);
  }
  contexts.set(digest, context);
  return context;
}

async function dial(options: DialOptions): Promise<TLSSocket> {
  throwIfAborted(options.signal);
  const identity = tlsIdentityOptions(options.tls);
  const tunnel = options.proxy
    ? await openTunnel({
        proxy: options.proxy,
        host: options.host,
        port: options.port,
        ...(options.signal ? { signal: options.signal } : {}),
      })
    : undefined;
  if (options.signal?.aborted) {
    tunnel?.destroy();
    throw new AbortedError(undefined, { cause: options.signal.reason });
  }
  const named = options.serverName ?? (isIP(options.host) ? 'kong_clustering' : options.host);
  // RFC 6066 puts no IP address in SNI, and Node 26 throws for one: a serverName that is an
  // address is checked against the certificate (dialedName) but not sent.
  const servername = isIP(named) ? undefined : named;
  return new Promise<TLSSocket>((resolve, reject) => {
    const socket = tlsConnect({
      ...(tunnel ? { socket: tunnel as Socket } : { host: options.host, port: options.port }),
      ...(servername ? { servername } : {}),
      secureContext: secureContextFor(identity),
      ...TLS_HARDENING,
      // Trust is decided by core from the presented chain, for pinned and PKI modes alike.
      rejectUnauthorized: false,
      ...(options.alpn ? { ALPNProtocols: [...options.alpn] } : {}),
    });
    const onAbort = () => {
      socket.destroy();
      tunnel?.destroy();
      reject(new AbortedError(undefined, { cause: options.signal?.reason }));
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('secureConnect', () => {
      options.signal?.removeEventListener('abort', onAbort);
      resolve(socket);
    });
    socket.once('error', (error) => {
      options.signal?.removeEventListener('abort', onAbort);
      tunnel?.destroy();
      reject(
        new TransportFailedError(
          `cannot connect to ${options.host}:${options.port}: ${error.message}`,
          { cause: error },
        ),
      );
    });
  });
}
