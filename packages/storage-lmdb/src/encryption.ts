import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { InvalidArgumentError, StoreDecryptFailedError } from '@planesync/core';

/** Marks an encrypted value: "PSE1", then a 12-byte IV, a 16-byte tag, the ciphertext. */
const MAGIC = Buffer.from('PSE1');
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A 32-byte key, from bytes or from 64 hex digits. */
export function toKey(key: Uint8Array | string): Buffer {
  const bytes =
    typeof key === 'string'
      ? Buffer.from(key, /^[0-9a-f]{64}$/i.test(key) ? 'hex' : 'base64')
      : Buffer.from(key);
  if (bytes.length !== 32)
    throw new InvalidArgumentError('encryptionKey must be 32 bytes (AES-256)');
  return bytes;
}

/** AES-256-GCM: authenticated, so a wrong key or a changed byte is detected, not decoded. */
export function encrypt(key: Buffer, plaintext: Uint8Array): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([MAGIC, iv, cipher.getAuthTag(), ciphertext]);
}

export function isEncrypted(value: Uint8Array): boolean {
  return value.length >= MAGIC.length && Buffer.from(value.subarray(0, MAGIC.length)).equals(MAGIC);
}

/** Throws `STORE_DECRYPT_FAILED` unless `key` decrypts and authenticates `value`. */
export function decrypt(key: Buffer | undefined, value: Uint8Array, where: string): Buffer {
  if (!isEncrypted(value)) {
    if (key)
      throw new StoreDecryptFailedError(
        `${where} is not encrypted, but an encryptionKey was given`,
      );
    return Buffer.from(value);
  }
  if (!key) throw new StoreDecryptFailedError(`${where} is encrypted; pass its encryptionKey`);
  const iv = value.subarray(MAGIC.length, MAGIC.length + IV_BYTES);
  const tag = value.subarray(MAGIC.length + IV_BYTES, MAGIC.length + IV_BYTES + TAG_BYTES);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAuthTag(tag);
    return Buffer.concat([
      decipher.update(value.subarray(MAGIC.length + IV_BYTES + TAG_BYTES)),
      decipher.final(),
    ]);
  } catch (error) {
    throw new StoreDecryptFailedError(`${where} cannot be decrypted with this key`, {
      cause: error,
    });
  }
}
