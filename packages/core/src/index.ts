/**
 * `@planesync/core`: the Control Plane / Data Plane link of a hybrid-mode gateway — contracts
 * for transports and stores, the in-memory adapters, time and errors.
 *
 * @module
 */

export {
  AnalyticsAggregator,
  type AnalyticsAggregatorOptions,
  type AnalyticsSummary,
  OTHER_KEY,
  type TrafficStats,
} from './analytics/aggregator.ts';
export { LatencyHistogram } from './analytics/latency-histogram.ts';
export type { RequestRecord } from './analytics/request-record.ts';
export { RingBuffer } from './analytics/ring-buffer.ts';
export type { AnalyticsOptions, AnalyticsState } from './analytics/telemetry-queue.ts';
export { type Clock, delay, systemClock, type TimerId } from './clock.ts';
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
export { LatestSlot } from './config/latest-slot.ts';
export {
  type ConfigLimits,
  checkEntityCount,
  DEFAULT_CONFIG_LIMITS,
  resolveLimits,
} from './config/limits.ts';
export {
  loadDeclarativeConfig,
  type ParseConfigOptions,
  parseDeclarativeConfig,
} from './config/parse.ts';
export {
  ConfigPublisher,
  type PublishedConfig,
  type PublishResult,
} from './config/publisher.ts';
export {
  CONFIG_SOURCES,
  type ConfigHashes,
  type ConfigSnapshot,
  type ConfigSource,
} from './config/snapshot.ts';
export {
  CONFIG_VERSION_TRANSITIONS,
  ConfigCandidate,
  type ConfigVersionState,
  DATA_PLANE_CONFIG_TRANSITIONS,
  DataPlaneConfigMachine,
  type DataPlaneConfigState,
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
  type DataPlaneStatus,
} from './control-plane/control-plane.ts';
export {
  type ConnectionState,
  DataPlane,
  type DataPlaneEvents,
  type DataPlaneOptions,
  type DataPlaneState,
} from './data-plane/data-plane.ts';
export {
  AbortedError,
  CapacityExceededError,
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
  StoreCorruptError,
  StoreDecryptFailedError,
  StoreLockedError,
  StoreWriteFailedError,
  TransportFailedError,
  type TrustCode,
  TrustError,
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
  logSafely,
  silentLogger,
} from './host/logger.ts';
export {
  assembleConfigFrame,
  decodeFrame,
  encodeCompressed,
  encodeConfigFrame,
  encodeMessage,
  inflateJson,
} from './protocol/codec.ts';
export {
  configuredPlugins,
  type PluginVersion,
  pluginCompatibility,
  versionsCompatible,
} from './protocol/compatibility.ts';
export {
  type ConfigFrame,
  type ConfigHeader,
  LABEL_LIMITS,
  type License,
  labelProblem,
  MAX_HELLO_BYTES,
  type Message,
  type MessageBodies,
  type MessageName,
  MessageType,
  NACK_LIMITS,
  nackProblems,
  PROTOCOL_VERSION,
  pickProtocol,
  SUPPORTED_PROTOCOLS,
  SYNC_STATUSES,
  type SyncStatus,
  type TelemetryBatch,
} from './protocol/messages.ts';
export { type PlanesyncProtocolOptions, planesyncProtocol } from './protocol/planesync.ts';
export {
  type ConfigOffer,
  type ConfigRefusal,
  type ConfigReport,
  type ControlPlaneLink,
  type ControlPlaneMessage,
  type DataPlaneIdentity,
  type DataPlaneLink,
  type DataPlaneMessage,
  type EncodedConfig,
  type Identification,
  missingFeatures,
  type PendingEncoding,
  type WireProtocol,
} from './protocol/wire-protocol.ts';
export type {
  ConfigStore,
  SaveOptions,
  StoreAccess,
  StoredSnapshot,
} from './storage/contract.ts';
export { FileConfigStore, type FileConfigStoreOptions, fileStore } from './storage/file-store.ts';
export { MemoryConfigStore, memoryStore } from './storage/memory-store.ts';
export { assertNodeId } from './storage/node-id.ts';
export {
  fromStoredRecord,
  serializeStoredRecord,
  toStoredRecord,
} from './storage/stored-snapshot.ts';
export { acquireWriterLock, type WriterLock } from './storage/writer-lock.ts';
export { hostOfAddress } from './transport/address.ts';
export {
  ConnectionBase,
  type ConnectionInit,
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
  FRAMES_ONLY,
  type ListenInfo,
  type ListenOptions,
  type PeerInfo,
  type Route,
  type TransportClient,
  type TransportFeatures,
  type TransportServer,
} from './transport/contract.ts';
export {
  CONTROL_BACKLOG,
  ControlFrameInbox,
  checkControlFrame,
  MAX_CONTROL_PAYLOAD_BYTES,
} from './transport/control-frames.ts';
export {
  checkConnectOptions,
  checkRequestPath,
  checkRoutes,
  checkSubprotocol,
  dialRequestQuery,
  queryRecord,
} from './transport/dial-request.ts';
export {
  type MemoryClientOptions,
  type MemoryTransport,
  type MemoryTransportOptions,
  type MemoryTransportServer,
  memoryTransport,
} from './transport/memory-transport.ts';
export { altNameProblem, ipVersion } from './trust/alt-names.ts';
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
