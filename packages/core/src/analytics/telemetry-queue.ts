import { randomUUID } from 'node:crypto';
import type { Clock, TimerId } from '../clock.ts';
import { InvalidArgumentError } from '../errors.ts';
import { MAX_TELEMETRY_RECORDS, type TelemetryBatch } from '../protocol/messages.ts';
import { columnBatch } from './record-columns.ts';
import { type DrainedRecords, RecordRing } from './record-ring.ts';
import { type RequestRecord, recordInto } from './request-record.ts';

/** Analytics options of a DataPlane. */
export interface AnalyticsOptions {
  /** Default 1000: the spec's `analytics_flush_interval` (1 s). */
  flushIntervalMs?: number;
  /** Default 100 000 requests: the spec's `analytics_buffer_size_limit`. */
  bufferSizeLimit?: number;
  /**
   * Most records in one telemetry frame: 1 to 100 000, default 10 000. A full batch (or half
   * the buffer, when less) does not wait for the interval: it goes as soon as the link is
   * free, the last batch acknowledged.
   */
  maxBatchRecords?: number;
}

/** The analytics buffer's state, in `dp.status.analytics`. */
export interface AnalyticsState {
  buffered: number;
  /** The most records the buffer holds (`bufferSizeLimit`): past it, the oldest are dropped. */
  capacity: number;
  /** Records dropped because the buffer was full, since start. */
  dropped: number;
  /** Records sent and not yet acknowledged. */
  inFlight: number;
}

/**
 * The DP's analytics: records go into a ring of `bufferSizeLimit`; every `flushIntervalMs`
 * while connected one batch goes to the CP (and a full batch, or half the buffer when less,
 * as soon as the last batch is acknowledged), and leaves the buffer only once acknowledged.
 * Disconnected, the unacknowledged batch returns to the front of the buffer in order; a full
 * buffer drops the oldest records and reports how many in the next batch.
 */
export class TelemetryQueue {
  readonly #ring: RecordRing;
  readonly #stream = randomUUID();
  readonly #flushIntervalMs: number;
  readonly #maxBatch: number;
  #nextSeq = 0;
  #nextBatch = 1;
  #unreportedDropped = 0;
  #totalDropped = 0;
  #inFlight: { batch: number; drained: DrainedRecords; dropped: number } | undefined;
  #send: ((batch: TelemetryBatch) => Promise<void>) | undefined;
  #timer: TimerId | undefined;
  /** A flush asked for the next turn of the event loop (a full batch waits, the link is free). */
  #soon: ReturnType<typeof setImmediate> | undefined;
  /**
   * Buffered records that go without waiting for the interval: a full batch, or half the
   * buffer when that is less (so a buffer smaller than two batches still drains before it
   * drops).
   */
  readonly #fullMark: number;
  /** The clock as read in this turn of the event loop, while `#nowRead`. */
  #now = 0;
  #nowRead = false;
  readonly #forgetNow = () => {
    this.#nowRead = false;
  };
  readonly #turnNow = (): number => {
    if (!this.#nowRead) {
      this.#now = this.clock.now();
      this.#nowRead = true;
      queueMicrotask(this.#forgetNow);
    }
    return this.#now;
  };

  constructor(
    private readonly clock: Clock,
    options: AnalyticsOptions = {},
  ) {
    this.#ring = new RecordRing(options.bufferSizeLimit ?? 100_000);
    this.#flushIntervalMs = options.flushIntervalMs ?? 1_000;
    this.#maxBatch = options.maxBatchRecords ?? 10_000;
    // A batch the CP refuses would be sent again forever: refused here, where it is set.
    if (
      !Number.isSafeInteger(this.#maxBatch) ||
      this.#maxBatch < 1 ||
      this.#maxBatch > MAX_TELEMETRY_RECORDS
    )
      throw new InvalidArgumentError(
        `analytics.maxBatchRecords is a whole number from 1 to ${MAX_TELEMETRY_RECORDS}, got ${this.#maxBatch}`,
      );
    this.#fullMark = Math.min(this.#maxBatch, Math.ceil(this.#ring.capacity / 2));
  }

  get state(): AnalyticsState {
    this.#collectDropped();
    return {
      buffered: this.#ring.length,
      capacity: this.#ring.capacity,
      dropped: this.#totalDropped,
      inFlight: this.#inFlight?.drained.seqs.length ?? 0,
    };
  }

  /**
   * Records one request; returns false (and records nothing) for a malformed one. Never throws.
   * A record without `at` is dated by the clock read once per turn of the event loop: reading
   * the clock costs more than the rest of recording here (~40 ns of ~65), and the requests
   * finished in one turn finished within that turn.
   */
  record(input: RequestRecord): boolean {
    if (!recordInto(input, this.#ring, this.#nextSeq, this.#turnNow)) return false;
    this.#nextSeq++;
    if (this.#ring.length >= this.#fullMark) this.#flushSoon();
    return true;
  }

  /** A connection is up: flush to it every interval. */
  attach(send: (batch: TelemetryBatch) => Promise<void>): void {
    this.#send = send;
    this.#schedule();
  }

  /**
   * The CP acknowledged `batch`: its records leave for good. When a full batch waits behind
   * it (a DP serving more requests than one batch an interval carries), the next goes on the
   * next turn of the event loop: a connected DP's backlog drains at the link's pace, where one
   * batch an interval would fill the buffer and drop records the CP could have had.
   */
  acknowledged(batch: number): void {
    if (this.#inFlight?.batch !== batch) return;
    this.#inFlight = undefined;
    if (this.#ring.length >= this.#fullMark) this.#flushSoon();
  }

  /**
   * A flush on the next turn, when connected and nothing is in flight: never inside the call
   * that asked (a link that acknowledges as it sends would recurse), and never more than one
   * batch a turn (requests are served between batches).
   */
  #flushSoon(): void {
    if (this.#soon || !this.#send || this.#inFlight) return;
    this.#soon = setImmediate(() => {
      this.#soon = undefined;
      void this.flush().catch(() => undefined);
    });
  }

  /** The connection is gone: the unacknowledged batch goes back to the front, in order. */
  detach(): void {
    this.#send = undefined;
    if (this.#timer) this.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#soon) clearImmediate(this.#soon);
    this.#soon = undefined;
    const lost = this.#inFlight;
    this.#inFlight = undefined;
    if (lost) {
      this.#ring.requeue(lost.drained);
      this.#unreportedDropped += lost.dropped;
    }
  }

  /** Sends one batch now if connected, nothing is in flight and records wait. */
  async flush(): Promise<void> {
    const send = this.#send;
    if (!send || this.#inFlight || this.#ring.length === 0) return;
    this.#collectDropped();
    const drained = this.#ring.drain(this.#maxBatch);
    const dropped = this.#unreportedDropped;
    this.#unreportedDropped = 0;
    const batch = this.#nextBatch++;
    this.#inFlight = { batch, drained, dropped };
    const body = columnBatch(
      { stream: this.#stream, batch, firstSeq: drained.seqs[0]!, dropped },
      drained.columns,
    );
    // A failed send leaves the batch in flight; `detach` returns it to the buffer.
    await send(body).catch(() => undefined);
  }

  #collectDropped(): void {
    const dropped = this.#ring.resetDropped();
    this.#unreportedDropped += dropped;
    this.#totalDropped += dropped;
  }

  #schedule(): void {
    this.#timer = this.clock.setTimeout(() => {
      void this.flush().finally(() => {
        if (this.#send) this.#schedule();
      });
    }, this.#flushIntervalMs);
  }
}
