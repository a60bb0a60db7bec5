import { StateError } from '../errors.ts';

/** Where the DP's link to the CP stands. */
export type ConnectionState = 'connecting' | 'connected' | 'disconnected';

/**
 * The DP's link transitions (docs/concepts.md draws them): an attempt starts `connecting`;
 * it is `connected` once the CP is trusted and accepted the DP; any end is `disconnected`,
 * and the next attempt starts from there.
 */
const TRANSITIONS: Readonly<Record<ConnectionState, readonly ConnectionState[]>> = {
  disconnected: ['connecting'],
  connecting: ['connected', 'disconnected'],
  connected: ['disconnected'],
};

/**
 * The DP's connection state, with the count of failed attempts kept in one place: an
 * attempt that ends before `connected` is a failure; reaching `connected` clears the count.
 */
export class ConnectionMachine {
  #state: ConnectionState = 'disconnected';
  #failedAttempts = 0;

  get state(): ConnectionState {
    return this.#state;
  }

  /** Attempts since the last one that connected. */
  get failedAttempts(): number {
    return this.#failedAttempts;
  }

  /** A new attempt begins. */
  connecting(): void {
    this.#move('connecting');
  }

  /** The CP is trusted and accepted this DP. */
  connected(): void {
    this.#move('connected');
    this.#failedAttempts = 0;
  }

  /**
   * The attempt or the link ended (idempotent). Returns whether the link had been connected:
   * an attempt that had not is counted as failed.
   */
  disconnected(): { wasConnected: boolean } {
    const from = this.#state;
    if (from === 'disconnected') return { wasConnected: false };
    this.#move('disconnected');
    if (from === 'connecting') this.#failedAttempts++;
    return { wasConnected: from === 'connected' };
  }

  #move(to: ConnectionState): void {
    if (!TRANSITIONS[this.#state].includes(to))
      throw new StateError('data plane connection', this.#state, to);
    this.#state = to;
  }
}
