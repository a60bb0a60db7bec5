/**
 * `@planesync/core/testing`: the conformance suites every transport and store runs, the fake
 * clock that lets tests step through heartbeats and reconnects without sleeping, a whole
 * cluster in memory, and a fault-injecting client. It imports no test runner: the suites take
 * your runner's `{ describe, it, beforeEach, afterEach }` (vitest, `node:test`, jest, mocha)
 * and assert with `node:assert`; the rest works anywhere.
 *
 * @module
 */

export { createTestCluster, type TestCluster } from './cluster.ts';
export {
  type ClusterStateConformanceOptions,
  type ClusterStateFixture,
  clusterStateConformance,
} from './cluster-state-conformance.ts';
export { FakeClock } from './fake-clock.ts';
export { type Fault, type FrameInfo, faultyClient } from './faulty-transport.ts';
export type { ConformanceSkip } from './skip.ts';
export {
  type ConfigStoreConformanceOptions,
  type ConfigStoreFixture,
  configStoreConformance,
  sampleSnapshot,
} from './store-conformance.ts';
export type { TestApi, TestBody } from './test-api.ts';
export {
  type TransportConformanceOptions,
  type TransportFixture,
  transportConformance,
} from './transport-conformance.ts';
