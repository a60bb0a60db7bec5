import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { StoreCorruptError } from '@planesync/core';

/**
 * A checked reader of an LMDB data file. LMDB keeps no checksums and reads through a memory
 * map: a damaged page can make it follow a pointer past the end of the file (SIGBUS kills the
 * process) or lose a key without a word. This reader never maps the file: it walks the
 * B-trees with plain reads, checks every page it touches against the meta page (its own page
 * number, its kind, its bounds, the counts the meta page records) and copies the values out.
 * Anything that does not add up is `STORE_CORRUPT`.
 *
 * The layout is that of the LMDB lmdb-js ships (LMDB 1.0, "mdb.master3"): a 24-byte page
 * header carrying the page number and a transaction id, node offsets counted from the end of
 * the header, 64-bit page numbers, a sparse free list, and a third, flushed meta in page 0. It
 * reads the snapshot LMDB itself would open (see `pickMeta`), so that a file LMDB reads whole
 * is never called damaged.
 */

const MAGIC = 0xbeefc0de;
const DATA_VERSION = 2;
const HEADER = 24;
const P_BRANCH = 0x01;
const P_LEAF = 0x02;
const P_OVERFLOW = 0x04;
const P_META = 0x08;
const F_BIGDATA = 0x01;
const P_INVALID = 0xffffffffffffffffn;
/**
 * MDB_meta after the page header: magic, version, address, map size, two MDB_db, last page,
 * txnid, and (lmdb-js) the id of the boot that wrote it.
 */
const META = {
  magic: 0,
  version: 4,
  mapSize: 16,
  dbs: 24,
  dbSize: 48,
  lastPage: 120,
  txnid: 128,
  bootId: 136,
  end: 144,
};
/** MDB_db: pad (the page size, in the free DB), flags, depth, page counts, entries, root. */
const DB = {
  pad: 0,
  flags: 4,
  depth: 6,
  branchPages: 8,
  leafPages: 16,
  overflowPages: 24,
  entries: 32,
  root: 40,
};
/**
 * lmdb-js commits without waiting for the disk and flushes after (MDB_OVERLAPPINGSYNC): each
 * meta page it commits carries this flag in the free DB's flags, "not known to be on disk";
 * once the flush is done it writes that commit's meta again, flag cleared, in the second half
 * of page 0 — the flushed meta.
 */
const UNFLUSHED = 0x1000;
const FREE_DB = 0;
const MAIN_DB = 1;
/** A B-tree deeper than this is not one LMDB wrote for a handful of keys. */
const MAX_DEPTH = 16;
/** A reader and a writer in another process may cross; a read that saw a commit is retried. */
const ATTEMPTS = 5;

/** What an environment holds: its main database's keys and values, as of transaction `txnid`. */
export interface EnvironmentContents {
  readonly txnid: bigint;
  readonly values: ReadonlyMap<string, Buffer>;
}

interface DbRecord {
  depth: number;
  branchPages: bigint;
  leafPages: bigint;
  overflowPages: bigint;
  entries: bigint;
  root: bigint;
}

interface Meta {
  pageSize: number;
  lastPage: bigint;
  txnid: bigint;
  bootId: bigint;
  unflushed: boolean;
  dbs: [DbRecord, DbRecord];
  /** The file's size: no walk copies more bytes of values than the file holds. */
  fileSize: number;
}

/**
 * Reads the keys of the environment in `file` (a `data.mdb`) with the values of those in
 * `wanted` (every value when omitted), checking the whole file structure on the way — the
 * free list included, since LMDB walks it on its next write. Returns `undefined` when there is
 * no environment yet (no file, or an empty one). Throws `STORE_CORRUPT` naming `where` when
 * the file is damaged.
 */
export function readEnvironment(
  file: string,
  where: string,
  wanted?: ReadonlySet<string>,
): EnvironmentContents | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    const why =
      code === 'ENOTDIR'
        ? 'it is a file, where a directory holding data.mdb belongs'
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'its data.mdb is a directory'
            : (error as Error).message;
    throw new StoreCorruptError(`cannot read ${where}: ${why}`, { cause: error });
  }
  try {
    for (let attempt = 1; ; attempt++) {
      const size = fstatSync(fd).size;
      if (size === 0) return undefined; // created but never written: LMDB initialises it
      const meta = currentMeta(fd, size, where);
      try {
        const contents = walk(fd, meta, where, wanted);
        // A commit in between may have reused pages this walk read: read again.
        if (attempt < ATTEMPTS && currentMeta(fd, fstatSync(fd).size, where).txnid !== meta.txnid)
          continue;
        return contents;
      } catch (error) {
        const moved = currentMeta(fd, fstatSync(fd).size, where).txnid !== meta.txnid;
        if (!moved || attempt >= ATTEMPTS) throw error;
      }
    }
  } finally {
    closeSync(fd);
  }
}

function currentMeta(fd: number, size: number, where: string): Meta {
  const pageSize = parseMeta(readAt(fd, 0, 4096), 0, where).pageSize;
  if (size < pageSize * 2)
    throw corrupt(where, `it is ${size} bytes, shorter than its two meta pages`);
  const first = readAt(fd, 0, pageSize);
  const candidates: Meta[] = [];
  let failure: StoreCorruptError | undefined;
  for (const [index, page] of [first, readAt(fd, pageSize, pageSize)].entries()) {
    try {
      candidates.push(parseMeta(page, index, where));
    } catch (error) {
      failure = error as StoreCorruptError;
    }
  }
  // LMDB writes the newer meta page last; a torn one leaves the other, older snapshot whole.
  let meta = candidates[0];
  if (!meta) throw failure ?? corrupt(where, 'it has no valid meta page');
  if (candidates[1]) meta = pickMeta(meta, candidates[1]);
  meta = pickMeta(meta, readMeta(first, pageSize / 2));
  if (meta.pageSize !== pageSize) throw corrupt(where, 'its meta pages disagree on the page size');
  return { ...meta, fileSize: size };
}

/**
 * The snapshot LMDB opens, of two (mdb_pick_meta, as lmdb-js opens an environment no process
 * holds: MDB_PREVSNAPSHOT with MDB_OVERLAPPINGSYNC): the newer, unless it is marked unflushed
 * and was written before this boot — its pages may never have reached the disk, so LMDB goes
 * back to the older. A process that holds the environment wrote its meta pages since this boot,
 * so the rule gives the newer one then, as LMDB does.
 */
function pickMeta(a: Meta, b: Meta): Meta {
  const newer = a.txnid >= b.txnid ? a : b;
  if (b.txnid === 0n) return a;
  const boot = thisBoot();
  if (!newer.unflushed || boot === 'unknown' || (newer.bootId !== 0n && newer.bootId === boot))
    return newer;
  return a.txnid > b.txnid ? b : a;
}

let bootId: bigint | 'unknown' | undefined;
/**
 * This boot's id as lmdb-js reads it: on Linux the leading hex digits of
 * /proc/sys/kernel/random/boot_id, 0 when unreadable (or when `LMDB_RESTORE=safe` asks lmdb-js
 * to trust flushed meta pages only). Elsewhere planesync cannot read it (`unknown`), and takes
 * the newer meta page, as LMDB does within a boot.
 */
function thisBoot(): bigint | 'unknown' {
  if (process.env.LMDB_RESTORE === 'safe') return 0n;
  if (bootId === undefined) {
    bootId = 'unknown';
    if (process.platform === 'linux') {
      try {
        const hex = /^\s*([0-9a-f]{1,15})/i.exec(
          readFileSync('/proc/sys/kernel/random/boot_id', 'latin1'),
        );
        bootId = hex ? BigInt(`0x${hex[1]}`) : 0n;
      } catch {
        bootId = 0n;
      }
    }
  }
  return bootId;
}

function parseMeta(page: Buffer, index: number, where: string): Meta {
  if (page.length < HEADER + META.end) throw corrupt(where, `meta page ${index} is truncated`);
  if ((page.readUInt16LE(18) & P_META) === 0 || page.readUInt32LE(HEADER + META.magic) !== MAGIC)
    throw corrupt(where, `page ${index} is not an LMDB meta page`);
  if (page.readUInt32LE(HEADER + META.version) !== DATA_VERSION)
    throw corrupt(where, 'it has an unknown LMDB data version');
  const meta = readMeta(page, 0);
  const pageSize = meta.pageSize;
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0)
    throw corrupt(where, `its page size ${pageSize} is impossible`);
  return meta;
}

/**
 * The MDB_meta of the "page" at `offset` in `page`, its fields as they are. The flushed meta
 * (at half a page) has no magic or version: lmdb-js writes it from the map size on. Before the
 * first flush it is zeros, a transaction id of 0, which `pickMeta` passes over.
 */
function readMeta(page: Buffer, offset: number): Meta {
  const at = (field: number) => offset + HEADER + field;
  const db = (n: number): DbRecord => {
    const base = at(META.dbs + n * META.dbSize);
    return {
      depth: page.readUInt16LE(base + DB.depth),
      branchPages: page.readBigUInt64LE(base + DB.branchPages),
      leafPages: page.readBigUInt64LE(base + DB.leafPages),
      overflowPages: page.readBigUInt64LE(base + DB.overflowPages),
      entries: page.readBigUInt64LE(base + DB.entries),
      root: page.readBigUInt64LE(base + DB.root),
    };
  };
  return {
    pageSize: page.readUInt32LE(at(META.dbs + DB.pad)),
    lastPage: page.readBigUInt64LE(at(META.lastPage)),
    txnid: page.readBigUInt64LE(at(META.txnid)),
    bootId: page.readBigInt64LE(at(META.bootId)),
    unflushed: (page.readUInt16LE(at(META.dbs + DB.flags)) & UNFLUSHED) !== 0,
    dbs: [db(FREE_DB), db(MAIN_DB)],
    fileSize: 0,
  };
}

/** Walks both databases; returns the main one's entries. */
function walk(
  fd: number,
  meta: Meta,
  where: string,
  wanted: ReadonlySet<string> | undefined,
): EnvironmentContents {
  const copied = { bytes: 0 };
  const free = walkDb(fd, meta, meta.dbs[FREE_DB], 'the free list', where, () => true, {
    integerKeys: true,
    copied,
  });
  const freeRuns = free.flatMap(([, value]) => checkFreeList(value!, meta, where));
  checkFileLength(freeRuns, meta, where);
  const main = walkDb(
    fd,
    meta,
    meta.dbs[MAIN_DB],
    'the main database',
    where,
    (key) => !wanted || wanted.has(key.toString('latin1')),
    { integerKeys: false, copied },
  );
  const values = new Map<string, Buffer>();
  for (const [key, value] of main) if (value) values.set(key.toString('latin1'), value);
  return { txnid: meta.txnid, values };
}

/** Every entry of one B-tree, every page checked, the page counts held to the meta page's. */
function walkDb(
  fd: number,
  meta: Meta,
  db: DbRecord,
  name: string,
  where: string,
  wants: (key: Buffer) => boolean,
  walk: { integerKeys: boolean; copied: { bytes: number } },
): Array<[Buffer, Buffer | undefined]> {
  const entries: Array<[Buffer, Buffer | undefined]> = [];
  // Keys in order across the whole tree, each once: LMDB wrote them so, and a crafted page
  // pointing many nodes at one value must not make this walk copy it many times.
  let previousKey: Buffer | undefined;
  const inOrder = (key: Buffer, pgno: bigint) => {
    if (previousKey && compareKeys(previousKey, key, walk.integerKeys) >= 0)
      throw fail(`the keys on page ${pgno} are out of order or repeated`);
    previousKey = key;
  };
  const counted = { branch: 0n, leaf: 0n, overflow: 0n };
  const fail = (why: string) => corrupt(where, `${name}: ${why}`);
  if (db.root === P_INVALID) {
    if (db.entries !== 0n) throw fail(`no root, but ${db.entries} entries`);
    return entries;
  }
  if (db.depth < 1 || db.depth > MAX_DEPTH) throw fail(`depth ${db.depth} is impossible`);
  const seen = new Set<bigint>();
  const visit = (pgno: bigint, level: number) => {
    if (seen.has(pgno)) throw fail(`page ${pgno} is reached twice`);
    seen.add(pgno);
    const page = readPage(fd, meta, pgno, fail);
    const flags = page.readUInt16LE(18);
    const leaf = level === db.depth;
    if (
      leaf
        ? (flags & (P_LEAF | P_BRANCH | P_OVERFLOW)) !== P_LEAF
        : (flags & (P_LEAF | P_BRANCH | P_OVERFLOW)) !== P_BRANCH
    )
      throw fail(`page ${pgno} is not the ${leaf ? 'leaf' : 'branch'} page the tree needs there`);
    if (leaf) counted.leaf++;
    else counted.branch++;
    for (const node of nodes(page, meta.pageSize, pgno, fail)) {
      const nodeFlags = page.readUInt16LE(node + 4);
      const keySize = page.readUInt16LE(node + 6);
      const low = BigInt(page.readUInt16LE(node)) | (BigInt(page.readUInt16LE(node + 2)) << 16n);
      const keyEnd = node + 8 + keySize;
      if (keyEnd > meta.pageSize) throw fail(`a key on page ${pgno} runs past the page`);
      if (!leaf) {
        visit(low | (BigInt(nodeFlags) << 32n), level + 1);
        continue;
      }
      const key = Buffer.from(page.subarray(node + 8, keyEnd));
      inOrder(key, pgno);
      const size = Number(low);
      if (wants(key)) {
        walk.copied.bytes += size;
        if (walk.copied.bytes > meta.fileSize)
          throw fail('its values add up to more bytes than the file holds');
      }
      if (nodeFlags === F_BIGDATA) {
        if (keyEnd + 8 > meta.pageSize) throw fail(`a value on page ${pgno} runs past the page`);
        const first = page.readBigUInt64LE(keyEnd);
        const { value, pages } = readOverflow(fd, meta, first, size, wants(key), fail);
        counted.overflow += pages;
        entries.push([key, value]);
      } else if (nodeFlags === 0) {
        if (keyEnd + size > meta.pageSize) throw fail(`a value on page ${pgno} runs past the page`);
        entries.push([key, Buffer.from(page.subarray(keyEnd, keyEnd + size))]);
      } else {
        throw fail(`a node on page ${pgno} has flags ${nodeFlags}, which no planesync cache uses`);
      }
    }
  };
  visit(db.root, 1);
  if (BigInt(entries.length) !== db.entries)
    throw fail(`it holds ${entries.length} entries where its meta page records ${db.entries}`);
  if (
    counted.branch !== db.branchPages ||
    counted.leaf !== db.leafPages ||
    counted.overflow !== db.overflowPages
  )
    throw fail('its page counts differ from those its meta page records');
  return entries;
}

/** The byte offsets of a branch or leaf page's nodes, each checked to lie inside the page. */
function nodes(
  page: Buffer,
  pageSize: number,
  pgno: bigint,
  fail: (why: string) => Error,
): number[] {
  const lower = page.readUInt16LE(20);
  const upper = page.readUInt16LE(22);
  if (lower % 2 !== 0 || lower > upper || HEADER + upper > pageSize)
    throw fail(`page ${pgno} has impossible bounds`);
  const offsets: number[] = [];
  for (let i = 0; i < lower / 2; i++) {
    const node = HEADER + page.readUInt16LE(HEADER + 2 * i);
    if (node < HEADER + upper || node + 8 > pageSize)
      throw fail(`a node on page ${pgno} lies outside it`);
    offsets.push(node);
  }
  if (offsets.length === 0) throw fail(`page ${pgno} holds no node`);
  if (new Set(offsets).size !== offsets.length) throw fail(`page ${pgno} points at one node twice`);
  return offsets;
}

function readOverflow(
  fd: number,
  meta: Meta,
  pgno: bigint,
  size: number,
  copy: boolean,
  fail: (why: string) => Error,
): { value: Buffer | undefined; pages: bigint } {
  const head = readPage(fd, meta, pgno, fail);
  if ((head.readUInt16LE(18) & P_OVERFLOW) === 0)
    throw fail(`page ${pgno} is not an overflow page`);
  const pages = BigInt(head.readUInt32LE(20));
  const needed = BigInt(Math.ceil((HEADER + size) / meta.pageSize));
  if (pages < needed || pgno + pages - 1n > meta.lastPage)
    throw fail(`the overflow pages from ${pgno} do not hold the ${size}-byte value`);
  if (!copy) return { value: undefined, pages };
  const value = readAt(fd, Number(pgno) * meta.pageSize + HEADER, size);
  if (value.length !== size) throw fail(`the value at page ${pgno} is cut short`);
  return { value, pages };
}

/**
 * A free-list entry as lmdb-js's LMDB writes it (mdb_freelist_save, mdb_midl_xmerge): a count
 * n, then n slots, each empty (0), one free page, or a run of pages — the run's length negated,
 * then its first page. The entry may be longer than its count: LMDB reserves entries with a
 * spare slot and rewrites them in place with fewer pages, leaving the tail as it was (a run's
 * first page may sit in that spare slot, where LMDB reads it). Every page named lies between
 * the meta pages and the last page, which is what LMDB's next write relies on.
 */
function checkFreeList(value: Buffer, meta: Meta, where: string): Array<[bigint, bigint]> {
  const fail = () => corrupt(where, 'the free list names pages that cannot exist');
  if (value.length < 8 || value.length % 8 !== 0) throw fail();
  const slots = value.length / 8 - 1;
  const count = value.readBigUInt64LE(0);
  if (count > BigInt(slots)) throw fail();
  const runs: Array<[bigint, bigint]> = [];
  for (let slot = 1; slot <= Number(count); slot++) {
    const entry = value.readBigInt64LE(slot * 8);
    if (entry === 0n) continue;
    let first = entry;
    let pages = 1n;
    if (entry < 0n) {
      pages = -entry;
      if (++slot > slots) throw fail();
      first = value.readBigInt64LE(slot * 8);
    }
    if (first < 2n || first + pages - 1n > meta.lastPage) throw fail();
    runs.push([first, first + pages - 1n]);
  }
  return runs;
}

/**
 * The file may end before the meta page's last page, but only over free pages: LMDB leaves a
 * page it allocated and freed within one transaction unwritten, and records it as free
 * ("the file may be shorter if the freeDB lists the final pages", MDB_meta in mdb.c). A page
 * of a tree past the end is found cut short where the walk reads it; any other page missing
 * there is damage.
 */
function checkFileLength(freeRuns: Array<[bigint, bigint]>, meta: Meta, where: string): void {
  const pages = BigInt(Math.floor(meta.fileSize / meta.pageSize));
  if (pages > meta.lastPage) return;
  let missing = pages; // the first page past the end not yet found free
  const pastTheEnd = freeRuns.filter(([, last]) => last >= pages);
  for (const [first, last] of pastTheEnd.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (first > missing) break;
    if (last >= missing) missing = last + 1n;
  }
  if (missing <= meta.lastPage)
    throw corrupt(
      where,
      `its meta page names page ${meta.lastPage}, but the file holds ${pages} pages and page ${missing} is not free`,
    );
}

/** LMDB's order: bytes compared as memcmp does, or (MDB_INTEGERKEY) 64-bit integers. */
function compareKeys(a: Buffer, b: Buffer, integers: boolean): number {
  if (integers && a.length === 8 && b.length === 8) {
    const x = a.readBigUInt64LE(0);
    const y = b.readBigUInt64LE(0);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  return Buffer.compare(a, b);
}

function readPage(fd: number, meta: Meta, pgno: bigint, fail: (why: string) => Error): Buffer {
  if (pgno < 2n || pgno > meta.lastPage)
    throw fail(`a pointer names page ${pgno}, outside the file`);
  const page = readAt(fd, Number(pgno) * meta.pageSize, meta.pageSize);
  if (page.length !== meta.pageSize) throw fail(`page ${pgno} is cut short`);
  if (page.readBigUInt64LE(0) !== pgno)
    throw fail(`page ${pgno} holds another page (${page.readBigUInt64LE(0)})`);
  if (page.readBigUInt64LE(8) > meta.txnid)
    throw fail(`page ${pgno} is newer than the environment`);
  return page;
}

function readAt(fd: number, position: number, length: number): Buffer {
  const buffer = Buffer.allocUnsafe(length);
  let read = 0;
  while (read < length) {
    const n = readSync(fd, buffer, read, length - read, position + read);
    if (n === 0) break;
    read += n;
  }
  return buffer.subarray(0, read);
}

function corrupt(where: string, why: string): StoreCorruptError {
  return new StoreCorruptError(`${where} is damaged: ${why}`);
}
