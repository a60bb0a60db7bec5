/**
 * `@planesync/core/protocol`: for protocol authors and peers written by hand. The
 * wire-protocol seam (`WireProtocol` and its links, also named in `.`), planesync/1's codec,
 * message types and limits, and the compatibility rules a CP applies whatever the protocol.
 * docs/protocol.md describes the wire and the seam.
 *
 * @module
 */

export {
  applyDelta,
  type ConfigDelta,
  type ConfigFingerprint,
  type DeltaRun,
  diffConfig,
  fingerprintConfig,
} from '../config/delta.ts';
export {
  ConfigDeltaInvalidError,
  ConfigHashMismatchError,
  InternalError,
  NodeIdInUseError,
  PayloadTooLargeError,
  PlanesyncError,
  ProtocolViolationError,
  VersionIncompatibleError,
} from '../errors.ts';
export {
  assembleConfigFrame,
  type CompressOptions,
  compressConfig,
  decodeFrame,
  encodeCompressed,
  encodeConfigFrame,
  encodeMessage,
  inflate,
  inflateJson,
  parseJson,
} from './codec.ts';
export {
  configuredPlugins,
  type PluginVersion,
  pluginCompatibility,
  versionNumber,
  versionsCompatible,
} from './compatibility.ts';
export { MemberMemo } from './config-members.ts';
export {
  isKongEmptyConfig,
  KONG_OUTLET_PATH,
  KONG_PROTOCOL,
  type KongProtocolOptions,
  kongProtocol,
  MAX_BASIC_INFO_BYTES,
} from './kong.ts';
export { kongGeneratedId, toKongExport, uuidV5 } from './kong-export.ts';
export {
  type Ack,
  type ConfigFrame,
  type ConfigHeader,
  type Hello,
  LABEL_LIMITS,
  type License,
  labelProblem,
  MAX_HELLO_BYTES,
  MAX_TELEMETRY_RECORDS,
  type Message,
  type MessageBodies,
  type MessageName,
  MessageType,
  NACK_LIMITS,
  type Nack,
  nackProblems,
  type Ping,
  PROTOCOL_VERSION,
  pickProtocol,
  type Reject,
  SUPPORTED_PROTOCOLS,
  SYNC_STATUSES,
  type SyncStatus,
  type TelemetryBatch,
  type TelemetryRecord,
  type Welcome,
} from './messages.ts';
export { type PlanesyncProtocolOptions, planesyncProtocol } from './planesync.ts';
export {
  type ConfigAdaptation,
  type ConfigOffer,
  type ConfigRead,
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
} from './wire-protocol.ts';
