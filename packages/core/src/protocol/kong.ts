import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { z } from 'zod';
import { type Clock, systemClock } from '../clock.ts';
import { jsonMemberSpan } from '../config/json-scan.ts';
import type { ConfigHashes } from '../config/snapshot.ts';
import { ProtocolViolationError } from '../errors.ts';
import { CloseCode, type Connection, type PeerInfo, type Route } from '../transport/contract.ts';
import { inflate, parseJson } from './codec.ts';
import { versionNumber } from './compatibility.ts';
import { adaptKongConfig, kongAdaptationKey, kongMaxPayloadBytes } from './kong-compat/index.ts';
import { labelProblem } from './messages.ts';
import type {
  ConfigAdaptation,
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

const gzipAsync = promisify(gzip);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The name a link speaking Kong's protocol reports (`DataPlaneStatus.protocol`). */
export const KONG_PROTOCOL = 'kong/sync-v1';

/** Kong's path for sync v1: `wss://<cluster_control_plane>/v1/outlet`. */
export const KONG_OUTLET_PATH = '/v1/outlet';

/** A Kong DP's `basic_info` is small, but carries its whole `process_conf`: at most 1 MiB. */
export const MAX_BASIC_INFO_BYTES = 1024 * 1024;

/** Kong's config hash when a DP has none, sent as its ping payload. */
const NO_CONFIG = '0'.repeat(32);
const HASH = /^[0-9a-f]{32}$/;

const basicInfoSchema = z.object({
  type: z.literal('basic_info'),
  plugins: z.array(z.object({ name: z.string().max(256), version: z.string().max(64) })).max(1024),
  labels: z.record(z.string().max(63), z.string().max(63)).optional(),
});

const reconfigureSchema = z.object({
  type: z.literal('reconfigure'),
  config_table: z.record(z.string(), z.unknown()),
  // Kong's CP always sends it; Kong's DP computes it when it is absent, and so does this one.
  config_hash: z.string().regex(HASH).optional(),
  hashes: z
    .object({
      config: z.string().regex(HASH),
      routes: z.string().regex(HASH),
      services: z.string().regex(HASH),
      plugins: z.string().regex(HASH),
      upstreams: z.string().regex(HASH),
      targets: z.string().regex(HASH),
    })
    .optional(),
});

/** Options of {@link kongProtocol}. */
export interface KongProtocolOptions {
  /** Where a reconfigure message's `timestamp` comes from; default the system clock. */
  clock?: Clock;
}

/**
 * Kong's own hybrid-mode protocol, sync v1 (Kong 3.x OSS), as its `kong/clustering/`
 * speaks it: a WebSocket at `/v1/outlet` whose query names the node (`node_id`,
 * `node_hostname`, `node_version`, concatenated without URL-encoding); the DP's first frame
 * is the JSON `basic_info` (its plugins and labels); the CP sends the gzip of a
 * `reconfigure` message (the config table, its hash and Kong's per-collection hashes) once
 * the DP is in and after every change; the DP sends WebSocket pings whose payload is the
 * hash it serves (32 zeros for none), every 30 s and right after applying a config, and the
 * CP answers each with an empty pong. There is no welcome, no ack and no telemetry: the
 * ping carrying the pushed hash is the answer, and a DP's refusal of a config is only
 * logged on its side, as Kong's is.
 *
 * A DP of an older release gets the config adapted as Kong's CP adapts it (its `compat/`
 * rules, the hash kept), never a frame larger than that release's default
 * `cluster_max_payload`; Kong's empty-config rule holds on both sides. The config is sent as
 * the CP was given it: give a ControlPlane that serves Kong DPs a config in Kong's export
 * shape ({@link toKongExport}).
 *
 * @example
 * ```ts
 * import { ControlPlane, kongProtocol, planesyncProtocol } from '@planesync/core';
 * import type { ControlPlaneOptions } from '@planesync/core';
 * declare const options: ControlPlaneOptions;
 * // planesync DPs and Kong DPs on one listener, each on its path.
 * const cp = new ControlPlane({
 *   ...options,
 *   protocols: [planesyncProtocol({ route: { path: '/planesync/v1' } }), kongProtocol()],
 * });
 * ```
 */
export function kongProtocol(options: KongProtocolOptions = {}): WireProtocol {
  const clock = options.clock ?? systemClock;
  const route: Route = { path: KONG_OUTLET_PATH, pings: 'manual' };
  return {
    name: 'kong',
    route,
    requires: { request: true, controlFrames: true },
    answersConfigs: false,
    identifyTimeoutMs: 5_000,
    controlPlane: {
      admit: admitKongRequest,
      // Kong's nginx answers an untrusted chain with 400 in PKI mode (`ssl_verify_client
      // on`); in pinned mode its Lua check closes without an answer (ngx.exit(444)).
      untrusted: (mode) => (mode === 'pki' ? { status: 400 } : { silent: true }),
      encodeConfig: (config) => encodeReconfigure(config, clock),
      adaptFor: adaptForKongDataPlane,
      open: (connection) => new KongControlPlaneLink(connection),
    },
    dataPlane: {
      dial: ({ nodeId, hostname, version }) => ({
        request: {
          path: KONG_OUTLET_PATH,
          query: [
            ['node_id', nodeId],
            ['node_hostname', hostname],
            ['node_version', version],
          ],
          // Kong's DP concatenates them as they are.
          encodeQuery: false,
        },
        pings: 'manual',
      }),
      open: (connection) => new KongDataPlaneLink(connection),
      // Kong's CP adapts a config for an older DP and keeps the original hash.
      acceptsAdaptedConfigs: true,
      // Kong's empty-config rule: a DP serving only workspaces stores and reports 32 zeros.
      servedHash: (config, hash) => (isKongEmptyConfig(config) ? NO_CONFIG : hash),
    },
  };
}

/** Kong's CP answers an upgrade without `node_id` or `node_version` with HTTP 400. */
function admitKongRequest(peer: PeerInfo) {
  const query = peer.request?.query ?? {};
  const missing = ['node_id', 'node_version'].filter((key) => !query[key]);
  if (missing.length === 0) return undefined;
  return {
    accept: false as const,
    code: CloseCode.POLICY_VIOLATION,
    reason: `missing ${missing.join(' and ')} in the query`,
    status: 400,
  };
}

/**
 * What Kong's CP does for a DP of another release (`kong/clustering/compat`): the config
 * adapted by its rules (shared by every DP of that version number, the hash kept), and no
 * frame larger than that release's default `cluster_max_payload`.
 */
function adaptForKongDataPlane(
  identity: DataPlaneIdentity,
  { controlPlaneVersion }: { controlPlaneVersion: string },
): ConfigAdaptation {
  const maxFrameBytes = kongMaxPayloadBytes(identity.version);
  const number = versionNumber(identity.version);
  if (number === versionNumber(controlPlaneVersion)) return { maxFrameBytes };
  return {
    key: kongAdaptationKey(identity.version),
    maxFrameBytes,
    adapt(config) {
      if (typeof config !== 'object' || config === null || Array.isArray(config)) return { config };
      const adapted = adaptKongConfig(
        config as Record<string, unknown>,
        identity.version,
        controlPlaneVersion,
      );
      return { config: adapted.config, notes: adapted.notes };
    },
  };
}

/** The gzip of Kong's `reconfigure` message, made once per version for every Kong DP. */
function encodeReconfigure(config: unknown, clock: Clock): PendingEncoding {
  return {
    async seal(header) {
      const message = {
        type: 'reconfigure',
        timestamp: clock.now() / 1000,
        config_table: config,
        config_hash: header.hash,
        hashes: header.hashes,
      };
      const frame = await gzipAsync(encoder.encode(JSON.stringify(message)));
      const encoded: EncodedConfig = {
        version: header.version,
        hash: header.hash,
        hashes: header.hashes,
        frame,
        ...(isKongEmptyConfig(config) ? { servedHash: NO_CONFIG } : {}),
        // Kong's message carries no licence: the same bytes serve every licence.
        relicense: () => encoded,
      };
      return encoded;
    },
  };
}

/**
 * Kong's empty-config rule (`kong/db/declarative/import.lua`, `config_is_empty`): a config
 * whose only entities are workspaces is stored, and reported in pings, as 32 zeros — the
 * hash of no config — while the CP still sends that config's real hash.
 */
export function isKongEmptyConfig(config: unknown): boolean {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) return false;
  let workspaces = false;
  for (const [key, value] of Object.entries(config)) {
    if (key.startsWith('_') || !Array.isArray(value) || value.length === 0) continue;
    if (key !== 'workspaces') return false;
    workspaces = true;
  }
  return workspaces;
}

/**
 * The raw query of a request as key/value pairs, each value exactly as the DP wrote it: nginx's
 * `$arg_node_id` is not URL-decoded, so neither is it here (`%41` stays `%41`, `+` stays `+`).
 */
function queryOf(connection: Connection): Record<string, string> {
  const raw = connection.request?.rawQuery;
  if (raw === undefined) return { ...connection.metadata };
  const values: Record<string, string> = {};
  for (const pair of raw.split('&')) {
    const at = pair.indexOf('=');
    const key = at === -1 ? pair : pair.slice(0, at);
    // nginx takes the first of a repeated argument.
    if (key && !Object.hasOwn(values, key)) values[key] = at === -1 ? '' : pair.slice(at + 1);
  }
  return values;
}

class KongControlPlaneLink implements ControlPlaneLink {
  constructor(private readonly connection: Connection) {}

  identify(frame: Uint8Array): Identification {
    if (frame.byteLength > MAX_BASIC_INFO_BYTES)
      throw new ProtocolViolationError(
        `a basic_info of ${frame.byteLength} bytes: at most ${MAX_BASIC_INFO_BYTES}`,
      );
    const parsed = basicInfoSchema.safeParse(parseJson(frame, 'basic_info'));
    if (!parsed.success)
      throw new ProtocolViolationError('the first frame is not a valid basic_info', {
        cause: parsed.error,
      });
    const labels = parsed.data.labels ?? {};
    const wrong = labelProblem(labels);
    if (wrong) throw new ProtocolViolationError(`basic_info labels: ${wrong}`);
    const query = queryOf(this.connection);
    const nodeId = query.node_id ?? '';
    if (!/^[\x21-\x7e]{1,256}$/.test(nodeId))
      throw new ProtocolViolationError('the request names no valid node_id');
    const identity: DataPlaneIdentity = {
      nodeId,
      hostname: (query.node_hostname ?? '').slice(0, 256),
      version: (query.node_version ?? '').slice(0, 64),
      labels,
      plugins: parsed.data.plugins,
      // A Kong DP says what it serves in its first ping.
      configHash: NO_CONFIG,
      configVersion: 0,
    };
    return { identity, protocol: KONG_PROTOCOL };
  }

  /** Kong's CP says nothing to a DP it accepts: the config follows. */
  async accept(): Promise<void> {}

  /** Kong's CP closes on a DP it refuses; the session closes the link. */
  async refuse(): Promise<void> {}

  /** A Kong DP sends only pings after its basic_info; a data frame ends the link. */
  read(frame: Uint8Array): DataPlaneMessage {
    throw new ProtocolViolationError(
      `a Kong data plane sends only pings after basic_info, got a ${frame.byteLength}-byte frame`,
    );
  }

  answerHeartbeat(): Promise<void> {
    return this.connection.sendControl!({ kind: 'pong', payload: new Uint8Array(0) });
  }

  async acknowledgeTelemetry(): Promise<void> {}

  async sendConfig(config: EncodedConfig, options?: { signal?: AbortSignal }): Promise<void> {
    // Not the transport's value: a number would be counted as the bytes of another encoding.
    await this.connection.send(config.frame, options);
  }

  listen(deliver: (message: DataPlaneMessage) => void): void {
    this.connection.onControl?.((frame) => {
      if (frame.kind !== 'ping') {
        // Kong's CP never pings, so a pong from a DP is out of place: Kong closes the link.
        void this.connection.close(CloseCode.PROTOCOL_VIOLATION, 'PROTOCOL_VIOLATION');
        return;
      }
      const hash = decoder.decode(frame.payload);
      if (!HASH.test(hash)) {
        // Kong's CP drops a DP whose ping does not carry a 32-character hash.
        void this.connection.close(CloseCode.PROTOCOL_VIOLATION, 'PROTOCOL_VIOLATION');
        return;
      }
      deliver({ type: 'heartbeat', report: { hash } });
    });
  }
}

class KongDataPlaneLink implements DataPlaneLink {
  #received = 0;
  #accepted = false;
  #deliver: ((message: ControlPlaneMessage) => void) | undefined;

  constructor(private readonly connection: Connection) {}

  /** `basic_info`, then a ping at once (as Kong's DP does) so that the CP's pong says it is in. */
  async identify(identity: DataPlaneIdentity): Promise<void> {
    await this.connection.send(
      encoder.encode(
        JSON.stringify({
          type: 'basic_info',
          plugins: identity.plugins,
          labels: identity.labels,
        }),
      ),
    );
    await this.heartbeat({ hash: identity.configHash });
  }

  listen(deliver: (message: ControlPlaneMessage) => void): void {
    this.#deliver = deliver;
    this.connection.onControl?.((frame) => {
      if (frame.kind !== 'pong') return;
      this.#accept();
      deliver({ type: 'heartbeatAnswered' });
    });
  }

  /**
   * No welcome in Kong's protocol: the CP's first answer (a pong, or the config) says the DP
   * is in. A CP that refuses it closes the link first, so a refused DP is never `connected`.
   */
  #accept(): void {
    if (this.#accepted) return;
    this.#accepted = true;
    this.#deliver?.({ type: 'accepted', protocol: KONG_PROTOCOL, syncStatus: 'unknown' });
  }

  read(frame: Uint8Array): ControlPlaneMessage {
    this.#accept();
    const payload = frame;
    return {
      type: 'config',
      offer: {
        // Kong numbers nothing: configs count up on this link.
        version: ++this.#received,
        async read(maxBytes, options) {
          const inflated = await inflate(payload, maxBytes);
          if (options?.signal?.aborted) throw new ProtocolViolationError('the link ended');
          const message = reconfigureSchema.safeParse(parseJson(inflated, 'reconfigure message'));
          if (!message.success)
            throw new ProtocolViolationError('not a valid reconfigure message', {
              cause: message.error,
            });
          const { config_table, config_hash, hashes } = message.data;
          // The config's own bytes, as the CP wrote them, are what the cache keeps.
          const span = jsonMemberSpan(inflated, 'config_table');
          return {
            config: config_table,
            ...(span ? { json: inflated.subarray(span[0], span[1]) } : {}),
            ...(config_hash ? { hash: config_hash } : {}),
            ...(hashes ? { hashes: hashes as ConfigHashes } : {}),
          };
        },
      },
    };
  }

  /** Kong's DP pings right after it applied a config: the ping carries the new hash. */
  applied(report: ConfigReport): Promise<void> {
    return this.heartbeat(report);
  }

  /** Kong's DP only logs a config it could not apply. */
  async refused(): Promise<void> {}

  heartbeat(report: ConfigReport): Promise<void> {
    return this.connection.sendControl!({ kind: 'ping', payload: encoder.encode(report.hash) });
  }
}
