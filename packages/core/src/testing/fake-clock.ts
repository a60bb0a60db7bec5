import type { Clock, TimerId } from '../clock.ts';
import { InvalidArgumentError } from '../errors.ts';

interface FakeTimer {
  readonly id: number;
  readonly due: number;
  readonly callback: () => void;
}

/**
 * A {@link Clock} that only moves when told to. `advance(ms)` runs every timer that falls due
 * within `ms`, in order of due time (then of scheduling), setting `now()` to each timer's due
 * time and letting pending promise callbacks settle after each one — so a heartbeat that
 * schedules the next heartbeat, or a reconnect that awaits a connect, behaves as in real time.
 *
 * @example
 * ```ts
 * import { FakeClock } from '@planesync/core/testing';
 * const clock = new FakeClock();
 * let ticks = 0;
 * const tick = () => { ticks++; clock.setTimeout(tick, 30_000); };
 * clock.setTimeout(tick, 30_000);
 * await clock.advance(90_000); // ticks === 3
 * ```
 */
export class FakeClock implements Clock {
  #now: number;
  #nextId = 1;
  /** Live timers by id; the heap may still hold cleared ones, skipped when they surface. */
  #timers = new Map<number, FakeTimer>();
  /** A binary min-heap on (due, id): thousands of DPs' timers stay cheap to step through. */
  #heap: FakeTimer[] = [];

  /** @param start the initial `now()`, ms since the epoch (default 2026-01-01T00:00:00Z). */
  constructor(start: number = Date.UTC(2026, 0, 1)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): TimerId {
    const id = this.#nextId++;
    const wait = Number.isFinite(ms) ? Math.max(0, ms) : 0;
    const timer = { id, due: this.#now + wait, callback };
    this.#timers.set(id, timer);
    this.#heapPush(timer);
    return { id } as unknown as TimerId;
  }

  clearTimeout(handle: TimerId): void {
    this.#timers.delete((handle as unknown as { id: number }).id);
  }

  /** How many timers are scheduled and not yet run or cleared. */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /** When the next timer falls due, or `undefined` when none is scheduled. */
  get nextDue(): number | undefined {
    return this.#earliest()?.due;
  }

  /**
   * Moves time forward by `ms`, running each timer due on the way in order.
   * Resolves with the number of timers it ran.
   */
  async advance(ms: number): Promise<number> {
    if (!(ms >= 0) || !Number.isFinite(ms)) {
      throw new InvalidArgumentError(`advance takes a finite ms ≥ 0, got ${ms}`);
    }
    const target = this.#now + ms;
    let ran = 0;
    await settle();
    for (let timer = this.#earliest(); timer && timer.due <= target; timer = this.#earliest()) {
      this.#timers.delete(timer.id);
      this.#now = timer.due;
      timer.callback();
      ran++;
      await settle();
    }
    this.#now = target;
    await settle();
    return ran;
  }

  /** Moves time to the next due timer and runs it (and any due at the same instant). */
  async runNext(): Promise<number> {
    const next = this.#earliest();
    return next ? this.advance(next.due - this.#now) : 0;
  }

  /** Lets pending promise callbacks and immediate I/O callbacks run, without moving time. */
  async flush(rounds = 1): Promise<void> {
    for (let i = 0; i < rounds; i++) await settle();
  }

  #earliest(): FakeTimer | undefined {
    const heap = this.#heap;
    while (heap.length > 0 && !this.#timers.has(heap[0]!.id)) this.#heapPop();
    return heap[0];
  }

  #heapPush(timer: FakeTimer): void {
    const heap = this.#heap;
    heap.push(timer);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  #heapPop(): void {
    const heap = this.#heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < heap.length && before(heap[left]!, heap[smallest]!)) smallest = left;
      if (right < heap.length && before(heap[right]!, heap[smallest]!)) smallest = right;
      if (smallest === i) return;
      [heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!];
      i = smallest;
    }
  }
}

/** Earlier due time first; for equal due times, the one scheduled first. */
function before(a: FakeTimer, b: FakeTimer): boolean {
  return a.due < b.due || (a.due === b.due && a.id < b.id);
}

/** One turn of the real event loop: every queued promise callback runs before it resolves. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
