import { type Logger, logSafely } from './logger.ts';

/** Event names mapped to their listener signatures. */
export type EventMap<Events> = { [E in keyof Events]: (...args: never[]) => void };

type Listener = { fn: (...args: unknown[]) => void; once: boolean };

/**
 * A typed event emitter whose listeners are host code, and treated as strangers: each
 * listener runs on its own, so one that throws is logged and the others — and planesync's own
 * work after the emit — go on as if nothing happened. An `error` event nobody listens to is
 * logged, never dropped.
 *
 * The methods are those of Node's and eventemitter3's emitters (`on`, `once`, `off`, …).
 */
export class IsolatedEmitter<Events extends EventMap<Events>> {
  readonly #listeners = new Map<keyof Events, Listener[]>();
  /** Where a throwing listener and an unhandled `error` are reported. */
  protected readonly logger: Logger;

  constructor(logger: Logger) {
    this.logger = logger;
  }

  on<E extends keyof Events>(event: E, listener: Events[E]): this {
    return this.#add(event, listener, false);
  }

  addListener<E extends keyof Events>(event: E, listener: Events[E]): this {
    return this.#add(event, listener, false);
  }

  once<E extends keyof Events>(event: E, listener: Events[E]): this {
    return this.#add(event, listener, true);
  }

  /** Removes `listener` (every registration of it), or every listener of `event` when omitted. */
  off<E extends keyof Events>(event: E, listener?: Events[E]): this {
    const current = this.#listeners.get(event);
    if (!current) return this;
    const kept = listener ? current.filter((entry) => entry.fn !== (listener as unknown)) : [];
    if (kept.length > 0) this.#listeners.set(event, kept);
    else this.#listeners.delete(event);
    return this;
  }

  removeListener<E extends keyof Events>(event: E, listener?: Events[E]): this {
    return this.off(event, listener);
  }

  removeAllListeners(event?: keyof Events): this {
    if (event === undefined) this.#listeners.clear();
    else this.#listeners.delete(event);
    return this;
  }

  listeners<E extends keyof Events>(event: E): Array<Events[E]> {
    return (this.#listeners.get(event) ?? []).map((entry) => entry.fn as unknown as Events[E]);
  }

  listenerCount(event: keyof Events): number {
    return this.#listeners.get(event)?.length ?? 0;
  }

  eventNames(): Array<keyof Events> {
    return [...this.#listeners.keys()];
  }

  /**
   * Calls every listener of `event` with `args`, each isolated; returns whether there was one.
   * Never throws.
   */
  emit<E extends keyof Events>(event: E, ...args: Parameters<Events[E]>): boolean {
    const current = this.#listeners.get(event);
    if (!current || current.length === 0) {
      if (event === 'error') this.#unhandled(args);
      return false;
    }
    if (current.some((entry) => entry.once)) {
      const kept = current.filter((entry) => !entry.once);
      if (kept.length > 0) this.#listeners.set(event, kept);
      else this.#listeners.delete(event);
    }
    for (const entry of current) {
      try {
        entry.fn(...args);
      } catch (error) {
        logSafely(
          this.logger,
          'error',
          { err: error, event: String(event) },
          `a '${String(event)}' listener threw; planesync carried on without it`,
        );
      }
    }
    return true;
  }

  #add(event: keyof Events, listener: Events[keyof Events], once: boolean): this {
    if (typeof listener !== 'function') throw new TypeError('a listener must be a function');
    const entry = { fn: listener as unknown as Listener['fn'], once };
    // Copy on write: an emit already under way calls the listeners it started with.
    this.#listeners.set(event, [...(this.#listeners.get(event) ?? []), entry]);
    return this;
  }

  #unhandled(args: readonly unknown[]): void {
    const [error, context] = args;
    const message = error instanceof Error ? error.message : String(error);
    logSafely(
      this.logger,
      'error',
      {
        err: error,
        ...(context && typeof context === 'object' ? (context as Record<string, unknown>) : {}),
      },
      message,
    );
  }
}
