import type { ErrorContext, PlanesyncError } from '../errors.ts';
import type { TelemetryBatch } from '../protocol/messages.ts';
import type { CloseInfo } from '../transport/contract.ts';
import type { DataPlaneStatus } from './data-plane-status.ts';

/** One analytics batch from a DP, as the CP's `analytics` event hands it over. */
export interface AnalyticsEvent {
  nodeId: string;
  batch: number;
  dropped: number;
  records: TelemetryBatch['records'];
}

/** Whether the CP's cluster state answers, as the CP last found ({@link ControlPlane.stateHealth}). */
export interface ControlPlaneStateHealth {
  /** Whether the state answered the last call, or its last check. */
  readonly available: boolean;
  /** Since when it has (or has not), in ms since the epoch. */
  readonly since: number;
  /**
   * Whether the CP has read the state's latest config since `start()`: until then it serves
   * no config it did not have (DPs keep serving theirs) and tries again every few seconds.
   */
  readonly joined: boolean;
  /** Why it does not answer, while it does not. */
  readonly reason?: string;
}

/** The events a ControlPlane emits. */
export interface ControlPlaneEvents {
  dataPlaneConnected: (status: DataPlaneStatus) => void;
  dataPlaneDisconnected: (status: DataPlaneStatus, close: CloseInfo) => void;
  dataPlaneRejected: (rejection: {
    code: string;
    message: string;
    remoteAddress: string;
    nodeId?: string;
  }) => void;
  configApplied: (event: { nodeId: string; version: number; hash: string }) => void;
  configRejected: (event: {
    nodeId: string;
    version: number;
    hash: string;
    errors: ReadonlyArray<{ path: string; message: string }>;
  }) => void;
  /**
   * A DP's analytics batch arrived (the requests it served, as `dp.recordRequest` recorded
   * them); `records` holds only those not counted before, `dropped` how many the DP's full
   * buffer lost since its last batch.
   */
  analytics: (event: AnalyticsEvent) => void;
  /** @deprecated since 0.2: `analytics`, the same event under the name the rest of the API uses. */
  telemetry: (event: AnalyticsEvent) => void;
  /**
   * The cluster state stopped answering, or answers again, or was read for the first time
   * after a start that found it down (`joined`). Also in the log (warn, then info).
   */
  stateHealth: (health: ControlPlaneStateHealth) => void;
  /**
   * The certificate this CP presents (as its transport reports it on a live link) runs out
   * within `certificateWarningMs`: once per certificate. Renew it and `setIdentity`.
   */
  identityExpiring: (warning: { expiresAt: number }) => void;
  /**
   * A connected DP's certificate chain runs out within `certificateWarningMs` (30 days by
   * default): once per DP and expiry. When it has run out, the link is closed and
   * `dataPlaneRejected` says `TRUST_EXPIRED`.
   */
  certificateExpiring: (warning: {
    nodeId: string;
    hostname: string;
    remoteAddress: string;
    /** When the chain stops being trusted (ms since the epoch): its first certificate to expire. */
    expiresAt: number;
  }) => void;
  /**
   * Something went wrong that no call is waiting for (a DP's link failed, a listener threw);
   * the CP goes on. `context` says where.
   */
  error: (error: PlanesyncError, context: ErrorContext) => void;
}
