/**
 * `@planesync/admin`: what an operator watches, as one node `http` request handler a host
 * mounts — Kong's `GET /clustering/data-planes` and `GET /clustering/status`, Prometheus
 * `GET /metrics` (Kong's metric names and planesync's own, into a prom-client registry of the
 * handler's own unless the host passes one), a DP's `GET /status/ready`, and on a CP a status
 * page at `GET /` that refreshes itself. No authentication of its own: bind it to loopback or
 * put it behind the host's (docs/operations.md).
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { controlPlaneAdmin } from '@planesync/admin';
 *
 * declare const cp: import('@planesync/core').ControlPlane;
 * createServer(controlPlaneAdmin(cp)).listen(8001, '127.0.0.1');
 * ```
 *
 * @packageDocumentation
 */
import type { IncomingMessage } from 'node:http';
import {
  type ControlPlane,
  type DataPlane,
  type DataPlaneStatus,
  InvalidArgumentError,
  type Logger,
} from '@planesync/core';
import { Registry } from 'prom-client';
import { type AdminHandler, handler, type Route, sendJson } from './http.ts';
import { KongRequestError, kongClusteringStatus, kongDataPlanesPage } from './kong-data-planes.ts';
import {
  certificateExpiry,
  registerControlPlaneMetrics,
  registerDataPlaneMetrics,
} from './metrics.ts';
import { controlPlaneReport, PAGE_PATHS, sendPageFile } from './status-page.ts';

export type { AdminHandler } from './http.ts';
export type { KongDataPlane, KongPage } from './kong-data-planes.ts';
export type { ControlPlaneStatusReport } from './status-page.ts';

/** A handler, with the prom-client registry its metrics are in. */
export type AdminHandlerWithRegistry = AdminHandler & { readonly registry: Registry };

/** Options of {@link controlPlaneAdmin}. */
export interface ControlPlaneAdminOptions {
  /**
   * The prom-client registry the metrics go into; default a registry of the handler's own
   * (never prom-client's global one). One CP's metrics per registry: a second handler on the
   * same registry throws, as prom-client does for a name registered twice.
   */
  registry?: Registry;
  /** Where a request that failed is reported. */
  logger?: Logger;
  /** The time the ages and `ttl`s count from; default `Date.now`. */
  now?: () => number;
  /** How long before a DP's certificate expires the page warns. Default 30 days. */
  certificateWarningMs?: number;
  /** How often the page reads the status again. Default 5 000 ms. */
  refreshMs?: number;
  /**
   * How long a listing waits for the cluster state (the DPs of every CP, read from PostgreSQL)
   * before it answers with what this CP last read. Default 5 000 ms.
   */
  listTimeoutMs?: number;
}

/** Options of {@link dataPlaneAdmin}. */
export interface DataPlaneAdminOptions {
  /** As {@link ControlPlaneAdminOptions.registry}. */
  registry?: Registry;
  logger?: Logger;
  /**
   * The DP's cluster certificate (PEM; a chain's leaf first): its expiry is Kong's
   * `kong_data_plane_cluster_cert_expiry_timestamp`. Without it, that metric is absent.
   */
  certificate?: string | Buffer;
}

const DAY_MS = 86_400_000;

/**
 * The handler of a CP: `GET /clustering/data-planes` (Kong's page of every DP, `size` and
 * `offset` as Kong takes them), `GET /clustering/status` (deprecated, as in Kong),
 * `GET /metrics`, `GET /` (the status page) and `GET /planesync/status` (what the page reads).
 */
export function controlPlaneAdmin(
  cp: ControlPlane<unknown>,
  options: ControlPlaneAdminOptions = {},
): AdminHandlerWithRegistry {
  const registry = options.registry ?? new Registry();
  const now = options.now ?? Date.now;
  const certificateWarningMs = positive(
    options.certificateWarningMs,
    30 * DAY_MS,
    'certificateWarningMs',
  );
  const refreshMs = positive(options.refreshMs, 5_000, 'refreshMs', MAX_TIMER_MS);
  const listTimeoutMs = positive(options.listTimeoutMs, 5_000, 'listTimeoutMs', MAX_TIMER_MS);
  registerControlPlaneMetrics(registry, cp, now);

  /**
   * Every DP of the cluster, or this CP's last reading when the state does not answer
   * (`fallback`: the page says so).
   */
  const listing = async (): Promise<{ dataPlanes: DataPlaneStatus[]; fallback: boolean }> => {
    // The timer answers for a state that does not heed the signal (pg's pool waiting for a
    // connection does not): a listing never waits past listTimeoutMs.
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    try {
      return await new Promise<DataPlaneStatus[]>((resolve, reject) => {
        timer = setTimeout(() => {
          abort.abort();
          reject(abort.signal.reason);
        }, listTimeoutMs);
        cp.listDataPlanes({ signal: abort.signal }).then(resolve, reject);
      }).then((dataPlanes) => ({ dataPlanes, fallback: false }));
    } catch {
      return { dataPlanes: cp.dataPlanes(), fallback: true };
    } finally {
      clearTimeout(timer);
    }
  };
  const dataPlanes = async () => (await listing()).dataPlanes;

  const routes: Record<string, Record<string, Route>> = {
    '/clustering/data-planes': {
      GET: async (_request, url, response) => {
        const all = await dataPlanes();
        try {
          sendJson(
            response,
            200,
            kongDataPlanesPage(all, url.searchParams, now(), cp.dataPlanePurgeDelayMs),
          );
        } catch (error) {
          if (!(error instanceof KongRequestError)) throw error;
          sendJson(response, 400, error.body);
        }
      },
    },
    '/clustering/status': {
      GET: async (_request, _url, response) => {
        const map = kongClusteringStatus(await dataPlanes(), now(), cp.dataPlanePurgeDelayMs);
        sendJson(response, 200, map, { deprecation: 'true' });
      },
    },
    '/metrics': { GET: metricsRoute(registry) },
    '/planesync/status': {
      GET: async (_request, _url, response) => {
        const { dataPlanes: all, fallback } = await listing();
        const report = controlPlaneReport(cp, all, now(), {
          certificateWarningMs,
          refreshMs,
          dataPlanesFromCluster: !fallback,
        });
        sendJson(response, 200, report);
      },
    },
  };
  for (const path of PAGE_PATHS)
    routes[path] = {
      GET: async (request, url, response) => {
        // Mounted under a path and asked without its slash (`/ops`): the page's relative links
        // need it.
        const mounted = (request as IncomingMessage & { originalUrl?: string }).originalUrl;
        if (path === '/' && mounted !== undefined) {
          const original = new URL(mounted, 'http://admin.invalid');
          if (!original.pathname.endsWith('/')) {
            response.writeHead(308, { location: `${original.pathname}/${url.search}` });
            response.end();
            return;
          }
        }
        await sendPageFile(path, response);
      },
    };
  return Object.assign(handler(routes, options.logger), { registry });
}

/**
 * The handler of a DP: `GET /status/ready` as Kong's DP answers it (200 `ready` once a config
 * is served, 503 before, and 503 `draining` after `POST /status/ready` with
 * `status=draining`), `GET /metrics`, and `GET /planesync/status` (`dp.status` and
 * `dp.counters`).
 */
export function dataPlaneAdmin(
  dp: DataPlane<unknown>,
  options: DataPlaneAdminOptions = {},
): AdminHandlerWithRegistry {
  const registry = options.registry ?? new Registry();
  const expiresAt =
    options.certificate === undefined ? undefined : certificateExpiry(options.certificate);
  registerDataPlaneMetrics(registry, dp, expiresAt);
  let draining = false;
  const routes: Record<string, Record<string, Route>> = {
    '/status/ready': {
      GET: async (_request, _url, response) => {
        if (draining) return sendJson(response, 503, { message: 'draining' });
        const active = dp.currentConfig;
        if (!active)
          return sendJson(response, 503, {
            message: 'no configuration available (configuration hash is not initialized)',
          });
        if (active.source === 'empty')
          return sendJson(response, 503, {
            message: 'no configuration available (empty configuration present)',
          });
        sendJson(response, 200, { message: 'ready' });
      },
      POST: async (request, url, response) => {
        const status = url.searchParams.get('status') ?? (await formField(request, 'status'));
        if (status !== 'draining') {
          response.writeHead(400);
          response.end();
          return;
        }
        draining = true;
        response.writeHead(204);
        response.end();
      },
    },
    '/metrics': { GET: metricsRoute(registry) },
    '/planesync/status': {
      GET: async (_request, _url, response) => {
        sendJson(response, 200, {
          role: 'data_plane',
          status: dp.status,
          counters: dp.counters,
          certificateExpiresAt: expiresAt ?? null,
        });
      },
    },
  };
  return Object.assign(handler(routes, options.logger), { registry });
}

function metricsRoute(registry: Registry): Route {
  return async (_request, _url, response) => {
    const text = await registry.metrics();
    response.writeHead(200, {
      'content-type': registry.contentType,
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
    });
    response.end(text);
  };
}

/** The most a request body may hold: a form with one short field. */
const MAX_BODY = 1024;
const BODY_TIMEOUT_MS = 5_000;

/**
 * One field of a small JSON or form body (`status=draining`, `{"status":"draining"}`);
 * `undefined` for a body too large, too slow, or without it.
 */
function formField(request: IncomingMessage, name: string): Promise<string | undefined> {
  // A host's body parser (Express's, Fastify's) read the body first: no 'end' is coming. What
  // it parsed, when it left that on the request (Express's request.body), is the body.
  if (request.readableEnded) {
    const parsed = (request as IncomingMessage & { body?: unknown }).body;
    const value =
      typeof parsed === 'string'
        ? new URLSearchParams(parsed).get(name)
        : (parsed as Record<string, unknown> | null | undefined)?.[name];
    return Promise.resolve(typeof value === 'string' ? value : undefined);
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (value: string | undefined) => {
      clearTimeout(timer);
      request.removeAllListeners('data');
      resolve(value);
    };
    const timer = setTimeout(() => done(undefined), BODY_TIMEOUT_MS);
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) return done(undefined);
      chunks.push(chunk);
    });
    request.on('error', () => done(undefined));
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if ((request.headers['content-type'] ?? '').includes('json')) {
        try {
          const body: unknown = JSON.parse(text);
          const value = (body as Record<string, unknown> | null)?.[name];
          return done(typeof value === 'string' ? value : undefined);
        } catch {
          return done(undefined);
        }
      }
      done(new URLSearchParams(text).get(name) ?? undefined);
    });
  });
}

/** Past this, node's timers and browsers' fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

function positive(
  value: number | undefined,
  fallback: number,
  name: string,
  max = Number.MAX_VALUE,
): number {
  if (value === undefined) return fallback;
  if (!(Number.isFinite(value) && value > 0 && value <= max))
    throw new InvalidArgumentError(
      max === Number.MAX_VALUE
        ? `${name} is a positive number of ms`
        : `${name} is a positive number of ms, at most ${max}`,
    );
  return value;
}
