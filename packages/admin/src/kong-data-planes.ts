import type { DataPlaneStatus } from '@planesync/core';

/** One DP as Kong's Admin API lists it (`GET /clustering/data-planes`). */
export interface KongDataPlane {
  id: string;
  hostname: string;
  ip: string;
  version: string;
  sync_status: string;
  config_hash: string;
  /** Seconds since the epoch. */
  last_seen: number;
  updated_at: number;
  /** `null` when the DP sent none, as Kong answers. */
  labels: Record<string, string> | null;
  cert_details: { expiry_timestamp: number | null };
  /** Kong 3.9's RPC capabilities: planesync DPs speak none of Kong's RPCs. */
  rpc_capabilities: null;
  /** Seconds until the record is purged (Kong's `cluster_data_plane_purge_delay` counting down). */
  ttl: number;
}

/** Kong's page of a collection: `next` is the path of the next page, `offset` its token. */
export interface KongPage<T> {
  data: T[];
  next: string | null;
  offset?: string;
}

/** A request Kong answers 400, with its body (`code` and `name` from Kong's DAO errors). */
export class KongRequestError extends Error {
  constructor(readonly body: { code: number; name: string; message: string }) {
    super(body.message);
  }
}

const PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 1000;
const INVALID_OFFSET = { code: 7, name: 'invalid offset' };
const INVALID_SIZE = { code: 9, name: 'invalid size' };

/** A DP's record as Kong shows it, `now` and the purge delay in ms. */
export function kongDataPlane(
  dp: DataPlaneStatus,
  now: number,
  purgeDelayMs: number,
): KongDataPlane {
  const seconds = (ms: number) => Math.floor(ms / 1000);
  return {
    id: dp.id,
    hostname: dp.hostname,
    ip: dp.ip,
    version: dp.version,
    sync_status: dp.syncStatus,
    config_hash: dp.configHash,
    last_seen: seconds(dp.lastSeen),
    updated_at: seconds(dp.lastSeen),
    labels: Object.keys(dp.labels).length > 0 ? { ...dp.labels } : null,
    cert_details: {
      expiry_timestamp: dp.certExpiresAt === undefined ? null : seconds(dp.certExpiresAt),
    },
    rpc_capabilities: null,
    ttl: Math.max(0, seconds(dp.lastSeen + purgeDelayMs - now)),
  };
}

/**
 * Kong's paging of `GET /clustering/data-planes`: by id, `size` 1 to 1000 (default 100), and
 * `offset` the token of the previous page's `next` — base64 without padding of the JSON array
 * of the last id seen, as Kong's PostgreSQL strategy makes it. Records past their purge delay are not listed,
 * as Kong's expired rows are not. Throws {@link KongRequestError} with Kong's 400 bodies.
 */
export function kongDataPlanesPage(
  all: readonly DataPlaneStatus[],
  query: URLSearchParams,
  now: number,
  purgeDelayMs: number,
): KongPage<KongDataPlane> {
  const size = pageSize(query.get('size'));
  const after = query.has('offset') ? offsetId(query.get('offset')!) : undefined;
  const live = all
    // Kong lists a row until its ttl has passed (`ttl >= now`): 0 in its last second.
    .filter((dp) => dp.lastSeen + purgeDelayMs >= now)
    .map((dp) => kongDataPlane(dp, now, purgeDelayMs))
    .filter((dp) => after === undefined || dp.id > after)
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const data = live.slice(0, size);
  if (live.length <= size) return { data, next: null };
  // ngx.encode_base64(offset, true): Kong's offsets have no padding.
  const offset = Buffer.from(JSON.stringify([data.at(-1)!.id]))
    .toString('base64')
    .replace(/=+$/, '');
  const sizeArgument = query.has('size') ? `&size=${encodeURIComponent(query.get('size')!)}` : '';
  return {
    data,
    offset,
    next: `/clustering/data-planes?offset=${encodeURIComponent(offset)}${sizeArgument}`,
  };
}

/** The deprecated `GET /clustering/status`: a map by DP id, answered with `Deprecation: true`. */
export function kongClusteringStatus(
  all: readonly DataPlaneStatus[],
  now: number,
  purgeDelayMs: number,
): Record<string, Pick<KongDataPlane, 'config_hash' | 'hostname' | 'ip' | 'last_seen'>> {
  const map: Record<
    string,
    Pick<KongDataPlane, 'config_hash' | 'hostname' | 'ip' | 'last_seen'>
  > = {};
  for (const dp of all) {
    if (dp.lastSeen + purgeDelayMs < now) continue;
    const kong = kongDataPlane(dp, now, purgeDelayMs);
    map[kong.id] = {
      config_hash: kong.config_hash,
      hostname: kong.hostname,
      ip: kong.ip,
      last_seen: kong.last_seen,
    };
  }
  return map;
}

function pageSize(text: string | null): number {
  if (text === null) return PAGE_SIZE;
  // Kong reads the argument with Lua's tonumber: "10", " 10 ", "1e1" and "0x0a" are numbers.
  // Lua's tonumber reads no 0b or 0o prefix, where JavaScript's Number does.
  const size = text.trim() === '' || /^\s*[+-]?0[bBoO]/.test(text) ? Number.NaN : Number(text);
  if (Number.isNaN(size))
    throw new KongRequestError({ ...INVALID_SIZE, message: 'size must be a number' });
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE)
    throw new KongRequestError({
      ...INVALID_SIZE,
      message: `size must be an integer between 1 and ${MAX_PAGE_SIZE}`,
    });
  return size;
}

function offsetId(token: string): string {
  const invalid = (reason: string) =>
    new KongRequestError({
      ...INVALID_OFFSET,
      message: `'${token}' is not a valid offset: ${reason}`,
    });
  // As ngx.decode_base64: padding optional, one character past whole groups of four is not
  // base64.
  const bare = token.replace(/={1,2}$/, '');
  if (!/^[A-Za-z0-9+/]*$/.test(bare) || bare.length % 4 === 1) throw invalid('bad base64 encoding');
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(token, 'base64').toString('utf8'));
  } catch {
    throw invalid('bad json encoding');
  }
  if (!Array.isArray(decoded) || typeof decoded[0] !== 'string') throw invalid('bad json encoding');
  return decoded[0];
}
