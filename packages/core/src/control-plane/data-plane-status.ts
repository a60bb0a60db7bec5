import type { SyncStatus } from '../protocol/messages.ts';

/** What the CP knows of one DP, like a row of Kong's `clustering_data_planes`. */
export interface DataPlaneStatus {
  id: string;
  hostname: string;
  /** The address the DP connected from, without its port (as Kong's `ip`). */
  ip: string;
  version: string;
  labels: Readonly<Record<string, string>>;
  syncStatus: SyncStatus;
  /** The config hash the DP last reported (hello, ping or ack). */
  configHash: string;
  configVersion: number;
  /**
   * The hash of the config in the DP's cache (what it would serve after a restart), as its
   * last ack or ping said; 32 zeros when nothing is cached, `undefined` when the DP does not
   * say. It differs from `configHash` while the DP cannot save (a full disk, a read-only
   * prefix): the DP serves the config, a restart would not.
   */
  cacheHash: string | undefined;
  /** Last frame received (ms since the epoch). */
  lastSeen: number;
  connected: boolean;
  /** When the DP's certificate chain stops being trusted (ms since the epoch). */
  certExpiresAt: number | undefined;
  /**
   * The SHA-256 of the DP's leaf certificate (DER, lowercase hex): a node id belongs to one
   * certificate while connected, on every CP of a cluster.
   */
  certFingerprint?: string | undefined;
  /**
   * Why the current config is not sent to this DP, when it cannot be: its frame is larger
   * than the DP's release accepts (an older Kong DP's `cluster_max_payload`), or adapting it
   * for the DP's version failed. `undefined` once a config goes out.
   */
  pushError?: string | undefined;
  /**
   * The wire protocol and version the link speaks (`planesync/1`); `undefined` for a DP
   * refused before one was agreed.
   */
  protocol: string | undefined;
  /**
   * The control plane serving the DP (or that served it last), by its `ControlPlane.id` —
   * set where CPs share a cluster state's DP records.
   */
  controlPlaneId?: string | undefined;
}
