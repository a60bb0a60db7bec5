import { promisify } from 'node:util';
import { gunzip, gunzipSync, gzip, gzipSync } from 'node:zlib';
import { formatPath } from '../config/validate.ts';
import { PayloadTooLargeError, ProtocolViolationError } from '../errors.ts';
import { type CompressOptions, compressMembers } from './config-members.ts';

export type { CompressOptions } from './config-members.ts';

import {
  type ConfigFrame,
  type ConfigHeader,
  configHeaderSchema,
  type DeltaFrame,
  type DeltaHeader,
  deltaHeaderSchema,
  type Message,
  type MessageBodies,
  type MessageName,
  MessageType,
  messageSchemas,
} from './messages.ts';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);
const NAMES = new Map<number, MessageName>(
  Object.entries(MessageType).map(([name, type]) => [type, name as MessageName]),
);
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** A frame of a JSON message: its type byte, then UTF-8 JSON. */
export function encodeMessage<T extends keyof MessageBodies>(
  type: T,
  body: MessageBodies[T],
): Uint8Array {
  const json = encoder.encode(JSON.stringify(body));
  const frame = new Uint8Array(1 + json.byteLength);
  frame[0] = MessageType[type];
  frame.set(json, 1);
  return frame;
}

/**
 * A config frame: type byte, 4-byte big-endian header length, the header JSON
 * (`{ version, hash, hashes?, license? }`), then the gzip of the config's JSON — the exact
 * bytes a DP can write to its cache. The CP builds it once per version.
 */
export async function encodeConfigFrame(
  header: ConfigHeader,
  config: unknown,
): Promise<Uint8Array> {
  return assembleConfigFrame(header, await compressConfig(config));
}

/**
 * A config frame's payload: the gzip of the config's JSON, compressed in libuv's pool as
 * gzip members of a few hundred entities each (see `config-members.ts`), side by side. With
 * `derivedFrom` (the config this one was made from by changing some entities), only the
 * members holding what changed are compressed again; with a `memo`, only the members whose
 * JSON the memo's last encoding did not compress.
 */
export function compressConfig(config: unknown, options?: CompressOptions): Promise<Uint8Array> {
  return compressMembers(config, options);
}

/**
 * The same payload under a new header (a licence change does not recompress the config); a
 * delta frame when the header names its `base`.
 */
export function assembleConfigFrame(
  header: ConfigHeader | DeltaHeader,
  compressed: Uint8Array,
): Uint8Array {
  const head = encoder.encode(JSON.stringify(header));
  const frame = new Uint8Array(1 + 4 + head.byteLength + compressed.byteLength);
  frame[0] = 'base' in header ? MessageType.delta : MessageType.config;
  new DataView(frame.buffer).setUint32(1, head.byteLength);
  frame.set(head, 5);
  frame.set(compressed, 5 + head.byteLength);
  return frame;
}

/**
 * Bodies below this size are compressed and inflated inline: a fraction of a millisecond, and
 * no round trip through libuv's thread pool. Larger ones go to the pool.
 */
const INLINE_BYTES = 256 * 1024;

/** A compressed frame (telemetry): type byte, then gzip JSON. */
export async function encodeCompressed(type: 'telemetry', body: unknown): Promise<Uint8Array> {
  return compressedFrame(type, encoder.encode(JSON.stringify(body)));
}

/**
 * A frame of `type` whose body is the gzip of `bytes`: compressed inline when small, in
 * libuv's pool when not.
 */
export async function compressedFrame(
  type: 'telemetry' | 'telemetryColumns',
  bytes: Uint8Array,
  options: { level?: number } = {},
): Promise<Uint8Array> {
  const compressed =
    bytes.byteLength < INLINE_BYTES ? gzipSync(bytes, options) : await gzipAsync(bytes, options);
  const frame = new Uint8Array(1 + compressed.byteLength);
  frame[0] = MessageType[type];
  frame.set(compressed, 1);
  return frame;
}

const HASH = /^[0-9a-f]{32}$/;

/**
 * An ack's or ping's body exactly as the schema keeps it: `version` (a safe non-negative
 * integer), `hash` and maybe `cacheHash` (32 hex digits each), nothing else.
 */
function isPlainReport(value: unknown): value is { version: number; hash: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  let keys = 0;
  for (const key in value) {
    if (key !== 'version' && key !== 'hash' && key !== 'cacheHash') return false;
    keys++;
  }
  const { version, hash, cacheHash } = value as Record<string, unknown>;
  return (
    keys === (cacheHash === undefined ? 2 : 3) &&
    Object.getPrototypeOf(value) === Object.prototype &&
    Number.isSafeInteger(version) &&
    (version as number) >= 0 &&
    typeof hash === 'string' &&
    HASH.test(hash) &&
    (cacheHash === undefined || (typeof cacheHash === 'string' && HASH.test(cacheHash)))
  );
}

/**
 * Decodes and validates one frame. Anything malformed or unknown is a `PROTOCOL_VIOLATION`;
 * compressed bodies are left compressed (see {@link inflateJson}).
 */
export function decodeFrame(frame: Uint8Array): Message {
  const name = NAMES.get(frame[0] ?? -1);
  if (!name)
    throw new ProtocolViolationError(`unknown message type ${frame[0] ?? '(empty frame)'}`);
  const body = frame.subarray(1);
  if (name === 'telemetry' || name === 'telemetryColumns') return { type: name, body };
  if (name === 'config') return { type: 'config', body: decodeConfigFrame(body) };
  if (name === 'delta') return { type: 'delta', body: decodeConfigFrame(body, deltaHeaderSchema) };
  const json = parseJson(body, name);
  // Acks and pings, a thousand at a time after a push: their one common shape checked by
  // hand; anything else (or any doubt) goes to the schema, which says what is wrong.
  if ((name === 'ack' || name === 'ping') && isPlainReport(json))
    return { type: name, body: json } as Message;
  const schema = messageSchemas[name];
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ProtocolViolationError(
      `invalid ${name}: ${formatPath(issue?.path ?? [])}: ${issue?.message}`,
      {
        cause: parsed.error,
      },
    );
  }
  return { type: name, body: parsed.data } as Message;
}

function decodeConfigFrame(body: Uint8Array): ConfigFrame;
function decodeConfigFrame(body: Uint8Array, schema: typeof deltaHeaderSchema): DeltaFrame;
function decodeConfigFrame(
  body: Uint8Array,
  schema: typeof configHeaderSchema = configHeaderSchema,
): ConfigFrame {
  if (body.byteLength < 4)
    throw new ProtocolViolationError('config frame too short for its header length');
  const headerLength = new DataView(body.buffer, body.byteOffset, body.byteLength).getUint32(0);
  if (headerLength > 64 * 1024 || 4 + headerLength > body.byteLength) {
    throw new ProtocolViolationError(`config header length ${headerLength} does not fit the frame`);
  }
  const parsed = schema.safeParse(parseJson(body.subarray(4, 4 + headerLength), 'config header'));
  if (!parsed.success)
    throw new ProtocolViolationError('invalid config header', { cause: parsed.error });
  return { header: parsed.data, payload: body.subarray(4 + headerLength) };
}

/**
 * Inflates a gzip body and parses its JSON, never holding more than `maxBytes` inflated:
 * a gzip bomb stops at the limit with `PAYLOAD_TOO_LARGE`; broken gzip or JSON is a
 * `PROTOCOL_VIOLATION`.
 */
export async function inflateJson(payload: Uint8Array, maxBytes: number): Promise<unknown> {
  return parseJson(await inflate(payload, maxBytes), 'compressed body');
}

/** Inflates a gzip body to at most `maxBytes`, with the errors of {@link inflateJson}. */
export async function inflate(payload: Uint8Array, maxBytes: number): Promise<Uint8Array> {
  // A small body is inflated inline — but only up to INLINE_BYTES of output: a 31 KiB gzip
  // of 31 MiB of spaces must not hold the event loop; past that, the pool finishes it.
  if (payload.byteLength < INLINE_BYTES / 8) {
    try {
      return gunzipSync(payload, { maxOutputLength: Math.min(maxBytes, INLINE_BYTES) });
    } catch (error) {
      const tooLarge = (error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
      if (!tooLarge || maxBytes <= INLINE_BYTES) return failInflate(error, maxBytes);
    }
  }
  try {
    return await gunzipAsync(payload, { maxOutputLength: maxBytes });
  } catch (error) {
    return failInflate(error, maxBytes);
  }
}

function failInflate(error: unknown, maxBytes: number): never {
  if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
    throw new PayloadTooLargeError(maxBytes + 1, maxBytes, { cause: error });
  }
  throw new ProtocolViolationError('a compressed body is not valid gzip', { cause: error });
}

/** Parses UTF-8 JSON; anything else is a `PROTOCOL_VIOLATION` naming `what`. */
export function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch (error) {
    throw new ProtocolViolationError(`${what} is not valid UTF-8 JSON`, { cause: error });
  }
}
