/**
 * Kong's `url` shorthand on a service, expanded into the fields it stands for.
 *
 * @module
 */

type Entity = Record<string, unknown>;

/** Kong's `url` shorthand on a service becomes `protocol`, `host`, `port` and `path`. */
export function expandUrl(service: Entity): Entity {
  if (typeof service.url !== 'string') return service;
  const { url, ...rest } = service;
  const parsed = new URL(url);
  const protocol = parsed.protocol.slice(0, -1);
  const defaultPort = protocol === 'https' || protocol === 'wss' || protocol === 'grpcs' ? 443 : 80;
  const expanded: Entity = {
    ...rest,
    protocol,
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: parsed.port === '' ? defaultPort : Number(parsed.port),
  };
  // `http://host:8080` has no path; `http://host:8080/` and `http://host/api` have one.
  const afterAuthority = url.replace(/^[a-z][a-z\d+.-]*:\/\/[^/?#]*/i, '');
  if (afterAuthority.startsWith('/')) expanded.path = parsed.pathname;
  return expanded;
}
