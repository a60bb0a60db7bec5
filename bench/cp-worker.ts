/**
 * A control plane in a process of its own for the cluster-failover benchmark: a ControlPlane
 * on a real wss listener (loopback, a port the OS picks) sharing its state through
 * PostgreSQL, driven over IPC, so that the benchmark can kill it with SIGKILL as a crash
 * would.
 */

import { monitorEventLoopDelay } from 'node:perf_hooks';
import { postgresClusterState } from '@planesync/cluster-postgres';
import { ControlPlane, consoleLogger, TrustVerifier } from '@planesync/core';
import { wsServer } from '@planesync/transport-ws';

type Command = { id: number } & (
  | { cmd: 'start'; postgres: string; tls: { cert: string; key: string }; name: string }
  | { cmd: 'setConfig'; config: unknown }
  | { cmd: 'status' | 'watch' }
  | { cmd: 'stop' }
);

let cp: ControlPlane | undefined;
/** How late this CP's event loop ran since `watch`. */
const delay = monitorEventLoopDelay({ resolution: 10 });
let close: (() => Promise<void>) | undefined;

async function handle(command: Command): Promise<unknown> {
  switch (command.cmd) {
    case 'start': {
      const transport = wsServer({ host: '127.0.0.1', port: 0, tls: command.tls });
      const state = postgresClusterState({ connectionString: command.postgres });
      cp = new ControlPlane({
        transport,
        trust: new TrustVerifier({ mode: 'pinned', certificates: [command.tls.cert] }),
        version: '3.10.0',
        state,
        controlPlaneId: command.name,
        logger: consoleLogger({ level: 'error' }),
        maxDataPlanes: 10_000,
      });
      await cp.start();
      close = async () => {
        await cp?.stop();
        await state.close();
      };
      return { url: `wss://127.0.0.1:${transport.port}/planesync/v1` };
    }
    case 'setConfig':
      return cp!.setConfig(command.config);
    case 'watch':
      delay.reset();
      delay.enable();
      return {};
    case 'status': {
      const own = cp!.dataPlanes().filter((record) => record.controlPlaneId === cp!.id);
      return {
        connected: own.filter((record) => record.connected).length,
        counters: cp!.counters,
        hash: cp!.currentConfig?.hash,
        maxDelayMs: delay.max / 1e6,
        cpuMs: process.cpuUsage().user / 1000,
      };
    }
    case 'stop':
      await close?.();
      return {};
  }
}

process.on('message', (command: Command) => {
  handle(command).then(
    (result) => process.send!({ id: command.id, result }),
    (error: unknown) => process.send!({ id: command.id, error: String(error) }),
  );
});
process.on('disconnect', () => process.exit(0));
