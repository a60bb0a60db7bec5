import type { SyncStatus } from './messages.ts';

/** A plugin and its version, as a node reports it. */
export interface PluginVersion {
  name: string;
  version: string;
}

function majorMinor(version: string): [number, number] | undefined {
  const match = /^(\d+)\.(\d+)/.exec(version);
  return match ? [Number(match[1]), Number(match[2])] : undefined;
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
 * Whether a DP can run the plugins a config uses: each must be installed on the DP
 * (`plugin_set_incompatible` otherwise) with the same major version as the CP's copy
 * (`plugin_version_incompatible` otherwise). Plugins the CP does not list are checked for
 * presence only.
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
    const cpVersion = controlPlanePlugins.get(name);
    if (cpVersion !== undefined && majorMinor(cpVersion)?.[0] !== majorMinor(dpVersion)?.[0]) {
      status = 'plugin_version_incompatible';
    }
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
