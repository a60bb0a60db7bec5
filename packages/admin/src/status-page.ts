import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import type {
  ControlPlane,
  ControlPlaneStateHealth,
  DataPlaneStatus,
  TrafficPoint,
  TrafficStats,
} from '@planesync/core';

/** What the status page reads (`GET /planesync/status` of a CP's handler). */
export interface ControlPlaneStatusReport {
  role: 'control_plane';
  controlPlane: { id: string; version: string };
  /** The CP's time of the report (ms since the epoch): ages on the page count from it. */
  now: number;
  config: { version: number; hash: string; publishedAt: number } | null;
  stateHealth: ControlPlaneStateHealth;
  /**
   * `false` when the cluster state did not answer in time: `dataPlanes` are then this CP's
   * last reading of the cluster (at most `dataPlaneSyncIntervalMs` old for other CPs' DPs).
   */
  dataPlanesFromCluster: boolean;
  /** How long before a certificate expires the page warns. */
  certificateWarningMs: number;
  /** How often the page reads this again. */
  refreshMs: number;
  dataPlanes: Array<
    Pick<
      DataPlaneStatus,
      | 'id'
      | 'hostname'
      | 'ip'
      | 'version'
      | 'protocol'
      | 'syncStatus'
      | 'configHash'
      | 'configVersion'
      | 'lastSeen'
      | 'connected'
      | 'certExpiresAt'
      | 'controlPlaneId'
      | 'pushError'
    >
  >;
  /** This CP's analytics: the busiest services and routes, and requests per minute. */
  traffic: {
    since: number;
    total: TrafficStats;
    services: Array<TrafficStats & { name: string }>;
    routes: Array<TrafficStats & { name: string }>;
    series: TrafficPoint[];
  };
}

/** The most services and routes the report lists, the busiest first. */
const TOP = 50;

function busiest(byName: Record<string, TrafficStats>): Array<TrafficStats & { name: string }> {
  return Object.entries(byName)
    .map(([name, stats]) => ({ name, ...stats }))
    .sort((a, b) => b.requests - a.requests || (a.name < b.name ? -1 : 1))
    .slice(0, TOP);
}

export function controlPlaneReport(
  cp: ControlPlane<unknown>,
  dataPlanes: readonly DataPlaneStatus[],
  now: number,
  options: { certificateWarningMs: number; refreshMs: number; dataPlanesFromCluster: boolean },
): ControlPlaneStatusReport {
  const config = cp.currentConfig;
  const summary = cp.analytics.summary();
  return {
    role: 'control_plane',
    controlPlane: { id: cp.id, version: cp.version },
    now,
    config: config
      ? { version: config.version, hash: config.hash, publishedAt: config.publishedAt }
      : null,
    stateHealth: cp.stateHealth,
    dataPlanesFromCluster: options.dataPlanesFromCluster,
    certificateWarningMs: options.certificateWarningMs,
    refreshMs: options.refreshMs,
    dataPlanes: dataPlanes.map((dp) => ({
      id: dp.id,
      hostname: dp.hostname,
      ip: dp.ip,
      version: dp.version,
      protocol: dp.protocol,
      syncStatus: dp.syncStatus,
      configHash: dp.configHash,
      configVersion: dp.configVersion,
      lastSeen: dp.lastSeen,
      connected: dp.connected,
      certExpiresAt: dp.certExpiresAt,
      controlPlaneId: dp.controlPlaneId,
      pushError: dp.pushError,
    })),
    traffic: {
      since: summary.since,
      total: summary.total,
      services: busiest(summary.services),
      routes: busiest(summary.routes),
      series: cp.analytics.series(),
    },
  };
}

/** The page's files, read once from the package's `page/` directory. */
const PAGE_FILES = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/status.js': { file: 'status.js', type: 'text/javascript; charset=utf-8' },
  '/status.css': { file: 'status.css', type: 'text/css; charset=utf-8' },
  '/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
} as const;

export type PagePath = keyof typeof PAGE_FILES;
export const PAGE_PATHS = Object.keys(PAGE_FILES) as PagePath[];

const cache = new Map<PagePath, Promise<Buffer>>();

/**
 * Nothing but the page's own files runs or loads: no inline script, no other origin, no frame
 * around it.
 */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

export async function sendPageFile(path: PagePath, response: ServerResponse): Promise<void> {
  const { file, type } = PAGE_FILES[path];
  let body = cache.get(path);
  if (!body) {
    body = readFile(new URL(`../page/${file}`, import.meta.url));
    cache.set(path, body);
    body.catch(() => cache.delete(path));
  }
  const bytes = await body;
  response.writeHead(200, {
    'content-type': type,
    'content-length': bytes.length,
    'cache-control': 'no-cache',
    ...PAGE_HEADERS,
  });
  response.end(bytes);
}
