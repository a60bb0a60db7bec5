import * as zlib from 'node:zlib';
import { PayloadTooLargeError, ProtocolViolationError } from '../errors.ts';

/**
 * Zstandard for config frames, where this Node has it (`node:zlib` from Node 22.15): a quarter
 * fewer bytes than gzip on a large config, an eighth of the time to compress and half the time
 * to decompress (bench/README.md, "Node 20 and Node 26"). A planesync/3 DP that has it says so
 * in its hello; its CP then sends it whole configs compressed with it.
 *
 * @module
 */

/** Whether this process can compress and decompress zstd. */
export const zstdAvailable =
  typeof zlib.zstdCompress === 'function' && typeof zlib.zstdDecompress === 'function';

/**
 * Level 1: on configs, zstd's fastest level is still smaller than gzip's default. One frame
 * per payload: Node 22's decoder reads only the first of concatenated frames.
 */
const LEVEL = 1;

/** `bytes` compressed as one zstd frame, in libuv's pool. */
export function zstdCompress(bytes: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve, reject) =>
    zlib.zstdCompress(
      bytes,
      { params: { [zlib.constants.ZSTD_c_compressionLevel]: LEVEL } },
      (error, result) => (error ? reject(error) : resolve(result)),
    ),
  );
}

/**
 * Decompresses a zstd payload, never holding more than `maxBytes`: past it `PAYLOAD_TOO_LARGE`
 * (a bomb stops at the limit), anything that is not zstd a `PROTOCOL_VIOLATION`.
 */
export function zstdDecompress(payload: Uint8Array, maxBytes: number): Promise<Uint8Array> {
  if (!zstdAvailable)
    return Promise.reject(
      new ProtocolViolationError('a zstd payload, and this Node cannot decompress zstd'),
    );
  return new Promise((resolve, reject) =>
    zlib.zstdDecompress(payload, { maxOutputLength: maxBytes }, (error, result) => {
      if (!error) resolve(result);
      else if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
        reject(new PayloadTooLargeError(maxBytes + 1, maxBytes, { cause: error }));
      else
        reject(new ProtocolViolationError('a compressed body is not valid zstd', { cause: error }));
    }),
  );
}
