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
 * A clean copy of `input` with only the fields above, or `undefined` when it is not a request
 * record. Never throws: it sits on the request path.
 */
export function sanitizeRecord(
  input: unknown,
  now: number,
): (Required<Pick<RequestRecord, 'status' | 'latencyMs' | 'at'>> & RequestRecord) | undefined {
  if (input === null || typeof input !== 'object') return undefined;
  const value = input as RequestRecord;
  const { status, latencyMs, at } = value;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 999)
    return undefined;
  if (typeof latencyMs !== 'number' || !(latencyMs >= 0) || latencyMs === Number.POSITIVE_INFINITY)
    return undefined;
  // Straight-line and one object shape on purpose: this runs once per proxied request.
  // Fields left undefined are absent on the wire (JSON drops them).
  const { service, route, consumer, requestBytes, responseBytes } = value;
  return {
    status,
    latencyMs,
    at: typeof at === 'number' && Number.isFinite(at) ? at : now,
    service: typeof service === 'string' && service !== '' ? name(service) : undefined,
    route: typeof route === 'string' && route !== '' ? name(route) : undefined,
    consumer: typeof consumer === 'string' && consumer !== '' ? name(consumer) : undefined,
    requestBytes: bytes(requestBytes),
    responseBytes: bytes(responseBytes),
  } as RequestRecord & { status: number; latencyMs: number; at: number };
}

function bytes(value: unknown): number | undefined {
  return typeof value === 'number' && value >= 0 && value < Number.POSITIVE_INFINITY
    ? Math.floor(value)
    : undefined;
}

function name(text: string): string {
  return text.length > NAME_LIMIT ? text.slice(0, NAME_LIMIT) : text;
}
