import * as zlib from 'node:zlib';
import { StoreCorruptError } from '@planesync/core';

/**
 * Marks a snapshot record kept compressed: "PSZ1" (the config as gzip) or "PSZ2" (as one zstd
 * frame), the byte length of its head (32 bits, big endian), the head — the record's JSON
 * without `config` — then the config's JSON compressed as the DP received it. A record written
 * whole is JSON, which never starts with "P".
 */
const MAGIC = { gzip: Buffer.from('PSZ1', 'latin1'), zstd: Buffer.from('PSZ2', 'latin1') };
const HEAD_AT = 8;

/** A config's JSON as the DP received it. */
export interface CompressedConfig {
  encoding: 'gzip' | 'zstd';
  bytes: Uint8Array;
}

/** The bytes of a record whose head is `head` and whose config is `config` decompressed. */
export function packCompressedRecord(head: Uint8Array, config: CompressedConfig): Buffer {
  const bytes = Buffer.allocUnsafe(HEAD_AT + head.byteLength + config.bytes.byteLength);
  MAGIC[config.encoding].copy(bytes, 0);
  bytes.writeUInt32BE(head.byteLength, 4);
  bytes.set(head, HEAD_AT);
  bytes.set(config.bytes, HEAD_AT + head.byteLength);
  return bytes;
}

function encodingOf(bytes: Uint8Array): CompressedConfig['encoding'] | undefined {
  if (bytes.byteLength < 4) return undefined;
  const magic = bytes.subarray(0, 4);
  if (MAGIC.gzip.equals(magic)) return 'gzip';
  if (MAGIC.zstd.equals(magic)) return 'zstd';
  return undefined;
}

export function isCompressedRecord(bytes: Uint8Array): boolean {
  return encodingOf(bytes) !== undefined;
}

/** Decompresses in libuv's pool, never holding more than `maxBytes`. */
function decompress(
  encoding: CompressedConfig['encoding'],
  bytes: Uint8Array,
  maxBytes: number,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const done = (error: Error | null, result: Buffer) => (error ? reject(error) : resolve(result));
    if (encoding === 'gzip') zlib.gunzip(bytes, { maxOutputLength: maxBytes }, done);
    else if (typeof zlib.zstdDecompress === 'function')
      zlib.zstdDecompress(bytes, { maxOutputLength: maxBytes }, done);
    else reject(new Error('this Node cannot decompress zstd (node:zlib has it from 22.15)'));
  });
}

/**
 * The record a compressed one holds, and the bytes of its JSON (head and config). Its config is
 * inflated to at most `maxConfigBytes`; anything that cannot be read is `STORE_CORRUPT`.
 */
export async function unpackCompressedRecord(
  bytes: Uint8Array,
  maxConfigBytes: number,
  where: string,
): Promise<{ record: Record<string, unknown>; jsonBytes: number }> {
  const encoding = encodingOf(bytes) ?? 'gzip';
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headBytes = view.byteLength >= HEAD_AT ? view.readUInt32BE(4) : -1;
  if (headBytes < 0 || HEAD_AT + headBytes > view.byteLength)
    throw new StoreCorruptError(`${where} holds a compressed snapshot cut short`);
  let json: Buffer;
  try {
    json = await decompress(encoding, view.subarray(HEAD_AT + headBytes), maxConfigBytes);
  } catch (error) {
    const tooLarge = (error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
    throw new StoreCorruptError(
      tooLarge
        ? `${where} holds a config larger than maxConfigBytes (${maxConfigBytes} bytes)`
        : `${where} holds a compressed snapshot that cannot be read as ${encoding} (${(error as Error).message})`,
      { cause: error },
    );
  }
  let head: unknown;
  let config: unknown;
  try {
    head = JSON.parse(decoder.decode(view.subarray(HEAD_AT, HEAD_AT + headBytes)));
    config = JSON.parse(decoder.decode(json));
  } catch (error) {
    throw new StoreCorruptError(`${where} holds a snapshot that is not JSON`, { cause: error });
  }
  if (typeof head !== 'object' || head === null || Array.isArray(head) || 'config' in head)
    throw new StoreCorruptError(`${where} holds a compressed snapshot whose head is not a record`);
  return { record: { ...head, config }, jsonBytes: headBytes + json.byteLength };
}

const decoder = new TextDecoder('utf-8', { fatal: true });
