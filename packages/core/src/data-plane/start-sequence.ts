import type { Clock } from '../clock.ts';
import { EMPTY_CONFIG_HASH, hashConfig } from '../config/hash.ts';
import { loadDeclarativeConfig, parseDeclarativeConfig } from '../config/parse.ts';
import type { ConfigHashes, ConfigSnapshot, ConfigSource } from '../config/snapshot.ts';
import type { DataPlaneConfigMachine } from '../config/state-machine.ts';
import type { ConfigSchema } from '../config/validate.ts';
import { StoreCorruptError } from '../errors.ts';
import type { ConfigCache } from './config-cache.ts';

const EMPTY_CONFIG = { _format_version: '3.0' };

/** A config as the DP serves it; the hash is Kong's, computed unless the caller has it. */
export function makeSnapshot(
  clock: Clock,
  config: unknown,
  source: ConfigSource,
  version: number,
  known?: { hash: string; hashes: ConfigHashes },
): ConfigSnapshot {
  const computed = known
    ? { config_hash: known.hash, hashes: known.hashes }
    : hashConfig(config as Record<string, unknown>);
  return {
    version,
    hash: computed.config_hash,
    hashes: computed.hashes as ConfigHashes,
    source,
    config,
    appliedAt: clock.now(),
  };
}

/** What the start sequence works with. */
export interface StartContext {
  clock: Clock;
  cache: ConfigCache;
  machine: DataPlaneConfigMachine;
  schema: ConfigSchema<unknown>;
  maxDepth: number;
  declarativeConfig: object | string | undefined;
  /** The hash the DP's protocol serves a config under (Kong's empty-config rule). */
  servedHash(config: unknown, hash: string): string;
  /** Makes a snapshot the one served (and announces it). */
  activate(snapshot: ConfigSnapshot): void;
  report(error: unknown): void;
}

/**
 * The spec's start sequence: the cache, else the declarative file, else an empty config —
 * a step that fails (a corrupt cache, an invalid file) is reported and the next one taken,
 * so the DP always starts serving something.
 */
export async function runStartSequence(context: StartContext): Promise<void> {
  if (context.machine.state === 'empty') context.machine.beginLoading();
  const snapshot =
    (await context.cache.load()) ??
    (await fromDeclarative(context)) ??
    emptySnapshot(context.clock);
  context.machine.activateLocal(snapshot);
  context.activate(snapshot);
}

/**
 * The cache is served at once, at raw-read speed; before the DP says anything to a CP it
 * checks that the cached config hashes to the hash stored with it. One that does not (a
 * store that mixed them up, a file edited by hand) is `STORE_CORRUPT`: the DP falls through
 * to its declarative file or empty, as if the cache had been unreadable, and says that
 * hash to the CP, which pushes it the latest config.
 */
export async function checkCachedConfig(context: StartContext): Promise<void> {
  if (context.machine.active?.source !== 'cache') return;
  await new Promise((resolve) => setImmediate(resolve)); // after start() has resolved
  const cached = context.machine.active;
  if (cached?.source !== 'cache') return;
  let actual: string | undefined;
  try {
    const computed = hashConfig(cached.config, { maxDepth: context.maxDepth }).config_hash;
    actual = context.servedHash(cached.config, computed);
    // A config adapted for this DP is stored under the CP's hash, beside its own.
    if (computed === cached.hashes.config) actual = cached.hash;
  } catch {
    actual = undefined;
  }
  if (actual === cached.hash) return;
  context.report(
    new StoreCorruptError(
      `the cached config does not hash to the hash stored with it (${cached.hash}); serving the declarative file or an empty config instead`,
    ),
  );
  context.cache.hash = undefined;
  const fallback = (await fromDeclarative(context)) ?? emptySnapshot(context.clock);
  if (context.machine.active !== cached) return; // something newer arrived meanwhile
  context.machine.activateLocal(fallback);
  context.activate(fallback);
}

async function fromDeclarative(context: StartContext): Promise<ConfigSnapshot | undefined> {
  const declarative = context.declarativeConfig;
  if (declarative === undefined) return undefined;
  try {
    const config =
      typeof declarative === 'string'
        ? await loadDeclarativeConfig(declarative, { schema: context.schema })
        : parseDeclarativeConfig(declarative, { schema: context.schema });
    const snapshot = makeSnapshot(context.clock, config, 'declarative', 0);
    const hash = context.servedHash(snapshot.config, snapshot.hash);
    return hash === snapshot.hash ? snapshot : { ...snapshot, hash };
  } catch (error) {
    context.report(error);
    return undefined;
  }
}

/**
 * No config at all: a gateway answers 404. Its hash is Kong's for "no config", 32 zeros,
 * which is what a Kong DP reports until it has one.
 */
function emptySnapshot(clock: Clock): ConfigSnapshot {
  const zeros = {
    config: EMPTY_CONFIG_HASH,
    routes: EMPTY_CONFIG_HASH,
    services: EMPTY_CONFIG_HASH,
    plugins: EMPTY_CONFIG_HASH,
    upstreams: EMPTY_CONFIG_HASH,
    targets: EMPTY_CONFIG_HASH,
  };
  return makeSnapshot(clock, EMPTY_CONFIG, 'empty', 0, { hash: EMPTY_CONFIG_HASH, hashes: zeros });
}
