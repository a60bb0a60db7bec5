import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '@planesync/core';

/**
 * A plain node `http` request handler: it drops into `http.createServer`, Express or Connect
 * (`app.use(handler)`: a path it does not serve goes to `next`), Fastify (`reply.raw`) and
 * Hono's node adapter (`c.env.incoming`, `c.env.outgoing`). Without `next`, a path it does not
 * serve is answered 404.
 */
export type AdminHandler = (
  request: IncomingMessage,
  response: ServerResponse,
  next?: (error?: unknown) => void,
) => void;

/** One route's answer to one method. */
export type Route = (request: IncomingMessage, url: URL, response: ServerResponse) => Promise<void>;

/** Kong's answer to a method a route does not take. */
const METHOD_NOT_ALLOWED = { message: 'Method not allowed' };

export function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  response.end(text);
}

/**
 * The handler around a table of routes (path → method → answer): parses the URL, answers 405
 * for a method a route does not take, and turns an answer that throws into Kong's 500 — never
 * a crash, never a hanging request.
 */
export function handler(
  routes: Readonly<Record<string, Readonly<Record<string, Route>>>>,
  logger: Logger | undefined,
): AdminHandler {
  return (request, response, next) => {
    let url: URL;
    try {
      // A path is read as a path: `//x` is not a host (new URL would take it for one).
      const target = request.url ?? '/';
      url = target.startsWith('/')
        ? new URL(`http://admin.invalid${target}`)
        : new URL(target, 'http://admin.invalid');
    } catch {
      sendJson(response, 400, { message: 'Bad request' });
      return;
    }
    const methods = Object.hasOwn(routes, url.pathname) ? routes[url.pathname] : undefined;
    if (!methods) {
      if (next) next();
      else sendJson(response, 404, { message: 'Not found' });
      return;
    }
    const method = request.method === 'HEAD' ? 'GET' : (request.method ?? 'GET');
    const route = Object.hasOwn(methods, method) ? methods[method] : undefined;
    if (!route) {
      const allowed = Object.keys(methods);
      if (allowed.includes('GET')) allowed.push('HEAD');
      sendJson(response, 405, METHOD_NOT_ALLOWED, { allow: allowed.join(', ') });
      return;
    }
    route(request, url, response).catch((error: unknown) => {
      try {
        logger?.error({ err: error, path: url.pathname }, 'admin request failed');
      } catch {
        // a logger that throws changes nothing here
      }
      if (!response.headersSent)
        sendJson(response, 500, { message: 'An unexpected error occurred' });
      else response.destroy();
    });
  };
}
