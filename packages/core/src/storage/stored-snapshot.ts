import { z } from 'zod';
import { CONFIG_SOURCES, configHashesSchema } from '../config/snapshot.ts';
import { InvalidArgumentError, StoreCorruptError } from '../errors.ts';
import type { StoredSnapshot } from './contract.ts';

const hex32 = z.string().regex(/^[0-9a-f]{32}$/);

/** The shape every persistent store writes: a versioned envelope around one snapshot. */
const storedSnapshotSchema = z.object({
  format: z.literal('planesync-config/1'),
  version: z.number().int().nonnegative(),
  hash: hex32,
  hashes: configHashesSchema,
  source: z.enum(CONFIG_SOURCES as [string, ...string[]]),
  config: z.unknown(),
  appliedAt: z.number(),
  savedAt: z.number(),
});

/**
 * The envelope a store persists: the snapshot plus `format` and `savedAt`. Throws
 * `INVALID_ARGUMENT` for a snapshot that could not be read back, so nothing unreadable is
 * ever written.
 */
export function toStoredRecord(snapshot: StoredSnapshot): Record<string, unknown> {
  const record = {
    format: 'planesync-config/1',
    version: snapshot.version,
    hash: snapshot.hash,
    hashes: snapshot.hashes,
    source: snapshot.source,
    config: snapshot.config,
    appliedAt: snapshot.appliedAt,
    savedAt: snapshot.savedAt,
  };
  const parsed = storedSnapshotSchema.safeParse(record);
  if (!parsed.success) {
    throw new InvalidArgumentError(`not a config snapshot: ${describeIssue(parsed.error)}`, {
      cause: parsed.error,
    });
  }
  return record;
}

/**
 * Checks a record read back from storage; anything but a whole snapshot is `STORE_CORRUPT`
 * with `where` in the message and the validation problem as `cause`.
 */
export function fromStoredRecord(record: unknown, where: string): StoredSnapshot {
  const parsed = storedSnapshotSchema.safeParse(record);
  if (!parsed.success) {
    throw new StoreCorruptError(
      `${where} is not a planesync config snapshot (${describeIssue(parsed.error)})`,
      { cause: parsed.error },
    );
  }
  const { format: _format, ...snapshot } = parsed.data;
  return snapshot as StoredSnapshot;
}

const encoder = new TextEncoder();

/**
 * The UTF-8 JSON of a stored record (from {@link toStoredRecord}). With `json` — the config's
 * own JSON bytes — the config is spliced in as is rather than serialized again.
 */
export function serializeStoredRecord(
  record: Record<string, unknown>,
  json?: Uint8Array,
): Uint8Array {
  if (!json) return encoder.encode(JSON.stringify(record));
  const { config: _config, ...rest } = record;
  const head = encoder.encode(`${JSON.stringify(rest).slice(0, -1)},"config":`);
  const bytes = new Uint8Array(head.byteLength + json.byteLength + 1);
  bytes.set(head, 0);
  bytes.set(json, head.byteLength);
  bytes[bytes.byteLength - 1] = 0x7d; // }
  return bytes;
}

/** The first problem, in words: `hashes.routes: missing`, `hash: not a 32-digit hex hash`. */
function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  const where = issue?.path.join('.') || '(root)';
  if (!issue) return where;
  if (issue.code === 'invalid_type' && /received undefined$/.test(issue.message))
    return `${where}: missing`;
  if (issue.code === 'invalid_format' || (issue.code === 'invalid_type' && where.includes('hash')))
    return `${where}: not a 32-digit lowercase hex hash`;
  if (issue.code === 'invalid_type') return `${where}: expected ${issue.expected}`;
  return `${where}: ${issue.message}`;
}
