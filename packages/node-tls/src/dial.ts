import { isIP, type Socket } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { AbortedError, TransportFailedError, throwIfAborted } from '@planesync/core';
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
  /** The whole dial — tunnel and TLS handshake — at most this long. Default 30 000 ms. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * The name a DP dialed, as core checks the CP's certificate against it: the `serverName`
 * option, else the host (an IP address too: the certificate then needs it as an IP SAN).
 */
export function dialedName(options: { host: string; serverName?: string | undefined }): string {
  return options.serverName ?? options.host;
}

/**
 * Dials a CP with mutual TLS (1.2 or later), directly or through a CONNECT tunnel, and
 * resolves once the handshake is done. The CP's certificate is *not* judged here — core's
 * TrustVerifier does that from `peerCertificateChain(socket)` — so this resolves for any CP.
 * Shared by the TCP and WebSocket transports.
 */
export async function dialTls(options: DialOptions): Promise<TLSSocket> {
  throwIfAborted(options.signal);
  const timeoutMs = options.timeoutMs ?? 30_000;
  // One signal for the caller's abort and the deadline (not AbortSignal.any: a DP dials
  // forever under one long-lived stop signal, and each composite would stay attached to it).
  const controller = new AbortController();
  const onAbort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  timer.unref();
  try {
    return await dial({ ...options, signal: controller.signal });
  } catch (error) {
    if (timedOut)
      throw new TransportFailedError(
        `cannot connect to ${options.host}:${options.port}: no TLS handshake within ${timeoutMs} ms`,
        { cause: error },
      );
    throw error;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
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
  const servername = options.serverName ?? (isIP(options.host) ? 'kong_clustering' : options.host);
  return new Promise<TLSSocket>((resolve, reject) => {
    const socket = tlsConnect({
      ...(tunnel ? { socket: tunnel as Socket } : { host: options.host, port: options.port }),
      servername,
      ...identity,
      ...TLS_HARDENING,
      // Trust is decided by core from the presented chain, for pinned and PKI modes alike.
      rejectUnauthorized: false,
      ...(options.alpn ? { ALPNProtocols: [...options.alpn] } : {}),
    });
    const onAbort = () => {
      socket.destroy();
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
