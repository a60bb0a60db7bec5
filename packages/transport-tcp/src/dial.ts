import { isIP, type Socket } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { AbortedError, TransportFailedError, throwIfAborted } from '@planesync/core';
import { type TlsIdentity, tlsIdentityOptions } from './tls-options.ts';
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
  signal?: AbortSignal;
}

/**
 * Dials a CP with mutual TLS (1.2 or later), directly or through a CONNECT tunnel, and
 * resolves once the handshake is done. The CP's certificate is *not* judged here — core's
 * TrustVerifier does that from `peerCertificateChain(socket)` — so this resolves for any CP.
 * Shared by the TCP and WebSocket transports.
 */
export async function dialTls(options: DialOptions): Promise<TLSSocket> {
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
      minVersion: 'TLSv1.2',
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
