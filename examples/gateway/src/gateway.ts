import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { ConfigSnapshot, DataPlane } from '@planesync/core';
import { Router } from './router.ts';

/**
 * A small but real HTTP gateway on a planesync DataPlane: routes by the active config, proxies
 * to the service, answers 404 `{"message":"no Route matched"}` otherwise, and records every
 * request for analytics. Readiness and metrics are on the status listener (main.ts), as Kong
 * serves them.
 */
export class Gateway {
  #router = new Router(undefined);
  #server: Server | undefined;

  constructor(private readonly dp: DataPlane) {
    dp.on('config', (snapshot) => this.#apply(snapshot));
    if (dp.currentConfig) this.#apply(dp.currentConfig);
  }

  async listen(port: number, host = '127.0.0.1'): Promise<number> {
    this.#server = createServer((request, response) => this.#handle(request, response));
    await new Promise<void>((resolve) => this.#server!.listen(port, host, resolve));
    return (this.#server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise((resolve) => this.#server?.close(resolve) ?? resolve(undefined));
  }

  #apply(snapshot: ConfigSnapshot): void {
    this.#router = new Router(snapshot.config);
  }

  #handle(request: IncomingMessage, response: ServerResponse): void {
    const started = performance.now();
    const url = new URL(request.url ?? '/', 'http://gateway');
    const match = this.#router.match(request.method ?? 'GET', request.headers.host, url.pathname);
    if (!match) {
      json(response, 404, { message: 'no Route matched' });
      this.dp.recordRequest({ status: 404, latencyMs: performance.now() - started });
      return;
    }
    const target = new URL(match.url);
    target.search = url.search;
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    let requestBytes = 0;
    request.on('data', (chunk: Buffer) => {
      requestBytes += chunk.length;
    });
    const upstream = send(
      target,
      {
        method: request.method,
        headers: {
          ...request.headers,
          host: match.host,
          'x-forwarded-for': request.socket.remoteAddress ?? '',
        },
      },
      (reply) => {
        let responseBytes = 0;
        reply.on('data', (chunk: Buffer) => {
          responseBytes += chunk.length;
        });
        reply.on('end', () => {
          this.dp.recordRequest({
            service: match.service,
            route: match.route,
            status: reply.statusCode ?? 502,
            latencyMs: performance.now() - started,
            requestBytes,
            responseBytes,
          });
        });
        response.writeHead(reply.statusCode ?? 502, {
          ...reply.headers,
          via: '1.1 planesync-gateway',
        });
        reply.pipe(response);
      },
    );
    upstream.on('error', () => {
      json(response, 502, { message: 'An invalid response was received from the upstream server' });
      this.dp.recordRequest({
        service: match.service,
        route: match.route,
        status: 502,
        latencyMs: performance.now() - started,
      });
    });
    request.pipe(upstream);
  }
}

function json(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}
