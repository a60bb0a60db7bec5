/** Deterministic configs for benchmarks: the same bytes every run. */

/** A Kong declarative config of `entities` entities in the proportions a real one has. */
export function largeConfig(entities = 25_000): Record<string, unknown> {
  const services = Math.round(entities * 0.2);
  const routes = Math.round(entities * 0.4);
  const plugins = Math.round(entities * 0.2);
  const upstreams = Math.round(entities * 0.1);
  const targets = entities - services - routes - plugins - upstreams;
  const id = (kind: number, n: number) =>
    `${kind.toString(16).padStart(8, '0')}-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
  return {
    _format_version: '3.0',
    services: Array.from({ length: services }, (_, n) => ({
      id: id(1, n),
      name: `service-${n}`,
      protocol: 'http',
      host: `backend-${n % 97}.internal.example.com`,
      port: 8000 + (n % 1000),
      path: `/api/v${1 + (n % 3)}/service-${n}`,
      retries: 5,
      connect_timeout: 60000,
      write_timeout: 60000,
      read_timeout: 60000,
      enabled: true,
      tags: ['team-a', `tier-${n % 4}`],
    })),
    routes: Array.from({ length: routes }, (_, n) => ({
      id: id(2, n),
      name: `route-${n}`,
      protocols: ['http', 'https'],
      methods: n % 2 ? ['GET', 'POST'] : ['GET'],
      paths: [`/service-${n % services}/resource-${n}`],
      hosts: [`api-${n % 13}.example.com`],
      strip_path: true,
      preserve_host: false,
      regex_priority: 0,
      https_redirect_status_code: 426,
      service: { id: id(1, n % services) },
      tags: ['team-a'],
    })),
    plugins: Array.from({ length: plugins }, (_, n) => ({
      id: id(3, n),
      name: n % 2 ? 'rate-limiting' : 'key-auth',
      enabled: true,
      protocols: ['http', 'https'],
      route: { id: id(2, n % routes) },
      config:
        n % 2
          ? { minute: 100 + n, policy: 'local', fault_tolerant: true }
          : { key_names: ['apikey'], hide_credentials: false },
    })),
    upstreams: Array.from({ length: upstreams }, (_, n) => ({
      id: id(4, n),
      name: `upstream-${n}.internal`,
      algorithm: 'round-robin',
      slots: 10000,
      healthchecks: {
        threshold: 0,
        active: { type: 'http', http_path: '/', timeout: 1, concurrency: 10 },
      },
    })),
    targets: Array.from({ length: targets }, (_, n) => ({
      id: id(5, n),
      target: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}:8080`,
      weight: 100,
      upstream: { id: id(4, n % upstreams) },
    })),
  };
}
