/**
 * Several CPs on one PostgreSQL (issue 21): how long a change published on CP A takes to be
 * applied by a DP connected to CP B (NOTIFY, B reads and checks the version, encodes it and
 * pushes it), against the same change reaching a DP connected to CP A itself. Both CPs
 * share one `postgresClusterState`, push at once (`pushIntervalMs: 0`, so the push window is
 * left out), and the DPs are real DataPlanes over the memory transport; only PostgreSQL is
 * on the network (loopback). Needs `PLANESYNC_TEST_POSTGRES` (or `PLANESYNC_BENCH_POSTGRES`):
 * a connection string whose user may create a database; without one it says so and skips.
 */
import { postgresClusterState } from '@planesync/cluster-postgres';
import {
  ControlPlane,
  DataPlane,
  generateClusterCertificate,
  memoryTransport,
  silentLogger,
  TrustVerifier,
} from '@planesync/core';
import { largeConfig } from './fixtures.ts';
import type { BenchResult } from './harness.ts';
import { benchDatabase } from './postgres.ts';

const ENTITIES = 1_000;
const ROUNDS = 15;
const WARMUP = 3;

export async function run(): Promise<BenchResult[]> {
  const database = await benchDatabase('cluster-state');
  if (!database) return [];
  const { url } = database;
  const { certificate } = await generateClusterCertificate();
  const trust = new TrustVerifier({ mode: 'pinned', certificates: [certificate] });
  const states = [0, 1].map(() => postgresClusterState({ connectionString: url.toString() }));
  const planes = [0, 1].map(() => memoryTransport({ certificates: [certificate] }));
  const cps = planes.map(
    (plane, i) =>
      new ControlPlane({
        transport: plane.server,
        trust,
        version: '3.10.0',
        state: states[i]!,
        logger: silentLogger,
        pushIntervalMs: 0,
      }),
  );
  const dps = planes.map(
    (plane) =>
      new DataPlane({
        transport: plane.client({ certificates: [certificate] }),
        trust,
        version: '3.10.0',
        logger: silentLogger,
        // The fixture's plugins: a DP without them is sent no config (plugin_set_incompatible).
        plugins: [
          { name: 'key-auth', version: '3.10.0' },
          { name: 'rate-limiting', version: '3.10.0' },
        ],
      }),
  );
  try {
    for (const cp of cps) await cp.start();
    for (const dp of dps) await dp.start();
    const base = largeConfig(ENTITIES);
    let edit = 0;
    const next = () => {
      edit++;
      const services = [...(base.services as Record<string, unknown>[])];
      services[edit % services.length] = {
        ...services[edit % services.length],
        host: `moved-${edit}.internal`,
      };
      return { ...base, services };
    };
    /** From setConfig on CP A to `dp` serving the new hash. */
    const reach = async (dp: DataPlane) => {
      const start = performance.now();
      const { hash } = await cps[0]!.setConfig(next());
      await dp.waitForConfig({ hash });
      const ms = performance.now() - start;
      // Both DPs on it before the next round.
      await Promise.all(dps.map((one) => one.waitForConfig({ hash })));
      return ms;
    };
    const across: number[] = [];
    const same: number[] = [];
    for (let round = 0; round < WARMUP + ROUNDS; round++) {
      const b = await reach(dps[1]!);
      const a = await reach(dps[0]!);
      if (round < WARMUP) continue;
      across.push(b);
      same.push(a);
    }
    const median = (values: number[]) => [...values].sort((x, y) => x - y)[values.length >> 1]!;
    const subjectMs = median(across);
    const baselineMs = median(same);
    return [
      {
        name: `a change on CP A reaching a DP of CP B (${ENTITIES} entities, one PostgreSQL)`,
        subject: 'setConfig on A → DP on B applied',
        subjectMs,
        baseline: 'setConfig on A → DP on A applied',
        baselineMs,
        ratio: subjectMs / baselineMs,
        notes: `median of ${ROUNDS} alternating rounds after ${WARMUP} warm-up; the push window left out (pushIntervalMs 0), so the issue's bound is 100 ms for the subject; slowest across ${Math.max(...across).toFixed(1)} ms; PostgreSQL on loopback`,
      },
    ];
  } finally {
    for (const dp of dps) await dp.stop();
    for (const cp of cps) await cp.stop();
    for (const state of states) await state.close();
    await database.drop();
  }
}
