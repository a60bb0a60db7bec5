import { type Clock, systemClock } from '../clock.ts';
import type { SharedVersion } from '../cluster/contract.ts';
import {
  ConfigHashMismatchError,
  ConfigInvalidError,
  PlanesyncError,
  StateError,
} from '../errors.ts';
import {
  type ConfigHash,
  EntityTexts,
  type HashOptions,
  hashConfig,
  hashConfigRemembering,
} from './hash.ts';
import { type ConfigLimits, checkEntityCount, resolveLimits } from './limits.ts';
import type { ConfigHashes } from './snapshot.ts';
import { type ConfigSchema, validateConfig } from './validate.ts';

/** One version as the CP publishes it. */
export interface PublishedConfig<TConfig = unknown> {
  readonly version: number;
  readonly hash: string;
  readonly hashes: ConfigHashes;
  readonly config: TConfig;
  /** When `setConfig` made it the latest (ms since the epoch). */
  readonly publishedAt: number;
}

/** What `publish` did: the latest version, and whether this call created it. */
export interface PublishResult {
  readonly version: number;
  readonly hash: string;
  /** `false` when the config hashed the same as the latest: no new version. */
  readonly changed: boolean;
}

/**
 * The CP's config versions: validates each config, hashes it the Kong way, and bumps the
 * version only when the hash changes. Only the latest version is kept — there is no history
 * to replay, as the spec asks.
 *
 * @example
 * ```ts
 * import { ConfigPublisher } from '@planesync/core';
 * const publisher = new ConfigPublisher();
 * publisher.publish({ _format_version: '3.0' });  // { version: 1, changed: true, ... }
 * publisher.publish({ _format_version: '3.0' });  // { version: 1, changed: false, ... }
 * ```
 */
export class ConfigPublisher<TConfig = unknown> {
  #latest: PublishedConfig<TConfig> | undefined;
  readonly #schema: ConfigSchema<TConfig> | undefined;
  readonly #clock: Clock;
  readonly #limits: Required<ConfigLimits>;
  /**
   * Entity texts remembered by `prepareValid` for a change: only since the last config that
   * came in whole (setConfig, or adopted), whose objects may be ones remembered before and
   * edited in place since.
   */
  #texts = new EntityTexts();

  /** Forgets what was remembered of entities: a config came in whole. */
  #forget(): void {
    this.#texts = new EntityTexts();
  }

  /**
   * @param options.schema validates (and may transform) each config; without it, configs are
   *   taken as given (the ControlPlane passes the declarative schema by default).
   * @param options.limits the nesting depth and entity count a config may have (checked
   *   before the schema runs); the defaults of `DEFAULT_CONFIG_LIMITS`.
   */
  constructor(
    options: { schema?: ConfigSchema<TConfig>; clock?: Clock; limits?: ConfigLimits } = {},
  ) {
    this.#schema = options.schema;
    this.#clock = options.clock ?? systemClock;
    this.#limits = resolveLimits(options.limits);
  }

  /** The limits configs are checked against. */
  get limits(): Required<ConfigLimits> {
    return this.#limits;
  }

  get latest(): PublishedConfig<TConfig> | undefined {
    return this.#latest;
  }

  /** Validates and hashes `config`; throws `CONFIG_INVALID` and keeps the latest version. */
  publish(config: unknown): PublishResult {
    const candidate = this.prepare(config);
    if (candidate.changed) this.commit(candidate);
    return { version: candidate.version, hash: candidate.hash, changed: candidate.changed };
  }

  /**
   * Validates and hashes `config` without publishing it: the version it would get, or the
   * latest version when the hash is unchanged. `commit` publishes it.
   */
  prepare(config: unknown): PublishedConfig<TConfig> & { changed: boolean } {
    return this.prepareValid(this.validate(config));
  }

  /**
   * Checks `config` against the limits, then validates it with the schema (as given without
   * one); throws `CONFIG_INVALID`.
   */
  validate(config: unknown): TConfig {
    try {
      checkEntityCount(config, this.#limits.maxEntities);
      return this.#schema ? validateConfig(config, this.#schema) : (config as TConfig);
    } catch (error) {
      if (error instanceof PlanesyncError) throw error;
      // A config that throws when read (a getter, a proxy) cannot be published.
      throw new ConfigInvalidError(
        [
          {
            path: '(root)',
            message: `reading the config threw: ${(error as Error)?.message ?? error}`,
          },
        ],
        { cause: error },
      );
    }
  }

  /**
   * `prepare` for a config `validate` returned (or an incremental change checked). For a
   * change, `unchanged` names the collections it left as the latest version had them (their
   * hashes are the latest's), and `brought` the entities it added: every other entity is
   * the latest's own object, hashed as it was published.
   */
  prepareValid(
    valid: TConfig,
    unchanged?: ReadonlySet<string>,
    brought?: ReadonlySet<unknown>,
  ): PublishedConfig<TConfig> & { changed: boolean } {
    const known: HashOptions['known'] = {};
    const latestHashes = this.#latest?.hashes;
    if (unchanged && latestHashes)
      for (const key of ['routes', 'services', 'plugins', 'upstreams', 'targets'] as const)
        if (unchanged.has(key)) known[key] = latestHashes[key];
    // A whole config is serialised afresh (its objects may be ones given before and edited
    // since); a change's, with the texts of entities the latest version shared remembered.
    const options = { maxDepth: this.#limits.maxDepth, known };
    if (!unchanged) this.#forget();
    const { config_hash, hashes } = unchanged
      ? hashConfigRemembering(valid as Record<string, unknown>, {
          ...options,
          fresh: brought,
          texts: this.#texts,
        })
      : (hashConfig(valid as Record<string, unknown>, options) as ConfigHash);
    const latest = this.#latest;
    if (latest && latest.hash === config_hash) return { ...latest, changed: false };
    const version = (latest?.version ?? 0) + 1;
    const publishedAt = this.#clock.now();
    return { version, hash: config_hash, hashes, config: valid, publishedAt, changed: true };
  }

  /**
   * A version another control plane published (through the cluster state), checked: its
   * config must hash to its hash (`CONFIG_HASH_MISMATCH` otherwise). Not validated again: the
   * CP that published it did.
   */
  verify(shared: SharedVersion): PublishedConfig<TConfig> {
    // Its entities may be objects this CP remembered and that were edited since (a state in
    // memory, shared with a CP given them again by setConfig): none is read from before.
    this.#forget();
    const { config_hash } = hashConfig(shared.config, { maxDepth: this.#limits.maxDepth });
    if (config_hash !== shared.hash) throw new ConfigHashMismatchError(shared.hash, config_hash);
    const { version, hash, hashes, publishedAt } = shared;
    return { version, hash, hashes, config: shared.config as TConfig, publishedAt };
  }

  /**
   * Publishes a prepared version; refuses one that is not newer than the latest (control
   * planes sharing a cluster state number versions together: this one may skip some).
   */
  commit(prepared: PublishedConfig<TConfig>): void {
    const latest = this.#latest?.version ?? 0;
    if (!(prepared.version > latest)) {
      throw new StateError('config publisher', `version ${latest}`, `version ${prepared.version}`);
    }
    const { version, hash, hashes, config, publishedAt } = prepared;
    this.#latest = { version, hash, hashes, config, publishedAt };
  }
}
