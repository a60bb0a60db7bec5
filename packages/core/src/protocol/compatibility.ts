import type { SyncStatus } from './messages.ts';

/** A plugin and its version, as a node reports it. */
export interface PluginVersion {
  name: string;
  version: string;
}

/**
 * A version's major and minor, as Kong reads them: `major.minor.patch` at the start, anything
 * after (`3.14.0.0-enterprise-edition`) ignored; `undefined` without all three.
 */
function majorMinor(version: string): [number, number] | undefined {
  const match = /^(\d+)\.(\d+)\.\d+/.exec(version);
  return match ? [Number(match[1]), Number(match[2])] : undefined;
}

/**
 * Kong's number for a version (`version.string_to_number`): up to four dotted parts, each
 * read as its leading digits, weighted 10⁹, 10⁶, 10³, 1 — `3.10.0.0` is 3 010 000 000.
 * What Kong's compat adaptations compare versions by.
 */
export function versionNumber(version: string): number {
  let base = 1_000_000_000;
  let number = 0;
  for (const part of version.split('.', 4)) {
    number += base * Number(/^\d+/.exec(part)?.[0] ?? 0);
    base /= 1000;
  }
  return number;
}

/**
 * Kong's rule for node versions: the majors are equal and the DP's minor is at most the CP's
 * (a CP serves older DPs of its major, never newer ones).
 */
export function versionsCompatible(controlPlane: string, dataPlane: string): boolean {
  const cp = majorMinor(controlPlane);
  const dp = majorMinor(dataPlane);
  return cp !== undefined && dp !== undefined && cp[0] === dp[0] && dp[1] <= cp[1];
}

/**
 * Whether a DP can run the plugins a config uses, by Kong's rule (`compat/init.lua`): each
 * must be installed on the DP (`plugin_set_incompatible` otherwise); where both sides give a
 * version, the DP's copy has the CP's major and a minor no newer than the CP's
 * (`plugin_version_incompatible` otherwise) — except a DP's `opentelemetry` 0.1.x, which Kong
 * always accepts (that plugin shipped as 0.1.0 for several releases). Plugins the CP does not
 * list are checked for presence only.
 */
export function pluginCompatibility(
  configured: Iterable<string>,
  controlPlanePlugins: ReadonlyMap<string, string>,
  dataPlanePlugins: readonly PluginVersion[],
): SyncStatus {
  const installed = new Map(dataPlanePlugins.map((plugin) => [plugin.name, plugin.version]));
  let status: SyncStatus = 'normal';
  for (const name of configured) {
    const dpVersion = installed.get(name);
    if (dpVersion === undefined) return 'plugin_set_incompatible';
    const cp = majorMinor(controlPlanePlugins.get(name) ?? '');
    const dp = majorMinor(dpVersion);
    if (!cp || !dp) continue;
    if (name === 'opentelemetry' && dp[0] === 0 && dp[1] === 1) continue;
    if (cp[0] !== dp[0] || cp[1] < dp[1]) status = 'plugin_version_incompatible';
  }
  return status;
}

/** The plugin names a declarative config uses (`plugins[].name`). */
export function configuredPlugins(config: unknown): Set<string> {
  const plugins = (config as { plugins?: unknown } | undefined)?.plugins;
  const names = new Set<string>();
  if (Array.isArray(plugins)) {
    for (const plugin of plugins) {
      const name = (plugin as { name?: unknown } | null)?.name;
      if (typeof name === 'string') names.add(name);
    }
  }
  return names;
}
