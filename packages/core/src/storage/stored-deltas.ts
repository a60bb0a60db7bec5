import { applyDelta } from '../config/delta.ts';
import { StoreCorruptError } from '../errors.ts';
import type { StoredSnapshot } from './contract.ts';
import { fromStoredRecord, toStoredRecord } from './stored-snapshot.ts';

/**
 * A store's base snapshot plus the deltas (planesync/2) applied to it since, kept as one
 * record beside the base: a DP that applies a one-service delta to a 25 000-entity config
 * writes a few hundred bytes, not 7 MB. `load` rebuilds the newest snapshot with
 * `applyDelta`; past {@link DeltaChainLimits} the store writes the newest snapshot whole
 * again (compaction) and drops the chain.
 *
 * The record is `{"format":"planesync-deltas/1","base":"<hash>","snapshot":{…the newest
 * snapshot without its config…},"deltas":[<delta JSON>, …]}`.
 *
 * @module
 */

/** When a chain is compacted: whichever bound is passed first. */
export interface DeltaChainLimits {
  /** Deltas kept before the next save is written whole; default 16. */
  maxDeltas?: number;
  /** The deltas' bytes, as a fraction of the base's, before it is; default 0.25. */
  maxRatio?: number;
}

/** The chain a store holds after a save or a load: what the next save may append to. */
export interface DeltaChain {
  /** The hash of the base snapshot the deltas start from. */
  readonly base: string;
  /** The base's stored bytes, for the compaction bound. */
  readonly baseBytes: number;
  /** The hash of the newest snapshot (the base's, with no deltas). */
  readonly newest: string;
  /** Each delta's JSON, oldest first. */
  readonly deltas: readonly Uint8Array[];
}

const FORMAT = 'planesync-deltas/1';
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** The chain after a base was written whole. */
export function startChain(base: string, baseBytes: number): DeltaChain {
  return { base, baseBytes, newest: base, deltas: [] };
}

/**
 * The chain record to write for `snapshot`, a delta from `delta.base` — or `undefined` when
 * the snapshot is to be written whole: the chain does not end at the delta's base, or the
 * chain would pass `limits`.
 */
export function appendToChain(
  chain: DeltaChain | undefined,
  snapshot: StoredSnapshot,
  delta: { base: string; json: Uint8Array } | undefined,
  limits: DeltaChainLimits = {},
): { chain: DeltaChain; bytes: Uint8Array } | undefined {
  if (!chain || !delta || delta.base !== chain.newest) return undefined;
  const deltas = [...chain.deltas, delta.json];
  const deltaBytes = deltas.reduce((sum, json) => sum + json.byteLength, 0);
  if (
    deltas.length > (limits.maxDeltas ?? 16) ||
    deltaBytes > chain.baseBytes * (limits.maxRatio ?? 0.25)
  )
    return undefined;
  const { config: _config, ...meta } = toStoredRecord(snapshot);
  const head = encoder.encode(
    `{"format":"${FORMAT}","base":${JSON.stringify(chain.base)},"snapshot":${JSON.stringify(meta)},"deltas":[`,
  );
  const bytes = new Uint8Array(head.byteLength + deltaBytes + deltas.length + 1);
  bytes.set(head, 0);
  let at = head.byteLength;
  deltas.forEach((json, index) => {
    if (index > 0) bytes[at++] = 0x2c; // ,
    bytes.set(json, at);
    at += json.byteLength;
  });
  bytes.set(encoder.encode(']}'), at);
  return { chain: { ...chain, newest: snapshot.hash, deltas }, bytes: bytes.subarray(0, at + 2) };
}

/**
 * The newest snapshot: `base` with the chain's deltas applied, and the chain it leaves (to
 * append to). `STORE_CORRUPT`, naming `where`, when the chain is not JSON, does not start from
 * `base`, or a delta does not apply.
 */
export function loadChain(
  base: StoredSnapshot,
  baseBytes: number,
  chainBytes: Uint8Array,
  where: string,
): { snapshot: StoredSnapshot; chain: DeltaChain } {
  // Anything in a hostile record — JSON too deep to handle, a delta that does not apply — is
  // a damaged store, never another error.
  let meta: Record<string, unknown>;
  let deltas: unknown[];
  let config: unknown = base.config;
  let kept: Uint8Array[];
  try {
    const record = JSON.parse(decoder.decode(chainBytes)) as Record<string, unknown> | null;
    const { format, base: from } = record ?? {};
    if (
      format !== FORMAT ||
      !Array.isArray(record?.deltas) ||
      typeof record.snapshot !== 'object' ||
      record.snapshot === null
    )
      throw new StoreCorruptError(`${where} holds deltas in a shape it does not know`);
    if (from !== base.hash)
      throw new StoreCorruptError(
        `${where} holds deltas from ${String(from)}, but its snapshot is ${base.hash}`,
      );
    meta = record.snapshot as Record<string, unknown>;
    deltas = record.deltas;
    for (const delta of deltas)
      config = applyDelta(config as Record<string, unknown>, delta).config;
    kept = deltas.map((delta) => encoder.encode(JSON.stringify(delta)));
  } catch (error) {
    if (error instanceof StoreCorruptError) throw error;
    throw new StoreCorruptError(`${where} holds deltas that cannot be read back`, {
      cause: error,
    });
  }
  const snapshot = fromStoredRecord({ ...meta, config }, where);
  return {
    snapshot,
    chain: {
      base: base.hash,
      baseBytes,
      newest: snapshot.hash,
      deltas: kept,
    },
  };
}
