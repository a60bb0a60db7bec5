// A control plane in a process of its own, for sigkill.test.ts: a ControlPlane on a real wss
// listener (loopback, a port the OS picks), sharing its versions through PostgreSQL.
//
// Environment: PLANESYNC_CHILD_POSTGRES (the database URL), PLANESYNC_CHILD_ID (the CP's id),
// PLANESYNC_CHILD_CERT and PLANESYNC_CHILD_KEY (the pinned cluster certificate and key, PEM).
// It writes one JSON object a line on stdout: `{"event":"listening","port":N}` once started,
// then its DPs' connects, disconnects and acks, and an answer to each command. It reads one
// command a line on stdin: `{"id":1,"cmd":"setConfig","config":{…}}` (answered with the
// version published) or `{"id":2,"cmd":"status"}` (its counters and current config). It stops
// when its stdin ends, so it never outlives the test that started it.
import { createInterface } from 'node:readline';
import { ControlPlane, consoleLogger, TrustVerifier } from '@planesync/core';
import { wsServer } from '@planesync/transport-ws';
import { postgresClusterState } from '../src/index.ts';

const env = (name: string) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const say = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`);

const cert = env('PLANESYNC_CHILD_CERT');
const transport = wsServer({
  host: '127.0.0.1',
  port: 0,
  tls: { cert, key: env('PLANESYNC_CHILD_KEY') },
});
const state = postgresClusterState({
  connectionString: env('PLANESYNC_CHILD_POSTGRES'),
  checkIntervalMs: 500,
});
const cp = new ControlPlane({
  transport,
  trust: new TrustVerifier({ mode: 'pinned', certificates: [cert] }),
  version: '3.10.0',
  state,
  controlPlaneId: env('PLANESYNC_CHILD_ID'),
  pushIntervalMs: 0,
  logger: consoleLogger({ level: 'error' }),
});
cp.on('dataPlaneConnected', ({ id }) => say({ event: 'dataPlaneConnected', nodeId: id }));
cp.on('dataPlaneDisconnected', ({ id }) => say({ event: 'dataPlaneDisconnected', nodeId: id }));
cp.on('configApplied', ({ nodeId, version, hash }) =>
  say({ event: 'configApplied', nodeId, version, hash }),
);
cp.on('error', (error) => say({ event: 'error', code: error.code, message: error.message }));

await cp.start();
say({ event: 'listening', port: transport.port });

const answer = async (command: { id: number; cmd: string; config?: unknown }) => {
  switch (command.cmd) {
    case 'setConfig': {
      const { version, hash } = await cp.setConfig(command.config);
      return { version, hash };
    }
    case 'status':
      return {
        counters: cp.counters,
        current: cp.currentConfig
          ? { version: cp.currentConfig.version, hash: cp.currentConfig.hash }
          : null,
      };
    default:
      throw new Error(`unknown command ${command.cmd}`);
  }
};

for await (const line of createInterface({ input: process.stdin })) {
  const command = JSON.parse(line) as { id: number; cmd: string; config?: unknown };
  try {
    say({ event: 'answer', id: command.id, ...(await answer(command)) });
  } catch (error) {
    say({ event: 'answer', id: command.id, error: String(error) });
  }
}
await cp.stop();
await state.close();
