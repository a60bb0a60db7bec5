import { z } from 'zod';
import { type ConfigHashes, configHashesSchema } from '../config/snapshot.ts';

/**
 * The protocol this version of planesync speaks best: planesync/3, which is planesync/2 with
 * telemetry as columns (a `telemetryColumns` frame). planesync/2 is planesync/1 with config
 * deltas (a `delta` frame: what changed since a version the DP acknowledged).
 */
export const PROTOCOL_VERSION = 'planesync/3';

/**
 * Every protocol version this planesync speaks, newest first. A DP offers its list in the
 * hello; the CP picks the newest both speak and names it in the welcome — so a fleet can be
 * upgraded one node at a time when a new version comes.
 */
export const SUPPORTED_PROTOCOLS: readonly string[] = [
  PROTOCOL_VERSION,
  'planesync/2',
  'planesync/1',
];

/** Whether a link speaking `protocol` carries config deltas (planesync/2 and later). */
export function carriesDeltas(protocol: string): boolean {
  return protocolNumber(protocol) >= 2;
}

/** Whether a link speaking `protocol` carries telemetry as columns (planesync/3 and later). */
export function carriesTelemetryColumns(protocol: string): boolean {
  return protocolNumber(protocol) >= 3;
}

function protocolNumber(protocol: string): number {
  return Number(/^planesync\/(\d+)$/.exec(protocol)?.[1] ?? 0);
}

/**
 * The newest protocol in `offered` that `supported` holds too (`planesync/N`, by N), or
 * `undefined` when they share none.
 */
export function pickProtocol(
  offered: readonly string[],
  supported: readonly string[] = SUPPORTED_PROTOCOLS,
): string | undefined {
  const rank = (name: string) => Number(/^planesync\/(\d+)$/.exec(name)?.[1] ?? -1);
  return offered.filter((name) => supported.includes(name)).sort((a, b) => rank(b) - rank(a))[0];
}

/** The one-byte type that starts every frame. */
export const MessageType = {
  hello: 0x01,
  welcome: 0x02,
  reject: 0x03,
  config: 0x04,
  ack: 0x05,
  nack: 0x06,
  ping: 0x07,
  pong: 0x08,
  telemetry: 0x09,
  telemetryAck: 0x0a,
  /** planesync/2: a config as the change from a version the DP has (see config/delta.ts). */
  delta: 0x0b,
  /** planesync/3: a telemetry batch as columns (see protocol/telemetry-columns.ts). */
  telemetryColumns: 0x0c,
} as const;

export type MessageName = keyof typeof MessageType;

const hash = z.string().regex(/^[0-9a-f]{32}$/);
const version = z.number().int().nonnegative();
const shortText = z.string().max(256);

/** Why a DP can or cannot be sent config, as Kong's clustering_data_planes.sync_status says. */
export const SYNC_STATUSES = [
  'unknown',
  'normal',
  'kong_version_incompatible',
  'plugin_set_incompatible',
  'plugin_version_incompatible',
  'filter_set_incompatible',
] as const;
export type SyncStatus = (typeof SYNC_STATUSES)[number];

/** What one nack may carry: so many problems, each path and message at most so long. */
export const NACK_LIMITS = { problems: 100, path: 1024, message: 4096 } as const;

const problem = z.object({
  path: z.string().max(NACK_LIMITS.path),
  message: z.string().max(NACK_LIMITS.message),
});

/**
 * Problems cut to what a nack carries (the first 100, paths and messages shortened with an
 * ellipsis), so a long message from a host's schema never turns a refusal into a broken link.
 */
export function nackProblems(
  problems: ReadonlyArray<{ path: string; message: string }>,
): Array<{ path: string; message: string }> {
  const cut = (text: string, max: number) =>
    text.length <= max ? text : `${text.slice(0, max - 1)}…`;
  const kept = problems.slice(0, NACK_LIMITS.problems).map(({ path, message }) => ({
    path: cut(String(path), NACK_LIMITS.path),
    message: cut(String(message), NACK_LIMITS.message),
  }));
  if (problems.length > NACK_LIMITS.problems) {
    kept[kept.length - 1] = {
      path: '(root)',
      message: `${problems.length - NACK_LIMITS.problems + 1} more problems not shown`,
    };
  }
  return kept;
}

/**
 * Labels as Kong's `cluster_dp_labels` allows them: at most 10; keys and values of 1–63
 * characters, letters, digits and `_ . : -`, starting and ending with a letter or digit; no
 * key starting with `kong`, `konnect`, `insomnia`, `mesh` or `kic` (reserved).
 */
export const LABEL_LIMITS = { count: 10, length: 63 } as const;
const LABEL_TEXT = /^[a-z0-9]([\w.:-]{0,61}[a-z0-9])?$/i;
const RESERVED_LABEL_KEY = /^(kong|konnect|insomnia|mesh|kic)/i;

/** What is wrong with `labels` by Kong's rules, or `undefined` when nothing is. */
export function labelProblem(labels: Readonly<Record<string, unknown>>): string | undefined {
  const entries = Object.entries(labels);
  if (entries.length > LABEL_LIMITS.count)
    return `${entries.length} labels, at most ${LABEL_LIMITS.count} are allowed`;
  for (const [key, value] of entries) {
    if (!LABEL_TEXT.test(key) || RESERVED_LABEL_KEY.test(key))
      return `label key ${JSON.stringify(key.slice(0, 80))} is invalid: 1–63 letters, digits or _.:-, starting and ending with a letter or digit, not starting with kong, konnect, insomnia, mesh or kic`;
    if (typeof value !== 'string' || !LABEL_TEXT.test(value))
      return `label ${key} has an invalid value: 1–63 letters, digits or _.:-, starting and ending with a letter or digit`;
  }
  return undefined;
}

/** A hello is small: a first frame larger than this is refused before it is parsed. */
export const MAX_HELLO_BYTES = 256 * 1024;

/** The JSON body of each message type but `config` and `telemetry`, which are compressed. */
export const messageSchemas = {
  hello: z.object({
    /** The protocol the DP prefers (its newest); older DPs send only this. */
    protocol: z.string().max(64),
    /** Every protocol the DP speaks; the CP picks the newest it speaks too. */
    protocols: z.array(z.string().max(64)).max(16).optional(),
    /**
     * Encodings of a whole config the DP reads besides gzip (planesync/3: `zstd`). A list
     * grows with later releases: an entry this CP cannot read is ignored, and a list it cannot
     * read is none offered, never a refused DP.
     */
    compression: z.array(z.string().max(16).catch('')).max(64).optional().catch(undefined),
    nodeId: z.string().regex(/^[\x21-\x7e]{1,256}$/),
    hostname: shortText,
    version: z.string().max(64),
    labels: z
      .record(z.string().max(LABEL_LIMITS.length), z.string().max(LABEL_LIMITS.length))
      .default({})
      .superRefine((labels, context) => {
        const problem = labelProblem(labels);
        if (problem) context.addIssue({ code: 'custom', message: problem });
      }),
    plugins: z
      .array(z.object({ name: shortText, version: z.string().max(64) }))
      .max(1024)
      .default([]),
    configHash: hash,
    configVersion: version,
    /** What the DP's cache holds (32 zeros: nothing), as in acks and pings. */
    cacheHash: hash.optional(),
  }),
  welcome: z.object({
    protocol: z.string().max(64),
    controlPlaneVersion: z.string().max(64),
    syncStatus: z.enum(SYNC_STATUSES),
  }),
  /**
   * `code` is an `ErrorCode` (`VERSION_INCOMPATIBLE`, `NODE_ID_IN_USE`); `syncStatus`, when the
   * refusal is one, what the CP records for the DP (`kong_version_incompatible`).
   */
  reject: z.object({
    code: z.string().max(64),
    message: z.string().max(4096),
    syncStatus: z.enum(SYNC_STATUSES).optional(),
  }),
  /** `cacheHash`: what the DP's cache holds (32 zeros: nothing), behind `hash` when a save failed. */
  ack: z.object({ version, hash, cacheHash: hash.optional() }),
  nack: z.object({ version, hash, errors: z.array(problem).max(NACK_LIMITS.problems) }),
  ping: z.object({ version, hash, cacheHash: hash.optional() }),
  pong: z.object({}),
  telemetryAck: z.object({ batch: z.number().int().nonnegative() }),
} as const;

/** A DP's first frame: who it is and what it serves. */
export interface Hello {
  protocol: string;
  protocols?: string[] | undefined;
  /** Encodings of a whole config the DP reads besides gzip (planesync/3: `zstd`). */
  compression?: string[] | undefined;
  nodeId: string;
  hostname: string;
  version: string;
  labels: Record<string, string>;
  plugins: Array<{ name: string; version: string }>;
  configHash: string;
  configVersion: number;
  /** What the DP's cache holds (32 zeros: nothing). */
  cacheHash?: string | undefined;
}

/** The CP's answer to an accepted hello. */
export interface Welcome {
  protocol: string;
  controlPlaneVersion: string;
  syncStatus: SyncStatus;
}

/** The CP's answer to a refused hello: an `ErrorCode`, and the sync status it records. */
export interface Reject {
  code: string;
  message: string;
  syncStatus?: SyncStatus | undefined;
}

/** The DP applied `version`; `cacheHash` is what its cache holds. */
export interface Ack {
  version: number;
  hash: string;
  cacheHash?: string | undefined;
}

/** The DP refused `version`, with at most 100 problems. */
export interface Nack {
  version: number;
  hash: string;
  errors: Array<{ path: string; message: string }>;
}

/** The DP's heartbeat: what it serves and what its cache holds. */
export interface Ping {
  version: number;
  hash: string;
  cacheHash?: string | undefined;
}

/**
 * The JSON body `encodeMessage` takes for each message type (fields with a default may be
 * left out); plain types, so that planesync's declarations need none of zod's.
 */
export interface MessageBodies {
  hello: Omit<Hello, 'labels' | 'plugins'> & Partial<Pick<Hello, 'labels' | 'plugins'>>;
  welcome: Welcome;
  reject: Reject;
  ack: Ack;
  nack: Nack;
  ping: Ping;
  pong: Record<string, never>;
  telemetryAck: { batch: number };
}

/** A licence the CP hands its DPs with the config; past `expiresAt` a DP reports itself unlicensed. */
export interface License {
  expiresAt: number;
  [field: string]: unknown;
}
export const licenseSchema: z.ZodType<License> = z.looseObject({ expiresAt: z.number() });

/** The small, uncompressed header in front of a config frame's gzip payload. */
export interface ConfigHeader {
  version: number;
  hash: string;
  /** Kong's per-collection hashes of the config (`config`, `routes`, …, `targets`). */
  hashes?: ConfigHashes | undefined;
  license?: License | undefined;
  /** How the payload is compressed when not gzip: `zstd` (planesync/3, to a DP that reads it). */
  encoding?: 'zstd' | undefined;
}
export const configHeaderSchema: z.ZodType<ConfigHeader> = z.object({
  version,
  hash,
  /** Kong's per-collection hashes of the config (`config`, `routes`, …, `targets`). */
  hashes: configHashesSchema.optional(),
  license: licenseSchema.optional(),
  encoding: z.literal('zstd').optional(),
});

/** The header of a delta frame: a config header, and the hash of the config it applies to. */
export interface DeltaHeader extends ConfigHeader {
  base: string;
}
export const deltaHeaderSchema: z.ZodType<DeltaHeader> = z.object({
  version,
  hash,
  hashes: configHashesSchema.optional(),
  license: licenseSchema.optional(),
  base: hash,
});

/** A delta as it travels: its header, and the gzip bytes of the delta's JSON. */
export interface DeltaFrame {
  header: DeltaHeader;
  payload: Uint8Array;
}

/** A config as it travels: its header, and the gzip bytes of the config's JSON. */
export interface ConfigFrame {
  header: ConfigHeader;
  payload: Uint8Array;
}

/** One request record in a telemetry batch. */
export interface TelemetryRecord {
  service?: string | undefined;
  route?: string | undefined;
  consumer?: string | undefined;
  status: number;
  latencyMs: number;
  requestBytes?: number | undefined;
  responseBytes?: number | undefined;
  at: number;
}
export const telemetryRecordSchema: z.ZodType<TelemetryRecord> = z.object({
  service: z.string().max(256).optional(),
  route: z.string().max(256).optional(),
  consumer: z.string().max(256).optional(),
  status: z.number().int().min(100).max(999),
  latencyMs: z.number().nonnegative(),
  requestBytes: z.number().int().nonnegative().optional(),
  responseBytes: z.number().int().nonnegative().optional(),
  at: z.number(),
});

/** The most records in one telemetry batch. */
export const MAX_TELEMETRY_RECORDS = 100_000;

/** A telemetry batch with its records not yet checked (the CP checks them in slices). */
export const telemetryEnvelopeSchema = z.object({
  /** A random id of the DP process's record stream. */
  stream: z.string().min(1).max(64),
  /** Numbers this batch for its acknowledgement. */
  batch: z.number().int().nonnegative(),
  /** The sequence number of the first record; records are consecutive. */
  firstSeq: z.number().int().nonnegative(),
  /** Records dropped from the full buffer since the last batch. */
  dropped: z.number().int().nonnegative(),
  records: z.array(z.unknown()).max(MAX_TELEMETRY_RECORDS),
});

/** A telemetry batch as it travels (gzip JSON). */
export interface TelemetryBatch {
  stream: string;
  batch: number;
  firstSeq: number;
  dropped: number;
  records: TelemetryRecord[];
}
export const telemetrySchema: z.ZodType<TelemetryBatch> = telemetryEnvelopeSchema.extend({
  records: z.array(telemetryRecordSchema).max(MAX_TELEMETRY_RECORDS),
});

/** Every decoded message, by name. */
export type Message =
  | { type: 'hello'; body: Hello }
  | { type: 'welcome'; body: Welcome }
  | { type: 'reject'; body: Reject }
  | { type: 'config'; body: ConfigFrame }
  | { type: 'delta'; body: DeltaFrame }
  | { type: 'ack'; body: Ack }
  | { type: 'nack'; body: Nack }
  | { type: 'ping'; body: Ping }
  | { type: 'pong'; body: Record<string, never> }
  | { type: 'telemetry'; body: Uint8Array }
  | { type: 'telemetryColumns'; body: Uint8Array }
  | { type: 'telemetryAck'; body: { batch: number } };

/** Compile-time: each schema's output is exactly its plain type (a drift fails `tsc`). */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Checked<T extends true> = T;
export type _MessageTypesMatchTheirSchemas = [
  Checked<Same<z.output<typeof messageSchemas.hello>, Hello>>,
  Checked<Same<z.output<typeof messageSchemas.welcome>, Welcome>>,
  Checked<Same<z.output<typeof messageSchemas.reject>, Reject>>,
  Checked<Same<z.output<typeof messageSchemas.ack>, Ack>>,
  Checked<Same<z.output<typeof messageSchemas.nack>, Nack>>,
  Checked<Same<z.output<typeof messageSchemas.ping>, Ping>>,
  Checked<Same<z.output<typeof telemetryEnvelopeSchema>['stream'], TelemetryBatch['stream']>>,
];
