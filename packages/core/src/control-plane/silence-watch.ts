import { type Clock, elapsedOn, type TimerId } from '../clock.ts';

/** One DP's place in a {@link SilenceWatch}: the watch writes every field but `expired`. */
export interface Watched {
  /** When its silence ends it; every frame moves it later. */
  silenceDeadline: number;
  /** The time it is queued for (never later than `silenceDeadline`). */
  silenceQueuedFor: number;
  /** Its index in the watch's heap; -1 when not watched. */
  silenceSlot: number;
  /** Its deadline came with no frame since. */
  silenceExpired(): void;
}

/**
 * Every DP's heartbeat deadline on one clock timer. A frame only writes a number (its DP's new
 * deadline): the watch looks at a DP when the time it queued it for comes, and queues it again
 * for its deadline when that has moved on. So 1 000 DPs cost one timer, not a timer and a
 * closure each made again for every frame (issue 23's "shared timer wheels"), and the deadline
 * is kept to the millisecond.
 *
 * A binary min-heap of the watched, by `silenceQueuedFor`; each knows its slot, so a DP that
 * goes away leaves at once and nothing of it stays.
 */
export class SilenceWatch {
  readonly #heap: Watched[] = [];
  #timer: TimerId | undefined;
  #timerAt = Number.POSITIVE_INFINITY;

  constructor(private readonly clock: Clock) {}

  /** How many DPs are watched. */
  get size(): number {
    return this.#heap.length;
  }

  /**
   * The watch's time: `clock.elapsed()`, which does not step with the wall clock, so a DP's
   * deadline is `now() + timeout` and an NTP correction moves none.
   */
  now(): number {
    return elapsedOn(this.clock);
  }

  /** `entry` expires at `deadline` (on the watch's {@link now}) unless this is called again before. */
  watch(entry: Watched, deadline: number): void {
    entry.silenceDeadline = deadline;
    if (entry.silenceSlot < 0) {
      entry.silenceQueuedFor = deadline;
      entry.silenceSlot = this.#heap.length;
      this.#heap.push(entry);
      this.#up(entry.silenceSlot);
    } else if (deadline < entry.silenceQueuedFor) {
      entry.silenceQueuedFor = deadline;
      this.#up(entry.silenceSlot);
    } else return; // later than it is queued for: looked at then
    this.#arm();
  }

  /** Stops watching `entry` (its link ended). */
  unwatch(entry: Watched): void {
    const slot = entry.silenceSlot;
    if (slot < 0) return;
    entry.silenceSlot = -1;
    const last = this.#heap.pop()!;
    if (last !== entry) {
      this.#heap[slot] = last;
      last.silenceSlot = slot;
      this.#down(slot);
      this.#up(last.silenceSlot);
    }
    if (this.#heap.length === 0 && this.#timer !== undefined) {
      this.clock.clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#timerAt = Number.POSITIVE_INFINITY;
    }
  }

  #due(): void {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = this.now();
    const expired: Watched[] = [];
    for (let root = this.#heap[0]; root && root.silenceQueuedFor <= now; root = this.#heap[0]) {
      if (root.silenceDeadline > now) {
        // A frame came since it was queued: queued again for its deadline.
        root.silenceQueuedFor = root.silenceDeadline;
        this.#down(0);
      } else {
        this.unwatch(root);
        expired.push(root);
      }
    }
    this.#arm();
    // After the heap is whole again: an expiry may unwatch or watch others.
    for (const entry of expired) {
      try {
        entry.silenceExpired();
      } catch {
        // A session reports through the CP's guarded emit: nothing of it may stop the others.
      }
    }
  }

  /** The one timer, for the earliest time queued. */
  #arm(): void {
    const next = this.#heap[0]?.silenceQueuedFor ?? Number.POSITIVE_INFINITY;
    if (next >= this.#timerAt) return;
    if (this.#timer !== undefined) this.clock.clearTimeout(this.#timer);
    this.#timerAt = next;
    this.#timer = this.clock.setTimeout(() => this.#due(), Math.max(0, next - this.now()));
  }

  #up(slot: number): void {
    const heap = this.#heap;
    const entry = heap[slot]!;
    while (slot > 0) {
      const parentSlot = (slot - 1) >> 1;
      const parent = heap[parentSlot]!;
      if (parent.silenceQueuedFor <= entry.silenceQueuedFor) break;
      heap[slot] = parent;
      parent.silenceSlot = slot;
      slot = parentSlot;
    }
    heap[slot] = entry;
    entry.silenceSlot = slot;
  }

  #down(slot: number): void {
    const heap = this.#heap;
    const entry = heap[slot]!;
    const { length } = heap;
    for (;;) {
      let child = 2 * slot + 1;
      if (child >= length) break;
      const right = child + 1;
      if (right < length && heap[right]!.silenceQueuedFor < heap[child]!.silenceQueuedFor)
        child = right;
      if (heap[child]!.silenceQueuedFor >= entry.silenceQueuedFor) break;
      heap[slot] = heap[child]!;
      heap[slot]!.silenceSlot = slot;
      slot = child;
    }
    heap[slot] = entry;
    entry.silenceSlot = slot;
  }
}
