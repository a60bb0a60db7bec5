import type { Clock } from '../clock.ts';
import { checkDeltaResult } from '../config/change.ts';
import { type ConfigHash, EMPTY_CONFIG_HASH, hashConfig } from '../config/hash.ts';
import { type ConfigLimits, checkEntityCount } from '../config/limits.ts';
import type { ConfigHashes, ConfigSnapshot } from '../config/snapshot.ts';
import type { DataPlaneConfigMachine } from '../config/state-machine.ts';
import { type ConfigSchema, validateConfig } from '../config/validate.ts';
import {
  ConfigDeltaInvalidError,
  ConfigHashMismatchError,
  ConfigInvalidError,
  untilAborted,
} from '../errors.ts';
import { asPlanesyncError } from '../protocol/failure.ts';
import type { License } from '../protocol/messages.ts';
import type { ConfigOffer, ConfigRead, DataPlaneLink } from '../protocol/wire-protocol.ts';
import type { ConfigCache } from './config-cache.ts';
import { makeSnapshot } from './start-sequence.ts';

/** What the apply pipeline works with. */
export interface ApplyContext {
  clock: Clock;
  machine: DataPlaneConfigMachine;
  cache: ConfigCache;
  schema: ConfigSchema<unknown>;
  /** The hash the DP's protocol serves a config under (Kong's empty-config rule). */
  servedHash(config: unknown, hash: string): string;
  /** Whether a delta's result may be checked only where it changed (the declarative schema). */
  checksDeltas: boolean;
  /** Whether the protocol's CP may adapt a config under the original hash (Kong's). */
  acceptsAdaptedConfigs: boolean;
  settings: { maxConfigBytes: number; limits: Required<ConfigLimits> };
  /** Makes a snapshot the one served (and announces it). */
  activate(snapshot: ConfigSnapshot): void;
  license(license: License): void;
  report(error: unknown): void;
  /** Told how each config offered ended: applied (read, checked, served, saved) or refused. */
  counted(outcome: 'applied' | 'refused', durationMs: number): void;
}

/** What the cache holds, for reports to the CP (32 zeros: nothing). */
export function cacheReport(cache: ConfigCache): { cacheHash: string } {
  return { cacheHash: cache.hash ?? EMPTY_CONFIG_HASH };
}

/**
 * A config from the CP: read (inflated within `maxConfigBytes`) → Kong's hash checked
 * against the CP's → limits and schema → applied in memory → saved → reported applied; or
 * refused, keeping the last good config. Bytes the CP should never have sent (a protocol
 * violation, a payload too large) are thrown after the refusal: they end the link.
 */
export async function applyOffer(
  context: ApplyContext,
  ...args: [ConfigOffer, DataPlaneLink, AbortSignal]
): Promise<void> {
  // Measured work, not a wait: the real monotonic clock (a fake one stands still meanwhile).
  const started = performance.now();
  let outcome: 'applied' | 'refused' | undefined;
  try {
    outcome = await applyCounted(context, ...args);
  } catch (error) {
    // Bytes the CP should never have sent: refused (a nack), then the link ends.
    const code = (error as { code?: unknown }).code;
    if (code === 'PROTOCOL_VIOLATION' || code === 'PAYLOAD_TOO_LARGE') outcome = 'refused';
    throw error;
  } finally {
    if (outcome) context.counted(outcome, performance.now() - started);
  }
}

async function applyCounted(
  context: ApplyContext,
  offer: ConfigOffer,
  link: DataPlaneLink,
  signal: AbortSignal,
): Promise<'applied' | 'refused' | undefined> {
  if (offer.license) context.license(offer.license);
  // The read stops waiting when the link ends (a protocol's read may never settle); a
  // config already read is applied and saved all the same.
  // A delta applies to the config this DP serves, which must be the one it was made from.
  const base = offer.base !== undefined ? context.machine.active : undefined;
  const read = () =>
    untilAborted(
      offer.read(context.settings.maxConfigBytes, {
        signal,
        ...(base ? { base: base.config } : {}),
      }),
      signal,
    );
  // A protocol that says the hash only inside the compressed body (Kong's) is read first;
  // bytes that cannot be read then end the link, as they would after a refusal.
  let early: ConfigRead | undefined;
  let hash = offer.hash;
  if (hash === undefined) {
    early = await read();
    hash = early.hash;
    if (hash === undefined) {
      // A message without a hash (Kong's DP computes one then): a config too deep to hash is
      // refused like any invalid config, and the link stays.
      try {
        hash = hashConfig(early.config, { maxDepth: context.settings.limits.maxDepth }).config_hash;
      } catch (error) {
        context.report(error);
        return;
      }
    }
  }
  const candidate = context.machine.receive(offer.version, hash);
  if (candidate.state === 'ignored') {
    // What it serves already (the same config again, or under a new licence) is answered,
    // so the CP need not wait for its ack timeout.
    if (hash === context.machine.active?.hash)
      await link.applied({ version: offer.version, hash, ...cacheReport(context.cache) });
    return;
  }
  candidate.validating();
  let snapshot: ConfigSnapshot;
  let json: Pick<ConfigRead, 'json' | 'gzip' | 'zstd'> = {};
  let delta: { base: string; json: Uint8Array } | undefined;
  try {
    if (offer.base !== undefined && base?.hash !== offer.base)
      throw new ConfigDeltaInvalidError(
        `a delta from ${offer.base}, but this data plane serves ${base?.hash ?? 'nothing'}`,
      );
    const body = early ?? (await read());
    const { config } = body;
    const { limits } = context.settings;
    // The hash is the one truth both sides compare: what this DP serves must hash to what
    // the CP says it sent. The hash walk is also where nesting depth is bounded. A delta's
    // unchanged collections keep the hashes they had.
    const known = body.changed && base ? unchangedHashes(base.hashes, body.changed) : undefined;
    const computed = hashConfig(config, {
      maxDepth: limits.maxDepth,
      ...(known ? { known } : {}),
    }) as ConfigHash;
    // A protocol whose CP adapts configs for older DPs under the original hash (Kong's) is
    // served under the CP's hash, as Kong's DP does; any other mismatch is refused.
    if (computed.config_hash !== hash && !context.acceptsAdaptedConfigs)
      throw new ConfigHashMismatchError(hash, computed.config_hash);
    checkEntityCount(config, limits.maxEntities);
    // A delta's result is checked where it differs from its (valid) base, when the schema is
    // the declarative one; anything else is validated whole.
    let valid: unknown;
    if (body.added && context.checksDeltas) {
      checkDeltaResult(config as Record<string, unknown>, body.added, body.dropped);
      valid = config;
    } else valid = validateConfig(config, context.schema);
    // A schema that changed nothing returns its input: the bytes read are then its JSON.
    if (valid === config) json = { json: body.json, gzip: body.gzip, zstd: body.zstd };
    // A store holding the base may keep it and add the delta (a small write, not 7 MB).
    if (valid === config && body.delta && base) delta = { base: base.hash, json: body.delta };
    snapshot = makeSnapshot(context.clock, valid, 'control-plane', offer.version, {
      // Kong's DP serves a workspaces-only config as "no config" (32 zeros).
      hash: context.servedHash(config, context.acceptsAdaptedConfigs ? hash : computed.config_hash),
      hashes: computed.hashes,
    });
  } catch (error) {
    const failure = asPlanesyncError(error);
    if (signal.aborted) {
      // The link ended before the config was read: not a refusal, nothing to tell the CP.
      candidate.reject([{ path: '(root)', message: 'the link ended before the config was read' }]);
      return;
    }
    const problems =
      failure instanceof ConfigInvalidError
        ? failure.problems
        : [{ path: '(root)', message: failure.message }];
    candidate.reject(problems);
    // The CP answers a refused delta with the whole config of the same version.
    if (offer.base !== undefined) context.machine.expectRetry(offer.version);
    await link.refused({ version: offer.version, hash, errors: [...problems] });
    // Bytes the CP should never have sent end the link; an invalid config, or a schema of
    // the host's that threw (INTERNAL_ERROR), is refused and the link stays.
    if (failure.code === 'PROTOCOL_VIOLATION' || failure.code === 'PAYLOAD_TOO_LARGE')
      throw failure;
    context.report(failure);
    return 'refused';
  }
  candidate.applying();
  candidate.activate(snapshot);
  context.activate(snapshot);
  await context.cache.save(snapshot, { ...json, delta });
  await link.applied({
    version: snapshot.version,
    hash: snapshot.hash,
    ...cacheReport(context.cache),
  });
  return 'applied';
}

/** The per-collection hashes of `hashes` for the collections a delta did not change. */
function unchangedHashes(hashes: ConfigHashes, changed: ReadonlySet<string>) {
  const known: Partial<
    Record<'routes' | 'services' | 'plugins' | 'upstreams' | 'targets', string>
  > = {};
  for (const key of ['routes', 'services', 'plugins', 'upstreams', 'targets'] as const)
    if (!changed.has(key)) known[key] = hashes[key];
  return known;
}
