/**
 * Delivers values one at a time, keeping at most one waiting: offering a value while a
 * delivery is in progress replaces whatever was waiting. This is how a CP pushes to a DP
 * that is still receiving: when the send finishes, only the newest version goes next —
 * never a queue of old ones. With `supersede`, a newer offer also aborts the delivery in
 * progress (through its signal), so a send still waiting on a full socket is dropped too.
 * Offering 1, 2 and 3 at once delivers 1 and 3: 2 was replaced before its turn. Internal:
 * each DP's feed on the CP and each link's config applier on the DP use one.
 */
export class LatestSlot<T> {
  #waiting: { value: T } | undefined;
  #running: Promise<void> | undefined;
  /** The delivery in progress's controller. */
  #current: AbortController | undefined;
  /** The controller deliveries share until one is aborted. */
  #controller: AbortController | undefined;
  #closed = false;

  readonly #handler: SlotHandler<T>;
  readonly #supersede: boolean;

  /**
   * @param deliver sends one value; a rejection is passed to `onError` (unless the delivery
   *   was superseded) and delivery goes on. Or an object whose `deliver` and `failed` do the
   *   same: one slot per DP then holds no closures of its own.
   * @param onError told of each failed delivery (default: ignored).
   */
  constructor(
    deliver: ((value: T, signal: AbortSignal) => Promise<void>) | SlotHandler<T>,
    onError?: (error: unknown, value: T) => void,
    options: { supersede?: boolean } = {},
  ) {
    this.#handler =
      typeof deliver === 'function'
        ? { deliver, ...(onError ? { failed: onError } : {}) }
        : deliver;
    this.#supersede = options.supersede === true;
  }

  /** Whether a value is waiting behind the one being delivered. */
  get pending(): boolean {
    return this.#waiting !== undefined;
  }

  /** Delivers `value` now, or after the current delivery, replacing any value waiting. */
  offer(value: T): void {
    if (this.#closed) return;
    this.#waiting = { value };
    if (this.#supersede) this.#current?.abort();
    this.#running ??= this.#drain();
  }

  /** Resolves when nothing is being delivered or waiting. */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  /** Drops the waiting value, aborts the delivery in progress, and accepts no more. */
  close(): void {
    this.#closed = true;
    this.#waiting = undefined;
    this.#current?.abort();
  }

  async #drain(): Promise<void> {
    try {
      while (this.#waiting) {
        const { value } = this.#waiting;
        this.#waiting = undefined;
        // One controller serves delivery after delivery until it is aborted: a CP sending one
        // frame to each of 1 000 DPs would otherwise make 1 000 AbortSignals (~10 µs each).
        if (!this.#controller || this.#controller.signal.aborted)
          this.#controller = new AbortController();
        const controller = this.#controller;
        this.#current = controller;
        try {
          await this.#handler.deliver(value, controller.signal);
        } catch (error) {
          if (!controller.signal.aborted) this.#handler.failed?.(error, value);
        }
      }
    } finally {
      this.#current = undefined;
      this.#running = undefined;
    }
  }
}

/** What a LatestSlot delivers its values to. */
export interface SlotHandler<T> {
  /** Sends one value; a rejection goes to `failed` unless the delivery was superseded. */
  deliver(value: T, signal: AbortSignal): Promise<void>;
  /** Told of each failed delivery. */
  failed?(error: unknown, value: T): void;
}
