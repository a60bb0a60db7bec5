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
   * Something went wrong that no call is waiting for (a DP's link failed, a listener threw);
   * the CP goes on. `context` says where.
   */
  error: (error: PlanesyncError, context: ErrorContext) => void;
}
