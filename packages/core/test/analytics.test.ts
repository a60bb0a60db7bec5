import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { LatencyHistogram } from '../src/analytics/latency-histogram.ts';
import { RingBuffer } from '../src/analytics/ring-buffer.ts';
import { TelemetryQueue } from '../src/analytics/telemetry-queue.ts';
import {
  AnalyticsAggregator,
  type Connection,
  type TelemetryBatch,
  type TransportClient,
} from '../src/index.ts';
import { createTestCluster, FakeClock, type TestCluster } from '../src/testing/index.ts';
import { checkAgainstFifoModel, fifoOperations } from './fifo-model.ts';

describe('RingBuffer', () => {
  it('pushes in O(1) and drops exactly the oldest when full, counting them', () => {
    const ring = new RingBuffer<number>(3);
    for (let n = 1; n <= 5; n++) ring.push(n);
    expect([...ring]).toEqual([3, 4, 5]);
    expect([ring.length, ring.capacity, ring.dropped, ring.peek()]).toEqual([3, 3, 2, 3]);
  });

  it('drains from the oldest end', () => {
    const ring = new RingBuffer<number>(4);
    for (let n = 1; n <= 4; n++) ring.push(n);
    expect(ring.drain(3)).toEqual([1, 2, 3]);
    ring.push(5);
    expect(ring.drain()).toEqual([4, 5]);
    expect(ring.length).toBe(0);
    expect(ring.peek()).toBeUndefined();
  });

  it('requeues an unacknowledged batch at the front in order, dropping what no longer fits from the oldest end', () => {
    const ring = new RingBuffer<number>(5);
    for (let n = 1; n <= 5; n++) ring.push(n);
    const batch = ring.drain(3);
    ring.push(6);
    ring.push(7);
    ring.requeue(batch);
    expect([...ring]).toEqual([1, 2, 3, 4, 5, 6, 7].slice(2));
    expect(ring.dropped).toBe(2);
  });

  it('holds what a plain FIFO of its capacity holds, through growth, wrap-around and requeues, allocating only as entries come', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5_000 }), fifoOperations, (capacity, operations) => {
        const ring = new RingBuffer<number>(capacity);
        checkAgainstFifoModel(
          capacity,
          operations,
          {
            push: (n) => ring.push(n),
            drain: (max) => {
              const taken = ring.drain(max);
              return { taken, requeue: () => ring.requeue(taken) };
            },
          },
          (model, dropped) => {
            expect([...ring]).toEqual(model);
            expect([ring.length, ring.dropped, ring.peek()]).toEqual([
              model.length,
              dropped,
              model[0],
            ]);
            expect(ring.allocated).toBeLessThanOrEqual(capacity);
          },
        );
      }),
      { numRuns: 200 },
    );
    // An idle DP's buffer of 100 000 holds a thousand slots until records come.
    const idle = new RingBuffer<number>(100_000);
    expect(idle.allocated).toBe(1_024);
    for (let n = 0; n < 1_500; n++) idle.push(n);
    expect(idle.allocated).toBe(2_048);
  });

  it('clears, resets its dropped count, and refuses a bad capacity', () => {
    const ring = new RingBuffer<number>(1);
    ring.push(1);
    ring.push(2);
    expect(ring.resetDropped()).toBe(1);
    expect(ring.dropped).toBe(0);
    ring.clear();
    expect(ring.length).toBe(0);
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(() => new RingBuffer(bad)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
      );
    }
  });
});

describe('LatencyHistogram', () => {
  it('gives quantiles within 2 % and merges by adding counts', () => {
    const a = new LatencyHistogram();
    const b = new LatencyHistogram();
    for (let ms = 1; ms <= 50; ms++) a.add(ms);
    for (let ms = 51; ms <= 100; ms++) b.add(ms);
    a.merge(b);
    expect(a.count).toBe(100);
    for (const [q, exact] of [
      [0.5, 50],
      [0.95, 95],
      [0.99, 99],
    ] as const) {
      expect(Math.abs(a.quantile(q) - exact) / exact).toBeLessThanOrEqual(0.02);
    }
  });
});

describe('CP analytics aggregation', () => {
  it('aggregates by service, route and consumer, with billing counters, as computed by hand', () => {
    const aggregator = new AnalyticsAggregator(new FakeClock(0));
    aggregator.setServiceCount(2);
    const batch = (
      stream: string,
      firstSeq: number,
      records: TelemetryBatch['records'],
    ): TelemetryBatch => ({
      stream,
      batch: 1,
      firstSeq,
      dropped: 0,
      records,
    });
    aggregator.ingest(
      'dp-1',
      batch('s1', 0, [
        {
          service: 'orders',
          route: 'orders-get',
          consumer: 'alice',
          status: 200,
          latencyMs: 10,
          requestBytes: 100,
          responseBytes: 1000,
          at: 1,
        },
        {
          service: 'orders',
          route: 'orders-get',
          consumer: 'bob',
          status: 404,
          latencyMs: 20,
          requestBytes: 50,
          responseBytes: 10,
          at: 2,
        },
        { service: 'billing', route: 'bill', status: 503, latencyMs: 300, at: 3 },
      ]),
    );
    aggregator.ingest(
      'dp-2',
      batch('s2', 0, [
        {
          service: 'orders',
          route: 'orders-post',
          consumer: 'alice',
          status: 201,
          latencyMs: 30,
          at: 4,
        },
      ]),
    );
    const summary = aggregator.summary();
    expect(summary.total.requests).toBe(4);
    expect(summary.total.statusClasses).toEqual({ '2xx': 2, '4xx': 1, '5xx': 1 });
    expect(summary.services.orders).toMatchObject({
      requests: 3,
      requestBytes: 150,
      responseBytes: 1010,
      statusClasses: { '2xx': 2, '4xx': 1 },
    });
    expect(summary.services.billing).toMatchObject({ requests: 1, statusClasses: { '5xx': 1 } });
    expect(Object.keys(summary.routes).sort()).toEqual(['bill', 'orders-get', 'orders-post']);
    expect(summary.consumers.alice?.requests).toBe(2);
    expect(summary.consumers.bob?.requests).toBe(1);
    expect(summary.billing).toEqual({
      services: 2,
      apiCalls: 4,
      apiCallsByDataPlane: { 'dp-1': 3, 'dp-2': 1 },
    });
    expect(Math.abs(summary.services.orders!.latencyMs.p50 - 20) / 20).toBeLessThanOrEqual(0.02);
  });

  it('counts a resent batch once', () => {
    const aggregator = new AnalyticsAggregator(new FakeClock(0));
    const records = [1, 2, 3].map((n) => ({ status: 200, latencyMs: n, at: n }));
    const first = aggregator.ingest('dp', {
      stream: 'x',
      batch: 1,
      firstSeq: 0,
      dropped: 4,
      records,
    });
    const again = aggregator.ingest('dp', {
      stream: 'x',
      batch: 2,
      firstSeq: 1,
      dropped: 4,
      records: [...records.slice(1), { status: 200, latencyMs: 4, at: 4 }],
    });
    expect([first.length, again.length]).toEqual([3, 1]);
    expect(aggregator.summary().total.requests).toBe(4);
    expect(aggregator.summary().dropped).toBe(4);
  });

  it('keeps a per-minute series of the last hour: requests and p95 by the minute they happened, older minutes gone', async () => {
    const minute = 60_000;
    const clock = new FakeClock(100 * minute);
    const aggregator = new AnalyticsAggregator(clock);
    let firstSeq = 0;
    const send = (records: Array<{ status: number; latencyMs: number; at: number }>) => {
      aggregator.ingest('dp', { stream: 's', batch: firstSeq, firstSeq, dropped: 0, records });
      firstSeq += records.length;
    };
    // 10 requests in minute 100 (latencies 1…10 ms), 3 in minute 99 arriving late, one 5xx.
    send(
      Array.from({ length: 10 }, (_, i) => ({ status: 200, latencyMs: i + 1, at: clock.now() })),
    );
    send(
      [1, 2, 3].map((n) => ({ status: n === 3 ? 503 : 200, latencyMs: 100, at: 99 * minute + n })),
    );
    // A DP clock a day off: counted in the minute it arrived.
    send([{ status: 200, latencyMs: 1, at: 100 * minute - 86_400_000 }]);
    expect(aggregator.series()).toMatchObject([
      { start: 99 * minute, requests: 3, statusClasses: { '2xx': 2, '5xx': 1 } },
      { start: 100 * minute, requests: 11 },
    ]);
    expect(aggregator.series()[1]!.latencyMs.p95).toBeCloseTo(10, -0.5);
    // An hour and a minute later, minute 100 has left the window; the slot is reused.
    await clock.advance(60 * minute);
    send([{ status: 200, latencyMs: 7, at: clock.now() }]);
    expect(aggregator.series()).toMatchObject([{ start: 160 * minute, requests: 1 }]);
    // reset() starts the totals afresh and keeps the series.
    aggregator.reset();
    expect(aggregator.series()).toHaveLength(1);
    expect(new AnalyticsAggregator(clock, { seriesMinutes: 0 }).series()).toEqual([]);
    expect(() => new AnalyticsAggregator(clock, { seriesMinutes: 1.5 })).toThrow(/seriesMinutes/);
  });
});

describe('the per-minute series whatever the DPs and the clock say', () => {
  const minute = 60_000;

  it('counts a request dated NaN, infinite, negative or far off in the minute it arrived, one slot', () => {
    const clock = new FakeClock(100 * minute + 30_000);
    const aggregator = new AnalyticsAggregator(clock);
    const hostile = [
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      -1,
      -Number.MAX_VALUE,
      Number.MAX_VALUE,
      Number.MAX_SAFE_INTEGER,
      2 ** 70,
    ];
    aggregator.ingest('dp', {
      stream: 's',
      batch: 0,
      firstSeq: 0,
      dropped: 0,
      records: hostile.map((at) => ({ status: 200, latencyMs: 1, at })),
    });
    expect(aggregator.series()).toMatchObject([{ start: 100 * minute, requests: hostile.length }]);
  });

  it('shows no minute after now when the clock is set back, and counts anew in the minutes it returns to', () => {
    let now = 100 * minute;
    // A FakeClock only goes forward: this one reads `now`.
    const clock = Object.assign(new FakeClock(), { now: () => now });
    const aggregator = new AnalyticsAggregator(clock);
    const send = (firstSeq: number) =>
      aggregator.ingest('dp', {
        stream: 's',
        batch: firstSeq,
        firstSeq,
        dropped: 0,
        records: [{ status: 200, latencyMs: 1, at: now }],
      });
    send(0);
    // NTP steps the clock back ten minutes: minute 100 has not happened yet.
    now = 90 * minute;
    expect(aggregator.series()).toEqual([]);
    send(1);
    expect(aggregator.series()).toMatchObject([{ start: 90 * minute, requests: 1 }]);
  });
});

describe('CP analytics stay bounded whatever the DPs send', () => {
  const batch = (
    stream: string,
    firstSeq: number,
    records: TelemetryBatch['records'],
    dropped = 0,
  ) => ({
    stream,
    batch: 1,
    firstSeq,
    dropped,
    records,
  });
  const record = (overrides: Partial<TelemetryBatch['records'][number]> = {}) => ({
    status: 200,
    latencyMs: 5,
    at: 0,
    ...overrides,
  });

  it('counts at most maxKeys names of a kind; the rest fold into (other), and are counted as folded', () => {
    const aggregator = new AnalyticsAggregator(new FakeClock(0), { maxKeys: 3 });
    const records = Array.from({ length: 10 }, (_, i) => record({ service: `s${i}`, route: 'r' }));
    aggregator.ingest('dp', batch('x', 0, records));
    const summary = aggregator.summary();
    expect(Object.keys(summary.services).sort()).toEqual(['(other)', 's0', 's1', 's2']);
    expect(summary.services['(other)']?.requests).toBe(7);
    expect(summary.folded).toEqual({ services: 7, routes: 0, consumers: 0 });
    expect(summary.total.requests).toBe(10);
  });

  it('merging intervals past maxKeys counts the records folded into (other), as one CP does', () => {
    const interval = (nodeId: string, service: string, requests: number) => {
      const aggregator = new AnalyticsAggregator(new FakeClock(0));
      aggregator.takeInterval();
      const records = Array.from({ length: requests }, () => record({ service }));
      aggregator.ingest(nodeId, batch(nodeId, 0, records));
      return aggregator.takeInterval()!;
    };
    const summary = AnalyticsAggregator.merge(
      [interval('dp-1', 'orders', 3), interval('dp-2', 'users', 5), interval('dp-3', 'cart', 2)],
      { since: 0, services: 0, maxKeys: 1 },
    );
    expect(summary.services['(other)']?.requests).toBe(7);
    expect(summary.folded.services).toBe(7);
    // An interval's own (other) was counted as folded by its CP: merged again, once.
    const again = AnalyticsAggregator.merge(
      [
        interval('dp-1', 'orders', 3),
        { ...interval('dp-2', 'users', 5), folded: { services: 5, routes: 0, consumers: 0 } },
      ].map((counts, i) =>
        i === 1 ? { ...counts, services: { '(other)': counts.services.users! } } : counts,
      ),
      { since: 0, services: 0, maxKeys: 1 },
    );
    expect(again.services['(other)']?.requests).toBe(5);
    expect(again.folded.services).toBe(5);
  });

  it('forgets a DP record stream silent for streamTtlMs, and keeps at most maxStreams', async () => {
    const clock = new FakeClock(0);
    const aggregator = new AnalyticsAggregator(clock, { streamTtlMs: 60_000, maxStreams: 2 });
    aggregator.ingest('dp', batch('a', 0, [record()]));
    aggregator.ingest('dp', batch('b', 0, [record()]));
    aggregator.ingest('dp', batch('c', 0, [record()]));
    expect(aggregator.streams).toBe(2);
    await clock.advance(61_000);
    aggregator.ingest('dp', batch('d', 0, [record()]));
    expect(aggregator.streams).toBe(1);
  });

  it('stops its counters at the largest safe integer and latencies at an hour', () => {
    const aggregator = new AnalyticsAggregator(new FakeClock(0));
    const huge = Number.MAX_SAFE_INTEGER;
    aggregator.ingest(
      'dp',
      batch('a', 0, [record({ latencyMs: 1e300, requestBytes: huge })], huge),
    );
    aggregator.ingest(
      'dp',
      batch('a', 1, [record({ latencyMs: 1e300, requestBytes: huge })], huge),
    );
    const summary = aggregator.summary();
    expect(summary.dropped).toBe(huge);
    expect(summary.total.requestBytes).toBe(huge);
    expect(summary.total.latencyMs.p99).toBeLessThanOrEqual(3_600_000 * 1.02);
  });

  it('a legal batch of 100 000 records is counted in slices, the event loop turning between them, once and acked', async () => {
    const cluster = await createTestCluster();
    try {
      const dp = await connectedDp(cluster, { analytics: { maxBatchRecords: 100_000 } });
      for (let i = 0; i < 100_000; i++)
        dp.recordRequest({ service: `s${i % 50}`, status: 200, latencyMs: 1 });
      // What the CP has counted, read at every turn of the event loop while it counts.
      const seen = new Set<number>();
      let ticking = true;
      const tick = () => {
        seen.add(cluster.cp.analytics.summary().total.requests);
        if (ticking) setImmediate(tick);
      };
      setImmediate(tick);
      const counted = new Promise<number>((resolve) =>
        cluster.cp.once('analytics', (event) => resolve(event.records.length)),
      );
      await cluster.clock.advance(1_000);
      expect(await counted).toBe(100_000);
      ticking = false;
      // Turns came between slices of 2 000: the loop saw the count part-way, slice by slice.
      const partial = [...seen].filter((n) => n > 0 && n < 100_000);
      expect(partial.length).toBeGreaterThanOrEqual(40);
      for (const n of partial) expect(n % 2_000).toBe(0);
      await cluster.clock.advance(0);
      expect(dp.status.analytics).toMatchObject({ buffered: 0, inFlight: 0 });
      expect(cluster.cp.analytics.summary().total.requests).toBe(100_000);
    } finally {
      await cluster.stop();
    }
  });
});

/** The DP's view of the CP with telemetry acknowledgements swallowed while `dropping()`. */
function dropAcks(client: TransportClient, dropping: () => boolean): TransportClient {
  return {
    async connect(options) {
      const connection: Connection = await client.connect(options);
      const iterate = connection[Symbol.asyncIterator].bind(connection);
      (connection as { [Symbol.asyncIterator]: () => AsyncIterator<Uint8Array> })[
        Symbol.asyncIterator
      ] = () => {
        const inner = iterate();
        return {
          async next() {
            for (;;) {
              const result = await inner.next();
              if (result.done || result.value[0] !== 0x0a || !dropping()) return result;
            }
          },
        };
      };
      return connection;
    },
  };
}

async function telemetryCluster(analytics = {}) {
  const cluster = await createTestCluster();
  const received: TelemetryBatch['records'] = [];
  const dropped: number[] = [];
  const deprecated: unknown[] = [];
  cluster.cp.on('analytics', (event) => {
    received.push(...event.records);
    dropped.push(event.dropped);
  });
  // The event's deprecated name carries the same event, for a release.
  cluster.cp.on('telemetry', (event) => deprecated.push(event));
  return { cluster, received, dropped, analytics, deprecated };
}

async function connectedDp(cluster: TestCluster, options = {}) {
  const dp = cluster.dataPlane({ random: () => 0, ...options });
  const connected = new Promise((resolve) => dp.once('connected', resolve));
  await dp.start();
  await connected;
  return dp;
}

/** Runs the fake clock `ms` forward in one-second steps (one flush interval each). */
async function run(cluster: TestCluster, ms: number) {
  for (let t = 0; t < ms; t += 1_000) await cluster.clock.advance(1_000);
}

describe('the DP telemetry queue, link by link', () => {
  const fill = (queue: TelemetryQueue, n: number) => {
    for (let i = 0; i < n; i++) queue.record({ status: 200, latencyMs: i });
  };
  const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

  it('a link that acknowledges as it sends drains a backlog one batch a turn, never inside the last send', async () => {
    const queue = new TelemetryQueue(new FakeClock(), { maxBatchRecords: 1 });
    fill(queue, 2_000);
    let depth = 0;
    let deepest = 0;
    let turn = 0;
    const sentInTurn: number[] = [];
    queue.attach(async (batch) => {
      sentInTurn[turn] = (sentInTurn[turn] ?? 0) + 1;
      deepest = Math.max(deepest, ++depth);
      queue.acknowledged(batch.batch); // a wire without acks: the link acks what it sends
      depth--;
    });
    await queue.flush();
    for (turn = 1; turn < 5_000 && queue.state.buffered > 0; turn++) await nextTurn();
    expect(queue.state).toMatchObject({ buffered: 0, inFlight: 0, dropped: 0 });
    expect(deepest).toBe(1);
    expect(Math.max(...sentInTurn.map((n) => n ?? 0))).toBe(1);
  });

  it('a buffer smaller than a batch still drains before it drops, at a rate the link carries', async () => {
    const clock = new FakeClock();
    const queue = new TelemetryQueue(clock, { bufferSizeLimit: 5_000, maxBatchRecords: 10_000 });
    let received = 0;
    queue.attach(async (batch) => {
      // A CP that acknowledges 5 ms later.
      clock.setTimeout(() => {
        received += batch.records.length;
        queue.acknowledged(batch.batch);
      }, 5);
    });
    // 6 000 requests a second for two seconds: more than the buffer holds between flushes.
    for (let ms = 0; ms < 2_000; ms += 10) {
      fill(queue, 60);
      await clock.advance(10);
      await nextTurn();
    }
    expect(queue.state.dropped).toBe(0);
    expect(received + queue.state.buffered + queue.state.inFlight).toBe(12_000);
  });
});

describe('DP analytics and telemetry', () => {
  it('flushes buffered requests to the CP every second', async () => {
    const { cluster, received, deprecated } = await telemetryCluster();
    try {
      const dp = await connectedDp(cluster);
      for (let i = 0; i < 3; i++) dp.recordRequest({ service: 'a', status: 200, latencyMs: i });
      await cluster.clock.advance(999);
      expect(received).toHaveLength(0);
      await run(cluster, 1_000);
      expect(received.map((r) => r.latencyMs)).toEqual([0, 1, 2]);
      expect(deprecated).toEqual([expect.objectContaining({ records: received })]);
      expect(dp.status.analytics).toEqual({
        buffered: 0,
        capacity: 100_000,
        dropped: 0,
        inFlight: 0,
      });
    } finally {
      await cluster.stop();
    }
  });

  it('a connected DP busier than one batch a second sends each full batch as soon as the link is free, the rest at the next flush', async () => {
    const { cluster, received } = await telemetryCluster();
    try {
      const dp = await connectedDp(cluster, {
        analytics: { maxBatchRecords: 100, bufferSizeLimit: 1_000 },
      });
      for (let i = 0; i < 1_000; i++) dp.recordRequest({ status: 200, latencyMs: i });
      // One flush interval: the first batch, then each next full one as the last is acked.
      await cluster.clock.advance(1_000);
      await vi.waitFor(() => expect(received).toHaveLength(1_000));
      // A full batch goes without waiting for the interval; what is left behind its ack,
      // short of a full batch, waits for the next one.
      for (let i = 1_000; i < 1_150; i++) dp.recordRequest({ status: 200, latencyMs: i });
      await vi.waitFor(() => expect(received).toHaveLength(1_100));
      for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve));
      expect(received).toHaveLength(1_100);
      expect(dp.status.analytics).toMatchObject({ buffered: 50, inFlight: 0, dropped: 0 });
      await cluster.clock.advance(1_000);
      await vi.waitFor(() => expect(received).toHaveLength(1_150));
      expect(received.map((r) => r.latencyMs)).toEqual(Array.from({ length: 1_150 }, (_, i) => i));
      expect(cluster.cp.analytics.summary().total.requests).toBe(1_150);
    } finally {
      await cluster.stop();
    }
  });

  it('buffers while disconnected and drains on reconnect, losing nothing below the limit', async () => {
    const { cluster, received } = await telemetryCluster();
    try {
      const dp = await connectedDp(cluster, { analytics: { maxBatchRecords: 1_000 } });
      await cluster.cp.stop();
      for (let i = 0; i < 5_000; i++) dp.recordRequest({ status: 200, latencyMs: i });
      expect(dp.status.analytics.buffered).toBe(5_000);
      await cluster.cp.start();
      await run(cluster, 15_000);
      expect(received.map((r) => r.latencyMs)).toEqual(Array.from({ length: 5_000 }, (_, i) => i));
      expect(dp.status.analytics.buffered).toBe(0);
    } finally {
      await cluster.stop();
    }
  });

  it('drops exactly the oldest records above the buffer limit and reports the count', async () => {
    const { cluster, received, dropped } = await telemetryCluster();
    try {
      const dp = await connectedDp(cluster, { analytics: { bufferSizeLimit: 1_000 } });
      await cluster.cp.stop();
      for (let i = 0; i < 1_500; i++) dp.recordRequest({ status: 200, latencyMs: i });
      expect(dp.status.analytics).toMatchObject({ buffered: 1_000, dropped: 500 });
      await cluster.cp.start();
      await run(cluster, 12_000);
      expect(received.map((r) => r.latencyMs)).toEqual(
        Array.from({ length: 1_000 }, (_, i) => 500 + i),
      );
      expect(dropped.reduce((a, b) => a + b, 0)).toBe(500);
      expect(cluster.cp.analytics.summary().dropped).toBe(500);
    } finally {
      await cluster.stop();
    }
  });

  it('loses nothing and duplicates nothing when acks are lost and the link drops mid-batch', async () => {
    const { cluster, received } = await telemetryCluster();
    try {
      let swallow = true;
      const dp = await connectedDp(cluster, {
        transport: dropAcks(
          cluster.transport.client({ certificates: [cluster.certificate] }),
          () => swallow,
        ),
        analytics: { maxBatchRecords: 100 },
      });
      for (let i = 0; i < 250; i++) dp.recordRequest({ status: 200, latencyMs: i });
      await run(cluster, 3_000); // the first batch arrives, its ack is lost: nothing more is sent
      expect(dp.status.analytics.inFlight).toBe(100);
      swallow = false;
      await cluster.cp.stop(); // the link drops with the batch unacknowledged
      expect(dp.status.analytics).toMatchObject({ inFlight: 0, buffered: 250 });
      await cluster.cp.start();
      await run(cluster, 15_000);
      expect(received.map((r) => r.latencyMs)).toEqual(Array.from({ length: 250 }, (_, i) => i));
      expect(cluster.cp.analytics.summary().billing.apiCalls).toBe(250);
      expect(dp.status.analytics).toEqual({
        buffered: 0,
        capacity: 100_000,
        dropped: 0,
        inFlight: 0,
      });
    } finally {
      await cluster.stop();
    }
  });

  it('never throws on the request path and sends only the counter fields', async () => {
    const { cluster, received } = await telemetryCluster();
    try {
      const dp = await connectedDp(cluster);
      for (const bad of [
        null,
        undefined,
        {},
        { status: 'ok', latencyMs: 1 },
        { status: 200, latencyMs: -1 },
        42,
      ]) {
        expect(dp.recordRequest(bad as never)).toBe(false);
      }
      const withSecrets = {
        service: 's',
        status: 200,
        latencyMs: 5,
        path: '/users/42',
        headers: { authorization: 'x' },
      };
      expect(dp.recordRequest(withSecrets as never)).toBe(true);
      await run(cluster, 2_000);
      expect(received).toHaveLength(1);
      expect(Object.keys(received[0]!).sort()).toEqual(['at', 'latencyMs', 'service', 'status']);
    } finally {
      await cluster.stop();
    }
  });
});
