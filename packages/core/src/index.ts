/**
 * `@planesync/core`: the Control Plane / Data Plane link of a hybrid-mode gateway, for the
 * application that runs one — ControlPlane, DataPlane, trust and certificates, Kong's config
 * format and hash, the in-memory transport and stores, time, logging and errors. Adapter
 * authors have their own entry points: `@planesync/core/transport`, `/storage`, `/protocol`,
 * and `/testing` for the conformance suites and test helpers. What 0.1.0 exported from here
 * for them still works, marked `@deprecated`, until 0.3.
 *
 * @module
 */

export {
  AnalyticsAggregator,
  type AnalyticsAggregatorOptions,
  type AnalyticsCounts,
  type AnalyticsSummary,
  OTHER_KEY,
  type TrafficCounts,
  type TrafficPoint,
  type TrafficStats,
} from './analytics/aggregator.ts';
export {
  /** @deprecated since 0.2: the aggregator's histogram, internal from 0.3. */
  LatencyHistogram,
} from './analytics/latency-histogram.ts';
export type { RequestRecord } from './analytics/request-record.ts';
export {
  /** @deprecated since 0.2: the DataPlane's analytics buffer, internal from 0.3. */
  RingBuffer,
} from './analytics/ring-buffer.ts';
export type { AnalyticsOptions, AnalyticsState } from './analytics/telemetry-queue.ts';
export { type Clock, delay, systemClock, type TimerId } from './clock.ts';
export type {
  AnalyticsInterval,
  AnalyticsIntervalKey,
  ClusterState,
  PublishOptions,
  PublishOutcome,
  SharedAnalytics,
  SharedDataPlaneStatus,
  SharedDataPlanes,
  SharedVersion,
  StateHealth,
  VersionCandidate,
} from './cluster/contract.ts';
export {
  compareKeys as compareAnalyticsKeys,
  MemoryClusterState,
  type MemoryClusterStateOptions,
  memoryClusterState,
} from './cluster/memory-state.ts';
export type { ConfigChange } from './config/change.ts';
export { DECLARATIVE_ENTITY_TYPES } from './config/declarative-collections.ts';
export {
  type DeclarativeConfig,
  type DeclarativeConfigSchema,
  declarativeConfigSchema,
} from './config/declarative-schema.ts';
export {
  type ConfigHash,
  EMPTY_CONFIG_HASH,
  type HashOptions,
  hashConfig,
  type ValueHash,
} from './config/hash.ts';
export {
  /** @deprecated since 0.2: the CP's and DP's "only the newest" slot, internal from 0.3. */
  LatestSlot,
  /** @deprecated since 0.2: what a LatestSlot delivers to, internal from 0.3. */
  type SlotHandler,
} from './config/latest-slot.ts';
export { type ConfigLimits, DEFAULT_CONFIG_LIMITS } from './config/limits.ts';
export {
  loadDeclarativeConfig,
  type ParseConfigOptions,
  parseDeclarativeConfig,
} from './config/parse.ts';
export type { PublishedConfig } from './config/publisher.ts';
export {
  /** @deprecated since 0.2: the ControlPlane's own machinery (`cp.setConfig`), internal from 0.3. */
  ConfigPublisher,
  /** @deprecated since 0.2: the ControlPlane's own machinery, internal from 0.3. */
  type PublishResult,
} from './config/publisher.ts';
export {
  CONFIG_SOURCES,
  type ConfigHashes,
  type ConfigSnapshot,
  type ConfigSource,
} from './config/snapshot.ts';
export {
  /** @deprecated since 0.2: the DataPlane's own machinery, internal from 0.3. */
  CONFIG_VERSION_TRANSITIONS,
  /** @deprecated since 0.2: the DataPlane's own machinery, internal from 0.3. */
  ConfigCandidate,
  /** @deprecated since 0.2: the DataPlane's own machinery, internal from 0.3. */
  type ConfigVersionState,
  /** @deprecated since 0.2: the DataPlane's own machinery, internal from 0.3. */
  DATA_PLANE_CONFIG_TRANSITIONS,
  /** @deprecated since 0.2: the DataPlane's own machinery, internal from 0.3. */
  DataPlaneConfigMachine,
  /** @deprecated since 0.2: the DataPlane's own machinery, internal from 0.3. */
  type DataPlaneConfigState,
  /** @deprecated since 0.2: the DataPlane's own machinery, internal from 0.3. */
  type IgnoredBecause,
} from './config/state-machine.ts';
export {
  type ConfigIssue,
  type ConfigSchema,
  formatPath,
  validateConfig,
} from './config/validate.ts';
export {
  type AnalyticsEvent,
  ControlPlane,
  type ControlPlaneCounters,
  type ControlPlaneEvents,
  type ControlPlaneOptions,
  type ControlPlaneStateHealth,
  type DataPlaneStatus,
} from './control-plane/control-plane.ts';
export type { HistogramData } from './control-plane/histogram.ts';
export {
  type ConnectionState,
  DataPlane,
  type DataPlaneCounters,
  type DataPlaneEvents,
  type DataPlaneOptions,
  type DataPlaneState,
} from './data-plane/data-plane.ts';
export {
  AbortedError,
  CapacityExceededError,
  ConfigDeltaInvalidError,
  ConfigHashMismatchError,
  ConfigInvalidError,
  type ConfigProblem,
  ConnectionClosedError,
  ErrorCode,
  type ErrorContext,
  HeartbeatTimeoutError,
  InternalError,
  InvalidArgumentError,
  NodeIdInUseError,
  PayloadTooLargeError,
  PeerRefusedError,
  PlanesyncError,
  type PlanesyncErrorOptions,
  ProtocolViolationError,
  ProxyRefusedError,
  StateError,
  StateUnavailableError,
  StoreCorruptError,
  StoreDecryptFailedError,
  StoreLockedError,
  StoreWriteFailedError,
  TransportFailedError,
  type TrustCode,
  TrustError,
  /** @deprecated since 0.2: import it from `@planesync/core/transport` or `/storage`. */
  throwIfAborted,
  VersionIncompatibleError,
} from './errors.ts';
export { type EventMap, IsolatedEmitter } from './host/isolated-emitter.ts';
export {
  consoleLogger,
  defaultLogger,
  type LogFn,
  type Logger,
  type LogLevel,
  type LogSink,
  silentLogger,
} from './host/logger.ts';
export {
  /** @deprecated since 0.2: import it from `@planesync/core/protocol`. */
  assembleConfigFrame,
  /** @deprecated since 0.2: import it from `@planesync/core/protocol`. */
  decodeFrame,
  /** @deprecated since 0.2: import it from `@planesync/core/protocol`. */
  encodeCompressed,
  /** @deprecated since 0.2: import it from `@planesync/core/protocol`. */
  encodeConfigFrame,
  /** @deprecated since 0.2: import it from `@planesync/core/protocol`. */
  encodeMessage,
  /** @deprecated since 0.2: import it from `@planesync/core/protocol`. */
  inflateJson,
} from './protocol/codec.ts';
export type { PluginVersion } from './protocol/compatibility.ts';
export {
  /** @deprecated since 0.2: import it from `@planesync/core/protocol`. */
  configuredPlugins,
  /** @deprecated since 0.2: import it from `@planesync/core/protocol`. */
  pluginCompatibility,
  /** @deprecated since 0.2: import it from `@planesync/core/protocol`. */
  versionsCompatible,
} from './protocol/compatibility.ts';
export { KONG_PROTOCOL, type KongProtocolOptions, kongProtocol } from './protocol/kong.ts';
export { toKongExport } from './protocol/kong-export.ts';
export {
  /** @deprecated since 0.2: import it from `@planesync/core/protocol`. */
  type ConfigFrame,
  /** @deprecated since 0.2: import it from `@planesync/core/protocol`. */
  type ConfigHeader,
  type License,
  /** @deprecated since 0.2: import it from `@planesync/core/protocol`. */
  type Message,
  /** @deprecated since 0.2: import it from `@planesync/core/protocol`. */
  type MessageName,
  /** @deprecated since 0.2: import it from `@planesync/core/protocol`. */
  MessageType,
  /** @deprecated since 0.2: import it from `@planesync/core/protocol`. */
  PROTOCOL_VERSION,
  SYNC_STATUSES,
  type SyncStatus,
  type TelemetryBatch,
  type TelemetryRecord,
} from './protocol/messages.ts';
export { type PlanesyncProtocolOptions, planesyncProtocol } from './protocol/planesync.ts';
export type { WireProtocol } from './protocol/wire-protocol.ts';
export type {
  ConfigStore,
  SaveOptions,
  StoreAccess,
  StoredSnapshot,
} from './storage/contract.ts';
export { FileConfigStore, type FileConfigStoreOptions, fileStore } from './storage/file-store.ts';
export { MemoryConfigStore, memoryStore } from './storage/memory-store.ts';
export {
  /** @deprecated since 0.2: import it from `@planesync/core/storage`. */
  assertNodeId,
} from './storage/node-id.ts';
export {
  /** @deprecated since 0.2: import it from `@planesync/core/storage`. */
  fromStoredRecord,
  /** @deprecated since 0.2: import it from `@planesync/core/storage`. */
  serializeStoredRecord,
  /** @deprecated since 0.2: import it from `@planesync/core/storage`. */
  toStoredRecord,
} from './storage/stored-snapshot.ts';
export {
  /** @deprecated since 0.2: import it from `@planesync/core/transport`. */
  ConnectionBase,
  /** @deprecated since 0.2: import it from `@planesync/core/transport`. */
  type ConnectionInit,
  /** @deprecated since 0.2: import it from `@planesync/core/transport`. */
  DEFAULT_MAX_PAYLOAD_BYTES,
} from './transport/connection-base.ts';
export {
  type AbortOptions,
  type Admission,
  CloseCode,
  type CloseInfo,
  type Connection,
  type ConnectionHandler,
  type ConnectionRequest,
  type ConnectOptions,
  type ControlFrame,
  type DialRequest,
  type ListenInfo,
  type ListenOptions,
  type PeerInfo,
  type Route,
  type TransportClient,
  type TransportFeatures,
  type TransportIdentity,
  type TransportServer,
} from './transport/contract.ts';
export {
  type FailoverClient,
  type FailoverClientOptions,
  failoverClient,
} from './transport/failover-client.ts';
export {
  type MemoryClientOptions,
  type MemoryTransport,
  type MemoryTransportOptions,
  type MemoryTransportServer,
  memoryTransport,
} from './transport/memory-transport.ts';
export { altNameProblem } from './trust/alt-names.ts';
export {
  type CertificateInput,
  readCertificates,
  SYSTEM_BUNDLE_PATHS,
} from './trust/certificate-input.ts';
export {
  type CertificateKeyPair,
  createCertificateAuthority,
  generateClusterCertificate,
  issueCertificate,
} from './trust/certificate-tools.ts';
export { type CertificateData, decodePemCertificates, toDerChain } from './trust/pem.ts';
export {
  type TrustFailure,
  type TrustOptions,
  type TrustResult,
  type TrustSuccess,
  TrustVerifier,
  type VerifyOptions,
} from './trust/verifier.ts';
