import { z } from 'zod';
import { configHashesSchema } from '../config/snapshot.ts';

/** The protocol this version of planesync speaks; a hello naming another is refused. */
export const PROTOCOL_VERSION = 'planesync/1';

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

/** The JSON body of each message type but `config` and `telemetry`, which are compressed. */
export const messageSchemas = {
  hello: z.object({
    protocol: z.string().max(64),
    nodeId: z.string().regex(/^[\x21-\x7e]{1,256}$/),
    hostname: shortText,
    version: z.string().max(64),
    labels: z.record(z.string().max(64), z.string().max(256)).default({}),
    plugins: z
      .array(z.object({ name: shortText, version: z.string().max(64) }))
      .max(1024)
      .default([]),
    configHash: hash,
    configVersion: version,
  }),
  welcome: z.object({
    protocol: z.string().max(64),
    controlPlaneVersion: z.string().max(64),
    syncStatus: z.enum(SYNC_STATUSES),
  }),
  reject: z.object({ code: z.string().max(64), message: z.string().max(4096) }),
  /** `cacheHash`: what the DP's cache holds (32 zeros: nothing), behind `hash` when a save failed. */
  ack: z.object({ version, hash, cacheHash: hash.optional() }),
  nack: z.object({ version, hash, errors: z.array(problem).max(NACK_LIMITS.problems) }),
  ping: z.object({ version, hash, cacheHash: hash.optional() }),
  pong: z.object({}),
  telemetryAck: z.object({ batch: z.number().int().nonnegative() }),
} as const;

export type Hello = z.output<typeof messageSchemas.hello>;
export type Welcome = z.output<typeof messageSchemas.welcome>;
export type Reject = z.output<typeof messageSchemas.reject>;
export type Ack = z.output<typeof messageSchemas.ack>;
export type Nack = z.output<typeof messageSchemas.nack>;
export type Ping = z.output<typeof messageSchemas.ping>;

/** A licence the CP hands its DPs with the config; past `expiresAt` a DP reports itself unlicensed. */
export const licenseSchema = z.looseObject({ expiresAt: z.number() });
export type License = z.output<typeof licenseSchema>;

/** The small, uncompressed header in front of a config frame's gzip payload. */
export const configHeaderSchema = z.object({
  version,
  hash,
  /** Kong's per-collection hashes of the config (`config`, `routes`, …, `targets`). */
  hashes: configHashesSchema.optional(),
  license: licenseSchema.optional(),
});
export type ConfigHeader = z.output<typeof configHeaderSchema>;

/** A config as it travels: its header, and the gzip bytes of the config's JSON. */
export interface ConfigFrame {
  header: ConfigHeader;
  payload: Uint8Array;
}

/** A telemetry batch as it travels (gzip JSON). */
export const telemetrySchema = z.object({
  /** A random id of the DP process's record stream. */
  stream: z.string().min(1).max(64),
  /** Numbers this batch for its acknowledgement. */
  batch: z.number().int().nonnegative(),
  /** The sequence number of the first record; records are consecutive. */
  firstSeq: z.number().int().nonnegative(),
  /** Records dropped from the full buffer since the last batch. */
  dropped: z.number().int().nonnegative(),
  records: z
    .array(
      z.object({
        service: z.string().max(256).optional(),
        route: z.string().max(256).optional(),
        consumer: z.string().max(256).optional(),
        status: z.number().int().min(100).max(999),
        latencyMs: z.number().nonnegative(),
        requestBytes: z.number().int().nonnegative().optional(),
        responseBytes: z.number().int().nonnegative().optional(),
        at: z.number(),
      }),
    )
    .max(100_000),
});
export type TelemetryBatch = z.output<typeof telemetrySchema>;

/** Every decoded message, by name. */
export type Message =
  | { type: 'hello'; body: Hello }
  | { type: 'welcome'; body: Welcome }
  | { type: 'reject'; body: Reject }
  | { type: 'config'; body: ConfigFrame }
  | { type: 'ack'; body: Ack }
  | { type: 'nack'; body: Nack }
  | { type: 'ping'; body: Ping }
  | { type: 'pong'; body: Record<string, never> }
  | { type: 'telemetry'; body: Uint8Array }
  | { type: 'telemetryAck'; body: { batch: number } };
