import { ControlPlane, type ControlPlaneOptions } from '../control-plane/control-plane.ts';
import { DataPlane, type DataPlaneOptions } from '../data-plane/data-plane.ts';
import { consoleLogger } from '../host/logger.ts';
import { type MemoryTransport, memoryTransport } from '../transport/memory-transport.ts';
import { generateClusterCertificate } from '../trust/certificate-tools.ts';
import { TrustVerifier } from '../trust/verifier.ts';
import { FakeClock } from './fake-clock.ts';

/** A CP and as many DPs as a test adds, over a memory transport, on a fake clock. */
export interface TestCluster {
  clock: FakeClock;
  cp: ControlPlane;
  transport: MemoryTransport;
  /** The shared (pinned) cluster certificate every node presents. */
  certificate: string;
  trust: TrustVerifier;
  /** A new DP wired to the cluster (not started); options override the defaults. */
  dataPlane(options?: Partial<DataPlaneOptions>): DataPlane;
  /** Stops every DP, then the CP. */
  stop(): Promise<void>;
}

/**
 * A complete hybrid cluster in memory for tests: a shared-mode certificate, a started
 * ControlPlane (version 3.10.0), and DataPlanes on demand, all on one `FakeClock`, so a test
 * can step through heartbeats, outages and reconnects in milliseconds. Its nodes log errors
 * only (on stderr); pass a `logger` to change that.
 *
 * @example
 * ```ts
 * import { createTestCluster } from '@planesync/core/testing';
 * const cluster = await createTestCluster();
 * const dp = cluster.dataPlane();
 * await dp.start();
 * const { hash } = await cluster.cp.setConfig({ _format_version: '3.0' });
 * await dp.waitForConfig({ hash });
 * await cluster.stop();
 * ```
 */
export async function createTestCluster(
  options: { clock?: FakeClock; controlPlane?: Partial<ControlPlaneOptions> } = {},
): Promise<TestCluster> {
  const clock = options.clock ?? new FakeClock();
  const { certificate } = await generateClusterCertificate({ clock });
  // A test's nodes say only what went wrong: their routine warnings (a DP retrying, a link
  // closing) are what tests do on purpose.
  const logger = consoleLogger({ level: 'error' });
  const transport = memoryTransport({ clock, certificates: [certificate], logger });
  const trust = new TrustVerifier({ mode: 'pinned', certificates: [certificate], clock });
  const cp = new ControlPlane({
    transport: transport.server,
    trust,
    version: '3.10.0',
    clock,
    logger,
    ...options.controlPlane,
  });
  await cp.start();
  const dataPlanes: DataPlane[] = [];
  return {
    clock,
    cp,
    transport,
    certificate,
    trust,
    dataPlane(overrides = {}) {
      const dp = new DataPlane({
        transport: transport.client({ certificates: [certificate] }),
        trust,
        version: '3.10.0',
        clock,
        logger,
        ...overrides,
      });
      dataPlanes.push(dp);
      return dp;
    },
    async stop() {
      await Promise.all(dataPlanes.map((dp) => dp.stop()));
      await cp.stop();
    },
  };
}
