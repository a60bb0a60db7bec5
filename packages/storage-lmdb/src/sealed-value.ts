import { createHash } from 'node:crypto';
import { StoreCorruptError } from '@planesync/core';
import { isCompressedRecord } from './compressed-record.ts';

/**
 * Marks a checksummed value: NUL, "PS1", the SHA-256 of the payload, then the payload. No
 * value written before (JSON, an encrypted "PSE1" value, a node id) starts with a NUL.
 */
const MAGIC = Buffer.from('\0PS1', 'latin1');
const DIGEST_BYTES = 32;

/**
 * The bytes stored for `payload`: it with its SHA-256 in front, so a damaged page of a value
 * is found when it is read back rather than served (LMDB keeps no checksums of its own).
 */
export function seal(payload: Uint8Array): Buffer {
  const digest = createHash('sha256').update(payload).digest();
  return Buffer.concat([MAGIC, digest, payload]);
}

/**
 * The payload of a stored value, after checking its SHA-256; `STORE_CORRUPT` naming `where`
 * when it does not match. A value written before checksums (planesync 0.1) has no mark and is
 * returned as it is: the JSON and schema checks that follow still apply to it. A config kept
 * compressed came later and was always sealed: without a mark, it is damage.
 */
export function unseal(value: Buffer, where: string): Buffer {
  if (value.length < MAGIC.length || !value.subarray(0, MAGIC.length).equals(MAGIC)) {
    if (isCompressedRecord(value))
      throw new StoreCorruptError(`${where} is damaged: a compressed config without its checksum`);
    return value;
  }
  if (value.length < MAGIC.length + DIGEST_BYTES)
    throw new StoreCorruptError(`${where} holds a value cut short`);
  const stored = value.subarray(MAGIC.length, MAGIC.length + DIGEST_BYTES);
  const payload = value.subarray(MAGIC.length + DIGEST_BYTES);
  if (!createHash('sha256').update(payload).digest().equals(stored))
    throw new StoreCorruptError(`${where} is damaged: a stored value does not match its checksum`);
  return payload;
}
