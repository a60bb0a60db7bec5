import { request as httpRequest } from 'node:http';
import { isIP, type Socket } from 'node:net';
import { rootCertificates, connect as tlsConnect } from 'node:tls';
import {
  AbortedError,
  type CertificateInput,
  InvalidArgumentError,
  ProxyRefusedError,
  TransportFailedError,
} from '@planesync/core';
import { throwIfAborted } from '@planesync/core/transport';
import { toPemChain } from './tls-identity.ts';

/** A forward proxy, as Kong's `cluster_use_proxy` / `proxy_server` configure it. */
export interface ProxyOptions {
  /** `http://[user:pass@]host:port` or `https://[user:pass@]host:port`. */
  url: string;
  /** For an `https://` proxy: the CAs its certificate must chain to; `'system'` for the OS bundle. */
  ca?: readonly CertificateInput[];
  /** For an `https://` proxy: verify its certificate (Kong's `proxy_server_ssl_verify`). Default true. */
  verify?: boolean;
}

/**
 * Opens an HTTP CONNECT tunnel to `host:port` through the proxy and resolves with the raw
 * socket, ready for the end-to-end TLS handshake. Sends `Host` and, when the URL carries
 * credentials, `Proxy-Authorization: Basic`; a non-2xx answer is `PROXY_REFUSED`, an abort
 * `ABORTED`, an unreachable proxy `TRANSPORT_FAILED`, a URL that is not `http://` or
 * `https://` `INVALID_ARGUMENT` (thrown at once).
 *
 * @example
 * ```ts
 * import { openTunnel } from '@planesync/node-tls';
 * const raw = await openTunnel({
 *   proxy: { url: 'http://user:secret@proxy.internal:3128' },
 *   host: 'cp.internal',
 *   port: 8005,
 * });
 * // raw is a TCP stream to cp.internal:8005: start TLS on it (dialTls does)
 * ```
 */
export function openTunnel(options: {
  proxy: ProxyOptions;
  host: string;
  port: number;
  signal?: AbortSignal;
}): Promise<Socket> {
  throwIfAborted(options.signal);
  let url: URL;
  try {
    url = new URL(options.proxy.url);
  } catch (error) {
    throw new InvalidArgumentError(`proxy url ${options.proxy.url} is not a URL`, { cause: error });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidArgumentError(`proxy url must be http:// or https://, got ${url.protocol}`);
  }
  const target = `${options.host.includes(':') ? `[${options.host}]` : options.host}:${options.port}`;
  const headers: Record<string, string> = { Host: target };
  if (url.username || url.password) {
    const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    headers['Proxy-Authorization'] = `Basic ${Buffer.from(credentials).toString('base64')}`;
  }
  const proxyPort = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const proxyHost = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const https = url.protocol === 'https:';
  const verify = options.proxy.verify ?? true;
  const ca = options.proxy.ca ? caList(options.proxy.ca) : undefined;

  return new Promise<Socket>((resolve, reject) => {
    const request = httpRequest({
      host: proxyHost,
      port: proxyPort,
      method: 'CONNECT',
      path: target,
      headers,
      setHost: false,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(https
        ? {
            createConnection: () =>
              tlsConnect({
                host: proxyHost,
                port: proxyPort,
                // SNI carries host names only (RFC 6066); node warns when given an IP.
                ...(isIP(proxyHost) ? {} : { servername: proxyHost }),
                rejectUnauthorized: verify,
                ...(ca ? { ca } : {}),
              }),
          }
        : {}),
    });
    request.once('connect', (response, socket) => {
      if (
        response.statusCode === undefined ||
        response.statusCode < 200 ||
        response.statusCode >= 300
      ) {
        socket.destroy();
        reject(
          new ProxyRefusedError(
            response.statusCode ?? 0,
            `proxy ${url.host} refused CONNECT ${target}: ${response.statusCode} ${response.statusMessage ?? ''}`.trim(),
          ),
        );
        return;
      }
      resolve(socket);
    });
    request.once('response', (response) => {
      response.resume();
      reject(
        new ProxyRefusedError(
          response.statusCode ?? 0,
          `proxy ${url.host} answered CONNECT with ${response.statusCode}`,
        ),
      );
    });
    request.once('error', (error) => {
      reject(
        options.signal?.aborted
          ? new AbortedError(undefined, { cause: options.signal.reason })
          : new TransportFailedError(`cannot reach proxy ${url.host}: ${error.message}`, {
              cause: error,
            }),
      );
    });
    request.end();
  });
}

function caList(inputs: readonly CertificateInput[]): string[] {
  const system = inputs.includes('system');
  const rest = inputs.filter((input) => input !== 'system');
  return [...(system ? rootCertificates : []), ...(rest.length > 0 ? [toPemChain(rest)] : [])];
}
