import { z } from 'zod';
import type { Clock, TimerId } from '../clock.ts';
import { LatestSlot } from '../config/latest-slot.ts';
import type { ConfigHashes } from '../config/snapshot.ts';
import {
  HeartbeatTimeoutError,
  NodeIdInUseError,
  type PlanesyncError,
  ProtocolViolationError,
  VersionIncompatibleError,
} from '../errors.ts';
import { decodeFrame, encodeMessage, inflateJson } from '../protocol/codec.ts';
import { type PluginVersion, versionsCompatible } from '../protocol/compatibility.ts';
import { closeForFailure } from '../protocol/failure.ts';
import {
  type Hello,
  MAX_HELLO_BYTES,
  type Message,
  pickProtocol,
  SUPPORTED_PROTOCOLS,
  type SyncStatus,
  type TelemetryBatch,
  telemetryEnvelopeSchema,
  telemetryRecordSchema,
} from '../protocol/messages.ts';
import { hostOfAddress } from '../transport/address.ts';
import { CloseCode, type CloseInfo, type Connection } from '../transport/contract.ts';
import type { TrustVerifier } from '../trust/verifier.ts';
import type { ControlPlaneEvents, DataPlaneStatus } from './control-plane.ts';

/** Telemetry records checked and counted between two turns of the event loop. */
const TELEMETRY_SLICE = 2_000;
const telemetrySliceSchema = z.array(telemetryRecordSchema);

/** Lets timers and other DPs' frames run before going on. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** One config version, encoded once for every DP. */
export interface EncodedVersion {
  version: number;
  hash: string;
  hashes: ConfigHashes;
  frame: Uint8Array;
}

/** What a session needs from its ControlPlane. */
export interface SessionHost {
  clock: Clock;
  controlPlaneVersion: string;
  settings: { heartbeatTimeoutMs: number; maxInflatedBytes: number; configAckTimeoutMs: number };
  current(): EncodedVersion | undefined;
  syncStatusFor(plugins: readonly PluginVersion[]): SyncStatus;
  /** Counts a telemetry batch; returns the records not seen before. */
  telemetry(nodeId: string, batch: TelemetryBatch): TelemetryBatch['records'];
  /** Keeps a connected DP's status record. */
  record(record: DataPlaneStatus): void;
  /** A connected DP reported the config it serves (hello, ack or ping). */
  reported(): void;
  /** Keeps a refused DP's record, unless a connected DP holds its node id. */
  recordRefused(record: DataPlaneStatus): void;
  /**
   * Makes `session` the one serving `nodeId`: `false` when a connected DP holds the id under
   * another certificate (the newcomer is refused); a holder with the same certificate is
   * replaced, as Kong replaces a reconnecting DP.
   */
  claim(nodeId: string, session: DataPlaneSession): boolean;
  unregister(nodeId: string, session: DataPlaneSession): void;
  emit<E extends keyof ControlPlaneEvents>(
    event: E,
    ...args: Parameters<ControlPlaneEvents[E]>
  ): void;
}

/**
 * The CP's side of one DP connection: waits for the hello, checks compatibility, pushes the
 * latest config through a one-slot mailbox (never a queue), answers pings, and drops the DP
 * when it falls silent for the heartbeat timeout.
 *
 * At most one config frame is in flight: after sending a version the session waits for the
 * DP's answer (ack, nack, or a ping with that hash) before it sends the next, so changes made
 * while a DP is still receiving or applying reach it as one frame — the newest.
 */
export class DataPlaneSession {
  readonly closed: Promise<CloseInfo>;
  #record: DataPlaneStatus | undefined;
  #plugins: readonly PluginVersion[] = [];
  #liveness: TimerId | undefined;
  /** The config frame sent and not yet answered. */
  #inFlight: { hash: string; answered: () => void } | undefined;
  readonly #slot: LatestSlot<{ encoded: EncodedVersion; force: boolean }>;

  constructor(
    private readonly connection: Connection,
    private readonly certExpiresAt: number,
    private readonly host: SessionHost,
  ) {
    this.closed = connection.closed;
    this.#slot = new LatestSlot(
      async ({ encoded, force }, signal) => {
        // The DP may have caught up while this version waited its turn.
        if (!force && this.#record?.configHash === encoded.hash) return;
        const answer = this.#expectAnswer(encoded.hash);
        try {
          await connection.send(encoded.frame, { signal });
        } catch (error) {
          this.#inFlight?.answered();
          throw error;
        }
        // Sent: a newer offer no longer aborts it; it waits for this answer, then goes alone.
        await answer;
      },
      (error) => this.#fail(error),
      // A newer version drops a send still waiting on a full socket: never a queue.
      { supersede: true },
    );
  }

  /** Reads frames until the connection closes. */
  async run(): Promise<void> {
    this.#armLiveness();
    try {
      for await (const frame of this.connection) {
        if (!this.#record && frame.byteLength > MAX_HELLO_BYTES)
          throw new ProtocolViolationError(
            `a first frame of ${frame.byteLength} bytes: a hello is at most ${MAX_HELLO_BYTES}`,
          );
        this.#armLiveness();
        if (this.#record) this.#record.lastSeen = this.host.clock.now();
        await this.#handle(decodeFrame(frame));
      }
    } catch (error) {
      this.#fail(error);
    } finally {
      if (this.#liveness) this.host.clock.clearTimeout(this.#liveness);
      this.#inFlight?.answered();
      this.#slot.close();
      const close = await this.connection.closed;
      if (this.#record) {
        this.#record.connected = false;
        this.host.unregister(this.#record.id, this);
        this.host.emit('dataPlaneDisconnected', { ...this.#record }, close);
      }
    }
  }

  /** A new config version exists: push it if this DP can take it and does not have it. */
  configChanged(encoded: EncodedVersion): void {
    if (!this.#record) return;
    this.#record.syncStatus = this.host.syncStatusFor(this.#plugins);
    if (this.#record.syncStatus === 'normal' && this.#record.configHash !== encoded.hash) {
      this.#slot.offer({ encoded, force: false });
    }
  }

  /** The licence changed: the DP needs the frame even if its config hash is current. */
  offerLicense(encoded: EncodedVersion): void {
    if (this.#record?.syncStatus !== 'normal') return;
    this.#slot.offer({ encoded, force: true });
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
      ...(this.#record ? { nodeId: this.#record.id } : {}),
    };
  }

  /** Another connection from the same node id replaces this one. */
  async replace(): Promise<void> {
    await this.connection.close(
      CloseCode.REPLACED,
      'replaced by a newer connection from the same node',
    );
  }

  async #handle(message: Message): Promise<void> {
    if (!this.#record) {
      if (message.type !== 'hello')
        throw new ProtocolViolationError(`expected hello, got ${message.type}`);
      await this.#hello(message.body);
      return;
    }
    const record = this.#record;
    switch (message.type) {
      case 'ping':
        record.configHash = message.body.hash;
        record.configVersion = message.body.version;
        record.cacheHash = message.body.cacheHash;
        this.#answered(message.body.hash);
        this.host.reported();
        await this.connection.send(encodeMessage('pong', {}));
        return;
      case 'ack':
        record.configHash = message.body.hash;
        record.configVersion = message.body.version;
        record.cacheHash = message.body.cacheHash;
        this.#answered(message.body.hash);
        this.host.reported();
        this.host.emit('configApplied', { nodeId: record.id, ...message.body });
        return;
      case 'nack':
        this.#answered(message.body.hash);
        this.host.emit('configRejected', { nodeId: record.id, ...message.body });
        return;
      case 'telemetry': {
        const batch = await this.#readTelemetry(message.body);
        const records: TelemetryBatch['records'] = [];
        // A batch may hold 100 000 records: counted in slices, the event loop between them.
        for (let from = 0; from < batch.records.length || from === 0; from += TELEMETRY_SLICE) {
          const slice = batch.records.slice(from, from + TELEMETRY_SLICE);
          const fresh = this.host.telemetry(record.id, {
            ...batch,
            firstSeq: batch.firstSeq + from,
            dropped: from === 0 ? batch.dropped : 0,
            records: slice,
          });
          for (const one of fresh) records.push(one);
          if (from + TELEMETRY_SLICE < batch.records.length) await yieldToEventLoop();
        }
        this.host.emit('telemetry', {
          nodeId: record.id,
          batch: batch.batch,
          dropped: batch.dropped,
          records,
        });
        await this.connection.send(encodeMessage('telemetryAck', { batch: batch.batch }));
        return;
      }
      default:
        throw new ProtocolViolationError(`a data plane may not send ${message.type} here`);
    }
  }

  async #hello(hello: Hello): Promise<void> {
    const now = this.host.clock.now();
    const record: DataPlaneStatus = {
      id: hello.nodeId,
      hostname: hello.hostname,
      ip: hostOfAddress(this.connection.remoteAddress),
      version: hello.version,
      labels: hello.labels,
      syncStatus: 'unknown',
      configHash: hello.configHash,
      configVersion: hello.configVersion,
      cacheHash: hello.cacheHash,
      lastSeen: now,
      connected: false,
      certExpiresAt: this.certExpiresAt,
    };
    const offered = hello.protocols ?? [hello.protocol];
    const protocol = pickProtocol(offered);
    if (!protocol) {
      await this.#refuse(
        record,
        new VersionIncompatibleError(
          `this control plane speaks ${SUPPORTED_PROTOCOLS.join(', ')}; the data plane offers ${offered.join(', ')}`,
        ),
      );
      return;
    }
    if (!versionsCompatible(this.host.controlPlaneVersion, hello.version)) {
      record.syncStatus = 'kong_version_incompatible';
      // Kong keeps a refused DP's row — but never over a DP connected under that id.
      this.host.recordRefused(record);
      await this.#refuse(
        record,
        new VersionIncompatibleError(
          `data plane ${hello.version} cannot be served by control plane ${this.host.controlPlaneVersion}`,
        ),
      );
      return;
    }
    if (!this.host.claim(record.id, this)) {
      await this.#refuse(
        record,
        new NodeIdInUseError(
          `node id ${record.id} is connected under another certificate; this connection is refused and that one kept`,
        ),
      );
      return;
    }
    this.#plugins = hello.plugins;
    record.syncStatus = this.host.syncStatusFor(this.#plugins);
    record.connected = true;
    this.#record = record;
    this.host.record(record);
    this.host.reported();
    await this.connection.send(
      encodeMessage('welcome', {
        protocol,
        controlPlaneVersion: this.host.controlPlaneVersion,
        syncStatus: record.syncStatus,
      }),
    );
    this.host.emit('dataPlaneConnected', { ...record });
    const current = this.host.current();
    if (current) this.configChanged(current);
  }

  /** Inflates and checks a telemetry batch, its records in slices that let the loop breathe. */
  async #readTelemetry(body: Uint8Array): Promise<TelemetryBatch> {
    const envelope = telemetryEnvelopeSchema.safeParse(
      await inflateJson(body, this.host.settings.maxInflatedBytes),
    );
    if (!envelope.success)
      throw new ProtocolViolationError('invalid telemetry batch', { cause: envelope.error });
    const raw = envelope.data.records;
    const records: TelemetryBatch['records'] = [];
    for (let from = 0; from < raw.length; from += TELEMETRY_SLICE) {
      const slice = telemetrySliceSchema.safeParse(raw.slice(from, from + TELEMETRY_SLICE));
      if (!slice.success) {
        const index = from + Number(slice.error.issues[0]?.path[0] ?? 0);
        throw new ProtocolViolationError(`invalid telemetry record ${index}`, {
          cause: slice.error,
        });
      }
      for (const one of slice.data) records.push(one);
      if (from + TELEMETRY_SLICE < raw.length) await yieldToEventLoop();
    }
    return { ...envelope.data, records };
  }

  /** The leaf certificate this DP presented: a node id belongs to one while connected. */
  sameCertificate(other: DataPlaneSession): boolean {
    const mine = this.connection.peerCertificates[0];
    const theirs = other.connection.peerCertificates[0];
    return mine !== undefined && theirs !== undefined && Buffer.from(mine).equals(theirs);
  }

  async #refuse(record: DataPlaneStatus, error: PlanesyncError): Promise<void> {
    const reject = {
      code: error.code,
      message: error.message,
      ...(record.syncStatus === 'unknown' ? {} : { syncStatus: record.syncStatus }),
    };
    await this.connection.send(encodeMessage('reject', reject)).catch(() => undefined);
    this.host.emit('dataPlaneRejected', {
      code: error.code,
      message: error.message,
      remoteAddress: this.connection.remoteAddress,
      nodeId: record.id,
    });
    await this.connection.close(CloseCode.POLICY_VIOLATION, error.code);
  }

  /**
   * Resolves when the DP answers the frame carrying `hash`, when the connection ends, or after
   * `configAckTimeoutMs` (a DP that never answers still gets newer versions, one at a time).
   */
  #expectAnswer(hash: string): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.host.clock.setTimeout(
        () => this.#inFlight?.answered(),
        this.host.settings.configAckTimeoutMs,
      );
      this.#inFlight = {
        hash,
        answered: () => {
          this.host.clock.clearTimeout(timer);
          this.#inFlight = undefined;
          resolve();
        },
      };
    });
  }

  #answered(hash: string): void {
    if (this.#inFlight?.hash === hash) this.#inFlight.answered();
  }

  #armLiveness(): void {
    if (this.#liveness) this.host.clock.clearTimeout(this.#liveness);
    this.#liveness = this.host.clock.setTimeout(() => {
      const error = new HeartbeatTimeoutError(
        `no frame for ${this.host.settings.heartbeatTimeoutMs} ms`,
      );
      this.#report(error);
      void this.connection.close(CloseCode.GOING_AWAY, 'heartbeat timeout');
    }, this.host.settings.heartbeatTimeoutMs);
  }

  #fail(error: unknown): void {
    const failure = closeForFailure(this.connection, error);
    if (failure) this.#report(failure);
  }

  #report(error: PlanesyncError): void {
    this.host.emit('error', error, {
      remoteAddress: this.connection.remoteAddress,
      ...(this.#record ? { nodeId: this.#record.id } : {}),
    });
  }
}
