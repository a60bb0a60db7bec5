import { createHash } from 'node:crypto';
import { columnsOf, type RecordColumns, withRecords } from '../analytics/record-columns.ts';
import type { Clock } from '../clock.ts';
import {
  HeartbeatTimeoutError,
  NodeIdInUseError,
  type PlanesyncError,
  VersionIncompatibleError,
} from '../errors.ts';
import { TELEMETRY_SLICE, yieldToEventLoop } from '../host/event-loop.ts';
import { type PluginVersion, versionsCompatible } from '../protocol/compatibility.ts';
import { closeForFailure } from '../protocol/failure.ts';
import type { SyncStatus, TelemetryBatch } from '../protocol/messages.ts';
import type {
  ConfigAdaptation,
  ControlPlaneLink,
  DataPlaneIdentity,
  DataPlaneMessage,
  EncodedConfig,
  WireProtocol,
} from '../protocol/wire-protocol.ts';
import { hostOfAddress } from '../transport/address.ts';
import { CloseCode, type CloseInfo, type Connection } from '../transport/contract.ts';
import { handleFrame } from '../transport/handle-frame.ts';
import type { TrustVerifier } from '../trust/verifier.ts';
import type { DataPlaneFeed, FeedTarget } from './broadcaster.ts';
import type { DataPlaneStatus } from './data-plane-status.ts';
import type { ControlPlaneEvents } from './events.ts';
import type { DataPlaneRegistry } from './registry.ts';
import type { SilenceWatch, Watched } from './silence-watch.ts';

/** What a session needs from its ControlPlane. */
export interface SessionHost {
  clock: Clock;
  controlPlaneVersion: string;
  /** What stands for this CP in the protocols' calls (`scope`). */
  scope: object;
  settings: { heartbeatTimeoutMs: number; maxAnalyticsBatchBytes: number };
  /** The one owner of status records and of which session serves a node id. */
  registry: DataPlaneRegistry<DataPlaneSession>;
  /** Starts feeding this DP configs (the broadcaster paces it). */
  subscribe(target: FeedTarget): DataPlaneFeed;
  syncStatusFor(plugins: readonly PluginVersion[]): SyncStatus;
  /**
   * The node-id rule across the cluster's CPs: `false` when another CP serves this node id
   * under another certificate (a CP sharing no records, or a state that cannot say, `true`).
   */
  claimAcrossCluster(record: DataPlaneStatus): Promise<boolean>;
  /**
   * Counts records `from` to `to` of a telemetry batch's columns (`batch.firstSeq` the number
   * of record `from`); returns the index of the first not seen before (`to` when none).
   */
  telemetry(
    nodeId: string,
    batch: Pick<TelemetryBatch, 'stream' | 'firstSeq' | 'dropped'>,
    columns: RecordColumns,
    from: number,
    to: number,
  ): number;
  emit<E extends keyof ControlPlaneEvents>(
    event: E,
    ...args: Parameters<ControlPlaneEvents[E]>
  ): void;
  /** A session's connection has closed (once per session, whether it ran or not). */
  closed(): void;
  /** Every session's heartbeat deadline, on one timer. */
  silence: SilenceWatch;
}

/**
 * The CP's side of one DP connection, in whatever protocol it speaks: waits for the DP to
 * say who it is, checks compatibility, lets the broadcaster feed it configs, answers
 * heartbeats, counts telemetry, and drops the DP when it falls silent for the heartbeat
 * timeout. What it learns goes to the registry, which owns the status records.
 */
export class DataPlaneSession implements FeedTarget, Watched {
  readonly closed: Promise<CloseInfo>;
  readonly #link: ControlPlaneLink;
  /** The node id, once the DP is identified and accepted. */
  #nodeId: string | undefined;
  #identified = false;
  #plugins: readonly PluginVersion[] = [];
  /** How long this DP may be silent now (the identify deadline, then the heartbeat timeout). */
  #silentFor = 0;
  /** The read loop has ended: nothing more is heard from this DP, whatever arrives late. */
  #ended = false;
  /** Watched: this DP's place in the CP's SilenceWatch (the watch writes these). */
  silenceDeadline = 0;
  silenceQueuedFor = 0;
  silenceSlot = -1;
  #feed: DataPlaneFeed | undefined;
  /** How this DP receives configs, when its protocol adapts them for it (an older Kong). */
  adaptation: ConfigAdaptation | undefined;
  /** Whether the link takes config deltas (planesync/2). */
  #deltas = false;

  constructor(
    private readonly connection: Connection,
    readonly protocol: WireProtocol,
    private readonly certExpiresAt: number,
    private readonly host: SessionHost,
  ) {
    this.closed = connection.closed;
    this.#link = protocol.controlPlane.open(connection, {
      controlPlaneVersion: host.controlPlaneVersion,
      scope: host.scope,
    });
  }

  /** Reads frames until the connection closes. */
  async run(): Promise<void> {
    // Until the DP has said who it is, its protocol's deadline for that applies (Kong's
    // CP waits 5 s for basic_info), else the heartbeat timeout.
    this.#armLiveness(this.protocol.identifyTimeoutMs);
    try {
      // Not `for await`: see handleFrame.
      const frames = this.connection[Symbol.asyncIterator]();
      for (let next = await frames.next(); !next.done; next = await frames.next())
        await handleFrame(frames, next, this, DataPlaneSession.#receive);
    } catch (error) {
      this.#fail(error);
    } finally {
      this.#ended = true;
      this.host.silence.unwatch(this);
      this.#feed?.close();
      const close = await this.connection.closed;
      this.host.closed();
      const ended = this.#nodeId ? this.host.registry.release(this.#nodeId, this) : undefined;
      if (ended) this.host.emit('dataPlaneDisconnected', ended, close);
    }
  }

  /** One frame from the DP: its hello first, then its messages. */
  static readonly #receive = (session: DataPlaneSession, frame: Uint8Array) =>
    session.#receiveFrame(frame);

  async #receiveFrame(frame: Uint8Array): Promise<void> {
    this.#armLiveness();
    if (!this.#identified) {
      this.#identified = true;
      return this.#identify(frame);
    }
    if (!this.#nodeId) return; // refused: the link is closing
    this.#update({ lastSeen: this.host.clock.now() });
    return this.#handle(this.#link.read(frame));
  }

  /** Ends a session that is never run (its DP refused before it was served), once it closes. */
  async abandon(): Promise<void> {
    await this.connection.closed;
    this.host.closed();
  }

  // FeedTarget: what the broadcaster asks of this DP.

  wants(config: EncodedConfig, force: boolean): boolean {
    if (!this.#nodeId) return false;
    const record = this.host.registry.get(this.#nodeId);
    if (!record) return false;
    // The configured plugins change with the config: compatibility is judged again.
    const syncStatus = this.host.syncStatusFor(this.#plugins);
    if (syncStatus !== record.syncStatus) this.#update({ syncStatus });
    // Only the CP's own hash says the DP has this config: a DP reporting the hash a config is
    // served under (Kong's zeros) may have none at all, and is sent it (as Kong's CP would).
    return syncStatus === 'normal' && (force || record.configHash !== config.hash);
  }

  deltaBase(): string | undefined {
    if (!this.#deltas || !this.#nodeId) return undefined;
    return this.host.registry.get(this.#nodeId)?.configHash;
  }

  blocked(error: PlanesyncError | undefined): void {
    if (!this.#nodeId) return;
    const pushError = error ? `${error.code}: ${error.message}` : undefined;
    if (this.host.registry.get(this.#nodeId)?.pushError === pushError) return;
    this.#update({ pushError });
    if (error) this.#report(error);
  }

  send(config: EncodedConfig, signal: AbortSignal): Promise<unknown> {
    // No wrapper, so the count comes when it did; the broadcaster counts only numbers.
    return this.#link.sendConfig(config, { signal });
  }

  failed(error: unknown): void {
    this.#fail(error);
  }

  /** The chain the DP presented (DER, leaf first). */
  get peerCertificates(): readonly Uint8Array[] {
    return this.connection.peerCertificates;
  }

  /** The link, for the CP to close when a recheck refuses the DP. */
  get connectionOf(): Connection {
    return this.connection;
  }

  /** The node id, once the DP is identified and accepted. */
  get nodeId(): string | undefined {
    return this.#nodeId;
  }

  /** The certificate this CP presented on the link (DER), when the transport says. */
  get localLeaf(): Uint8Array | undefined {
    return this.connection.localCertificates?.[0];
  }

  /** Judges the DP's chain again; closes the connection (1008) and describes why when untrusted. */
  recheck(trust: TrustVerifier, at: number) {
    const result = trust.verify([...this.connection.peerCertificates], { role: 'data-plane', at });
    if (result.ok) return undefined;
    void this.connection.close(CloseCode.POLICY_VIOLATION, result.code);
    return {
      code: result.code,
      message: result.message,
      remoteAddress: this.connection.remoteAddress,
      ...(this.#nodeId ? { nodeId: this.#nodeId } : {}),
    };
  }

  /** Another connection from the same node id replaces this one. */
  async replace(): Promise<void> {
    await this.connection.close(
      CloseCode.REPLACED,
      'replaced by a newer connection from the same node',
    );
  }

  /** The SHA-256 of the leaf certificate this DP presented (hex), when it presented one. */
  #fingerprint(): string | undefined {
    const leaf = this.connection.peerCertificates[0];
    return leaf ? createHash('sha256').update(leaf).digest('hex') : undefined;
  }

  /** The leaf certificate this DP presented: a node id belongs to one while connected. */
  sameCertificate(other: DataPlaneSession): boolean {
    const mine = this.connection.peerCertificates[0];
    const theirs = other.connection.peerCertificates[0];
    return mine !== undefined && theirs !== undefined && Buffer.from(mine).equals(theirs);
  }

  async #handle(message: DataPlaneMessage): Promise<void> {
    const nodeId = this.#nodeId!;
    switch (message.type) {
      case 'heartbeat':
      case 'applied': {
        const { hash, cacheHash } = message.report;
        // A protocol without version numbers (Kong's) reports the hash alone.
        const version =
          message.report.version ??
          this.#feed?.versionOf(hash) ??
          this.host.registry.get(nodeId)?.configVersion ??
          0;
        this.#update({ configHash: hash, configVersion: version, cacheHash });
        this.#feed?.answered(hash);
        if (message.type === 'heartbeat') await this.#link.answerHeartbeat();
        else this.host.emit('configApplied', { nodeId, version, hash });
        return;
      }
      case 'refused':
        this.#feed?.refused(message.refusal.hash);
        this.host.emit('configRejected', { nodeId, ...message.refusal });
        return;
      case 'telemetry': {
        const batch = await message.read(this.host.settings.maxAnalyticsBatchBytes);
        const columns = columnsOf(batch);
        const { length } = columns;
        let fresh = length;
        // A batch may hold 100 000 records: counted in slices, the event loop between them.
        for (let from = 0; from < length || from === 0; from += TELEMETRY_SLICE) {
          const to = Math.min(length, from + TELEMETRY_SLICE);
          const first = this.host.telemetry(
            nodeId,
            {
              stream: batch.stream,
              firstSeq: batch.firstSeq + from,
              dropped: from === 0 ? batch.dropped : 0,
            },
            columns,
            from,
            to,
          );
          // Numbers only grow within a batch: once one record is new, those after it are too.
          if (fresh === length && first < to) fresh = first;
          if (to < length) await yieldToEventLoop();
        }
        // The records are made only for a listener that reads them.
        this.host.emit(
          'analytics',
          withRecords({ nodeId, batch: batch.batch, dropped: batch.dropped }, columns, fresh),
        );
        await this.#link.acknowledgeTelemetry(batch.batch);
        return;
      }
    }
  }

  async #identify(frame: Uint8Array): Promise<void> {
    const identification = this.#link.identify(frame);
    const record = this.#record(identification.identity);
    if ('protocol' in identification) {
      record.protocol = identification.protocol;
      this.#deltas = identification.deltas === true;
    }
    if ('refusal' in identification) {
      await this.#refuse(record, identification.refusal);
      return;
    }
    const { identity } = identification;
    if (!versionsCompatible(this.host.controlPlaneVersion, identity.version)) {
      record.syncStatus = 'kong_version_incompatible';
      // Kong keeps a refused DP's row — but never over a DP connected under that id.
      this.host.registry.recordRefused(record);
      await this.#refuse(
        record,
        new VersionIncompatibleError(
          `data plane ${identity.version} cannot be served by control plane ${this.host.controlPlaneVersion}`,
        ),
      );
      return;
    }
    this.#plugins = identity.plugins;
    record.syncStatus = this.host.syncStatusFor(this.#plugins);
    const inUse = () =>
      new NodeIdInUseError(
        `node id ${record.id} is connected under another certificate; this connection is refused and that one kept`,
      );
    // This CP's DPs first (no round trip), then the other CPs', then this CP's again: another
    // connection may have taken the id while the cluster was asked.
    if (!this.host.registry.mayClaim(record.id, this)) {
      await this.#refuse(record, inUse());
      return;
    }
    const unreserve = this.host.registry.reserve(record.id, this);
    let claimed: boolean;
    try {
      claimed = await this.host.claimAcrossCluster(record);
    } finally {
      unreserve();
    }
    if (!claimed) {
      await this.#refuse(
        record,
        new NodeIdInUseError(
          `node id ${record.id} is connected to another control plane under another certificate; this connection is refused and that one kept`,
        ),
      );
      return;
    }
    if (!this.host.registry.claim(record, this)) {
      await this.#refuse(record, inUse());
      return;
    }
    this.#nodeId = record.id;
    this.adaptation = this.protocol.controlPlane.adaptFor?.(identity, {
      controlPlaneVersion: this.host.controlPlaneVersion,
    });
    this.#link.listen?.((message) => {
      // A message outside the frame stream (Kong's ping) is a sign of life as a frame is —
      // unless it comes after the link ended (a protocol's channel may deliver late).
      if (this.#ended) return;
      this.#armLiveness();
      this.#update({ lastSeen: this.host.clock.now() });
      this.#handle(message).catch((error: unknown) => this.#fail(error));
    });
    await this.#link.accept({ syncStatus: record.syncStatus });
    this.host.emit('dataPlaneConnected', { ...record, connected: true });
    this.#feed = this.host.subscribe(this);
    // A DP that does not answer configs says its hash only later (Kong's, in its first
    // ping): it gets the current config at once, as Kong's CP sends one on every connect.
    this.#feed.offer(this.protocol.answersConfigs === false);
  }

  #record(identity: DataPlaneIdentity): DataPlaneStatus {
    return {
      id: identity.nodeId,
      hostname: identity.hostname,
      ip: hostOfAddress(this.connection.remoteAddress),
      version: identity.version,
      // Most DPs have none: one empty record for them all.
      labels: hasAny(identity.labels) ? identity.labels : NO_LABELS,
      syncStatus: 'unknown',
      configHash: identity.configHash,
      configVersion: identity.configVersion,
      cacheHash: identity.cacheHash,
      lastSeen: this.host.clock.now(),
      connected: false,
      certExpiresAt: this.certExpiresAt,
      certFingerprint: this.#fingerprint(),
      protocol: undefined,
    };
  }

  #update(patch: Partial<Omit<DataPlaneStatus, 'id'>>): void {
    if (this.#nodeId) this.host.registry.update(this.#nodeId, this, patch);
  }

  async #refuse(record: DataPlaneStatus, error: PlanesyncError): Promise<void> {
    await this.#link.refuse(error, record.syncStatus);
    this.host.emit('dataPlaneRejected', {
      code: error.code,
      message: error.message,
      remoteAddress: this.connection.remoteAddress,
      nodeId: record.id,
    });
    await this.connection.close(CloseCode.POLICY_VIOLATION, error.code);
  }

  /** Gives the DP `timeoutMs` from now to send its next frame (the CP's one watch keeps it). */
  #armLiveness(timeoutMs = this.host.settings.heartbeatTimeoutMs): void {
    this.#silentFor = timeoutMs;
    this.host.silence.watch(this, this.host.silence.now() + timeoutMs);
  }

  silenceExpired(): void {
    this.#report(new HeartbeatTimeoutError(`no frame for ${this.#silentFor} ms`));
    void this.connection.close(CloseCode.GOING_AWAY, 'heartbeat timeout');
  }

  #fail(error: unknown): void {
    const failure = closeForFailure(this.connection, error);
    if (failure) this.#report(failure);
  }

  #report(error: PlanesyncError): void {
    this.host.emit('error', error, {
      remoteAddress: this.connection.remoteAddress,
      ...(this.#nodeId ? { nodeId: this.#nodeId } : {}),
    });
  }
}

const NO_LABELS: Readonly<Record<string, string>> = Object.freeze({});

function hasAny(record: Readonly<Record<string, string>>): boolean {
  for (const _ in record) return true;
  return false;
}
