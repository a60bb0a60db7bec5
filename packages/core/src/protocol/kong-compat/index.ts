import { versionNumber } from '../compatibility.ts';
import { adaptConfig, ruleThresholds } from './checkers.ts';
import { KONG_MAX_PAYLOAD_DEFAULTS, KONG_REMOVED_FIELDS } from './removed-fields.ts';

/** A config adapted for a Kong DP's version (see {@link adaptKongConfig}). */
export interface KongAdaptation {
  /** The config to send: the input itself when `changed` is false. */
  config: Record<string, unknown>;
  /** Whether any rule changed the config. */
  changed: boolean;
  /** One line per kind of change (or warning), worded like Kong's warn logs. */
  notes: string[];
}

/**
 * Adapts a Kong config table (`config_table` of a `reconfigure`) for a DP of another version,
 * as a Kong 3.10 CP does (`kong/clustering/compat`): for a DP older than each rule's release,
 * Kong's structural fixes (`updated_at` dropped before 3.3, `use_srv_name` before 3.1, the
 * `latency` algorithm as `round-robin` before 3.2, AI providers falling back to `openai`, the
 * pre-3.6 redis fields, and the rest of checkers.lua), then the renames (session's cookie
 * fields before 3.2, opentelemetry's `traces_endpoint` as `endpoint` before 3.8) and the
 * plugin fields `removed_fields.lua` lists for every release newer than the DP.
 *
 * Only the config changes: the frame keeps the hash of the CP's config, as Kong's does, so
 * the DP's ping reports the hash the CP pushed. When the two versions have the same Kong
 * number, or no rule applies, the input object itself is returned, `changed: false`. The
 * input is never written: changed collections and entities are copies, untouched ones are
 * shared with the input. The result depends only on the config and the two versions, so a
 * caller may keep it per DP version.
 *
 * @param configTable - The config, in Kong's export shape (`plugins`, `upstreams`, …).
 * @param dataPlaneVersion - The DP's Kong version (`3.2.1`, `3.9.0.0-enterprise-edition`).
 * @param controlPlaneVersion - The version the CP reports; named in the notes.
 */
export function adaptKongConfig(
  configTable: Record<string, unknown>,
  dataPlaneVersion: string,
  controlPlaneVersion: string,
): KongAdaptation {
  if (versionNumber(dataPlaneVersion) === versionNumber(controlPlaneVersion)) {
    return { config: configTable, changed: false, notes: [] };
  }
  return adaptConfig(configTable, dataPlaneVersion, controlPlaneVersion, KONG_REMOVED_FIELDS);
}

/**
 * The `cluster_max_payload` default of a Kong release: the largest frame (the gzipped
 * `reconfigure`) its DP accepts unless its operator raised it — 16 MiB from 3.4.0, 4 MiB from
 * 2.1.0, 64 KiB in 2.0 (and for a version older than that, or one that does not parse).
 *
 * @param dataPlaneVersion - The DP's Kong version.
 */
export function kongMaxPayloadBytes(dataPlaneVersion: string): number {
  const number = versionNumber(dataPlaneVersion);
  let bytes = (KONG_MAX_PAYLOAD_DEFAULTS[0] as { bytes: number }).bytes;
  for (const row of KONG_MAX_PAYLOAD_DEFAULTS) if (number >= row.since) bytes = row.bytes;
  return bytes;
}

const THRESHOLDS = ruleThresholds(KONG_REMOVED_FIELDS);

/**
 * Which adaptation a DP of `dataPlaneVersion` gets: DPs below the same rule versions get the
 * same one (3.0.0, 3.0.1 and 3.0.2.0-enterprise-edition share `below 3001000000`), so a CP
 * adapts and encodes a version once per class, whatever patch releases its fleet runs.
 */
export function kongAdaptationKey(dataPlaneVersion: string): string {
  const number = versionNumber(dataPlaneVersion);
  const next = THRESHOLDS.find((threshold) => number < threshold);
  return next === undefined ? 'kong, no rule' : `kong below ${next}`;
}
