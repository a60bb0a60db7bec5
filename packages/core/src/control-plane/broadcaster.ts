import type { Clock, TimerId } from '../clock.ts';
import type { ClusterState, SharedVersion } from '../cluster/contract.ts';
import { applyConfigChange, type ConfigChange } from '../config/change.ts';
import { type ConfigFingerprint, diffConfig, fingerprintConfig } from '../config/delta.ts';
import { LatestSlot, type SlotHandler } from '../config/latest-slot.ts';
import type { ConfigPublisher, PublishedConfig } from '../config/publisher.ts';
import { InternalError, PayloadTooLargeError, type PlanesyncError, StateError } from '../errors.ts';
import { asPlanesyncError } from '../protocol/failure.ts';
import type { License } from '../protocol/messages.ts';
import type {
  ConfigAdaptation,
  EncodedConfig,
  PendingEncoding,
  WireProtocol,
} from '../protocol/wire-protocol.ts';
import { Histogram, PUSH_LATENCY_BUCKETS_MS } from './histogram.ts';

/** One DP as the broadcaster feeds it. */
export interface FeedTarget {
  readonly protocol: WireProtocol;
  /** How this DP receives configs when it differs from the rest of its protocol's DPs. */
  readonly adaptation?: ConfigAdaptation | undefined;
  /**
   * The hash of the config the DP serves, when its link takes deltas: a delta from it is
   * sent when the history holds it. `undefined`: whole configs only.
   */
  deltaBase?(): string | undefined;
  /**
   * Whether the DP is to be sent `config` now: it can be served (its sync status), and —
   * unless `force` (a licence change) — it does not serve that hash already.
   */
  wants(config: EncodedConfig, force: boolean): boolean;
  /** Sends one config frame; resolves when the transport has taken it. */
  /** Resolves with the bytes sent when the protocol sent another encoding of `config`. */
  send(config: EncodedConfig, signal: AbortSignal): Promise<unknown>;
  /** A send failed (the session closes the link and reports). */
  failed(error: unknown): void;
  /**
   * The current version cannot be sent to this DP (its frame is larger than the DP takes);
   * `undefined` once a version went out.
   */
  blocked(error: PlanesyncError | undefined): void;
}

/** What a feed's slot holds: the version to send, whether even to a DP that has it, its base. */
type FeedOffer = { config: EncodedConfig; force: boolean; from: string | undefined };

/**
 * One DP's pacing: at most one config frame in flight; versions published meanwhile wait
 * and only the newest goes next, once the DP answered (ack, nack, or a heartbeat carrying the
 * hash) or `configAckTimeoutMs` passed.
 */
export class DataPlaneFeed implements SlotHandler<FeedOffer> {
  /** The config frame sent and not yet answered. */
  #inFlight:
    | { hash: string; served?: string | undefined; answered: (acked?: boolean) => void }
    | undefined;
  /** A delta was refused: the next frame is the whole config. */
  #wholeNext = false;
  /** The last frame the transport took. */
  #lastSent: EncodedConfig | undefined;
  /** The DP has gone: nothing more is offered to it. */
  #closed = false;
  readonly #slot: LatestSlot<FeedOffer>;

  constructor(
    private readonly owner: ConfigBroadcaster,
    private readonly target: FeedTarget,
    private readonly clock: Clock,
    private readonly ackTimeoutMs: number,
  ) {
    // A newer version drops a send still waiting on a full socket: never a queue.
    this.#slot = new LatestSlot<FeedOffer>(this, undefined, { supersede: true });
  }

  /** Sends one offer (the slot's handler: the slot calls it, one at a time). */
  async deliver({ config, force, from }: FeedOffer, signal: AbortSignal): Promise<void> {
    // The DP may have caught up while this version waited its turn.
    if (!this.target.wants(config, force)) return;
    // A delta made from the hash the DP had when it was offered: if the DP has moved on
    // (it applied the frame that was in flight), make the delta from where it is now.
    if (config.base !== undefined && from !== this.#base()) {
      this.offer(force);
      return;
    }
    // A protocol whose DPs answer only the configs they apply is not waited for: a
    // refused config would hold the next one back until the ack timeout.
    if (this.target.protocol.answersConfigs === false) {
      this.owner.sent(config, await this.target.send(config, signal));
      return;
    }
    const answer = this.#expectAnswer(config, this.clock.now());
    // Before the send resolves: its answer may come first.
    this.#lastSent = config;
    try {
      this.owner.sent(config, await this.target.send(config, signal));
    } catch (error) {
      this.#inFlight?.answered();
      throw error;
    }
    // Sent: a newer offer no longer aborts it; it waits for this answer, then goes alone.
    await answer;
  }

  /** A delivery failed (the slot's handler). */
  failed(error: unknown): void {
    this.target.failed(error);
  }

  /** The protocol its DP speaks. */
  get protocol(): WireProtocol {
    return this.target.protocol;
  }

  /** The hash a delta to this DP starts from, unless it is to get the whole config. */
  #base(): string | undefined {
    return this.#wholeNext ? undefined : this.target.deltaBase?.();
  }

  /** Offers the current version (when the DP wants it); `force` even if it has its hash. */
  offer(force = false): void {
    // A delta or an adaptation made after the DP has gone calls back all the same.
    if (this.#closed) return;
    const { protocol, adaptation } = this.target;
    const from = this.#base();
    const config = this.owner.currentFor(protocol, adaptation, () => this.offer(force), from);
    if (config instanceof Error) {
      this.target.blocked(config);
      return;
    }
    if (!config) return;
    if (!this.target.wants(config, force)) {
      // The DP has this version already: a delta may start from it again.
      this.#wholeNext = false;
      return;
    }
    const limit = adaptation?.maxFrameBytes;
    if (limit !== undefined && config.frame.byteLength > limit) {
      this.target.blocked(new PayloadTooLargeError(config.frame.byteLength, limit));
      return;
    }
    this.target.blocked(undefined);
    this.#slot.offer({ config, force, from });
  }

  /** The version of `hash` when it is the current one (for reports that carry no version). */
  versionOf(hash: string): number | undefined {
    const current = this.owner.current(this.target.protocol);
    return current && servedAs(current, hash) ? current.version : undefined;
  }

  /**
   * The DP refused the frame carrying `hash`. A refused delta is followed by the whole
   * config (a DP whose config was not the delta's base, or a delta that did not hash right).
   */
  refused(hash: string): void {
    // The frame refused is the last sent, whether or not its answer came in time.
    const wasDelta = this.#lastSent?.hash === hash && this.#lastSent.base !== undefined;
    this.answered(hash);
    if (!wasDelta) return;
    this.#wholeNext = true;
    this.offer(true);
  }

  /** The DP answered the frame carrying `hash` (an ack, a nack, a heartbeat). */
  answered(hash: string): void {
    if (this.#inFlight && (this.#inFlight.hash === hash || this.#inFlight.served === hash))
      this.#inFlight.answered(true);
  }

  /** The link ended: nothing more is sent. */
  close(): void {
    this.#closed = true;
    this.#inFlight?.answered();
    this.#slot.close();
    this.owner.unsubscribe(this);
  }

  #expectAnswer({ hash, servedHash, base }: EncodedConfig, sentAt: number): Promise<void> {
    // A whole config goes out: deltas may follow it again.
    if (base === undefined) this.#wholeNext = false;
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(() => this.#inFlight?.answered(), this.ackTimeoutMs);
      this.#inFlight = {
        hash,
        served: servedHash,
        // Answered by the DP (an ack or a nack): the push's latency is counted; a timeout,
        // a failed send or a closed link is not an answer.
        answered: (acked = false) => {
          this.clock.clearTimeout(timer);
          this.#inFlight = undefined;
          if (acked) this.owner.answeredIn(this.clock.now() - sentAt);
          resolve();
        },
      };
    });
  }
}

/** How many times an `updateConfig` is made again after other CPs published meanwhile. */
const MAX_UPDATE_ATTEMPTS = 10;

/** Per protocol and key, a value of the current version: made, or being made. */
type VersionCache<V> = Map<WireProtocol, Map<string, V | Promise<void>>>;

/**
 * The value of `key` for the current version, made at most once: the value when it is made,
 * else `undefined`, and `ready` is called once it is. A cache replaced meanwhile (a new version
 * installed) drops the result.
 */
function madeOnce<V>(
  caches: VersionCache<V>,
  protocol: WireProtocol,
  key: string,
  ready: () => void,
  make: () => Promise<V>,
): V | undefined {
  const cache = caches.get(protocol) ?? new Map<string, V | Promise<void>>();
  caches.set(protocol, cache);
  const known = cache.get(key);
  if (known instanceof Promise) {
    void known.then(ready);
    return undefined;
  }
  if (known !== undefined) return known;
  const work = make().then((result) => {
    if (caches.get(protocol) === cache) cache.set(key, result);
  });
  cache.set(key, work);
  void work.then(ready);
  return undefined;
}

/** Whether two fingerprints describe the same bytes. */
function samePrints(a: ConfigFingerprint, b: ConfigFingerprint): boolean {
  if (a.keys.length !== b.keys.length || a.keys.some((key, i) => key !== b.keys[i])) return false;
  for (const key of a.keys) {
    if (a.values.get(key) !== b.values.get(key)) return false;
    const left = a.lists.get(key);
    const right = b.lists.get(key);
    if (!left || !right) {
      if (left !== right) return false;
      continue;
    }
    if (left.length !== right.length || left.some((print, i) => print !== right[i])) return false;
  }
  return true;
}

/** Whether a DP reporting `hash` serves `config` (its hash, or the hash it is served under). */
export function servedAs(config: EncodedConfig, hash: string): boolean {
  return config.hash === hash || config.servedHash === hash;
}

/** Options of a {@link ConfigBroadcaster}. */
export interface BroadcasterOptions<TConfig> {
  publisher: ConfigPublisher<TConfig>;
  /** Where versions are numbered and shared with other control planes. */
  state: ClusterState;
  /** The protocols DPs speak; each version is encoded once for each. */
  protocols: readonly WireProtocol[];
  /** What stands for this CP in the protocols' calls (`scope`). */
  scope: object;
  clock: Clock;
  settings: {
    pushIntervalMs: number;
    configAckTimeoutMs: number;
    maxConfigFrameBytes: number;
    /** How many recent versions, and how many bytes of them, deltas may start from. */
    deltaHistory: { versions: number; bytes: number };
  };
  /** A version became the one every DP is brought to. */
  installed(version: PublishedConfig<TConfig>): void;
  /** A failure no caller is waiting for (encoding a version published while queued). */
  failed(error: unknown): void;
  /** A version was adapted for some DPs (Kong's compat rules): what changed, once per key. */
  adapted?(details: {
    protocol: string;
    key: string;
    version: number;
    notes: readonly string[];
  }): void;
}

/**
 * "Only the newest", in one place: publishes each `setConfig` in order, encodes and
 * compresses a version once per protocol (and only the newest of a burst: a version
 * superseded while queued is published, never encoded), keeps the bytes it made (a licence
 * change does not compress again), pushes at most once per push window, and paces each DP
 * (one frame in flight, the newest next).
 */
export class ConfigBroadcaster<TConfig = unknown> {
  readonly #options: BroadcasterOptions<TConfig>;
  readonly #feeds = new Set<DataPlaneFeed>();
  #current = new Map<WireProtocol, EncodedConfig>();
  /** The installed version, whose config adaptations start from. */
  #installed: PublishedConfig<TConfig> | undefined;
  /**
   * The configs `updateConfig` made from each config: only such a config shares lists with
   * its base that are the base's as it was fingerprinted (a setConfig may give again an
   * array given before, edited in place since). Weak both ways: a config never keeps the
   * one it was made from, nor a chain of them, alive.
   */
  readonly #derivations = new WeakMap<object, WeakSet<object>>();
  /** The entities each `updateConfig` config brought (fingerprinted again, not taken as known). */
  readonly #brought = new WeakMap<object, ReadonlySet<unknown>>();
  /**
   * Entity counts of lists, for `maxEntities`, that `applyConfigChange` may take as they were:
   * only since the last config that came in whole (its lists may be arrays counted before
   * and edited in place since).
   */
  #counted = new WeakMap<readonly unknown[], number>();
  /**
   * The current version adapted for DPs that differ (by protocol, then adaptation key): an
   * encoding, a failure, or the work under way. Emptied when a version is installed.
   */
  #adapted: VersionCache<EncodedConfig | PlanesyncError> = new Map();
  /** Recent versions deltas may start from (oldest first), by hash: fingerprints, no configs. */
  readonly #history = new Map<string, ConfigFingerprint>();
  /** Hashes published again in other bytes: deltas do not start from them. */
  readonly #ambiguous = new Set<string>();
  #historyBytes = 0;
  /** The current version as deltas from each base, by protocol: made once per pair. */
  #deltas: VersionCache<EncodedConfig> = new Map();
  #deltasMade = 0;
  readonly #sent = { wholeFrames: 0, wholeBytes: 0, deltaFrames: 0, deltaBytes: 0 };
  #license: License | undefined;
  #tail: Promise<unknown> = Promise.resolve();
  /** setConfig calls waiting for their turn. */
  #queued = 0;
  /** The latest version was published without being encoded (see `#publish`). */
  #unencoded = false;
  #encodes = 0;
  #pushTimer: TimerId | undefined;
  #lastPush = Number.NEGATIVE_INFINITY;
  /** Stops following the state's new versions; set while joined. */
  #unwatch: (() => void) | undefined;

  constructor(options: BroadcasterOptions<TConfig>) {
    this.#options = options;
  }

  /** How many times a version was encoded (once per version and protocol). */
  get encodes(): number {
    return this.#encodes;
  }

  /** The current version as `protocol` sends it to DPs that need no adaptation. */
  current(protocol: WireProtocol): EncodedConfig | undefined {
    return this.#current.get(protocol);
  }

  /**
   * The current version as `protocol` sends it — adapted, when `adaptation` says how: each
   * adaptation (by key) is made and encoded once per version, the first time a DP needs it,
   * and `ready` is called once it is (`undefined` meanwhile). A failure to adapt or encode
   * is returned as the error, for that DP's status.
   */
  currentFor(
    protocol: WireProtocol,
    adaptation: ConfigAdaptation | undefined,
    ready: () => void,
    from?: string,
  ): EncodedConfig | PlanesyncError | undefined {
    const base = this.#current.get(protocol);
    if (base && from !== undefined && !adaptation?.adapt)
      return this.#deltaFor(protocol, base, from, ready);
    if (!base || !adaptation?.adapt) return base;
    // Without a key, one DP's adaptation would be served to every other adapted DP.
    if (adaptation.key === undefined)
      return new InternalError(`${protocol.name}'s adaptFor gave an adapt without a key`);
    const key = adaptation.key;
    return madeOnce(this.#adapted, protocol, key, ready, () =>
      this.#adapt(protocol, base, adaptation, key),
    );
  }

  /** Config frames the transports took, whole and delta, with their bytes. */
  get sentFrames(): Readonly<{
    wholeFrames: number;
    wholeBytes: number;
    deltaFrames: number;
    deltaBytes: number;
  }> {
    return { ...this.#sent };
  }

  /** From a config frame sent to its DP's answer (ack or nack), every push so far. */
  readonly pushAnswerLatency = new Histogram(PUSH_LATENCY_BUCKETS_MS);

  /** @internal A DP answered a frame `ms` after it was sent. */
  answeredIn(ms: number): void {
    this.pushAnswerLatency.observe(ms);
  }

  /** @internal A feed's frame went out. */
  sent(config: EncodedConfig, sentBytes?: unknown): void {
    // A `void` send may resolve with whatever its transport's did (TypeScript lets a
    // `Promise<boolean>` be one): only a number is a count of bytes sent.
    const bytes = typeof sentBytes === 'number' ? sentBytes : config.frame.byteLength;
    if (config.base === undefined) {
      this.#sent.wholeFrames++;
      this.#sent.wholeBytes += bytes;
    } else {
      this.#sent.deltaFrames++;
      this.#sent.deltaBytes += bytes;
    }
  }

  /** How many deltas were made (once per pair of versions and protocol). */
  get deltasMade(): number {
    return this.#deltasMade;
  }

  /**
   * The current version for a DP serving `from`: a delta when the protocol makes them, the
   * history holds `from` and the delta is smaller than the whole config; else the whole.
   */
  #deltaFor(
    protocol: WireProtocol,
    whole: EncodedConfig,
    from: string,
    ready: () => void,
  ): EncodedConfig | undefined {
    // A protocol whose DPs do not answer configs could never say a delta was refused.
    if (
      from === whole.hash ||
      !protocol.controlPlane.encodeDelta ||
      protocol.answersConfigs === false ||
      !this.#history.has(from) ||
      this.#ambiguous.has(from)
    )
      return whole;
    return madeOnce(this.#deltas, protocol, from, ready, () =>
      this.#makeDelta(protocol, whole, from),
    );
  }

  async #makeDelta(
    protocol: WireProtocol,
    whole: EncodedConfig,
    from: string,
  ): Promise<EncodedConfig> {
    const installed = this.#installed;
    const print = this.#history.get(from);
    const current = this.#history.get(whole.hash);
    if (!installed || !print || !current || installed.version !== whole.version) return whole;
    try {
      const delta = diffConfig(print, installed.config as Record<string, unknown>, current);
      const license = this.#license;
      const encoded = await protocol.controlPlane.encodeDelta!(delta, from).seal({
        version: whole.version,
        hash: whole.hash,
        hashes: whole.hashes,
        ...(license ? { license } : {}),
      });
      // A delta no smaller than the whole config is not worth the DP's work.
      if (encoded.frame.byteLength >= whole.frame.byteLength) return whole;
      this.#deltasMade++;
      return license === this.#license ? encoded : encoded.relicense(this.#license);
    } catch (error) {
      // A delta that cannot be made is no failure: the whole config goes instead.
      this.#options.failed(error);
      return whole;
    }
  }

  /**
   * Remembers a version deltas may start from, within the history's bounds; `previous` (the
   * version installed before) lends the fingerprints of what the two share when `version` is
   * an update made from it.
   */
  #remember(
    version: { readonly hash: string; readonly config: unknown },
    previous?: { readonly hash: string; readonly config: unknown },
  ): void {
    const { versions, bytes } = this.#options.settings.deltaHistory;
    if (versions <= 0) return;
    const wantsDeltas = this.#options.protocols.some(
      (protocol) => protocol.controlPlane.encodeDelta,
    );
    const config = version.config;
    if (!wantsDeltas || typeof config !== 'object' || config === null || Array.isArray(config))
      return;
    const base = previous?.config;
    const derived =
      typeof base === 'object' && base !== null && this.#derivations.get(base)?.has(config);
    const before = previous && derived ? this.#history.get(previous.hash) : undefined;
    const print = fingerprintConfig(
      config as Record<string, unknown>,
      before && typeof base === 'object' && base !== null
        ? { config: base as Record<string, unknown>, print: before }
        : undefined,
      this.#brought.get(config),
    );
    const earlier = this.#history.get(version.hash);
    if (earlier) {
      // The same hash again (Kong's hash ignores key order), maybe in other bytes: DPs still
      // on the earlier bytes cannot be told apart by their hash, so no delta starts from it.
      if (!samePrints(earlier, print)) this.#ambiguous.add(version.hash);
      this.#history.delete(version.hash);
      this.#historyBytes -= earlier.bytes;
    }
    this.#history.set(version.hash, print);
    this.#historyBytes += print.bytes;
    for (const [hash, old] of this.#history) {
      // `versions` earlier versions, besides the current one, that deltas may start from.
      if (this.#history.size <= versions + 1 && this.#historyBytes <= bytes) break;
      if (hash === version.hash) break; // the current version stays, however large
      this.#history.delete(hash);
      this.#ambiguous.delete(hash);
      this.#historyBytes -= old.bytes;
    }
  }

  async #adapt(
    protocol: WireProtocol,
    base: EncodedConfig,
    adaptation: ConfigAdaptation,
    key: string,
  ): Promise<EncodedConfig | PlanesyncError> {
    const installed = this.#installed;
    // The current frame and the installed version change together.
    if (!installed || installed.version !== base.version)
      return new InternalError('the installed version and its frame disagree');
    try {
      const { config, notes } = adaptation.adapt!(installed.config);
      if (notes?.length)
        this.#options.adapted?.({ protocol: protocol.name, key, version: base.version, notes });
      if (config === installed.config) return base;
      const license = this.#license;
      const encoded = await protocol.controlPlane
        .encodeConfig(config, { scope: this.#options.scope })
        .seal({
          version: base.version,
          // Kong's CP keeps the original hash for an adapted config.
          hash: base.hash,
          hashes: base.hashes,
          ...(license ? { license } : {}),
        });
      this.#encodes++;
      const { maxConfigFrameBytes } = this.#options.settings;
      if (encoded.frame.byteLength > maxConfigFrameBytes)
        return new PayloadTooLargeError(encoded.frame.byteLength, maxConfigFrameBytes);
      return license === this.#license ? encoded : encoded.relicense(this.#license);
    } catch (error) {
      return asPlanesyncError(error);
    }
  }

  /**
   * Publishes `config` after every earlier call; rejects with `CONFIG_INVALID` or
   * `PAYLOAD_TOO_LARGE` (the previous version stays).
   */
  setConfig(config: unknown): Promise<{ version: number; hash: string }> {
    return this.#enqueue(() => this.#publish(config));
  }

  /** Runs `publish` after every earlier call, and encodes a version left unencoded after. */
  #enqueue(
    publish: () => Promise<{ version: number; hash: string }>,
  ): Promise<{ version: number; hash: string }> {
    this.#queued++;
    const run = this.#tail.then(() => {
      this.#queued--;
      return publish();
    });
    // Once the queue drains, a version published without a frame (superseded while queued,
    // then the newer call failed) is encoded and pushed after all.
    this.#tail = run
      .catch(() => undefined)
      .then(() => (this.#queued === 0 && this.#unencoded ? this.#encodeLatest() : undefined));
    return run;
  }

  /**
   * Publishes the latest config changed by `change` (after every earlier call): only what
   * changed is checked (see `applyConfigChange`) unless the CP's schema is not the declarative
   * one, and only the collections it touched are hashed again.
   */
  updateConfig(
    change: ConfigChange,
    checkWhole: ((config: unknown) => unknown) | undefined,
  ): Promise<{ version: number; hash: string }> {
    return this.#enqueue(async () => {
      const { publisher } = this.#options;
      // Made from the latest version; published only while it is still the latest across
      // the cluster, else made again from the one another CP published meanwhile.
      for (let attempt = 1; ; attempt++) {
        const latest = publisher.latest;
        const base = (latest?.config ?? { _format_version: '3.0' }) as Record<string, unknown>;
        const { config, changed, brought } = applyConfigChange(
          base,
          change,
          publisher.limits.maxEntities,
          // Not on the checkWhole path: its whole validation counts every list anyway.
          checkWhole ? undefined : this.#counted,
        );
        const ifLatest = latest?.version ?? 0;
        const unchanged = new Set(Object.keys(config).filter((key) => !changed.has(key)));
        const published = checkWhole
          ? await this.#publishValid(checkWhole(config) as TConfig, { ifLatest })
          : // Entities the change kept are the base's objects, hashed and encoded as they were.
            await this.#publishValid(config as TConfig, {
              unchanged,
              brought,
              derivedFrom: base,
              ifLatest,
            });
        if (published !== 'conflict') return published;
        if (attempt === MAX_UPDATE_ATTEMPTS)
          throw new StateError(
            'config update',
            `version ${ifLatest}`,
            `a newer version ${MAX_UPDATE_ATTEMPTS} times in a row (other CPs publishing)`,
          );
      }
    });
  }

  /** The licence every frame carries from now on; DPs get the current version again. */
  setLicense(license: License): void {
    this.#license = license;
    if (this.#current.size === 0) return;
    // Only the protocols whose frames carry the licence send them again (Kong's carry none).
    const changed = new Set<WireProtocol>();
    this.#current = new Map(
      [...this.#current].map(([protocol, config]) => {
        const relicensed = config.relicense(license);
        if (relicensed !== config) changed.add(protocol);
        return [protocol, relicensed];
      }),
    );
    for (const protocol of changed) {
      this.#adapted.delete(protocol);
      this.#deltas.delete(protocol);
    }
    for (const feed of this.#feeds) if (changed.has(feed.protocol)) feed.offer(true);
  }

  /** Starts feeding one DP; `close` the feed when its link ends. */
  subscribe(target: FeedTarget): DataPlaneFeed {
    const feed = new DataPlaneFeed(this, target, this.#options.clock, this.#configAckTimeoutMs);
    this.#feeds.add(feed);
    return feed;
  }

  /** @internal Called by a feed as it closes. */
  unsubscribe(feed: DataPlaneFeed): void {
    this.#feeds.delete(feed);
  }

  /** Cancels the push window's timer and stops following the cluster state. */
  stop(): void {
    this.#unwatch?.();
    this.#unwatch = undefined;
    if (this.#pushTimer) this.#options.clock.clearTimeout(this.#pushTimer);
    this.#pushTimer = undefined;
  }

  get #configAckTimeoutMs(): number {
    return this.#options.settings.configAckTimeoutMs;
  }

  async #publish(config: unknown): Promise<{ version: number; hash: string }> {
    const published = await this.#publishValid(this.#options.publisher.validate(config));
    // Without `ifLatest` there is no conflict: the newest setConfig wins, as Kong's CPs do.
    if (published === 'conflict') throw new InternalError('a conflict without ifLatest');
    return published;
  }

  async #publishValid(
    valid: TConfig,
    from: {
      unchanged?: ReadonlySet<string>;
      /** The entities an update brought (the rest are `derivedFrom`'s). */
      brought?: ReadonlySet<unknown>;
      derivedFrom?: unknown;
      /** Publish only while this is the latest version (an update made from it). */
      ifLatest?: number;
    } = {},
  ): Promise<{ version: number; hash: string } | 'conflict'> {
    const { publisher, state } = this.#options;
    // A config that comes in whole: no list of it is counted from before.
    if (!from.unchanged) this.#counted = new WeakMap();
    // Encoding (compression) starts now, in libuv's pool, while this thread hashes. (Wasted
    // when the hash turns out unchanged; skipped when a newer call already waits.)
    const pending =
      this.#queued > 0 ? undefined : this.#startEncoding(valid, from.derivedFrom, from.brought);
    const { derivedFrom } = from;
    if (
      from.unchanged &&
      typeof valid === 'object' &&
      valid !== null &&
      typeof derivedFrom === 'object' &&
      derivedFrom !== null
    ) {
      const derivations = this.#derivations.get(derivedFrom) ?? new WeakSet();
      derivations.add(valid);
      this.#derivations.set(derivedFrom, derivations);
      if (from.brought) this.#brought.set(valid, from.brought);
    }
    const prepared = publisher.prepareValid(valid, from.unchanged, from.brought);
    // Sealed first, under the number it most likely gets, so that a config too large to send
    // is refused before any CP could publish it.
    const tentative = (publisher.latest?.version ?? 0) + 1;
    let sealed =
      prepared.changed && pending
        ? await this.#seal({ ...prepared, version: tentative }, pending)
        : undefined;
    // The state numbers it (other CPs may share it), or says the latest is this config already.
    const { outcome, latest } = await state.publish(
      {
        hash: prepared.hash,
        hashes: prepared.hashes,
        config: prepared.config,
        publishedAt: prepared.publishedAt,
      },
      // Numbered above this CP's latest, whatever the state holds (a restored backup).
      { ifLatest: from.ifLatest, after: publisher.latest?.version ?? 0 },
    );
    if (outcome === 'conflict') {
      // Another CP published first: its version becomes this CP's, and the update is made again.
      await this.#adopt(latest);
      return 'conflict';
    }
    if (outcome === 'unchanged') {
      // The latest version is this config (by hash): this CP's own, or another CP's of the
      // same config, which this CP serves from the config it has.
      await this.#adopt({ ...latest, config: prepared.config }, { verified: true });
      return { version: latest.version, hash: latest.hash };
    }
    const version = { ...prepared, version: latest.version };
    if (this.#queued > 0) {
      // A newer setConfig is already waiting: this version is published but never encoded or
      // pushed — DPs get only the newest, and the CP compresses only what it sends.
      publisher.commit(version);
      this.#unencoded = true;
      return { version: version.version, hash: version.hash };
    }
    // Another CP took the number meanwhile: sealed again under the one the state gave.
    if (!sealed || latest.version !== tentative) sealed = await this.#seal(version, pending);
    publisher.commit(version);
    this.#install(version, sealed);
    return { version: version.version, hash: version.hash };
  }

  /**
   * Follows the cluster state: serves its latest version now (a CP that starts, or restarts,
   * beside others), then each newer one another CP publishes. Failures are reported; the
   * versions this CP has stay served.
   */
  async join(): Promise<void> {
    const { state } = this.#options;
    await state.open?.();
    this.#unwatch ??= state.watch((version) => {
      void this.#follow(version);
    });
    // A read that fails leaves the watch on: versions published once the state answers
    // again still reach this CP (its owner reads the latest again, or stops it).
    const latest = await state.latest();
    // A CP starting afresh takes the recent versions into its delta history, so DPs on
    // one of them get a delta rather than the whole config.
    if (latest && !this.#options.publisher.latest) await this.#recall(latest.version);
    if (latest) await this.#follow(latest);
  }

  /** The state's versions before `latest` into the delta history (a failure is reported). */
  async #recall(latest: number): Promise<void> {
    const { state, settings, protocols } = this.#options;
    const { versions } = settings.deltaHistory;
    if (!state.recent || versions <= 0) return;
    if (!protocols.some((protocol) => protocol.controlPlane.encodeDelta)) return;
    try {
      for (const version of await state.recent(versions + 1))
        if (version.version < latest) this.#remember(version);
    } catch (error) {
      this.#options.failed(error);
    }
  }

  /**
   * Installs `version` from the state in turn with setConfig calls, when it is newer. (Not
   * counted as a queued call: the state also reports this CP's own versions, which must not
   * make the call that published them skip its encoding.)
   */
  #follow(version: SharedVersion): Promise<void> {
    const run = this.#tail.then(() => this.#adopt(version));
    this.#tail = run
      .catch((error: unknown) => this.#options.failed(error))
      .then(() => (this.#queued === 0 && this.#unencoded ? this.#encodeLatest() : undefined));
    return this.#tail as Promise<void>;
  }

  /**
   * Makes a version another CP published this CP's latest (checked against its hash), and
   * pushes it — unless this CP has it or a newer one already.
   */
  async #adopt(shared: SharedVersion, options: { verified?: boolean } = {}): Promise<void> {
    const { publisher } = this.#options;
    if (shared.version <= (publisher.latest?.version ?? 0)) return;
    this.#counted = new WeakMap();
    const version = options.verified
      ? { ...shared, config: shared.config as TConfig }
      : publisher.verify(shared);
    if (this.#queued > 0) {
      publisher.commit(version);
      this.#unencoded = true;
      return;
    }
    const encoded = await this.#seal(version);
    // A newer version may have been adopted meanwhile (a setConfig is queued behind this).
    if (version.version <= (publisher.latest?.version ?? 0)) return;
    publisher.commit(version);
    this.#install(version, encoded);
  }

  /** Encodes and pushes the latest version, published earlier without a frame. */
  async #encodeLatest(): Promise<void> {
    const latest = this.#options.publisher.latest;
    if (!latest) return;
    try {
      this.#install(latest, await this.#seal(latest));
    } catch (error) {
      this.#options.failed(error);
    }
  }

  #startEncoding(
    config: unknown,
    derivedFrom?: unknown,
    fresh?: ReadonlySet<unknown>,
  ): Map<WireProtocol, PendingEncoding> {
    // `fresh`: entities the update brought, which may be objects of `derivedFrom` edited since.
    const { scope } = this.#options;
    const options = derivedFrom === undefined ? { scope } : { derivedFrom, fresh, scope };
    return new Map(
      this.#options.protocols.map((protocol) => [
        protocol,
        protocol.controlPlane.encodeConfig(config, options),
      ]),
    );
  }

  /** Every protocol's frame of a version, each within `maxConfigFrameBytes`. */
  async #seal(
    version: PublishedConfig<TConfig>,
    pending = this.#startEncoding(version.config),
  ): Promise<{ encoded: Map<WireProtocol, EncodedConfig>; license: License | undefined }> {
    const license = this.#license;
    const header = {
      version: version.version,
      hash: version.hash,
      hashes: version.hashes,
      ...(license ? { license } : {}),
    };
    const sealed = await Promise.all(
      [...pending].map(async ([protocol, encoding]) => {
        const config = await encoding.seal(header);
        this.#encodes++;
        return [protocol, config] as const;
      }),
    );
    const { maxConfigFrameBytes } = this.#options.settings;
    for (const [, config] of sealed) {
      if (config.frame.byteLength > maxConfigFrameBytes)
        throw new PayloadTooLargeError(config.frame.byteLength, maxConfigFrameBytes);
    }
    return { encoded: new Map(sealed), license };
  }

  #install(
    version: PublishedConfig<TConfig>,
    sealed: { encoded: Map<WireProtocol, EncodedConfig>; license: License | undefined },
  ): void {
    this.#unencoded = false;
    const previous = this.#installed;
    this.#installed = version;
    this.#adapted = new Map();
    this.#deltas = new Map();
    this.#remember(version, previous);
    // A licence set while the config was compressing goes out with it.
    const license = this.#license;
    this.#current =
      sealed.license === license
        ? sealed.encoded
        : new Map(
            [...sealed.encoded].map(([protocol, config]) => [protocol, config.relicense(license)]),
          );
    this.#options.installed(version);
    this.#push();
  }

  /** Pushes the current version now, or at the end of the push window (the newest then). */
  #push(): void {
    const { clock, settings } = this.#options;
    const now = clock.now();
    const wait = this.#lastPush + settings.pushIntervalMs - now;
    if (wait > 0) {
      this.#pushTimer ??= clock.setTimeout(() => {
        this.#pushTimer = undefined;
        this.#push();
      }, wait);
      return;
    }
    this.#lastPush = now;
    for (const feed of this.#feeds) feed.offer();
  }
}
