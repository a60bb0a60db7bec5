import { z } from 'zod';
import { columnBatch, columnsOf, RecordColumns } from '../analytics/record-columns.ts';
import { ProtocolViolationError } from '../errors.ts';
import { compressedFrame, inflate, parseJson } from './codec.ts';
import { MAX_TELEMETRY_RECORDS, type TelemetryBatch, telemetryEnvelopeSchema } from './messages.ts';

/**
 * planesync/3's telemetry frame (`0x0c`): a batch as columns, gzip-compressed. Inflated, it is
 *
 * | bytes | what |
 * |---|---|
 * | 4 | the header's length, little-endian |
 * | n | the header, UTF-8 JSON: `{ stream, batch, firstSeq, dropped, count, names }` |
 * | 0–7 | zeros, to a multiple of 8 from the start |
 * | 8 × count, four times | `at`, `latencyMs`, `requestBytes`, `responseBytes`: float64 LE (NaN: no byte count) |
 * | 4 × count, three times | `service`, `route`, `consumer`: uint32 LE, an index into `names` from 1 (0: none) |
 * | 2 × count | `status`: uint16 LE |
 *
 * and nothing after. Ten arrays instead of `count` JSON objects: the DP writes them from its
 * buffer without a record object, the CP reads and checks them as arrays and counts them
 * without one either (docs/protocol.md).
 */
const headerSchema = telemetryEnvelopeSchema.omit({ records: true }).extend({
  count: z.number().int().nonnegative().max(MAX_TELEMETRY_RECORDS),
  names: z.array(z.string().max(256)).max(3 * MAX_TELEMETRY_RECORDS),
});

const RECORD_BYTES = 4 * 8 + 3 * 4 + 2;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const encoder = new TextEncoder();

/**
 * The columns travel compressed at zlib's level 1: they repeat (the same names, statuses,
 * similar times), and level 1 takes most of that at a fraction of the default level's time.
 */
const LEVEL = 1;

/** Encodes `batch` as a planesync/3 telemetry frame (its columns; records made only if it has none). */
export function encodeTelemetryColumns(batch: TelemetryBatch): Promise<Uint8Array> {
  const columns = columnsOf(batch);
  const count = columns.length;
  const header = encoder.encode(
    JSON.stringify({
      stream: batch.stream,
      batch: batch.batch,
      firstSeq: batch.firstSeq,
      dropped: batch.dropped,
      count,
      names: columns.names,
    }),
  );
  const start = align(4 + header.byteLength);
  const bytes = new Uint8Array(start + RECORD_BYTES * count);
  new DataView(bytes.buffer).setUint32(0, header.byteLength, true);
  bytes.set(header, 4);
  let at = start;
  for (const column of [
    columns.at,
    columns.latencyMs,
    columns.requestBytes,
    columns.responseBytes,
    columns.service,
    columns.route,
    columns.consumer,
    columns.status,
  ]) {
    const view = new Uint8Array(column.buffer, column.byteOffset, column.byteLength);
    bytes.set(view, at);
    if (!LITTLE_ENDIAN) swap(bytes.subarray(at, at + view.byteLength), column.BYTES_PER_ELEMENT);
    at += view.byteLength;
  }
  return compressedFrame('telemetryColumns', bytes, { level: LEVEL });
}

/**
 * Inflates (never past `maxBytes`) and checks a planesync/3 telemetry frame's body: anything
 * but the layout above, or a record that is not one (a status outside 100–999, a negative or
 * infinite latency, a time that is not a number, a byte count that is not a whole number, a
 * name index past `names`), is a `PROTOCOL_VIOLATION` naming the record.
 */
export async function readTelemetryColumns(
  body: Uint8Array,
  maxBytes: number,
): Promise<TelemetryBatch> {
  let bytes = await inflate(body, maxBytes);
  // Typed arrays need their element size's alignment; an inflated buffer may start anywhere.
  // Copied by the Uint8Array constructor: zlib's result is a Buffer, whose slice() is a view.
  if (bytes.byteOffset % 8 !== 0) bytes = new Uint8Array(bytes);
  if (bytes.byteLength < 4) throw new ProtocolViolationError('a telemetry frame without a header');
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true);
  if (headerLength > bytes.byteLength - 4)
    throw new ProtocolViolationError('a telemetry header longer than its frame');
  const parsed = headerSchema.safeParse(
    parseJson(bytes.subarray(4, 4 + headerLength), 'telemetry header'),
  );
  if (!parsed.success)
    throw new ProtocolViolationError('invalid telemetry header', { cause: parsed.error });
  const { count, names, ...meta } = parsed.data;
  const start = align(4 + headerLength);
  if (bytes.byteLength !== start + RECORD_BYTES * count)
    throw new ProtocolViolationError(
      `a telemetry frame of ${bytes.byteLength} bytes for ${count} records: ${start + RECORD_BYTES * count} expected`,
    );
  for (let pad = 4 + headerLength; pad < start; pad++)
    if (bytes[pad] !== 0)
      throw new ProtocolViolationError('a telemetry header padded with non-zeros');
  let at = bytes.byteOffset + start;
  const take = <T>(
    make: (buffer: ArrayBufferLike, offset: number, length: number) => T,
    size: number,
  ) => {
    if (!LITTLE_ENDIAN) swap(new Uint8Array(bytes.buffer, at, size * count), size);
    const column = make(bytes.buffer, at, count);
    at += size * count;
    return column;
  };
  const float = (buffer: ArrayBufferLike, offset: number, length: number) =>
    new Float64Array(buffer, offset, length);
  const index = (buffer: ArrayBufferLike, offset: number, length: number) =>
    new Uint32Array(buffer, offset, length);
  const atColumn = take(float, 8);
  const latencyMs = take(float, 8);
  const requestBytes = take(float, 8);
  const responseBytes = take(float, 8);
  const service = take(index, 4);
  const route = take(index, 4);
  const consumer = take(index, 4);
  const status = take((buffer, offset, length) => new Uint16Array(buffer, offset, length), 2);
  const columns = new RecordColumns(
    count,
    names,
    service,
    route,
    consumer,
    status,
    latencyMs,
    atColumn,
    requestBytes,
    responseBytes,
  );
  checkColumns(columns);
  return columnBatch(meta, columns);
}

/** Every record a record: the checks of `telemetryRecordSchema`, column by column. */
function checkColumns(columns: RecordColumns): void {
  const fail = (i: number, what: string): never => {
    throw new ProtocolViolationError(`invalid telemetry record ${i}: ${what}`);
  };
  const { length, names } = columns;
  for (let i = 0; i < length; i++) {
    const status = columns.status[i]!;
    if (status < 100 || status > 999) fail(i, `status ${status} is not 100–999`);
    const latency = columns.latencyMs[i]!;
    if (!(latency >= 0) || latency === Number.POSITIVE_INFINITY)
      fail(i, 'latencyMs is not a finite number ≥ 0');
    if (!Number.isFinite(columns.at[i]!)) fail(i, 'at is not a finite number');
    const request = columns.requestBytes[i]!;
    if (!Number.isNaN(request) && !(Number.isSafeInteger(request) && request >= 0))
      fail(i, 'requestBytes is not a whole number ≥ 0');
    const response = columns.responseBytes[i]!;
    if (!Number.isNaN(response) && !(Number.isSafeInteger(response) && response >= 0))
      fail(i, 'responseBytes is not a whole number ≥ 0');
    if (columns.service[i]! > names.length) fail(i, 'service names no name');
    if (columns.route[i]! > names.length) fail(i, 'route names no name');
    if (columns.consumer[i]! > names.length) fail(i, 'consumer names no name');
  }
}

function align(offset: number): number {
  return Math.ceil(offset / 8) * 8;
}

/** Reverses each `width`-byte value of `bytes` in place (a big-endian machine's columns). */
function swap(bytes: Uint8Array, width: number): void {
  if (width === 1) return;
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (width === 2) buffer.swap16();
  else if (width === 4) buffer.swap32();
  else buffer.swap64();
}
