// The narrated demo (`npm run demo`): a PKI, a Control Plane, two gateway Data Planes (wss and
// tcp), a config change, a third gateway speaking Kong's own hybrid-mode protocol to the same
// CP, a CP outage, a gateway restarted from its dbless.lmdb cache, the CP's return, and the
// analytics it collected, and the CP's status page and metrics. Everything on loopback; every
// process it starts is stopped before it exits. With --keep-cache the gateways' prefixes stay
// behind, so `planesync cache inspect` can be tried on them; with --serve the demo keeps the
// CP, its gateways and its status page up until Ctrl-C.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCertificateAuthority, issueCertificate } from '@planesync/core';

const root = fileURLToPath(new URL('../..', import.meta.url));
const keepCache = process.argv.includes('--keep-cache');
const keepServing = process.argv.includes('--serve');
const unknown = process.argv.slice(2).filter((arg) => arg !== '--keep-cache' && arg !== '--serve');
if (unknown.length > 0) {
  process.stderr.write(
    `demo: unknown option ${unknown.join(' ')}; the options are --keep-cache and --serve\n`,
  );
  process.exit(2);
}
const STEPS = 13;
let step = 0;
const started = Date.now();
const children = new Set<ChildProcess>();
let workdir = '';

function say(text: string): void {
  process.stdout.write(`\n[${++step}/${STEPS}] ${text}\n`);
}
function detail(text: string): void {
  process.stdout.write(`      ${text}\n`);
}

async function main(): Promise<void> {
  workdir = await mkdtemp(join(tmpdir(), 'planesync-demo-'));
  const file = (name: string) => join(workdir, name);

  say('Generating a PKI: root CA → intermediate CA → a CP certificate and three DP certificates');
  const rootCa = await createCertificateAuthority({ commonName: 'Demo Root CA' });
  const intermediate = await createCertificateAuthority({
    commonName: 'Demo Intermediate CA',
    issuer: rootCa,
    pathLength: 0,
  });
  const cp = await issueCertificate({
    issuer: intermediate,
    commonName: 'cp.demo',
    usage: 'server',
    altNames: ['127.0.0.1'],
  });
  const gw1 = await issueCertificate({ issuer: intermediate, commonName: 'gw-1', usage: 'client' });
  const gw2 = await issueCertificate({ issuer: intermediate, commonName: 'gw-2', usage: 'client' });
  const gw3 = await issueCertificate({ issuer: intermediate, commonName: 'gw-3', usage: 'client' });
  for (const [name, pem] of Object.entries({
    'root.crt': rootCa.certificate,
    'intermediate.crt': intermediate.certificate,
    'cp.crt': cp.certificate,
    'cp.key': cp.privateKey,
    'gw-1.crt': gw1.certificate,
    'gw-1.key': gw1.privateKey,
    'gw-2.crt': gw2.certificate,
    'gw-2.key': gw2.privateKey,
    'gw-3.crt': gw3.certificate,
    'gw-3.key': gw3.privateKey,
  })) {
    await writeFile(file(name), pem, { mode: name.endsWith('.key') ? 0o600 : 0o644 });
  }
  detail(
    `DPs present their leaf plus the intermediate (the spec's "cert3" case); the CP trusts only the root`,
  );

  say('Starting an upstream echo service');
  const echo = createServer((req, res) => {
    const body = JSON.stringify({ upstream: 'echo', method: req.method, path: req.url });
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  const echoPort = (echo.address() as AddressInfo).port;
  detail(`echo service on http://127.0.0.1:${echoPort}`);

  say('Starting the Control Plane (wss + tcp listeners, admin API)');
  const [wssPort, tcpPort, adminPort, gw1Port, gw2Port, gw3Port, ...statusPorts] = (await freePorts(
    9,
  )) as [number, number, number, number, number, number, ...number[]];
  const kongYml = file('kong.yml');
  await writeFile(kongYml, configYaml(echoPort, ['/echo']));
  const cpArgs = [
    'examples/control-plane/src/main.ts',
    ...[
      '--config',
      kongYml,
      '--cert',
      `${file('cp.crt')},${file('intermediate.crt')}`,
      '--key',
      file('cp.key'),
    ],
    ...['--ca', file('root.crt'), '--wss-port', String(wssPort), '--tcp-port', String(tcpPort)],
    ...['--admin-port', String(adminPort), '--summary-every', '3'],
  ];
  let controlPlane = start(cpArgs);
  const admin = `http://127.0.0.1:${adminPort}`;
  await waitFor(
    'the admin API',
    async () => (await get(`${admin}/clustering/data-planes`)).status === 200,
  );
  detail(
    `status page: ${admin}/ (@planesync/admin; run the demo with --serve to keep it up at the end)`,
  );

  say('Starting two gateway Data Planes: gw-1 over wss, gw-2 over tcp');
  const statusPort = (name: string) => statusPorts[Number(name.slice(3)) - 1]!;
  const gatewayArgs = (name: string, transport: string, port: number, cpPort: number) => [
    'examples/gateway/src/main.ts',
    ...['--status-port', String(statusPort(name))],
    ...[
      '--name',
      name,
      '--transport',
      transport,
      '--cp',
      `127.0.0.1:${cpPort}`,
      '--port',
      String(port),
    ],
    ...[
      '--cert',
      `${file(`${name}.crt`)},${file('intermediate.crt')}`,
      '--key',
      file(`${name}.key`),
    ],
    ...['--ca', file('root.crt'), '--prefix', file(`${name}-prefix`)],
  ];
  let gateway1 = start(gatewayArgs('gw-1', 'wss', gw1Port, wssPort));
  start(gatewayArgs('gw-2', 'tcp', gw2Port, tcpPort));
  const gateways = [`http://127.0.0.1:${gw1Port}`, `http://127.0.0.1:${gw2Port}`];
  // Each gateway's status listener (readiness, metrics), as Kong's: gw-N's at statusOf(its URL).
  const statusOf = (gateway: string) =>
    `http://127.0.0.1:${statusPorts[[gw1Port, gw2Port, gw3Port].indexOf(Number(gateway.split(':')[2]))]}`;
  const firstHash = await inSync(admin, gateways.map(statusOf), 2);
  detail(`both gateways serve config ${firstHash.slice(0, 8)} from the control plane`);

  say('Sending requests through both gateways');
  for (const gateway of gateways) {
    const hit = await get(`${gateway}/echo/hello`);
    const miss = await get(`${gateway}/nowhere`);
    detail(
      `${gateway}/echo/hello → ${hit.status} ${hit.body}; /nowhere → ${miss.status} ${miss.body}`,
    );
    expect(
      hit.status === 200 && miss.status === 404,
      'the gateway routes /echo and answers 404 elsewhere',
    );
  }

  say('Changing the config on the Control Plane: a new route /v2');
  const before = await counters(admin);
  await writeFile(kongYml, configYaml(echoPort, ['/echo', '/v2']));
  const secondHash = await inSync(admin, gateways.map(statusOf), 2, firstHash);
  for (const gateway of gateways) {
    const hit = await get(`${gateway}/v2/orders`);
    detail(`${gateway}/v2/orders → ${hit.status} ${hit.body}`);
    expect(hit.status === 200, 'the new route works on every gateway');
  }
  detail(`both gateways picked up config ${secondHash.slice(0, 8)}`);
  const after = await counters(admin);
  const deltas = after.deltasSent - before.deltasSent;
  const deltaBytes = (after.deltaBytesSent - before.deltaBytesSent) / Math.max(deltas, 1);
  const wholeBytes = before.wholeConfigBytesSent / Math.max(before.wholeConfigsSent, 1);
  detail(
    `the change travelled as ${deltas} deltas of ${deltaBytes.toFixed(0)} bytes each; the whole config is ${wholeBytes.toFixed(0)} bytes`,
  );
  expect(deltas === 2 && deltaBytes < wholeBytes / 4, 'a small change travels as a small delta');

  say("A Kong-protocol Data Plane joins the same CP: gw-3 speaks Kong's sync v1 over wss");
  start([...gatewayArgs('gw-3', 'wss', gw3Port, wssPort), '--protocol', 'kong']);
  const gw3Url = `http://127.0.0.1:${gw3Port}`;
  const all = [...gateways, gw3Url];
  const kongHash = await inSync(admin, all.map(statusOf), 3);
  expect(kongHash === secondHash, 'gw-3 serves the config the planesync gateways serve');
  const kongHit = await get(`${gw3Url}/v2/orders`);
  detail(`${gw3Url}/v2/orders → ${kongHit.status} ${kongHit.body}`);
  expect(kongHit.status === 200, 'gw-3 routes by the config it was pushed');
  detail(
    `gw-3 joined over Kong's sync v1 (/v1/outlet): basic_info, a gzip reconfigure, pings carrying its hash —`,
  );
  detail(
    `it serves config ${kongHash.slice(0, 8)}, the hash gw-1 and gw-2 serve over planesync/3, from the one CP`,
  );

  say('Stopping the Control Plane: the gateways keep serving');
  await stop(controlPlane);
  for (const gateway of all) {
    const hit = await get(`${gateway}/echo/still-here`);
    detail(`${gateway}/echo/still-here → ${hit.status} (CP down)`);
    expect(hit.status === 200, 'a gateway keeps proxying while the CP is down');
  }

  say('Restarting gw-1 while the CP is down: it starts from its dbless.lmdb cache');
  await stop(gateway1);
  gateway1 = start(gatewayArgs('gw-1', 'wss', gw1Port, wssPort));
  await waitFor(
    'gw-1 to serve again',
    async () => (await get(`${statusOf(gateways[0]!)}/status/ready`)).status === 200,
  );
  const ready = await gatewayStatus(statusOf(gateways[0]!));
  detail(`gw-1 ready: config ${ready.hash.slice(0, 8)} from ${ready.source}`);
  expect(
    ready.source === 'cache' && ready.hash === secondHash,
    'gw-1 serves the cached config without a CP',
  );
  expect(
    (await get(`${gateways[0]}/v2/after-restart`)).status === 200,
    'gw-1 proxies from its cache',
  );

  say('Starting the Control Plane again: the gateways reconnect after 5–10 s and resync');
  controlPlane = start(cpArgs);
  const reconnectStarted = Date.now();
  const resynced = await inSync(admin, all.map(statusOf), 3);
  detail(
    `all three gateways reconnected and in sync after ${((Date.now() - reconnectStarted) / 1000).toFixed(1)} s`,
  );
  detail(
    `the restarted CP numbers its versions afresh (version 1), but a version is only a counter:`,
  );
  detail(
    `what CP and DPs compare is the config hash — ${resynced.slice(0, 8)} on both sides — so gw-1 and gw-2 were sent nothing;`,
  );
  detail(
    `gw-3 was sent a reconfigure all the same, as Kong's CP sends one on every connect, and serves the same hash`,
  );

  say('Sending more traffic and reading the CP analytics');
  for (let i = 0; i < 20; i++) await get(`${gateways[i % 2]}/echo/item/${i}`);
  for (let i = 0; i < 5; i++) await get(`${gw3Url}/echo/kong/${i}`);
  await waitFor('telemetry', async () => {
    const summary = JSON.parse((await get(`${admin}/analytics`)).body) as {
      billing: { apiCalls: number };
    };
    return summary.billing.apiCalls >= 20;
  });
  const summary = JSON.parse((await get(`${admin}/analytics`)).body) as {
    total: {
      requests: number;
      statusClasses: Record<string, number>;
      latencyMs: { p50: number; p95: number };
    };
    services: Record<string, { requests: number }>;
    billing: { services: number; apiCalls: number };
  };
  detail(
    `API calls since the CP restarted: ${summary.billing.apiCalls} (status classes ${JSON.stringify(summary.total.statusClasses)})`,
  );
  detail(`the 5 requests through gw-3 are not among them: Kong's sync v1 carries no analytics`);
  detail(
    `latency p50 ${summary.total.latencyMs.p50.toFixed(1)} ms, p95 ${summary.total.latencyMs.p95.toFixed(1)} ms; services in config: ${summary.billing.services}`,
  );

  say("What an operator sees: the CP's status page, Kong's admin endpoint and Prometheus metrics");
  const status = JSON.parse((await get(`${admin}/planesync/status`)).body) as {
    dataPlanes: Array<{ hostname: string; syncStatus: string; protocol: string }>;
  };
  detail(
    `${admin}/ lists ${status.dataPlanes
      .map((d) => `${d.hostname} ${d.syncStatus} ${d.protocol}`)
      .sort()
      .join(', ')}`,
  );
  const planes = JSON.parse((await get(`${admin}/clustering/data-planes`)).body) as {
    data: Array<{ hostname: string; ttl: number }>;
    next: string | null;
  };
  detail(
    `GET /clustering/data-planes, in Kong's shape: ${planes.data.length} data planes, each kept ${Math.round(planes.data[0]!.ttl / 86_400)} days after it was last seen (ttl), next ${planes.next}`,
  );
  const metrics = (await get(`${admin}/metrics`)).body.split('\n');
  const sample = (name: string) => metrics.filter((line) => line.startsWith(name));
  detail(
    `GET /metrics: ${sample('kong_data_plane_last_seen{').length} kong_data_plane_last_seen series; ${sample('planesync_config_frames_sent_total').join(', ')}`,
  );
  const gw1Metrics = (await get(`${statusOf(gateways[0]!)}/metrics`)).body.split('\n');
  detail(
    `gw-1's status listener: ${gw1Metrics.filter((line) => /^kong_(control_plane_connected|data_plane_cluster_cert_expiry_timestamp) /.test(line)).join(', ')}`,
  );

  if (keepServing) {
    detail(`serving: the status page at ${admin}/ and the gateways at ${all.join(', ')}`);
    detail('Ctrl-C to stop');
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
  }

  say('Cleaning up');
  await Promise.all([...children].map(stop));
  echo.close();
  if (keepCache) {
    detail(`kept ${workdir}; try:`);
    detail(`  pnpm exec planesync cache inspect ${file('gw-1-prefix')}`);
    detail(`  pnpm exec planesync cert inspect ${file('gw-1.crt')}`);
  } else {
    await rm(workdir, { recursive: true, force: true });
    detail('removed the demo files (run with --keep-cache to keep the gateways’ caches)');
  }
  detail(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

function configYaml(echoPort: number, paths: string[]): string {
  const routes = paths
    .map((path) => `      - name: route${path.replace(/\//g, '-')}\n        paths: [${path}]`)
    .join('\n');
  // Other teams' services, so that a change to one route is small beside the whole config.
  const others = Array.from(
    { length: 200 },
    (_, i) =>
      `  - name: team-${i}\n    url: http://team-${i}.internal:8080/v${i % 7}\n    tags: [team-${i}]`,
  ).join('\n');
  return `_format_version: "3.0"\nservices:\n  - name: echo\n    url: http://127.0.0.1:${echoPort}\n    routes:\n${routes}\n${others}\n`;
}

/** The CP's counters of configs and deltas sent. */
async function counters(admin: string) {
  return JSON.parse((await get(`${admin}/counters`)).body) as {
    deltasSent: number;
    deltaBytesSent: number;
    wholeConfigsSent: number;
    wholeConfigBytesSent: number;
  };
}

/** What a gateway's status listener says it serves, and where that config came from. */
async function gatewayStatus(status: string): Promise<{ hash: string; source: string }> {
  const body = JSON.parse((await get(`${status}/planesync/status`)).body) as {
    status: { hash: string; source: string };
  };
  return body.status;
}

/**
 * The hash every gateway (by its status listener) and the CP agree on, once `count` DPs are
 * connected and in sync.
 */
async function inSync(
  admin: string,
  statuses: string[],
  count: number,
  previous?: string,
): Promise<string> {
  let hash = '';
  await waitFor('the data planes to sync', async () => {
    const planes = await get(`${admin}/planesync/status`);
    if (planes.status !== 200) return false; // the CP is still starting
    const { dataPlanes } = JSON.parse(planes.body) as {
      dataPlanes: Array<{ connected: boolean; configHash: string }>;
    };
    const live = dataPlanes.filter((d) => d.connected);
    if (live.length < count) return false;
    const hashes = new Set(live.map((d) => d.configHash));
    for (const status of statuses) {
      const ready = await get(`${status}/status/ready`);
      if (ready.status !== 200) return false;
      hashes.add((await gatewayStatus(status)).hash);
    }
    hash = [...hashes][0]!;
    return hashes.size === 1 && hash !== previous;
  });
  return hash;
}

function start(args: string[]): ChildProcess {
  const child = spawn(
    process.execPath,
    ['--conditions=@planesync/source', '--import', 'tsx', ...args],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.add(child);
  child.once('exit', () => children.delete(child));
  const relay = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n'))
      if (line.trim()) process.stdout.write(`      │ ${line}\n`);
  };
  child.stdout?.on('data', relay);
  child.stderr?.on('data', relay);
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, async () => {
      const server = createNetServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return server;
    }),
  );
  const ports = servers.map((server) => (server.address() as AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: 2_000 }, (res) => {
      let body = '';
      res.on('data', (chunk) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.end();
  });
}

/** Polls `check` every 100 ms for at most 20 s. */
async function waitFor(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function expect(condition: boolean, what: string): void {
  if (!condition) throw new Error(`expected: ${what}`);
}

main().then(
  () => process.exit(0),
  async (error: unknown) => {
    process.stderr.write(`\ndemo failed: ${(error as Error).message}\n`);
    for (const child of children) child.kill('SIGKILL');
    if (workdir) await rm(workdir, { recursive: true, force: true });
    process.exit(1);
  },
);
