import { gunzipSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { columnBatch, RecordColumns } from '../src/analytics/record-columns.ts';
import { RecordRing } from '../src/analytics/record-ring.ts';
import { TelemetryQueue } from '../src/analytics/telemetry-queue.ts';
import {
  decodeFrame,
  EMPTY_CONFIG_HASH,
  encodeMessage,
  type TelemetryBatch,
  type TelemetryRecord,
} from '../src/index.ts';
import { encodeTelemetryColumns, readTelemetryColumns } from '../src/protocol/telemetry-columns.ts';
import { createTestCluster, FakeClock, type TestCluster } from '../src/testing/index.ts';
import { checkAgainstFifoModel, fifoOperations } from './fifo-model.ts';

const MiB = 1024 * 1024;

const recordArbitrary: fc.Arbitrary<TelemetryRecord> = fc.record(
  {
    service: fc.string({ minLength: 1, maxLength: 256 }),
    route: fc.constantFrom('r1', 'r2', 'ルート', '"quoted"\n'),
    consumer: fc.string({ minLength: 1, maxLength: 8 }),
    status: fc.integer({ min: 100, max: 999 }),
    latencyMs: fc.double({ min: 0, max: 1e9, noNaN: true }),
    requestBytes: fc.maxSafeNat(),
    responseBytes: fc.nat(),
    at: fc.double({ min: -1e15, max: 1e15, noNaN: true }),
  },
  { requiredKeys: ['status', 'latencyMs', 'at'], noNullPrototype: true },
);

function batchOf(records: TelemetryRecord[]): TelemetryBatch {
  return { stream: 'stream-1', batch: 7, firstSeq: 40, dropped: 3, records };
}

/** The inflated payload of a columns frame, to tamper with, and the frame made of it again. */
async function payloadOf(records: TelemetryRecord[]): Promise<Uint8Array> {
  const frame = await encodeTelemetryColumns(batchOf(records));
  expect(frame[0]).toBe(0x0c);
  return new Uint8Array(gunzipSync(frame.subarray(1)));
}

/** Where column `index` (0 `at` … 7 `status`) starts in a payload of `count` records. */
function columnStart(payload: Uint8Array, count: number, index: number): number {
  const header = new DataView(payload.buffer, payload.byteOffset).getUint32(0, true);
  const start = Math.ceil((4 + header) / 8) * 8;
  const widths = [8, 8, 8, 8, 4, 4, 4, 2];
  return start + widths.slice(0, index).reduce((sum, width) => sum + width * count, 0);
}

const read = (payload: Uint8Array, maxBytes = MiB) =>
  readTelemetryColumns(gzipSync(payload), maxBytes);

describe('telemetry as columns (planesync/3)', () => {
  it('a batch travels as columns and arrives as the records that were recorded, absent fields absent', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(recordArbitrary, { maxLength: 300 }), async (records) => {
        const frame = await encodeTelemetryColumns(batchOf(records));
        const batch = await readTelemetryColumns(frame.subarray(1), 16 * MiB);
        expect(batch).toMatchObject({ stream: 'stream-1', batch: 7, firstSeq: 40, dropped: 3 });
        expect(batch.records).toStrictEqual(records);
        // The same batch as planesync/2's JSON carries the same records.
        expect(JSON.parse(JSON.stringify(batch)).records).toStrictEqual(
          JSON.parse(JSON.stringify(records)),
        );
      }),
      { numRuns: 100 },
    );
  });

  it('names each distinct name once, so 10 000 records of a few routes take a few bytes each', async () => {
    const records = Array.from({ length: 10_000 }, (_, i) => ({
      service: `service-${i % 20}`,
      route: `route-${i % 50}`,
      status: 200,
      latencyMs: (i % 97) / 4,
      at: 1_700_000_000_000 + i,
    }));
    const frame = await encodeTelemetryColumns(batchOf(records));
    const json = gzipSync(JSON.stringify(batchOf(records)));
    expect(frame.byteLength).toBeLessThan(json.byteLength);
    expect((await readTelemetryColumns(frame.subarray(1), 16 * MiB)).records).toStrictEqual(
      records,
    );
  });

  it.each([
    [0, 0, Number.NaN, 'at is not a finite number'],
    [0, 0, Number.POSITIVE_INFINITY, 'at is not a finite number'],
    [1, 0, -1, 'latencyMs is not a finite number ≥ 0'],
    [1, 0, Number.NaN, 'latencyMs is not a finite number ≥ 0'],
    [1, 0, Number.POSITIVE_INFINITY, 'latencyMs is not a finite number ≥ 0'],
    [2, 1, 1.5, 'requestBytes is not a whole number ≥ 0'],
    [2, 1, -2, 'requestBytes is not a whole number ≥ 0'],
    [3, 1, 2 ** 60, 'responseBytes is not a whole number ≥ 0'],
    [4, 1, 4, 'service names no name'],
    [5, 0, 99, 'route names no name'],
    [6, 1, 2 ** 32 - 1, 'consumer names no name'],
    [7, 1, 99, 'status 99 is not 100–999'],
    [7, 0, 1000, 'status 1000 is not 100–999'],
  ])('refuses column %i of record %i holding %d: %s', async (column, index, value, message) => {
    const records = [
      { service: 'a', route: 'b', status: 200, latencyMs: 1, at: 1 },
      { service: 'a', consumer: 'c', status: 500, latencyMs: 2, at: 2, requestBytes: 1 },
    ];
    const payload = await payloadOf(records);
    const at = columnStart(payload, records.length, column);
    const view = new DataView(payload.buffer, payload.byteOffset);
    if (column < 4) view.setFloat64(at + 8 * index, value, true);
    else if (column < 7) view.setUint32(at + 4 * index, value, true);
    else view.setUint16(at + 2 * index, value, true);
    await expect(read(payload)).rejects.toMatchObject({
      code: 'PROTOCOL_VIOLATION',
      message: `invalid telemetry record ${index}: ${message}`,
    });
  });

  it('refuses a frame whose layout is not the header’s: a byte short or long, a header past its end, a header that is not one', async () => {
    const payload = await payloadOf([{ status: 200, latencyMs: 1, at: 1 }]);
    await expect(read(payload.subarray(0, payload.byteLength - 1))).rejects.toMatchObject({
      code: 'PROTOCOL_VIOLATION',
      message: expect.stringContaining('for 1 records'),
    });
    const longer = new Uint8Array(payload.byteLength + 1);
    longer.set(payload);
    await expect(read(longer)).rejects.toMatchObject({ code: 'PROTOCOL_VIOLATION' });
    const lying = payload.slice();
    new DataView(lying.buffer).setUint32(0, lying.byteLength, true);
    await expect(read(lying)).rejects.toMatchObject({
      message: 'a telemetry header longer than its frame',
    });
    await expect(read(Uint8Array.of(1, 0))).rejects.toMatchObject({
      message: 'a telemetry frame without a header',
    });
    const headerLength = new DataView(payload.buffer, payload.byteOffset).getUint32(0, true);
    expect((4 + headerLength) % 8).not.toBe(0); // this header is followed by padding
    const padded = payload.slice();
    padded[4 + headerLength] = 1;
    await expect(read(padded)).rejects.toMatchObject({
      message: 'a telemetry header padded with non-zeros',
    });
    const header = (fields: object) => {
      const json = new TextEncoder().encode(JSON.stringify(fields));
      const bytes = new Uint8Array(Math.ceil((4 + json.byteLength) / 8) * 8);
      new DataView(bytes.buffer).setUint32(0, json.byteLength, true);
      bytes.set(json, 4);
      return bytes;
    };
    const fields = { stream: 's', batch: 1, firstSeq: 0, dropped: 0, count: 0, names: [] };
    await expect(read(header(fields))).resolves.toMatchObject({ records: [] });
    for (const bad of [
      { ...fields, count: -1 },
      { ...fields, count: 100_001 },
      { ...fields, names: ['x'.repeat(257)] },
      { ...fields, stream: '' },
      { ...fields, names: undefined },
    ])
      await expect(read(header(bad))).rejects.toMatchObject({
        code: 'PROTOCOL_VIOLATION',
        message: 'invalid telemetry header',
      });
  });

  it('never inflates past the CP’s limit: a bomb is PAYLOAD_TOO_LARGE', async () => {
    const bomb = gzipSync(new Uint8Array(8 * MiB));
    await expect(readTelemetryColumns(bomb, MiB)).rejects.toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
    });
    await expect(readTelemetryColumns(Uint8Array.of(1, 2, 3), MiB)).rejects.toMatchObject({
      code: 'PROTOCOL_VIOLATION',
    });
  });

  it('any byte changed or cut in a frame is refused with a typed error or read as valid records, never anything else', async () => {
    const records = Array.from({ length: 40 }, (_, i) => ({
      service: `s${i % 3}`,
      status: 200 + i,
      latencyMs: i,
      at: i,
      requestBytes: i,
    }));
    const payload = await payloadOf(records);
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: payload.byteLength - 1 }),
        fc.integer({ min: 0, max: 255 }),
        fc.boolean(),
        async (position, byte, cut) => {
          const bent = cut ? payload.subarray(0, position) : payload.slice();
          if (!cut) bent[position] = byte;
          try {
            const batch = await read(bent);
            for (const record of batch.records) {
              expect(record.status).toBeGreaterThanOrEqual(100);
              expect(record.latencyMs).toBeGreaterThanOrEqual(0);
              expect(Number.isFinite(record.at)).toBe(true);
            }
          } catch (error) {
            expect((error as { code?: string }).code).toBe('PROTOCOL_VIOLATION');
          }
        },
      ),
      { numRuns: 2_000 },
    );
  });
});

describe('the DP’s analytics buffer as columns', () => {
  const record = (n: number) => ({
    service: n % 3 === 0 ? undefined : `s${n % 5}`,
    status: 100 + (n % 900),
    latencyMs: n,
    at: n,
    requestBytes: n % 2 === 0 ? n : Number.NaN,
  });
  const push = (ring: RecordRing, n: number) => {
    const r = record(n);
    ring.push(n, r.status, r.latencyMs, r.at, r.service, undefined, 'c', r.requestBytes, 1);
  };
  const numbers = (drained: { seqs: Float64Array; columns: RecordColumns }) => {
    const { seqs, columns } = drained;
    const out: number[] = [];
    for (let i = 0; i < seqs.length; i++) {
      const r = record(seqs[i]!);
      // Every field came back with its record.
      expect(columns.record(i)).toStrictEqual({
        status: r.status,
        latencyMs: r.latencyMs,
        at: r.at,
        consumer: 'c',
        responseBytes: 1,
        ...(r.service ? { service: r.service } : {}),
        ...(Number.isNaN(r.requestBytes) ? {} : { requestBytes: r.requestBytes }),
      });
      out.push(seqs[i]!);
    }
    return out;
  };

  it('holds what a plain FIFO of its capacity holds, through chunks, drops and requeues, holding chunks only for the records it has', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5_000 }), fifoOperations, (capacity, operations) => {
        const ring = new RecordRing(capacity);
        let lastModel: readonly number[] = [];
        let lastDropped = 0;
        checkAgainstFifoModel(
          capacity,
          operations,
          {
            push: (n) => push(ring, n),
            drain: (max) => {
              const drained = ring.drain(max);
              return { taken: numbers(drained), requeue: () => ring.requeue(drained) };
            },
          },
          (model, dropped) => {
            expect(ring.length).toBe(model.length);
            // The records plus at most two partly used chunks and the spare.
            expect(ring.allocated).toBeLessThanOrEqual(model.length + 3 * 1_024);
            lastModel = model;
            lastDropped = dropped;
          },
        );
        expect(numbers(ring.drain(Number.POSITIVE_INFINITY))).toEqual(lastModel);
        expect(ring.resetDropped()).toBe(lastDropped);
        expect(ring.resetDropped()).toBe(0);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses a batch size the CP would refuse (0, a fraction, more than 100 000) when the queue is made', () => {
    for (const maxBatchRecords of [0, 1.5, 100_001, Number.NaN])
      expect(() => new TelemetryQueue(new FakeClock(), { maxBatchRecords })).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
      );
    expect(() => new TelemetryQueue(new FakeClock(), { maxBatchRecords: 100_000 })).not.toThrow();
  });

  it('an idle DP’s buffer of 100 000 holds no record slots until records come', () => {
    const ring = new RecordRing(100_000);
    expect(ring.allocated).toBe(0);
    for (let n = 0; n < 1_500; n++) push(ring, n);
    expect(ring.allocated).toBe(2_048);
    ring.drain(1_500);
    expect(ring.allocated).toBeLessThanOrEqual(1_024);
  });

  it('dates a record without `at` by the clock as read in the turn of the event loop that recorded it', async () => {
    const timers = new FakeClock();
    let now = 1_000_000;
    const clock = {
      now: () => now,
      setTimeout: timers.setTimeout.bind(timers),
      clearTimeout: timers.clearTimeout.bind(timers),
    };
    const queue = new TelemetryQueue(clock);
    const sent: TelemetryBatch[] = [];
    queue.record({ status: 200, latencyMs: 1 });
    now = 1_000_500; // within the turn: the turn's time stays
    queue.record({ status: 200, latencyMs: 1 });
    await Promise.resolve();
    queue.record({ status: 200, latencyMs: 1 });
    queue.record({ status: 200, latencyMs: 1, at: 42 });
    queue.attach(async (batch) => {
      sent.push(batch);
    });
    await queue.flush();
    expect(sent[0]!.records.map((r) => r.at)).toEqual([1_000_000, 1_000_000, 1_000_500, 42]);
    queue.detach();
  });
});

describe('planesync/3 telemetry between CP and DP', () => {
  let cluster: TestCluster | undefined;
  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  /** A DP by hand: a hello offering `protocols`, and what the CP answers. */
  async function handMade(protocols: string[]) {
    const connection = await cluster!.transport
      .client({ certificates: [cluster!.certificate] })
      .connect();
    await connection.send(
      encodeMessage('hello', {
        protocol: protocols[0]!,
        protocols,
        nodeId: `hand-${protocols[0]}`,
        hostname: 'h',
        version: '3.10.0',
        configHash: EMPTY_CONFIG_HASH,
        configVersion: 0,
      }),
    );
    const frames = connection[Symbol.asyncIterator]();
    const welcome = decodeFrame((await frames.next()).value as Uint8Array);
    const next = async () => decodeFrame((await frames.next()).value as Uint8Array);
    return { connection, welcome, next };
  }

  const records = [
    { service: 'orders', route: 'get', status: 200, latencyMs: 3, at: 1 },
    { service: 'orders', consumer: 'alice', status: 503, latencyMs: 9, at: 2, responseBytes: 10 },
  ];

  it('a DP that speaks planesync/3 sends columns; one that speaks only planesync/2 sends JSON; the CP counts both alike', async () => {
    cluster = await createTestCluster();
    const events: Array<{ nodeId: string; records: TelemetryRecord[] }> = [];
    cluster.cp.on('analytics', (event) => events.push({ ...event }));
    const columns = await handMade(['planesync/3', 'planesync/2']);
    const json = await handMade(['planesync/2']);
    expect(columns.welcome.body).toMatchObject({ protocol: 'planesync/3' });
    expect(json.welcome.body).toMatchObject({ protocol: 'planesync/2' });
    await columns.connection.send(await encodeTelemetryColumns(batchOf(records)));
    const { encodeCompressed } = await import('../src/index.ts');
    await json.connection.send(await encodeCompressed('telemetry', batchOf(records)));
    const acks = [
      await nextOf(columns.next, 'telemetryAck'),
      await nextOf(json.next, 'telemetryAck'),
    ];
    expect(acks).toEqual([{ batch: 7 }, { batch: 7 }]);
    expect(events).toEqual([
      expect.objectContaining({ nodeId: 'hand-planesync/3', records }),
      expect.objectContaining({ nodeId: 'hand-planesync/2', records }),
    ]);
    const summary = cluster.cp.analytics.summary();
    expect(summary.total.requests).toBe(4);
    expect(summary.services.orders?.statusClasses).toEqual({ '2xx': 2, '5xx': 2 });
    expect(summary.consumers.alice?.responseBytes).toBe(20);
    expect(summary.dropped).toBe(6);
    await columns.connection.close();
    await json.connection.close();
  });

  it('columns on a link that chose planesync/2, or a forged columns frame, close only that link with PROTOCOL_VIOLATION, counting nothing', async () => {
    cluster = await createTestCluster();
    const errors: string[] = [];
    cluster.cp.on('error', (error) => errors.push(error.code));
    const old = await handMade(['planesync/2']);
    await old.connection.send(await encodeTelemetryColumns(batchOf(records)));
    expect(await old.connection.closed).toMatchObject({ code: 1002 });
    const forger = await handMade(['planesync/3']);
    const payload = await payloadOf(records);
    const at = columnStart(payload, records.length, 7);
    new DataView(payload.buffer, payload.byteOffset).setUint16(at, 42, true);
    await forger.connection.send(Uint8Array.of(0x0c, ...gzipSync(payload)));
    expect(await forger.connection.closed).toMatchObject({ code: 1002 });
    expect(errors).toEqual(['PROTOCOL_VIOLATION', 'PROTOCOL_VIOLATION']);
    expect(cluster.cp.analytics.summary().total.requests).toBe(0);
    // A DP of this release still gets through, sending columns.
    const dp = cluster.dataPlane();
    const connected = new Promise((resolve) => dp.once('connected', resolve));
    await dp.start();
    await connected;
    dp.recordRequest({ service: 'orders', status: 200, latencyMs: 1 });
    await cluster.clock.advance(1_000);
    await cluster.clock.advance(0);
    expect(cluster.cp.analytics.summary().total.requests).toBe(1);
  });
});

async function nextOf(next: () => Promise<ReturnType<typeof decodeFrame>>, type: string) {
  for (;;) {
    const message = await next();
    if (message.type === type) return message.body;
  }
}

// The batch a DP hands its protocol is the columns' own: records are made only when read.
it('a drained batch makes its records only when read, once', () => {
  const columns = RecordColumns.fromRecords([{ status: 200, latencyMs: 1, at: 1 }]);
  const batch = columnBatch({ stream: 's', batch: 1, firstSeq: 0, dropped: 0 }, columns);
  expect(batch.records).toBe(batch.records);
  expect(JSON.parse(JSON.stringify(batch))).toEqual({
    stream: 's',
    batch: 1,
    firstSeq: 0,
    dropped: 0,
    records: [{ status: 200, latencyMs: 1, at: 1 }],
  });
});

// The CP counts a batch in slices of 2 000: each slice must cost by its records, not by the
// batch's names, or a batch of 100 000 records naming 300 000 consumers costs 50 × 300 000.
it('counts a batch of many distinct names in time by its records, not its records times its names', async () => {
  const { AnalyticsAggregator, ingestColumns } = await import('../src/analytics/aggregator.ts');
  const count = 100_000;
  const timeToCount = (name: (i: number, kind: string) => string) => {
    const columns = RecordColumns.fromRecords(
      Array.from({ length: count }, (_, i) => ({
        service: name(i, 's'),
        route: name(i, 'r'),
        consumer: name(i, 'c'),
        status: 200,
        latencyMs: 1,
        at: 1,
      })),
    );
    const aggregator = new AnalyticsAggregator(new FakeClock(), { maxKeys: 10 });
    aggregator.takeInterval();
    const started = performance.now();
    for (let from = 0; from < count; from += 2_000)
      ingestColumns(
        aggregator,
        'dp',
        { stream: 's', firstSeq: from, dropped: 0 },
        columns,
        from,
        from + 2_000,
      );
    expect(aggregator.summary().total.requests).toBe(count);
    return performance.now() - started;
  };
  const few = timeToCount((i, kind) => `${kind}${i % 3}`);
  const many = timeToCount((i, kind) => `${kind}${i}`);
  expect(many).toBeLessThan(5 * few + 300);
});

// `AnalyticsEvent.records` is a plain, writable field of the public type: a listener that
// narrows it for the listeners after it did so before the records were made lazily.
it('an analytics event’s records may be replaced by a listener, as a plain field, and are counted as they are', async () => {
  const { withRecords, recordCount } = await import('../src/analytics/record-columns.ts');
  const columns = RecordColumns.fromRecords([
    { status: 200, latencyMs: 1, at: 1 },
    { status: 503, latencyMs: 2, at: 2 },
  ]);
  const event = withRecords({ nodeId: 'dp', batch: 1, dropped: 0 }, columns);
  expect(recordCount(event)).toBe(2);
  expect(() => {
    event.records = event.records.filter((record) => record.status >= 500);
  }).not.toThrow();
  expect(event.records).toEqual([{ status: 503, latencyMs: 2, at: 2 }]);
  expect(recordCount(event)).toBe(1);
  expect({ ...event }.records).toBe(event.records);
  expect(Object.keys(event)).toEqual(['nodeId', 'batch', 'dropped', 'records']);
});
