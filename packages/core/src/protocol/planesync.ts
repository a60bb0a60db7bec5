import { constants } from 'node:buffer';
import { z } from 'zod';
import { applyDelta, type ConfigDelta } from '../config/delta.ts';
import {
  ConfigDeltaInvalidError,
  ProtocolViolationError,
  throwIfAborted,
  VersionIncompatibleError,
} from '../errors.ts';
import { TELEMETRY_SLICE, yieldToEventLoop } from '../host/event-loop.ts';
import type { Connection, Route } from '../transport/contract.ts';
import {
  assembleConfigFrame,
  compressConfig,
  decodeFrame,
  encodeCompressed,
  encodeMessage,
  inflate,
  inflateJson,
  parseJson,
} from './codec.ts';
import { type CompressOptions, MemberMemo } from './config-members.ts';
import {
  type ConfigHeader,
  carriesDeltas,
  carriesTelemetryColumns,
  type DeltaHeader,
  type License,
  MAX_HELLO_BYTES,
  nackProblems,
  pickProtocol,
  SUPPORTED_PROTOCOLS,
  type SyncStatus,
  type TelemetryBatch,
  telemetryEnvelopeSchema,
  telemetryRecordSchema,
} from './messages.ts';
import { encodeTelemetryColumns, readTelemetryColumns } from './telemetry-columns.ts';
import type {
  ConfigRefusal,
  ConfigReport,
  ControlPlaneLink,
  ControlPlaneMessage,
  DataPlaneIdentity,
  DataPlaneLink,
  DataPlaneMessage,
  EncodedConfig,
  Identification,
  PendingEncoding,
  WireProtocol,
} from './wire-protocol.ts';
import { zstdAvailable, zstdCompress, zstdDecompress } from './zstd.ts';

/** Options of {@link planesyncProtocol}. */
export interface PlanesyncProtocolOptions {
  /**
   * The path it is served on, for a CP that serves several protocols on one WebSocket
   * listener (each needs its own); the DP dials it too. Default: the transport's own path
   * (a wsClient's URL path, the wsServer's `path`).
   */
  route?: Route;
  /**
   * The versions spoken, newest first; default {@link SUPPORTED_PROTOCOLS}. A DP offers them
   * all in its hello and the CP picks the newest both speak — how a fleet is upgraded one
   * node at a time (and how a test plays a node of another release).
   */
  versions?: readonly string[];
}

/**
 * planesync's own wire protocol (docs/protocol.md): a hello naming the versions the DP
 * speaks, a welcome or a reject, config frames (a small header, then the gzip of the config's
 * JSON) each answered by an ack or a nack, ping/pong heartbeats carrying what the DP serves
 * and caches, and telemetry batches, each acknowledged. Runs over any transport that moves
 * whole binary frames; its dial query names the node, as Kong's does.
 *
 * @example
 * ```ts
 * import { planesyncProtocol } from '@planesync/core';
 * const protocol = planesyncProtocol(); // speaks every version this release knows
 * ```
 */
export function planesyncProtocol(options: PlanesyncProtocolOptions = {}): WireProtocol {
  const versions = [...(options.versions ?? SUPPORTED_PROTOCOLS)];
  if (versions.length === 0) throw new TypeError('planesyncProtocol needs at least one version');
  const route = options.route;
  // One set for each ControlPlane this protocol object serves (by the `scope` it is called
  // with): another CP's versions say nothing of this one's DPs.
  const wanted = new WeakMap<object, ZstdWanted>();
  const unscoped = {}; // a caller that says no scope
  const wantedBy = (scope: object = unscoped): ZstdWanted => {
    const made = wanted.get(scope) ?? { links: new Set() };
    wanted.set(scope, made);
    return made;
  };
  // And one memo of the last version's gzip members: a config given whole again compresses
  // only the members whose JSON changed.
  const memos = new WeakMap<object, MemberMemo>();
  const memoOf = (scope: object = unscoped): MemberMemo => {
    const memo = memos.get(scope) ?? new MemberMemo();
    memos.set(scope, memo);
    return memo;
  };
  return {
    name: 'planesync',
    ...(route ? { route } : {}),
    requires: {},
    controlPlane: {
      encodeConfig: (config, options) => {
        // Each wants one version's zstd made with it: a DP that is then sent nothing (its
        // plugins do not match) costs one zstd, not one for every version after.
        const { links } = wantedBy(options?.scope);
        const eager = links.size > 0;
        links.clear();
        return encodePlanesyncConfig(config, { ...options, memo: memoOf(options?.scope) }, eager);
      },
      encodeDelta: (delta, base) => encodePlanesyncDelta(delta, base),
      open: (connection, context) =>
        new PlanesyncControlPlaneLink(
          connection,
          versions,
          context.controlPlaneVersion,
          wantedBy(context.scope),
        ),
    },
    dataPlane: {
      dial: ({ nodeId, hostname, version }) => ({
        request: {
          ...(route ? { path: route.path } : {}),
          query: [
            ['node_id', nodeId],
            ['node_hostname', hostname],
            ['node_version', version],
          ],
        },
      }),
      open: (connection) => new PlanesyncDataPlaneLink(connection, versions),
    },
  };
}

/**
 * The links of one CP whose DPs read zstd and have not yet been sent a config: the
 * next version goes to them whole, so its zstd is made with it. (After their first, the
 * versions they are sent are mostly deltas, which need no zstd.) The next version's encoding
 * empties the set, whether or not that version is then sent to them.
 */
interface ZstdWanted {
  links: Set<PlanesyncControlPlaneLink>;
}

/**
 * Compression starts at once (in libuv's pool); the header is added when sealed. With `zstd`
 * (a connected DP that reads it waits for its first config), the version's zstd is made before
 * it is sealed, so that the push to that DP goes out with the rest, never after `setConfig`
 * resolved; without, when a DP that reads it is first sent the version whole.
 */
function encodePlanesyncConfig(
  config: unknown,
  options: CompressOptions | undefined,
  zstd: boolean,
): PendingEncoding {
  const compressing = compressConfig(config, options);
  compressing.catch(() => undefined); // a dropped encoding must not be an unhandled rejection
  const zstdMade = zstd && zstdAvailable ? compressing.then(zstdOf) : undefined;
  zstdMade?.catch(() => undefined);
  return {
    async seal(header) {
      const compressed = await compressing;
      await zstdMade?.catch(() => undefined); // none made: those DPs get the gzip frame
      return encoded({ ...header }, compressed);
    },
  };
}

/** A delta frame (planesync/2): the delta's gzip JSON under a header naming its base. */
function encodePlanesyncDelta(delta: ConfigDelta, base: string): PendingEncoding {
  const compressing = compressConfig(delta);
  compressing.catch(() => undefined);
  return {
    async seal(header) {
      return encoded({ ...header, base }, await compressing);
    },
  };
}

function encoded(header: ConfigHeader | DeltaHeader, compressed: Uint8Array): EncodedConfig {
  const { license, ...rest } = header;
  // A delta's header leaves out the per-collection hashes (the DP computes them as it checks
  // the result): for a one-entity change they were more than half the frame.
  const fields =
    'base' in header
      ? { version: header.version, hash: header.hash, base: header.base }
      : { ...rest, hashes: header.hashes! };
  const withLicense = license ? { ...fields, license } : fields;
  const config: EncodedConfig = {
    version: header.version,
    hash: header.hash,
    hashes: header.hashes!,
    ...('base' in header ? { base: header.base } : {}),
    frame: assembleConfigFrame(withLicense, compressed),
    relicense: (next: License | undefined) =>
      encoded(next ? { ...rest, license: next } : rest, compressed),
  };
  if (zstdAvailable && !('base' in header))
    zstdFrames.set(config, new ZstdFrame({ ...withLicense, encoding: 'zstd' }, compressed));
  return config;
}

/**
 * A whole config's zstd frame, made when first asked for (a CP whose DPs read only gzip, Kong's
 * or planesync/1–2, never compresses a config twice; a delta never needs one) and then shared by
 * every DP sent the version. `undefined` when gzip is the smaller, or the zstd could not be made:
 * that DP gets the gzip frame, and the next asks again.
 */
class ZstdFrame {
  #frame: Uint8Array | null | undefined;
  #making: Promise<Uint8Array | undefined> | undefined;

  constructor(
    private readonly header: Parameters<typeof assembleConfigFrame>[0],
    private readonly gzip: Uint8Array,
  ) {
    const zstd = zstdPayloads.get(gzip);
    if (zstd) this.#frame = this.#assemble(zstd);
  }

  /** The frame, at once when it is made. */
  get(): Uint8Array | undefined | Promise<Uint8Array | undefined> {
    if (this.#frame !== undefined) return this.#frame ?? undefined;
    // Made since this frame was (for the same version, before it was licensed again).
    const made = zstdPayloads.get(this.gzip);
    if (made) {
      this.#frame = this.#assemble(made);
      return this.#frame ?? undefined;
    }
    this.#making ??= zstdOf(this.gzip).then(
      (zstd) => {
        this.#frame = this.#assemble(zstd);
        return this.#frame ?? undefined;
      },
      () => {
        this.#making = undefined;
        return undefined;
      },
    );
    return this.#making;
  }

  #assemble(zstd: Uint8Array): Uint8Array | null {
    return zstd.byteLength < this.gzip.byteLength ? assembleConfigFrame(this.header, zstd) : null;
  }
}

/** The zstd frame of each whole config encoded here. */
const zstdFrames = new WeakMap<EncodedConfig, ZstdFrame>();
/** The zstd payload made of each gzip payload (a version sealed again under another number shares it). */
const zstdPayloads = new WeakMap<Uint8Array, Uint8Array>();
/** The zstd payloads being made. */
const zstdMaking = new WeakMap<Uint8Array, Promise<Uint8Array>>();

/** The largest buffer: the CP inflates only payloads it compressed itself. */
const MAX_LENGTH = constants.MAX_LENGTH;

/** The zstd of a gzip payload's JSON: inflated and compressed again, both in libuv's pool. */
function zstdOf(gzipPayload: Uint8Array): Promise<Uint8Array> {
  const made = zstdPayloads.get(gzipPayload);
  if (made) return Promise.resolve(made);
  let making = zstdMaking.get(gzipPayload);
  if (!making) {
    making = inflate(gzipPayload, MAX_LENGTH)
      .then(zstdCompress)
      .then(
        (zstd) => {
          zstdPayloads.set(gzipPayload, zstd);
          return zstd;
        },
        (error: unknown) => {
          zstdMaking.delete(gzipPayload); // the next DP sent the version tries again
          throw error;
        },
      );
    zstdMaking.set(gzipPayload, making);
    making.then(() => zstdMaking.delete(gzipPayload)).catch(() => undefined);
  }
  return making;
}

const telemetrySliceSchema = z.array(telemetryRecordSchema);

/** Inflates and checks a telemetry batch, its records in slices that let the loop breathe. */
async function readTelemetry(body: Uint8Array, maxBytes: number): Promise<TelemetryBatch> {
  const envelope = telemetryEnvelopeSchema.safeParse(await inflateJson(body, maxBytes));
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

class PlanesyncControlPlaneLink implements ControlPlaneLink {
  #protocol: string | undefined;
  /** Whether whole configs go to this DP compressed with zstd (planesync/3, both can). */
  #zstd = false;
  /**
   * A send to this DP was dropped for a newer version while it waited for its zstd: the next
   * whose zstd is not made yet goes out in gzip at once, so that versions coming faster than
   * zstd is made never leave this DP with nothing while gzip readers are served.
   */
  #zstdStarved = false;

  constructor(
    private readonly connection: Connection,
    private readonly versions: readonly string[],
    private readonly controlPlaneVersion: string,
    private readonly zstdWanted: ZstdWanted,
  ) {}

  identify(frame: Uint8Array): Identification {
    if (frame.byteLength > MAX_HELLO_BYTES)
      throw new ProtocolViolationError(
        `a first frame of ${frame.byteLength} bytes: a hello is at most ${MAX_HELLO_BYTES}`,
      );
    const message = decodeFrame(frame);
    if (message.type !== 'hello')
      throw new ProtocolViolationError(`expected hello, got ${message.type}`);
    const { protocol: preferred, protocols, compression, ...identity } = message.body;
    const offered = protocols ?? [preferred];
    const protocol = pickProtocol(offered, this.versions);
    if (!protocol) {
      return {
        identity,
        refusal: new VersionIncompatibleError(
          `this control plane speaks ${this.versions.join(', ')}; the data plane offers ${offered.join(', ')}`,
        ),
      };
    }
    this.#protocol = protocol;
    this.#zstd =
      zstdAvailable && carriesTelemetryColumns(protocol) && compression?.includes('zstd') === true;
    if (this.#zstd) {
      this.zstdWanted.links.add(this);
      const gone = () => this.zstdWanted.links.delete(this);
      this.connection.closed.then(gone, gone);
    }
    return { identity, protocol, deltas: carriesDeltas(protocol) };
  }

  accept({ syncStatus }: { syncStatus: SyncStatus }): Promise<void> {
    return this.connection.send(
      encodeMessage('welcome', {
        protocol: this.#protocol ?? this.versions[0]!,
        controlPlaneVersion: this.controlPlaneVersion,
        syncStatus,
      }),
    );
  }

  async refuse(error: { code: string; message: string }, syncStatus?: SyncStatus): Promise<void> {
    const reject = {
      code: error.code,
      message: error.message,
      ...(syncStatus && syncStatus !== 'unknown' ? { syncStatus } : {}),
    };
    await this.connection.send(encodeMessage('reject', reject)).catch(() => undefined);
  }

  read(frame: Uint8Array): DataPlaneMessage {
    const message = decodeFrame(frame);
    switch (message.type) {
      case 'ack':
        return { type: 'applied', report: message.body };
      case 'nack':
        return { type: 'refused', refusal: message.body };
      case 'ping':
        return { type: 'heartbeat', report: message.body };
      case 'telemetry': {
        const body = message.body;
        return { type: 'telemetry', read: (maxBytes) => readTelemetry(body, maxBytes) };
      }
      case 'telemetryColumns': {
        if (!carriesTelemetryColumns(this.#protocol ?? ''))
          throw new ProtocolViolationError(
            `telemetry as columns on a link speaking ${this.#protocol}, which carries none`,
          );
        const body = message.body;
        return { type: 'telemetry', read: (maxBytes) => readTelemetryColumns(body, maxBytes) };
      }
      default:
        throw new ProtocolViolationError(`a data plane may not send ${message.type} here`);
    }
  }

  answerHeartbeat(): Promise<void> {
    return this.connection.send(encodeMessage('pong', {}));
  }

  acknowledgeTelemetry(batch: number): Promise<void> {
    return this.connection.send(encodeMessage('telemetryAck', { batch }));
  }

  async sendConfig(
    config: EncodedConfig,
    options?: { signal?: AbortSignal },
  ): Promise<number | undefined> {
    // At once when made (a push goes out as it did to gzip readers); else made now, shared —
    // and waited for, unless the last wait was for nothing.
    const made = this.#zstd ? zstdFrames.get(config)?.get() : undefined;
    let zstd: Uint8Array | undefined;
    if (!(made instanceof Promise)) zstd = made;
    else if (!this.#zstdStarved) {
      zstd = await made;
      if (options?.signal?.aborted) this.#zstdStarved = true;
    }
    await this.connection.send(zstd ?? config.frame, options);
    this.#zstdStarved = false;
    this.zstdWanted.links.delete(this);
    return zstd?.byteLength;
  }
}

class PlanesyncDataPlaneLink implements DataPlaneLink {
  /** The version the CP chose, and whether it carries deltas. */
  #protocol: string | undefined;
  #deltas = false;

  constructor(
    private readonly connection: Connection,
    private readonly versions: readonly string[],
  ) {}

  identify(identity: DataPlaneIdentity): Promise<void> {
    return this.connection.send(
      encodeMessage('hello', {
        protocol: this.versions[0]!,
        protocols: [...this.versions],
        ...(zstdAvailable ? { compression: ['zstd'] } : {}),
        ...identity,
      }),
    );
  }

  read(frame: Uint8Array): ControlPlaneMessage {
    const message = decodeFrame(frame);
    switch (message.type) {
      case 'welcome':
        if (!this.versions.includes(message.body.protocol))
          throw new ProtocolViolationError(
            `the control plane chose ${message.body.protocol}, which this data plane did not offer`,
          );
        this.#protocol = message.body.protocol;
        this.#deltas = carriesDeltas(message.body.protocol);
        return { type: 'accepted', ...message.body };
      case 'reject':
        return { type: 'refused', ...message.body };
      case 'config': {
        const { header, payload } = message.body;
        return {
          type: 'config',
          offer: {
            ...header,
            async read(maxBytes, options) {
              if (header.encoding === 'zstd') {
                const json = await zstdDecompress(payload, maxBytes);
                throwIfAborted(options?.signal);
                return { config: parseJson(json, 'config payload'), json, zstd: payload };
              }
              const json = await inflate(payload, maxBytes);
              throwIfAborted(options?.signal);
              return { config: parseJson(json, 'config payload'), json, gzip: payload };
            },
          },
        };
      }
      case 'delta': {
        if (!this.#deltas)
          throw new ProtocolViolationError(
            `a delta on a link speaking ${this.#protocol ?? 'planesync/1'}, which carries none`,
          );
        const { header, payload } = message.body;
        return {
          type: 'config',
          offer: {
            ...header,
            async read(maxBytes, options) {
              const json = await inflate(payload, maxBytes);
              throwIfAborted(options?.signal);
              const base = options?.base;
              if (typeof base !== 'object' || base === null || Array.isArray(base))
                throw new ConfigDeltaInvalidError(
                  `a delta from ${header.base}, and no config to apply it to`,
                );
              const { config, changed, added, dropped } = applyDelta(
                base as Record<string, unknown>,
                parseJson(json, 'delta payload'),
              );
              return { config, changed, delta: json, ...(added ? { added, dropped } : {}) };
            },
          },
        };
      }
      case 'telemetryAck':
        return { type: 'telemetryAcknowledged', batch: message.body.batch };
      case 'pong':
        return { type: 'heartbeatAnswered' };
      default:
        throw new ProtocolViolationError(`a control plane may not send ${message.type}`);
    }
  }

  async applied(report: ConfigReport): Promise<void> {
    await this.connection.send(encodeMessage('ack', numbered(report)));
    await this.heartbeat(report);
  }

  refused(refusal: ConfigRefusal): Promise<void> {
    return this.connection.send(
      encodeMessage('nack', { ...refusal, errors: nackProblems(refusal.errors) }),
    );
  }

  heartbeat(report: ConfigReport): Promise<void> {
    return this.connection.send(encodeMessage('ping', numbered(report)));
  }

  async sendTelemetry(batch: TelemetryBatch): Promise<void> {
    await this.connection.send(
      carriesTelemetryColumns(this.#protocol ?? '')
        ? await encodeTelemetryColumns(batch)
        : await encodeCompressed('telemetry', batch),
    );
  }
}

/** planesync/1 numbers every report (a DP always knows the version it serves). */
function numbered(report: ConfigReport): { version: number; hash: string; cacheHash?: string } {
  const { version = 0, hash, cacheHash } = report;
  return cacheHash === undefined ? { version, hash } : { version, hash, cacheHash };
}
