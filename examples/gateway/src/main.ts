// A gateway Data Plane process: `node --import tsx examples/gateway/src/main.ts --help`.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { dataPlaneAdmin } from '@planesync/admin';
import {
  CloseCode,
  type CloseInfo,
  consoleLogger,
  DataPlane,
  kongProtocol,
  TrustVerifier,
} from '@planesync/core';
import { lmdbStore } from '@planesync/storage-lmdb';
import { tcpClient } from '@planesync/transport-tcp';
import { wsClient } from '@planesync/transport-ws';
import { Gateway } from './gateway.ts';

const USAGE = `Usage: gateway --cp HOST:PORT --cert FILE[,FILE] --key FILE --ca FILE --prefix DIR [options]

  --cp HOST:PORT[,HOST:PORT]  the control plane (its wss or tcp listener); several CPs of one
                              cluster: each tried in turn when one cannot be reached
  --transport wss|tcp         default wss
  --protocol planesync|kong   the wire protocol: planesync (default), or Kong's own hybrid-mode
                              protocol (sync v1, at /v1/outlet) as a Kong DP speaks it; kong
                              needs --transport wss
  --cert FILE[,FILE]          this DP's certificate, then its intermediates
  --key FILE                  its private key
  --ca FILE                   trust anchor for the CP's certificate (PKI); with --pinned, the pinned certificate
  --pinned                    shared mode: trust exactly --ca
  --server-name NAME          the name the CP's certificate must carry (default the CP host)
  --prefix DIR                the cache lives in DIR/dbless.lmdb
  --port N                    proxy port (default 8000)
  --status-port N             Kong's status listener, on 127.0.0.1 (default 8100):
                              GET /status/ready (503 until a config is served), GET /metrics,
                              GET /planesync/status (@planesync/admin)
  --declarative-config FILE   loaded when the cache is empty
  --name NAME                 this node's hostname (default the machine's)
`;

const { values } = parseArgs({
  options: {
    cp: { type: 'string' },
    transport: { type: 'string', default: 'wss' },
    protocol: { type: 'string', default: 'planesync' },
    cert: { type: 'string' },
    key: { type: 'string' },
    ca: { type: 'string' },
    pinned: { type: 'boolean', default: false },
    'server-name': { type: 'string' },
    prefix: { type: 'string' },
    port: { type: 'string', default: '8000' },
    'status-port': { type: 'string', default: '8100' },
    'declarative-config': { type: 'string' },
    name: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help || !values.cp || !values.cert || !values.key || !values.ca || !values.prefix) {
  process.stdout.write(USAGE);
  process.exit(values.help ? 0 : 2);
}

if (values.protocol !== 'planesync' && values.protocol !== 'kong') {
  process.stderr.write(`gateway: --protocol is planesync or kong, not ${values.protocol}\n`);
  process.exit(2);
}
const kong = values.protocol === 'kong';
if (kong && values.transport !== 'wss') {
  process.stderr.write(
    `gateway: --protocol kong needs --transport wss: Kong's sync v1 is a WebSocket protocol (a path, a query, ping frames) that ${values.transport} cannot carry\n`,
  );
  process.exit(2);
}

const tls = { cert: values.cert.split(','), key: values.key };
const name = values.name ?? hostname();
// Several CPs (HOST:PORT,HOST:PORT): a failover list, tried in turn.
const addresses = values.cp.split(',').map((address) => {
  const [host = '127.0.0.1', port = '8005'] = address.trim().split(':');
  return { host, port: Number(port) };
});
const cpHost = addresses[0]!.host;
const transports = addresses.map(({ host, port }) =>
  values.transport === 'tcp'
    ? tcpClient({
        host,
        port,
        tls,
        ...(values.pinned ? { serverName: 'kong_clustering' } : {}),
      })
    : wsClient({
        // kongProtocol() dials /v1/outlet itself, with Kong's query naming the node.
        url: `wss://${host}:${port}${kong ? '/v1/outlet' : '/planesync/v1'}`,
        tls,
        ...(values.pinned ? { serverName: 'kong_clustering' } : {}),
      }),
);
const transport = transports.length === 1 ? transports[0]! : transports;
const trust = values.pinned
  ? new TrustVerifier({ mode: 'pinned', certificates: [values.ca] })
  : new TrustVerifier({ mode: 'pki', trustAnchors: [values.ca] });
const log = (line: string) => process.stdout.write(`[${name}] ${line}\n`);
const dp = new DataPlane({
  transport,
  ...(kong ? { protocol: kongProtocol() } : {}),
  // The events below say what happens; planesync's own log adds only its errors.
  logger: consoleLogger({ level: 'error', sink: log }),
  trust,
  ...(values.pinned ? {} : { expectedServerName: values['server-name'] ?? cpHost }),
  storage: lmdbStore({ prefix: values.prefix }),
  ...(values['declarative-config'] ? { declarativeConfig: values['declarative-config'] } : {}),
  version: '3.10.0',
  hostname: name,
  labels: { transport: values.transport ?? 'wss' },
});
dp.on('config', (snapshot) =>
  log(
    `serving config ${snapshot.hash.slice(0, 8)} (version ${snapshot.version}, from ${snapshot.source})`,
  ),
);
dp.on('connected', () => log('connected to the control plane'));
dp.on('disconnected', (close) =>
  log(`disconnected from the control plane (${describeClose(close)}); still serving`),
);
dp.on('rejected', (rejection) => log(`refused by the control plane: ${rejection.code}`));
dp.on('error', (error) => {
  if (error.code !== 'TRANSPORT_FAILED') log(`${error.code}: ${error.message}`);
});

const gateway = new Gateway(dp);
await dp.start();
const port = await gateway.listen(Number(values.port));
// As Kong's status listener: readiness for the load balancer, metrics for Prometheus, on
// loopback only (no authentication of its own).
const status = createServer(
  dataPlaneAdmin(dp, {
    certificate: readFileSync(tls.cert[0]!),
    logger: consoleLogger({ level: 'error', sink: log }),
  }),
);
await new Promise<void>((resolve) =>
  status.listen(Number(values['status-port']), '127.0.0.1', resolve),
);
log(
  `proxying on http://127.0.0.1:${port} over ${values.transport}${kong ? " (Kong's sync v1)" : ''}; status on http://127.0.0.1:${values['status-port']}`,
);

const stop = async () => {
  status.closeAllConnections();
  status.close();
  await gateway.close();
  await dp.stop();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());

/** A close in words: what an operator reads in the log. */
function describeClose(close: CloseInfo): string {
  const words: Record<number, string> = {
    [CloseCode.NORMAL]: 'closed normally',
    [CloseCode.GOING_AWAY]:
      close.reason === 'heartbeat timeout'
        ? 'no heartbeat answer'
        : 'the control plane is going away',
    [CloseCode.PROTOCOL_VIOLATION]: 'protocol violation',
    [CloseCode.ABNORMAL]: 'the connection was lost',
    [CloseCode.POLICY_VIOLATION]: `refused: ${close.reason}`,
    [CloseCode.INTERNAL_ERROR]: 'internal error',
    [CloseCode.TRY_AGAIN_LATER]: 'the control plane is full, trying again later',
  };
  return `${words[close.code] ?? close.reason} — code ${close.code}`;
}
