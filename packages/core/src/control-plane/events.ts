import type { PlanesyncError } from '../errors.ts';
import type { TelemetryBatch } from '../protocol/messages.ts';
import type { CloseInfo } from '../transport/contract.ts';
import type { DataPlaneStatus } from './data-plane-status.ts';

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
  /** A telemetry batch arrived; `records` holds only those not counted before. */
  telemetry: (event: {
    nodeId: string;
    batch: number;
    dropped: number;
    records: TelemetryBatch['records'];
  }) => void;
  error: (error: PlanesyncError, context: { nodeId?: string; remoteAddress: string }) => void;
}
