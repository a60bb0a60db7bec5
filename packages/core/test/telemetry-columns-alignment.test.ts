import { gunzipSync } from 'node:zlib';
import { expect, it, vi } from 'vitest';
import { encodeTelemetryColumns, readTelemetryColumns } from '../src/protocol/telemetry-columns.ts';

// Node's zlib hands back a Buffer; a Buffer's slice() is a view, not a copy. An inflated body
// at an offset that is not a multiple of 8 must still be read (copied), never a RangeError.
vi.mock('../src/protocol/codec.ts', async (original) => {
  const codec = await original<typeof import('../src/protocol/codec.ts')>();
  return {
    ...codec,
    inflate: async (body: Uint8Array) => {
      const bytes = gunzipSync(body);
      const misaligned = Buffer.alloc(bytes.byteLength + 3);
      misaligned.set(bytes, 3);
      return misaligned.subarray(3);
    },
  };
});

it('reads a columns frame whose inflated bytes start at any offset', async () => {
  const records = [{ service: 'orders', status: 200, latencyMs: 3, at: 1, requestBytes: 5 }];
  const frame = await encodeTelemetryColumns({
    stream: 's',
    batch: 1,
    firstSeq: 0,
    dropped: 0,
    records,
  });
  const batch = await readTelemetryColumns(frame.subarray(1), 1024 * 1024);
  expect(batch.records).toStrictEqual(records);
});
