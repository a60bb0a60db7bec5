/** One route of the active config, with its service resolved. */
interface CompiledRoute {
  name: string;
  methods: Set<string> | undefined;
  hosts: string[] | undefined;
  paths: Array<{ prefix: string } | { regex: RegExp }> | undefined;
  stripPath: boolean;
  preserveHost: boolean;
  service: { name: string; protocol: string; host: string; port: number; path: string };
}

/** Where a request goes. */
export interface RouteMatch {
  route: string;
  service: string;
  /** The upstream URL to call. */
  url: URL;
  /** The Host header to send upstream. */
  host: string;
}

type Entity = Record<string, unknown>;

/**
 * A Kong-style router over a flattened declarative config: a route matches on its methods,
 * hosts and paths (prefixes, or regexes starting with `~`); the longest matching path wins;
 * `strip_path` (default true) removes the matched prefix before the service's own path.
 */
export class Router {
  readonly #routes: CompiledRoute[];

  constructor(config: unknown) {
    const { services = [], routes = [] } = (config ?? {}) as {
      services?: Entity[];
      routes?: Entity[];
    };
    const byKey = new Map<unknown, Entity>();
    for (const service of services) {
      if (service.id) byKey.set(service.id, service);
      if (service.name) byKey.set(service.name, service);
    }
    this.#routes = routes.flatMap((route, index) => {
      const reference = route.service;
      const key =
        typeof reference === 'object' && reference
          ? ((reference as Entity).id ?? (reference as Entity).name)
          : reference;
      const service = byKey.get(key);
      if (!service) return [];
      const protocol = String(service.protocol ?? 'http');
      return [
        {
          name: String(route.name ?? route.id ?? `route-${index}`),
          methods: Array.isArray(route.methods) ? new Set(route.methods as string[]) : undefined,
          hosts: Array.isArray(route.hosts)
            ? (route.hosts as string[]).map((h) => h.toLowerCase())
            : undefined,
          paths: Array.isArray(route.paths)
            ? (route.paths as string[]).map((p) =>
                p.startsWith('~') ? { regex: new RegExp(`^${p.slice(1)}`) } : { prefix: p },
              )
            : undefined,
          stripPath: route.strip_path !== false,
          preserveHost: route.preserve_host === true,
          service: {
            name: String(service.name ?? service.id),
            protocol,
            host: String(service.host),
            port: Number(service.port ?? (protocol === 'https' ? 443 : 80)),
            path: typeof service.path === 'string' ? service.path : '',
          },
        },
      ];
    });
  }

  get size(): number {
    return this.#routes.length;
  }

  match(method: string, hostHeader: string | undefined, path: string): RouteMatch | undefined {
    const host = (hostHeader ?? '').replace(/:\d+$/, '').toLowerCase();
    let best: { route: CompiledRoute; matched: string } | undefined;
    for (const route of this.#routes) {
      if (route.methods && !route.methods.has(method)) continue;
      if (route.hosts && !route.hosts.some((pattern) => hostMatches(pattern, host))) continue;
      const matched = route.paths ? longestPath(route.paths, path) : '';
      if (matched === undefined) continue;
      if (!best || matched.length > best.matched.length) best = { route, matched };
    }
    if (!best) return undefined;
    const { route, matched } = best;
    const rest = route.stripPath ? path.slice(matched.length) : path;
    const joined = `${route.service.path.replace(/\/$/, '')}/${rest.replace(/^\//, '')}`;
    const url = new URL(
      `${route.service.protocol}://${route.service.host}:${route.service.port}${joined === '/' || joined === '' ? '/' : joined}`,
    );
    return {
      route: route.name,
      service: route.service.name,
      url,
      host:
        route.preserveHost && hostHeader
          ? hostHeader
          : `${route.service.host}:${route.service.port}`,
    };
  }
}

function longestPath(paths: NonNullable<CompiledRoute['paths']>, path: string): string | undefined {
  let longest: string | undefined;
  for (const candidate of paths) {
    const matched =
      'prefix' in candidate
        ? path.startsWith(candidate.prefix)
          ? candidate.prefix
          : undefined
        : candidate.regex.exec(path)?.[0];
    if (matched !== undefined && (longest === undefined || matched.length > longest.length))
      longest = matched;
  }
  return longest;
}

function hostMatches(pattern: string, host: string): boolean {
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1));
  return pattern === host;
}
