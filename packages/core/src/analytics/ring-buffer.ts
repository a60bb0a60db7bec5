import { InvalidArgumentError } from '../errors.ts';

/** The slots a buffer starts with: it doubles as entries come, up to its capacity. */
const INITIAL_SLOTS = 1_024;

/**
 * A fixed-capacity FIFO: `push` is O(1) (amortised) and, when full, evicts the oldest entry and
 * counts it in `dropped` — the spec's analytics buffer, which "starts dropping older data" once
 * it fills. Of capacity 3, pushing 1, 2, 3, 4 leaves [2, 3, 4] with `dropped` 1, and `drain(2)`
 * takes [2, 3]. Its array grows by doubling up to the capacity, so an idle DP's buffer of
 * 100 000 holds a thousand slots, not a hundred thousand. Internal: the DataPlane's analytics
 * buffer.
 */
export class RingBuffer<T> implements Iterable<T> {
  readonly capacity: number;
  #items: Array<T | undefined>;
  /** `#items.length`, kept in a field: read on every push. */
  #size: number;
  #head = 0;
  #length = 0;
  #dropped = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new InvalidArgumentError(
        `a ring buffer needs a whole capacity of at least 1, got ${capacity}`,
      );
    }
    this.capacity = capacity;
    this.#size = Math.min(capacity, INITIAL_SLOTS);
    this.#items = new Array<T | undefined>(this.#size);
  }

  /** @internal The slots allocated now (at most `capacity`). */
  get allocated(): number {
    return this.#items.length;
  }

  /** Room for `needed` entries, doubling the array (its entries made contiguous from 0). */
  #reserve(needed: number): void {
    const size = this.#items.length;
    if (needed <= size) return;
    let grown = size;
    while (grown < needed) grown *= 2;
    const items = new Array<T | undefined>(Math.min(this.capacity, grown));
    for (let i = 0; i < this.#length; i++) items[i] = this.#items[(this.#head + i) % size];
    this.#items = items;
    this.#size = items.length;
    this.#head = 0;
  }

  get length(): number {
    return this.#length;
  }

  /** Entries evicted because the buffer was full, since construction (or `resetDropped`). */
  get dropped(): number {
    return this.#dropped;
  }

  /** Appends at the newest end; when full, evicts the oldest and counts it as dropped. */
  push(item: T): void {
    // On the request path: no modulo, and the growth check only when the array is full.
    if (this.#length === this.#size && this.#size < this.capacity) this.#reserve(this.#size + 1);
    const size = this.#size;
    let tail = this.#head + this.#length;
    if (tail >= size) tail -= size;
    this.#items[tail] = item;
    if (this.#length === this.capacity) {
      const head = this.#head + 1;
      this.#head = head === size ? 0 : head;
      this.#dropped++;
    } else {
      this.#length++;
    }
  }

  /**
   * Puts `items` (oldest first) back at the oldest end, as they were before a `drain` — for a
   * batch that was never acknowledged. What no longer fits is dropped from the oldest end.
   */
  requeue(items: readonly T[]): void {
    const room = this.capacity - this.#length;
    const kept = items.length > room ? items.slice(items.length - room) : items;
    this.#dropped += items.length - kept.length;
    this.#reserve(this.#length + kept.length);
    const size = this.#items.length;
    for (let i = kept.length - 1; i >= 0; i--) {
      this.#head = (this.#head - 1 + size) % size;
      this.#items[this.#head] = kept[i];
      this.#length++;
    }
  }

  /** Removes and returns up to `max` entries from the oldest end, oldest first. */
  drain(max: number = this.#length): T[] {
    const count = Math.max(0, Math.min(Math.floor(max), this.#length));
    const out = new Array<T>(count);
    for (let i = 0; i < count; i++) {
      out[i] = this.#items[this.#head] as T;
      this.#items[this.#head] = undefined;
      this.#head = (this.#head + 1) % this.#items.length;
    }
    this.#length -= count;
    return out;
  }

  /** The oldest entry, without removing it. */
  peek(): T | undefined {
    return this.#length === 0 ? undefined : this.#items[this.#head];
  }

  clear(): void {
    this.#size = Math.min(this.capacity, INITIAL_SLOTS);
    this.#items = new Array<T | undefined>(this.#size);
    this.#head = 0;
    this.#length = 0;
  }

  /** Sets `dropped` back to 0 and returns what it was. */
  resetDropped(): number {
    const dropped = this.#dropped;
    this.#dropped = 0;
    return dropped;
  }

  *[Symbol.iterator](): Iterator<T> {
    const size = this.#items.length;
    for (let i = 0; i < this.#length; i++) yield this.#items[(this.#head + i) % size] as T;
  }
}
