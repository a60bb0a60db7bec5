import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { StoreCorruptError } from '@planesync/core';

const gunzipAsync = promisify(gunzip);

/**
 * Marks a snapshot record kept compressed: "PSZ1", the byte length of its head (32 bits, big
 * endian), the head — the record's JSON without `config` — then the config's JSON as the gzip
 * the DP received it in. A record written whole is JSON, which never starts with "P".
 */
const MAGIC = Buffer.from('PSZ1', 'latin1');
const HEAD_AT = MAGIC.length + 4;

/** The bytes of a record whose head is `head` and whose config is the JSON `gzip` inflates to. */
export function packCompressedRecord(head: Uint8Array, gzip: Uint8Array): Buffer {
  const bytes = Buffer.allocUnsafe(HEAD_AT + head.byteLength + gzip.byteLength);
  MAGIC.copy(bytes, 0);
  bytes.writeUInt32BE(head.byteLength, MAGIC.length);
  bytes.set(head, HEAD_AT);
  bytes.set(gzip, HEAD_AT + head.byteLength);
  return bytes;
}

export function isCompressedRecord(bytes: Uint8Array): boolean {
  return bytes.byteLength >= MAGIC.length && MAGIC.equals(bytes.subarray(0, MAGIC.length));
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
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headBytes = view.byteLength >= HEAD_AT ? view.readUInt32BE(MAGIC.length) : -1;
  if (headBytes < 0 || HEAD_AT + headBytes > view.byteLength)
    throw new StoreCorruptError(`${where} holds a compressed snapshot cut short`);
  let json: Buffer;
  try {
    json = await gunzipAsync(view.subarray(HEAD_AT + headBytes), {
      maxOutputLength: maxConfigBytes,
    });
  } catch (error) {
    const tooLarge = (error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
    throw new StoreCorruptError(
      tooLarge
        ? `${where} holds a config larger than maxConfigBytes (${maxConfigBytes} bytes)`
        : `${where} holds a compressed snapshot that is not valid gzip`,
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
