import { hash } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip, gzipSync } from 'node:zlib';

const gzipAsync = promisify(gzip);

/**
 * A config's gzip payload, made of gzip members — one gzip stream to any reader (gunzip
 * reads every member) — so that a config changed in a few entities is compressed again only
 * where it changed.
 *
 * The config's JSON is cut at fixed entity counts: each top-level list is split into blocks
 * of {@link BLOCK_ENTITIES} entities, and a member ends after each full block. Everything
 * else (keys, values that are not lists, a list's last, partial block) rides in the member
 * of the block that follows it, or in the last member. A member's bounds depend only on how
 * many entities each list holds, never on their sizes, so an entity edited in place changes
 * one member, and an entity added at a list's end its last one.
 *
 * The members are byte for byte the config's `JSON.stringify`, in order.
 *
 * Two ways spare compressing a member again: by object, for a config `derivedFrom` another
 * (an `updateConfig`: the same entities, the same member); and by content, with a
 * {@link MemberMemo}, for a config given whole again (a `setConfig` read anew from a database,
 * most of it unchanged): a member whose JSON is the same as one of the last encoding's, by
 * SHA-256, takes its gzip.
 *
 * @module
 */

/** Entities per block: about 280 KiB of JSON at Kong's usual entity sizes (gzip members this large cost about 2 % in size against one stream). */
export const BLOCK_ENTITIES = 1024;

/** Members smaller than this are compressed inline: less than a pool round trip costs. */
const INLINE_MEMBER_BYTES = 16 * 1024;

/** A piece of a member: JSON text, or a run of a list's entities (their JSON joined by commas). */
type Piece = string | readonly unknown[];

interface Member {
  readonly pieces: readonly Piece[];
  readonly compressed: Promise<Uint8Array>;
  /** The SHA-256 of its JSON (base64), when read (an encoding with a memo). */
  readonly digest?: string | undefined;
}

/** The gzip of the member whose JSON has `digest`, when the memo's last encoding made one. */
let takeFrom: (memo: MemberMemo, digest: string) => Promise<Uint8Array> | undefined;
/** An encoding finished, all its members compressed: they are the ones to take next. */
let remember: (memo: MemberMemo, members: readonly Member[]) => void;

/**
 * Where an encoder keeps the gzip members of its last encoding, by the SHA-256 of each one's
 * JSON, so that the next config it is given whole takes the members whose JSON did not change
 * instead of compressing them again. One per encoder (planesync's protocol keeps one per
 * ControlPlane); it holds one encoding's members, the gzip of about one config.
 */
export class MemberMemo {
  #last = new Map<string, Promise<Uint8Array>>();
  #reused = 0;

  /** How many members were taken from it instead of compressed again. */
  get reused(): number {
    return this.#reused;
  }

  static {
    takeFrom = (memo, digest) => {
      const compressed = memo.#last.get(digest);
      if (compressed) memo.#reused++;
      return compressed;
    };
    remember = (memo, members) => {
      const last = new Map<string, Promise<Uint8Array>>();
      for (const { digest, compressed } of members) if (digest) last.set(digest, compressed);
      memo.#last = last;
    };
  }
}

/** What each config (by object) was compressed into, for the config derived from it. */
const membersOf = new WeakMap<object, readonly Member[]>();

/** Options of {@link compressMembers}. */
export interface CompressOptions {
  /**
   * The config this one was made from by changing some entities (not edited in place): a
   * member whose entities are the same objects, with the same text around them, is reused
   * as it was compressed for that config.
   */
  derivedFrom?: unknown;
  /**
   * The entities the change brought: objects `derivedFrom` may hold too, edited in place
   * since (an entity upserted again). A member holding one is compressed again.
   */
  fresh?: ReadonlySet<unknown> | undefined;
  /** Reuse by content: a member whose JSON the memo's last encoding compressed takes its gzip. */
  memo?: MemberMemo | undefined;
}

/** The gzip of `config`'s JSON, as members (see the module's description). */
export async function compressMembers(
  config: unknown,
  options: CompressOptions = {},
): Promise<Uint8Array> {
  const plan = planMembers(config);
  const earlier =
    typeof options.derivedFrom === 'object' && options.derivedFrom !== null
      ? membersOf.get(options.derivedFrom)
      : undefined;
  const reusable = earlier ? indexMembers(earlier) : undefined;
  const members = plan.map((pieces): Member => {
    const same =
      reusable && !holdsAny(pieces, options.fresh) ? findSame(reusable, pieces) : undefined;
    return same ? { ...same, pieces } : compress(pieces, options.memo);
  });
  if (typeof config === 'object' && config !== null) membersOf.set(config, members);
  const parts = await Promise.all(members.map((member) => member.compressed));
  if (options.memo) remember(options.memo, members);
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/** The pieces of each member, in order; their JSON joined is `JSON.stringify(config)`. */
function planMembers(config: unknown): Piece[][] {
  if (!isPlainRecord(config)) return [[JSON.stringify(config) ?? 'null']];
  const members: Piece[][] = [];
  let pieces: Piece[] = [];
  let text = '{';
  let first = true;
  for (const key of Object.keys(config)) {
    const value = config[key];
    const separator = first ? '' : ',';
    if (Array.isArray(value) && value.length > 0 && !hasToJSON(value)) {
      text += `${separator}${JSON.stringify(key)}:[`;
      for (let start = 0; start < value.length; start += BLOCK_ENTITIES) {
        if (start > 0) text += ',';
        if (text) pieces.push(text);
        text = '';
        const block = value.slice(start, start + BLOCK_ENTITIES);
        pieces.push(block);
        if (block.length === BLOCK_ENTITIES) {
          members.push(pieces);
          pieces = [];
        }
      }
      text += ']';
    } else {
      // As JSON.stringify does: a key whose value has no JSON (undefined, a function) is left out.
      const json = JSON.stringify(value);
      if (json === undefined) continue;
      text += `${separator}${JSON.stringify(key)}:${json}`;
    }
    first = false;
  }
  pieces.push(`${text}}`);
  members.push(pieces);
  return members;
}

/** An object whose JSON is its own keys' (not an array, and no `toJSON` of its own). */
function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !hasToJSON(value);
}

function hasToJSON(value: object): boolean {
  return typeof (value as { toJSON?: unknown }).toJSON === 'function';
}

/** A member made of `pieces`: its gzip from `memo` when the memo has its JSON, else made now. */
function compress(pieces: readonly Piece[], memo: MemberMemo | undefined): Member {
  const json = Buffer.from(
    pieces.map((piece) => (typeof piece === 'string' ? piece : entitiesJson(piece))).join(''),
  );
  const digest = memo ? hash('sha256', json, 'base64') : undefined;
  const compressed = (memo && digest && takeFrom(memo, digest)) || gzipOf(json);
  return { pieces, compressed, digest };
}

function gzipOf(json: Buffer): Promise<Uint8Array> {
  if (json.byteLength < INLINE_MEMBER_BYTES) return Promise.resolve(gzipSync(json));
  return gzipAsync(json);
}

/** The JSON of a run of list entities, without the list's brackets. */
function entitiesJson(entities: readonly unknown[]): string {
  return JSON.stringify(entities).slice(1, -1);
}

/** Earlier members by their first piece (a block's first entity, or the text). */
function indexMembers(members: readonly Member[]): Map<unknown, Member[]> {
  const index = new Map<unknown, Member[]>();
  for (const member of members) {
    const key = firstKey(member.pieces);
    const same = index.get(key);
    if (same) same.push(member);
    else index.set(key, [member]);
  }
  return index;
}

function firstKey(pieces: readonly Piece[]): unknown {
  const block = pieces.find((piece) => typeof piece !== 'string');
  return block ? block[0] : pieces[0];
}

function findSame(index: Map<unknown, Member[]>, pieces: readonly Piece[]): Member | undefined {
  return index.get(firstKey(pieces))?.find((member) => samePieces(member.pieces, pieces));
}

/** Whether a member's pieces hold one of `entities`. */
function holdsAny(pieces: readonly Piece[], entities: ReadonlySet<unknown> | undefined): boolean {
  if (!entities || entities.size === 0) return false;
  return pieces.some(
    (piece) => typeof piece !== 'string' && piece.some((entity) => entities.has(entity)),
  );
}

function samePieces(a: readonly Piece[], b: readonly Piece[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const left = a[i]!;
    const right = b[i]!;
    if (typeof left === 'string' || typeof right === 'string') {
      if (left !== right) return false;
    } else if (left.length !== right.length || left.some((entity, j) => entity !== right[j]))
      return false;
  }
  return true;
}
