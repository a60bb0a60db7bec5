/**
 * `@planesync/core/testing`: the conformance suites every transport and store runs, and the
 * fake clock that lets tests step through heartbeats and reconnects without sleeping.
 * vitest is a peer dependency of this entry point only.
 *
 * @module
 */

export { createTestCluster, type TestCluster } from './cluster.ts';
export { FakeClock } from './fake-clock.ts';
export { type Fault, type FrameInfo, faultyClient } from './faulty-transport.ts';
export type { ConformanceSkip } from './skip.ts';
export {
  type ConfigStoreConformanceOptions,
  type ConfigStoreFixture,
  configStoreConformance,
  sampleSnapshot,
} from './store-conformance.ts';
export {
  type TransportConformanceOptions,
  type TransportFixture,
  transportConformance,
} from './transport-conformance.ts';
