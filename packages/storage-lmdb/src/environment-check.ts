import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { StoreCorruptError } from '@planesync/core';

const MAGIC = 0xbeefc0de;
const DATA_VERSION = 2;
const P_META = 0x08;
const P_INVALID = 0xffffffffffffffffn;
// lmdb-js ships LMDB 1.0, whose page header also carries a txnid: 24 bytes.
const PAGE_HEADER = 24;
// MDB_meta after the page header (64-bit layout): magic, version, address, mapsize,
// two MDB_db records of 48 bytes, last page number, transaction id.
const META = {
  magic: 0,
  version: 4,
  dbs: 24,
  dbSize: 48,
  lastPage: 120,
  txnid: 128,
  rootInDb: 40,
  pageSizeInDb: 0,
};

/**
 * Checks an LMDB data file's two meta pages before the native library maps it: LMDB has no
 * checksums and a garbage or truncated file can crash the process that opens it. A file that
 * is not an LMDB environment, or is shorter than its own meta pages say, is `STORE_CORRUPT`.
 * A missing file is fine (a new environment).
 */
export function checkEnvironmentFile(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new StoreCorruptError(`cannot open ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return; // created but never written: LMDB initialises it
    const first = readAt(fd, 0, 4096);
    const pageSize = metaOf(first, path, 0).pageSize;
    if (size < pageSize * 2)
      throw corrupt(path, `it is ${size} bytes, shorter than its two meta pages`);
    const metas = [metaOf(first, path, 0), metaOf(readAt(fd, pageSize, pageSize), path, 1)];
    const current = metas[0]!.txnid >= metas[1]!.txnid ? metas[0]! : metas[1]!;
    const pages = BigInt(Math.floor(size / pageSize));
    if (current.lastPage >= pages) {
      throw corrupt(
        path,
        `its meta page names page ${current.lastPage}, but the file holds ${pages} pages`,
      );
    }
    for (const root of current.roots) {
      if (root !== P_INVALID && root > current.lastPage)
        throw corrupt(path, `a database root points past the last page`);
    }
  } finally {
    closeSync(fd);
  }
}

function metaOf(page: Buffer, path: string, index: number) {
  if (page.length < PAGE_HEADER + META.txnid + 8)
    throw corrupt(path, `meta page ${index} is truncated`);
  const flags = page.readUInt16LE(18);
  const at = (offset: number) => PAGE_HEADER + offset;
  if ((flags & P_META) === 0 || page.readUInt32LE(at(META.magic)) !== MAGIC) {
    throw corrupt(path, `page ${index} is not an LMDB meta page`);
  }
  if (page.readUInt32LE(at(META.version)) !== DATA_VERSION)
    throw corrupt(path, 'it has an unknown LMDB data version');
  const pageSize = page.readUInt32LE(at(META.dbs + META.pageSizeInDb));
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) {
    throw corrupt(path, `its page size ${pageSize} is impossible`);
  }
  return {
    pageSize,
    lastPage: page.readBigUInt64LE(at(META.lastPage)),
    txnid: page.readBigUInt64LE(at(META.txnid)),
    roots: [0, 1].map((db) =>
      page.readBigUInt64LE(at(META.dbs + db * META.dbSize + META.rootInDb)),
    ),
  };
}

function readAt(fd: number, position: number, length: number): Buffer {
  const buffer = Buffer.alloc(length);
  const read = readSync(fd, buffer, 0, length, position);
  return buffer.subarray(0, read);
}

function corrupt(path: string, why: string): StoreCorruptError {
  return new StoreCorruptError(`${path} is not a whole LMDB environment: ${why}`);
}
