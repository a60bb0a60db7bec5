import { InvalidArgumentError } from '../errors.ts';
import {
  type ConnectOptions,
  FRAMES_ONLY,
  type Route,
  type TransportFeatures,
} from './contract.ts';

/**
 * What a raw (`encodeQuery: false`) key or value may hold: printable ASCII that a URL keeps as
 * it is in a query, less `&` (it would split the pair). A key may not hold `=` either.
 */
const RAW_QUERY = /^[\x21\x24\x25\x28-\x3b\x3d\x3f-\x7e]*$/;
/** A path as a URL keeps it: printable ASCII without `?`, `#`, `"`, `<`, `>`, `` ` ``, `{`, `}`, `\`. */
const PATH = /^\/[\x21\x24-\x3b\x3d\x40-\x5b\x5d-\x5f\x61-\x7a\x7c\x7e]*$/;
/** An RFC 6455 subprotocol: an HTTP token. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * The query a dial sends, without its `?`: `baseQuery` (the transport URL's own), then
 * `request.query` in order — percent-encoded (`encodeURIComponent`), or as given with
 * `encodeQuery: false` — then the deprecated `metadata`, always encoded. Throws
 * `INVALID_ARGUMENT` for a raw key or value a URL would not carry as it is: one holding `&`,
 * `#`, a space, a control character, `"`, `'`, `<`, `>` or a non-ASCII character (and a raw key
 * holding `=`), or an empty key.
 *
 * @example
 * ```ts
 * import { dialRequestQuery } from '@planesync/core/transport';
 * dialRequestQuery({ request: { query: [['node_id', 'a b']] } }); // 'node_id=a%20b'
 * dialRequestQuery({ request: { query: [['v', '3.10+ee']], encodeQuery: false } }); // 'v=3.10+ee'
 * ```
 */
export function dialRequestQuery(
  options: Pick<ConnectOptions, 'request' | 'metadata'>,
  baseQuery = '',
): string {
  const raw = options.request?.encodeQuery === false;
  const pairs: string[] = baseQuery === '' ? [] : [baseQuery];
  for (const [key, value] of options.request?.query ?? []) {
    if (typeof key !== 'string' || typeof value !== 'string' || key === '')
      throw new InvalidArgumentError(
        `a query pair is a non-empty key and a value, both strings: got ${JSON.stringify([key, value])}`,
      );
    if (raw && (!RAW_QUERY.test(key) || key.includes('=') || !RAW_QUERY.test(value)))
      throw new InvalidArgumentError(
        `the raw query pair ${JSON.stringify([key, value])} holds a character a URL cannot carry as it is (&, #, a space, a control character, " ' < >, non-ASCII, or = in a key): encode it (encodeQuery: true)`,
      );
    pairs.push(raw ? `${key}=${value}` : `${encodeURIComponent(key)}=${encodeURIComponent(value)}`);
  }
  for (const [key, value] of Object.entries(options.metadata ?? {}))
    pairs.push(`${encodeURIComponent(key)}=${encodeURIComponent(value)}`);
  return pairs.join('&');
}

/**
 * A query as a record, each key with its last value, decoded as a server decodes it
 * (`URLSearchParams`): what `Connection.metadata` and `PeerInfo.request.query` hold.
 *
 * @example
 * ```ts
 * import { queryRecord } from '@planesync/core/transport';
 * queryRecord('node_id=a%20b&v=1&v=2'); // { node_id: 'a b', v: '2' }
 * ```
 */
export function queryRecord(rawQuery: string): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(rawQuery));
}

/**
 * Throws `INVALID_ARGUMENT` unless `path` is a request path a URL carries as it is: `/`
 * first, printable ASCII, no `?`, `#`, `"`, `<`, `>`, `` ` ``, `{`, `}`, `\`, and no `.` or
 * `..` segment.
 *
 * @example
 * ```ts
 * import { checkRequestPath } from '@planesync/core/transport';
 * checkRequestPath('/v1/outlet'); // fine
 * ```
 */
export function checkRequestPath(path: string): void {
  if (typeof path !== 'string' || !PATH.test(path) || /\/(\.|%2e){1,2}(\/|$)/i.test(path))
    throw new InvalidArgumentError(
      `${JSON.stringify(path)} is not a request path a URL carries as it is: start it with /, and leave out spaces, ? # " < > \` { } \\ and . or .. segments`,
    );
}

/**
 * Throws `INVALID_ARGUMENT` unless `subprotocol` is a WebSocket subprotocol (an HTTP token).
 *
 * @example
 * ```ts
 * import { checkSubprotocol } from '@planesync/core/transport';
 * checkSubprotocol('planesync.v2'); // fine
 * ```
 */
export function checkSubprotocol(subprotocol: string): void {
  if (typeof subprotocol !== 'string' || !TOKEN.test(subprotocol))
    throw new InvalidArgumentError(
      `${JSON.stringify(subprotocol)} is not a subprotocol: a token of letters, digits and !#$%&'*+-.^_\`|~`,
    );
}

/**
 * Checks a connect's request step and ping mode, for a transport whose features are
 * `features`: throws `INVALID_ARGUMENT` naming what the transport (`name`) cannot carry — a
 * path, a subprotocol, manual pings — or a path, subprotocol or ping mode that is not one.
 * Query pairs are never refused here: a transport without a request step may carry them as
 * metadata.
 *
 * @example
 * ```ts
 * import { checkConnectOptions, FRAMES_ONLY } from '@planesync/core/transport';
 * checkConnectOptions(FRAMES_ONLY, { request: { path: '/v1/outlet' } }, 'my transport');
 * // throws INVALID_ARGUMENT: my transport cannot carry a request path …
 * ```
 */
export function checkConnectOptions(
  features: TransportFeatures | undefined,
  options: ConnectOptions,
  name: string,
): void {
  const carries = features ?? FRAMES_ONLY;
  const missing: string[] = [];
  const { request } = options;
  if (options.pings !== undefined && options.pings !== 'auto' && options.pings !== 'manual')
    throw new InvalidArgumentError(`pings is 'auto' or 'manual', got ${String(options.pings)}`);
  if (!carries.request && request?.path !== undefined)
    missing.push(`a request path (${request.path})`);
  if (!carries.request && request?.subprotocol !== undefined)
    missing.push(`a subprotocol (${request.subprotocol})`);
  if (!carries.controlFrames && options.pings === 'manual')
    missing.push("manual pings (pings: 'manual')");
  if (missing.length > 0)
    throw new InvalidArgumentError(
      `${name} cannot carry ${missing.join(', ')}: it moves whole frames only (its features say so)`,
    );
  if (request?.path !== undefined) checkRequestPath(request.path);
  if (request?.subprotocol !== undefined) checkSubprotocol(request.subprotocol);
}

/**
 * Checks a listen's routes for a transport whose features are `features`, and returns them
 * (or `fallback` when none are given): throws `INVALID_ARGUMENT` for an empty list, a path
 * named twice, a path or subprotocol that is not one, or — for a transport without a request
 * step (`name`) — more than one route, a subprotocol, or manual pings it cannot carry.
 *
 * @example
 * ```ts
 * import { checkRoutes } from '@planesync/core/transport';
 * const routes = checkRoutes({ request: true, controlFrames: true }, undefined, [{ path: '/planesync/v1' }], 'wsServer');
 * ```
 */
export function checkRoutes(
  features: TransportFeatures | undefined,
  routes: readonly Route[] | undefined,
  fallback: readonly Route[],
  name: string,
): readonly Route[] {
  if (routes === undefined) return fallback;
  const carries = features ?? FRAMES_ONLY;
  if (!Array.isArray(routes) || routes.length === 0)
    throw new InvalidArgumentError('routes, when given, name at least one route');
  if (!carries.request && routes.length > 1)
    throw new InvalidArgumentError(
      `${name} cannot route ${routes.length} paths: it has no request step (one route at most)`,
    );
  const seen = new Set<string>();
  for (const route of routes) {
    checkRequestPath(route.path);
    if (seen.has(route.path))
      throw new InvalidArgumentError(`the route ${route.path} is named twice`);
    seen.add(route.path);
    if (route.pings !== undefined && route.pings !== 'auto' && route.pings !== 'manual')
      throw new InvalidArgumentError(
        `a route's pings is 'auto' or 'manual', got ${String(route.pings)}`,
      );
    if (route.subprotocol !== undefined) {
      if (!carries.request)
        throw new InvalidArgumentError(`${name} cannot carry a subprotocol (${route.subprotocol})`);
      checkSubprotocol(route.subprotocol);
    }
    if (route.pings === 'manual' && !carries.controlFrames)
      throw new InvalidArgumentError(`${name} cannot carry manual pings: it has no control frames`);
  }
  return routes;
}
