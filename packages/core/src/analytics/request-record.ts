import type { RecordRing } from './record-ring.ts';

/**
 * What a DP records of one proxied request: counters only. Telemetry carries no config and no
 * data of the proxied request — no paths, headers, bodies or client addresses — as the spec
 * promises ("Telemetry data does not include any customer information").
 */
export interface RequestRecord {
  service?: string;
  route?: string;
  consumer?: string;
  /** HTTP status answered. */
  status: number;
  /** Total latency in ms. */
  latencyMs: number;
  requestBytes?: number;
  responseBytes?: number;
  /** When it happened (ms since the epoch); default the DP clock's now. */
  at?: number;
}

const NAME_LIMIT = 256;

/**
 * Records `input` in `ring` as record number `seq` when it is a request record (the fields
 * above, checked and cut to what travels: names at most 256 characters, byte counts whole and
 * at most the largest safe integer, NaN when absent; `at` by `now()` when it has none);
 * returns false, recording nothing, when it is not. Straight line and no allocation: it runs
 * once per proxied request.
 */
export function recordInto(
  input: unknown,
  ring: RecordRing,
  seq: number,
  now: () => number,
): boolean {
  if (input === null || typeof input !== 'object') return false;
  const value = input as RequestRecord;
  const status = value.status;
  const latencyMs = value.latencyMs;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 999)
    return false;
  if (typeof latencyMs !== 'number' || !(latencyMs >= 0) || latencyMs === Number.POSITIVE_INFINITY)
    return false;
  const at = value.at;
  ring.push(
    seq,
    status,
    latencyMs,
    typeof at === 'number' && Number.isFinite(at) ? at : now(),
    name(value.service),
    name(value.route),
    name(value.consumer),
    bytes(value.requestBytes),
    bytes(value.responseBytes),
  );
  return true;
}

function bytes(value: unknown): number {
  if (typeof value !== 'number' || !(value >= 0) || value === Number.POSITIVE_INFINITY)
    return Number.NaN;
  return value <= Number.MAX_SAFE_INTEGER ? Math.floor(value) : Number.MAX_SAFE_INTEGER;
}

function name(text: unknown): string | undefined {
  if (typeof text !== 'string' || text === '') return undefined;
  return text.length > NAME_LIMIT ? cut(text) : text;
}

/**
 * The first {@link NAME_LIMIT} characters of `text` as a string of their own: V8's slice of a
 * long string refers to all of it, and the buffer would hold each host's whole string (100 000
 * records of a megabyte each), past the bound it promises. UTF-16 both ways: every code unit
 * kept as it was.
 */
function cut(text: string): string {
  return Buffer.from(text.slice(0, NAME_LIMIT), 'utf16le').toString('utf16le');
}
