import { z } from 'zod';

/**
 * Where an active config came from, as the DP start sequence and the protocol name it:
 * the storage cache, the declarative file, nothing at all, the Control Plane, or the host.
 */
export type ConfigSource = 'cache' | 'declarative' | 'empty' | 'control-plane' | 'manual';

/** The ordered list of {@link ConfigSource} values. */
export const CONFIG_SOURCES: readonly ConfigSource[] = [
  'cache',
  'declarative',
  'empty',
  'control-plane',
  'manual',
];

const hex32 = z.string().regex(/^[0-9a-f]{32}$/);

/** Kong's per-entity hashes beside the overall config hash (32 hex digits each). */
export interface ConfigHashes {
  config: string;
  routes: string;
  services: string;
  plugins: string;
  upstreams: string;
  targets: string;
}

/** Checks a {@link ConfigHashes} read from a frame or a store. */
export const configHashesSchema: z.ZodType<ConfigHashes> = z.object({
  config: hex32,
  routes: hex32,
  services: hex32,
  plugins: hex32,
  upstreams: hex32,
  targets: hex32,
});

/**
 * One version of the configuration, as a DP holds it: the config itself, its Kong-compatible
 * hash, the CP's version number, where it came from and when it became active.
 */
export interface ConfigSnapshot<TConfig = unknown> {
  /** The CP's version counter; 0 for configs that did not come from a CP. */
  readonly version: number;
  /** Kong's `config_hash` of `config` (32 hex digits). */
  readonly hash: string;
  readonly hashes: ConfigHashes;
  readonly source: ConfigSource;
  readonly config: TConfig;
  /** When it became active (ms since the epoch, from the injected clock). */
  readonly appliedAt: number;
}
