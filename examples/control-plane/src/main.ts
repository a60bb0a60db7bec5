// A Control Plane process: `node --import tsx examples/control-plane/src/main.ts --help`.
import { watchFile } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { controlPlaneAdmin } from '@planesync/admin';
import { postgresClusterState } from '@planesync/cluster-postgres';
import {
  type ConnectionHandler,
  ControlPlane,
  consoleLogger,
  KONG_PROTOCOL,
  kongProtocol,
  type ListenOptions,
  loadDeclarativeConfig,
  planesyncProtocol,
  type TransportServer,
  TrustVerifier,
  toKongExport,
} from '@planesync/core';
import { tcpServer } from '@planesync/transport-tcp';
import { watchIdentity, wsServer } from '@planesync/transport-ws';

const USAGE = `Usage: control-plane --config kong.yml --cert FILE[,FILE] --key FILE --ca FILE [options]

  --config FILE        the declarative config to serve; re-pushed whenever the file changes
  --cert FILE[,FILE]   the CP's certificate, then its intermediates; replaced on disk (with
                       --key), they are presented from the next connection on
  --key FILE           its private key
  --ca FILE            trust anchor for DP certificates (PKI); with --pinned, the pinned certificate
  --pinned             shared mode: trust exactly --ca
  --wss-port N         WebSocket listener (default 8005): planesync DPs on /planesync/v1,
                       Kong DPs (Kong's own sync v1 protocol) on /v1/outlet
  --tcp-port N         TCP listener (default 8007; Kong's 8006 is its telemetry port, which
                       planesync does not need: telemetry rides the same link)
  --admin-port N       on 127.0.0.1 (default 8001): the status page (GET /), Kong's
                       GET /clustering/data-planes, GET /metrics for Prometheus
                       (@planesync/admin), and this example's own GET /analytics and /counters
  --summary-every S    print an analytics summary every S seconds (default 5)
  --postgres URL       share config versions, DP records and analytics with the other CPs on
                       this PostgreSQL (docs/cluster.md); with --postgres '' the PG* variables
                       say where. Each CP given one serves the cluster's latest config at start,
                       and publishes --config only when the cluster has none yet (or when the
                       file changes), so a CP restarted with an older file does not undo newer
                       changes. With PostgreSQL down it starts anyway and waits for it.
`;

const { values } = parseArgs({
  options: {
    config: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    ca: { type: 'string' },
    pinned: { type: 'boolean', default: false },
    'wss-port': { type: 'string', default: '8005' },
    'tcp-port': { type: 'string', default: '8007' },
    'admin-port': { type: 'string', default: '8001' },
    'summary-every': { type: 'string', default: '5' },
    postgres: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help || !values.config || !values.cert || !values.key || !values.ca) {
  process.stdout.write(USAGE);
  process.exit(values.help ? 0 : 2);
}

/**
 * One CP listening on several transports at once. It carries what its richest listener does
 * (wss: paths and ping frames), and hands the CP's routes only to listeners with a request
 * step: a TCP connection names no path, so the CP serves it the protocol listed first.
 */
function both(...servers: TransportServer[]): TransportServer {
  const carry = (feature: 'request' | 'controlFrames') =>
    servers.some((server) => server.features?.[feature] === true);
  return {
    features: { request: carry('request'), controlFrames: carry('controlFrames') },
    async listen(onConnection: ConnectionHandler, options: ListenOptions = {}) {
      const { routes, ...rest } = options;
      // The pre-accept step (admit) goes to each: core judges every peer before it is read.
      const infos = await Promise.all(
        servers.map((server) =>
          server.listen(onConnection, server.features?.request && routes ? options : rest),
        ),
      );
      return { address: infos.map((info) => info.address).join(', ') };
    },
    async close() {
      await Promise.all(servers.map((server) => server.close()));
    },
    // One certificate for every listener: each takes the new pair (checked by the first).
    setIdentity(identity) {
      for (const server of servers) server.setIdentity?.(identity);
    },
  };
}

const tls = { cert: values.cert.split(','), key: values.key };
// The events below say what happens; planesync's own log adds only its errors.
const planesyncLog = consoleLogger({ level: 'error', sink: (line) => log(line) });
const trust = values.pinned
  ? new TrustVerifier({ mode: 'pinned', certificates: [values.ca] })
  : new TrustVerifier({ mode: 'pki', trustAnchors: [values.ca] });
// Several CPs on one PostgreSQL: one version sequence, the whole fleet in every CP's listing.
const state =
  values.postgres === undefined
    ? undefined
    : postgresClusterState({ connectionString: values.postgres, logger: planesyncLog });
const cp = new ControlPlane({
  transport: both(
    wsServer({ port: Number(values['wss-port']), tls, logger: planesyncLog }),
    tcpServer({ port: Number(values['tcp-port']), tls, logger: planesyncLog }),
  ),
  // planesync first: it is what the TCP listener's DPs speak (see `both`). Kong's DPs
  // dial /v1/outlet on the wss listener, as they dial a Kong CP.
  protocols: [planesyncProtocol({ route: { path: '/planesync/v1' } }), kongProtocol()],
  trust,
  version: '3.10.0',
  logger: planesyncLog,
  ...(state ? { state } : {}),
});
function log(line: string): void {
  process.stdout.write(`[control-plane] ${line}\n`);
}
cp.on('dataPlaneConnected', (dp) =>
  log(
    `data plane ${dp.hostname} connected from ${dp.ip} over ${dp.protocol} (sync status ${dp.syncStatus})`,
  ),
);
cp.on('dataPlaneDisconnected', (dp) => log(`data plane ${dp.hostname} disconnected`));
cp.on('dataPlaneRejected', (rejection) =>
  log(`refused a data plane from ${rejection.remoteAddress}: ${rejection.code}`),
);
cp.on('configApplied', (event) => {
  const dp = cp.dataPlanes().find((d) => d.id === event.nodeId);
  log(`data plane ${dp?.hostname ?? event.nodeId} applied version ${event.version}`);
});
cp.on('configRejected', (event) =>
  log(`data plane ${event.nodeId} rejected version ${event.version}: ${event.errors[0]?.message}`),
);

async function publish(): Promise<void> {
  try {
    // Kong's DPs take the config in the shape Kong's CP exports it (ids, references as ids);
    // planesync's DPs take that shape too, so every DP gets the same config and hash.
    const config = toKongExport(await loadDeclarativeConfig(values.config!));
    const { version, hash } = await cp.setConfig(config);
    log(`serving ${values.config} as version ${version} (${hash.slice(0, 8)})`);
  } catch (error) {
    log(`keeping the previous version: ${(error as Error).message}`);
  }
}

await cp.start();
// Alone, the file is the config. In a cluster, the cluster's latest config is, once there is
// one: this CP's file may be older than what another CP published since.
if (!state || (cp.stateHealth.joined && !cp.currentConfig)) await publish();
else if (!cp.stateHealth.joined)
  log(
    `the cluster state does not answer (${cp.stateHealth.reason}): serving nothing new until it does`,
  );
else if (cp.currentConfig)
  log(
    `serving the cluster's version ${cp.currentConfig.version}; ${values.config} goes out when it changes`,
  );
watchFile(values.config, { interval: 200 }, () => void publish());
// The certificate and key replaced on disk (a renewal) are presented from the next handshake
// on, without a restart; a certificate replaced before its key waits for the key.
const identityWatch = watchIdentity(
  cp,
  { cert: values.cert.split(','), key: values.key },
  {
    onChange: () => log('presenting the renewed certificate from the next connection on'),
    onError: (error) => log(`not taking the certificate files yet: ${error.message}`),
  },
);
cp.on('certificateExpiring', ({ hostname, expiresAt }) =>
  log(`the certificate of data plane ${hostname} runs out on ${new Date(expiresAt).toISOString()}`),
);
// After the start: the outages of the cluster state, and its return.
cp.on('stateHealth', (health) => {
  if (!health.available) log(`the cluster state does not answer (${health.reason}); retrying`);
  else if (health.joined) {
    log('the cluster state answers');
    // A CP that started while PostgreSQL was down publishes its file once it can, when the
    // cluster has no config yet.
    if (!cp.currentConfig) void publish();
  }
});

// @planesync/admin answers what it serves; what it does not goes to the host's own routes,
// as `next` does under Express. No authentication of its own: loopback only
// (docs/operations.md puts it behind the host's).
const operator = controlPlaneAdmin(cp, { logger: planesyncLog });
const admin = createServer((request, response) =>
  operator(request, response, () => {
    const send = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body, null, 2));
    };
    if (request.url === '/analytics') send(200, cp.analytics.summary());
    // What the CP counts: configs and deltas encoded and sent, with their bytes.
    else if (request.url === '/counters') send(200, cp.counters);
    else send(404, { message: 'Not found' });
  }),
);
await new Promise<void>((resolve) =>
  admin.listen(Number(values['admin-port']), '127.0.0.1', resolve),
);
log(
  `listening: wss :${values['wss-port']} (planesync on /planesync/v1, ${KONG_PROTOCOL} on /v1/outlet), tcp :${values['tcp-port']}, status page and admin API http://127.0.0.1:${values['admin-port']}/`,
);

const summaryEvery = Number(values['summary-every']) * 1000;
const timer = setInterval(() => {
  const { total, services, billing } = cp.analytics.summary();
  if (total.requests === 0) return;
  const perService = Object.entries(services)
    .map(([name, stats]) => `${name} ${stats.requests} (p95 ${stats.latencyMs.p95.toFixed(1)} ms)`)
    .join(', ');
  log(
    `analytics: ${plural(billing.apiCalls, 'API call')}, ${plural(billing.services, 'service')}; ${perService}`,
  );
}, summaryEvery);

let stopping = false;
const stop = async () => {
  // Ctrl-C reaches this process twice (from tsx too): one stop.
  if (stopping) return;
  stopping = true;
  clearInterval(timer);
  identityWatch.close();
  admin.close();
  await cp.stop();
  await state?.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
