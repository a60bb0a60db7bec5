import { InvalidArgumentError } from '../errors.ts';

/**
 * A fixed-capacity FIFO in a preallocated array: `push` is O(1) and, when full, evicts the
 * oldest entry and counts it in `dropped` — the spec's analytics buffer, which "starts dropping
 * older data" once it fills. Of capacity 3, pushing 1, 2, 3, 4 leaves [2, 3, 4] with
 * `dropped` 1, and `drain(2)` takes [2, 3]. Internal: the DataPlane's analytics buffer.
 */
export class RingBuffer<T> implements Iterable<T> {
  readonly capacity: number;
  #items: Array<T | undefined>;
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
    this.#items = new Array<T | undefined>(capacity);
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
    const tail = (this.#head + this.#length) % this.capacity;
    this.#items[tail] = item;
    if (this.#length === this.capacity) {
      this.#head = (this.#head + 1) % this.capacity;
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
    for (let i = kept.length - 1; i >= 0; i--) {
      this.#head = (this.#head - 1 + this.capacity) % this.capacity;
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
      this.#head = (this.#head + 1) % this.capacity;
    }
    this.#length -= count;
    return out;
  }

  /** The oldest entry, without removing it. */
  peek(): T | undefined {
    return this.#length === 0 ? undefined : this.#items[this.#head];
  }

  clear(): void {
    this.#items = new Array<T | undefined>(this.capacity);
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
    for (let i = 0; i < this.#length; i++) yield this.#items[(this.#head + i) % this.capacity] as T;
  }
}
