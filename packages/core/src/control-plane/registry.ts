import type { Clock } from '../clock.ts';
import type { DataPlaneStatus } from './data-plane-status.ts';

/** What the registry needs of the session serving a node id. */
export interface RegistryHolder {
  /** Whether `other` presented the same leaf certificate. */
  sameCertificate(other: RegistryHolder): boolean;
  /** Another connection from the same node took this one's place. */
  replace(): Promise<void>;
}

/** The facts a DP reports about the config it serves (hello, ack, ping). */
export type ConfigReport = Pick<DataPlaneStatus, 'configHash' | 'configVersion' | 'cacheHash'>;

/**
 * The one owner of the CP's DP status records: sessions report what they learn and the
 * registry writes it (a record is replaced, never edited in place, so a copy handed out
 * stays as it was). It holds which session serves each node id — a node id belongs to one
 * certificate while connected — keeps at most `maxDataPlaneRecords` records, and purges
 * disconnected ones after `dataPlanePurgeDelayMs`.
 */
export class DataPlaneRegistry<H extends RegistryHolder = RegistryHolder> {
  readonly #records = new Map<string, Readonly<DataPlaneStatus>>();
  readonly #holders = new Map<string, H>();
  /** The connections asking the cluster for a node id, by node id ({@link reserve}). */
  readonly #reserved = new Map<string, Set<H>>();
  /** Node ids whose record changed since `takeChanged` was last called (when tracked). */
  readonly #dirty = new Set<string>();
  /** Whether changes are tracked for `takeChanged` (a CP sharing its DP records). */
  trackChanges = false;

  constructor(
    private readonly clock: Clock,
    private readonly settings: { maxDataPlaneRecords: number; dataPlanePurgeDelayMs: number },
    /** Told after every change to a record (sync waiters look again). */
    private readonly changed: () => void = () => undefined,
  ) {}

  /** The record of `nodeId`, as it is now. */
  get(nodeId: string): Readonly<DataPlaneStatus> | undefined {
    return this.#records.get(nodeId);
  }

  /** Every record, as copies (after purging those gone too long). */
  list(): DataPlaneStatus[] {
    this.purge();
    return [...this.#records.values()].map((record) => ({
      ...record,
      labels: { ...record.labels },
    }));
  }

  /** The records of connected DPs. */
  connected(): Array<Readonly<DataPlaneStatus>> {
    return [...this.#records.values()].filter((record) => record.connected);
  }

  /** The session serving `nodeId` now, if one does. */
  holder(nodeId: string): H | undefined {
    return this.#holders.get(nodeId);
  }

  /** The sessions serving a node id now. */
  holders(): IterableIterator<H> {
    return this.#holders.values();
  }

  /** Whether {@link claim} would let `holder` serve `nodeId` now. */
  mayClaim(nodeId: string, holder: H): boolean {
    const previous = this.#holders.get(nodeId);
    if (previous && previous !== holder && !previous.sameCertificate(holder)) return false;
    // A connection still asking the cluster for the id holds it against other certificates.
    for (const other of this.#reserved.get(nodeId) ?? [])
      if (other !== holder && !other.sameCertificate(holder)) return false;
    return true;
  }

  /**
   * Holds `nodeId` for `holder` while it asks the other CPs for it (until the returned
   * function is called): a connection under another certificate meanwhile is refused by
   * {@link mayClaim}, as if `holder` were connected — else both would claim the id across the
   * cluster, and the record the cluster keeps could name the certificate refused here.
   */
  reserve(nodeId: string, holder: H): () => void {
    const reserved = this.#reserved.get(nodeId) ?? new Set<H>();
    this.#reserved.set(nodeId, reserved);
    reserved.add(holder);
    return () => {
      reserved.delete(holder);
      if (reserved.size === 0 && this.#reserved.get(nodeId) === reserved)
        this.#reserved.delete(nodeId);
    };
  }

  /**
   * Makes `holder` the one serving `record.id` and keeps its record (connected): `false` when
   * a connected DP holds the id under another certificate (the newcomer is refused, the
   * holder kept); a holder with the same certificate is replaced, as Kong replaces a
   * reconnecting DP.
   */
  claim(record: DataPlaneStatus, holder: H): boolean {
    if (!this.mayClaim(record.id, holder)) return false;
    const previous = this.#holders.get(record.id);
    this.#holders.set(record.id, holder);
    if (previous && previous !== holder) void previous.replace();
    this.#keep({ ...record, connected: true });
    return true;
  }

  /** Updates the record of the node `holder` serves; ignored once another holds the id. */
  update(nodeId: string, holder: H, patch: Partial<Omit<DataPlaneStatus, 'id'>>): void {
    if (this.#holders.get(nodeId) !== holder) return;
    const record = this.#records.get(nodeId);
    if (!record) return;
    this.#records.set(nodeId, { ...record, ...patch });
    if (this.trackChanges) this.#dirty.add(nodeId);
    // Sync waiters care about what DPs serve, not about each frame's lastSeen.
    if (patch.configHash !== undefined || patch.syncStatus !== undefined) this.changed();
  }

  /**
   * `holder` is gone: its node id is free and its record disconnected (unless a newer
   * session holds the id). Returns the record as it ends.
   */
  release(nodeId: string, holder: H): DataPlaneStatus | undefined {
    if (this.#holders.get(nodeId) !== holder) return undefined;
    this.#holders.delete(nodeId);
    const record = this.#records.get(nodeId);
    if (!record) {
      this.changed();
      return undefined;
    }
    const ended = { ...record, connected: false };
    this.#records.set(nodeId, ended);
    if (this.trackChanges) this.#dirty.add(nodeId);
    this.changed();
    return { ...ended, labels: { ...ended.labels } };
  }

  /** Keeps a refused DP's record, as Kong does — never over a DP connected under that id. */
  recordRefused(record: DataPlaneStatus): void {
    if (this.#holders.has(record.id)) return;
    this.#keep({ ...record, connected: false });
  }

  /** The records that changed since the last call (each once), for the cluster's table. */
  takeChanged(): DataPlaneStatus[] {
    const changed: DataPlaneStatus[] = [];
    for (const id of this.#dirty) {
      const record = this.#records.get(id);
      if (record) changed.push({ ...record, labels: { ...record.labels } });
    }
    this.#dirty.clear();
    return changed;
  }

  /** Marks records as changed again (their write to the cluster failed). */
  retake(records: readonly DataPlaneStatus[]): void {
    for (const record of records) if (this.#records.has(record.id)) this.#dirty.add(record.id);
  }

  /** Forgets disconnected records last seen longer ago than the purge delay. */
  purge(): void {
    const cutoff = this.clock.now() - this.settings.dataPlanePurgeDelayMs;
    for (const [id, record] of this.#records) {
      if (!record.connected && record.lastSeen < cutoff) {
        this.#records.delete(id);
        this.#dirty.delete(id);
      }
    }
  }

  /**
   * Keeps a record; past `maxDataPlaneRecords` the one disconnected longest is forgotten
   * (connected DPs are never dropped: their count is the connections').
   */
  #keep(record: DataPlaneStatus): void {
    this.#records.set(record.id, record);
    if (this.trackChanges) this.#dirty.add(record.id);
    while (this.#records.size > this.settings.maxDataPlaneRecords) {
      let oldest: Readonly<DataPlaneStatus> | undefined;
      for (const kept of this.#records.values()) {
        if (!kept.connected && (!oldest || kept.lastSeen < oldest.lastSeen)) oldest = kept;
      }
      if (!oldest) break;
      this.#records.delete(oldest.id);
      this.#dirty.delete(oldest.id);
    }
    this.changed();
  }
}
