/**
 * `@planesync/core/transport`: for transport authors. The contract (also in `.`), the
 * connection base class that implements its rules, and the checks every transport shares —
 * dial requests, routes, control frames — so a new transport passes `transportConformance`
 * from `@planesync/core/testing`. docs/writing-a-transport.md walks through one.
 *
 * @module
 */

export {
  AbortedError,
  ConnectionClosedError,
  InvalidArgumentError,
  PayloadTooLargeError,
  PeerRefusedError,
  PlanesyncError,
  ProxyRefusedError,
  TransportFailedError,
  throwIfAborted,
} from '../errors.ts';
export { defaultLogger, type Logger, logSafely } from '../host/logger.ts';
export { checkIdentity } from '../trust/identity.ts';
export { hostOfAddress } from './address.ts';
export {
  ConnectionBase,
  type ConnectionInit,
  DEFAULT_MAX_PAYLOAD_BYTES,
} from './connection-base.ts';
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
  type TransportIdentity,
  type TransportServer,
} from './contract.ts';
export {
  CONTROL_BACKLOG,
  ControlFrameInbox,
  checkControlFrame,
  MAX_CONTROL_PAYLOAD_BYTES,
} from './control-frames.ts';
export {
  checkConnectOptions,
  checkRequestPath,
  checkRoutes,
  checkSubprotocol,
  dialRequestQuery,
  queryRecord,
} from './dial-request.ts';
