import type { ConfigProblem } from '../errors.ts';
import { StateError } from '../errors.ts';
import type { ConfigSnapshot } from './snapshot.ts';

/** Where a DP's config as a whole is: nothing yet, running the start sequence, serving one. */
export type DataPlaneConfigState = 'empty' | 'loading' | 'active';

/** Where one incoming config version is on its way to becoming active. */
export type ConfigVersionState =
  | 'received'
  | 'validating'
  | 'applying'
  | 'active'
  | 'rejected'
  | 'ignored';

/** Why a received version was ignored rather than applied. */
export type IgnoredBecause = 'stale' | 'unchanged';

/**
 * The DP's config transitions. `active → active` is a newer version (or a manual load)
 * replacing the active one; nothing ever leaves a DP without an active config once it has one.
 */
export const DATA_PLANE_CONFIG_TRANSITIONS: Readonly<
  Record<DataPlaneConfigState, readonly DataPlaneConfigState[]>
> = {
  empty: ['loading'],
  loading: ['active'],
  active: ['active'],
};

/** One version's transitions: it ends `active`, `rejected` (the previous one stays) or `ignored`. */
export const CONFIG_VERSION_TRANSITIONS: Readonly<
  Record<ConfigVersionState, readonly ConfigVersionState[]>
> = {
  received: ['validating', 'ignored'],
  validating: ['applying', 'rejected'],
  applying: ['active', 'rejected'],
  active: [],
  rejected: [],
  ignored: [],
};

function check<S extends string>(
  table: Readonly<Record<S, readonly S[]>>,
  machine: string,
  from: S,
  to: S,
): S {
  if (!table[from].includes(to)) throw new StateError(machine, from, to);
  return to;
}

/** One config version from the CP, followed from receipt to its end state. */
export class ConfigCandidate {
  readonly version: number;
  readonly hash: string;
  #state: ConfigVersionState = 'received';
  #problems: readonly ConfigProblem[] = [];
  #ignoredBecause: IgnoredBecause | undefined;

  constructor(
    private readonly owner: DataPlaneConfigMachine,
    version: number,
    hash: string,
  ) {
    this.version = version;
    this.hash = hash;
  }

  get state(): ConfigVersionState {
    return this.#state;
  }

  /** Why it was rejected, when it was. */
  get problems(): readonly ConfigProblem[] {
    return this.#problems;
  }

  /** Why it was ignored, when it was. */
  get ignoredBecause(): IgnoredBecause | undefined {
    return this.#ignoredBecause;
  }

  /** `received → validating`. */
  validating(): void {
    this.#move('validating');
  }

  /** `validating → applying`. */
  applying(): void {
    this.#move('applying');
  }

  /** `applying → active`: `snapshot` becomes the DP's active config. */
  activate(snapshot: ConfigSnapshot): void {
    this.#move('active');
    this.owner.replaceActive(snapshot);
  }

  /** `validating | applying → rejected`: the previously active config stays active. */
  reject(problems: readonly ConfigProblem[]): void {
    this.#move('rejected');
    this.#problems = problems;
  }

  /** @internal `received → ignored`. */
  ignore(because: IgnoredBecause): void {
    this.#move('ignored');
    this.#ignoredBecause = because;
  }

  get settled(): boolean {
    return CONFIG_VERSION_TRANSITIONS[this.#state].length === 0;
  }

  #move(to: ConfigVersionState): void {
    this.#state = check(CONFIG_VERSION_TRANSITIONS, 'config version', this.#state, to);
  }
}

/**
 * A DP's config lifecycle as an explicit state machine: `empty → loading → active` for the
 * start sequence, then for each version from the CP `received → validating → applying →
 * active`, or `→ rejected` with the previous snapshot still active. A version older than or
 * equal to one already seen in the same CP session arrives late and is ignored, as is one
 * whose hash is already active. One version is in flight at a time; an illegal transition
 * throws `INVALID_STATE_TRANSITION`.
 *
 * @example
 * ```ts
 * import { DataPlaneConfigMachine } from '@planesync/core';
 * declare const cached: import('@planesync/core').ConfigSnapshot;
 * declare const next: import('@planesync/core').ConfigSnapshot;
 * const machine = new DataPlaneConfigMachine();
 * machine.beginLoading();
 * machine.activateLocal(cached);            // from the cache, the file, or empty
 * machine.startSession();                   // connected to a CP
 * const candidate = machine.receive(next.version, next.hash);
 * if (candidate.state === 'received') {
 *   candidate.validating();
 *   candidate.applying();
 *   candidate.activate(next);               // machine.active === next
 * }
 * ```
 */
export class DataPlaneConfigMachine {
  #state: DataPlaneConfigState = 'empty';
  #active: ConfigSnapshot | undefined;
  #inFlight: ConfigCandidate | undefined;
  #highestInSession = Number.NEGATIVE_INFINITY;
  /** A version whose delta was refused: its whole config may come next. */
  #retry: number | undefined;

  get state(): DataPlaneConfigState {
    return this.#state;
  }

  /** The config being served; once set, never unset. */
  get active(): ConfigSnapshot | undefined {
    return this.#active;
  }

  /** The version on its way, if one is. */
  get inFlight(): ConfigCandidate | undefined {
    return this.#inFlight?.settled ? undefined : this.#inFlight;
  }

  /** `empty → loading`: the start sequence begins. */
  beginLoading(): void {
    this.#move('loading');
  }

  /**
   * `loading → active` with what the start sequence found (cache, declarative, empty), or
   * `active → active` for a manual load. Refused while a CP version is in flight.
   */
  activateLocal(snapshot: ConfigSnapshot): void {
    if (this.inFlight)
      throw new StateError('data plane config', `${this.#state} (a version in flight)`, 'active');
    this.replaceActive(snapshot);
  }

  /** A new connection to a CP: versions count afresh (a restarted CP may number from 1). */
  startSession(): void {
    this.#highestInSession = Number.NEGATIVE_INFINITY;
  }

  /**
   * A version arrives from the CP. Returns its candidate: `received` to be processed, or
   * already `ignored` (stale in this session, or its hash is the active one).
   */
  /**
   * A delta of `version` was refused: the CP sends that version again as a whole config,
   * which the next `receive` takes rather than ignoring it as stale.
   */
  expectRetry(version: number): void {
    this.#retry = version;
  }

  receive(version: number, hash: string): ConfigCandidate {
    if (this.#state !== 'active')
      throw new StateError('data plane config', this.#state, 'received');
    if (this.inFlight) throw new StateError('config version', this.inFlight.state, 'received');
    const candidate = new ConfigCandidate(this, version, hash);
    const retried = version === this.#retry;
    this.#retry = undefined;
    if (version <= this.#highestInSession && !retried) {
      candidate.ignore('stale');
      return candidate;
    }
    this.#highestInSession = version;
    if (hash === this.#active?.hash) {
      candidate.ignore('unchanged');
      return candidate;
    }
    this.#inFlight = candidate;
    return candidate;
  }

  /** @internal */
  replaceActive(snapshot: ConfigSnapshot): void {
    this.#move('active');
    this.#active = snapshot;
  }

  #move(to: DataPlaneConfigState): void {
    this.#state = check(DATA_PLANE_CONFIG_TRANSITIONS, 'data plane config', this.#state, to);
  }
}
