import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import {
  ConfigInvalidError,
  type ConfigIssue,
  DECLARATIVE_ENTITY_TYPES,
  type DeclarativeConfig,
  declarativeConfigSchema,
  loadDeclarativeConfig,
  parseDeclarativeConfig,
} from '../src/index.ts';

/** The problems of a config that must fail, as `path: message` lines. */
function problemsOf(input: string | object): string[] {
  try {
    parseDeclarativeConfig(input);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigInvalidError);
    expect((error as ConfigInvalidError).code).toBe('CONFIG_INVALID');
    return (error as ConfigInvalidError).problems.map((p) => `${p.path}: ${p.message}`);
  }
  throw new Error('expected CONFIG_INVALID');
}

const kongYaml = `
_format_version: "3.0"
_transform: true
services:
  - name: echo
    url: http://127.0.0.1:8080/base
    routes:
      - name: echo-route
        paths: [/echo]
        strip_path: true
        plugins:
          - name: rate-limiting
            config: { minute: 5 }
    plugins:
      - name: key-auth
  - name: billing
    host: billing.internal
    port: 9000
    protocol: https
routes:
  - name: billing-route
    hosts: [billing.example.com]
    service: billing
consumers:
  - username: alice
    plugins:
      - name: acl
upstreams:
  - name: billing.internal
    targets:
      - target: 10.0.0.1:9000
        weight: 100
certificates:
  - id: 4e3ad2e4-0bc4-4638-8e34-c84a417ba39b
    cert: "-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----"
    key: "-----BEGIN PRIVATE KEY-----\\nMIIE\\n-----END PRIVATE KEY-----"
    snis: [example.com]
workspaces:
  - name: default
`;

describe('declarative config: parsing', () => {
  it('parses Kong YAML and flattens nested entities the way Kong exports them', () => {
    const config = parseDeclarativeConfig(kongYaml);
    expect(config._format_version).toBe('3.0');
    expect(config.routes?.map((r) => [r.name, r.service])).toEqual([
      ['billing-route', 'billing'],
      ['echo-route', 'echo'],
    ]);
    expect(config.plugins?.map((p) => [p.name, p.service, p.route, p.consumer])).toEqual([
      ['key-auth', 'echo', undefined, undefined],
      ['rate-limiting', undefined, 'echo-route', undefined],
      ['acl', undefined, undefined, 'alice'],
    ]);
    expect(config.targets).toEqual([
      { target: '10.0.0.1:9000', weight: 100, upstream: 'billing.internal' },
    ]);
    expect(config.snis).toEqual([
      { name: 'example.com', certificate: '4e3ad2e4-0bc4-4638-8e34-c84a417ba39b' },
    ]);
    expect(config.services?.[0]).not.toHaveProperty('routes');
    expect(config.services?.[0]).not.toHaveProperty('plugins');
  });

  it('expands a service url into protocol, host, port and path', () => {
    const config = parseDeclarativeConfig(kongYaml);
    expect(config.services?.[0]).toMatchObject({
      protocol: 'http',
      host: '127.0.0.1',
      port: 8080,
      path: '/base',
    });
    expect(config.services?.[0]).not.toHaveProperty('url');
    const bare = parseDeclarativeConfig({
      _format_version: '3.0',
      services: [{ name: 's', url: 'https://api.internal' }],
    });
    expect(bare.services?.[0]).toEqual({
      name: 's',
      protocol: 'https',
      host: 'api.internal',
      port: 443,
    });
  });

  it('passes top-level entity types it does not model through unvalidated', () => {
    const config = parseDeclarativeConfig(kongYaml);
    expect(config.workspaces).toEqual([{ name: 'default' }]);
    const withPluginEntities = parseDeclarativeConfig({
      _format_version: '3.0',
      keyauth_credentials: [{ key: 'secret', consumer: 'alice', anything: 1 }],
      key_sets: 'not even a list',
    });
    expect(withPluginEntities.keyauth_credentials).toEqual([
      { key: 'secret', consumer: 'alice', anything: 1 },
    ]);
  });

  it('parses the same config from JSON text, bytes and an object', () => {
    const object = {
      _format_version: '3.0',
      services: [{ name: 'a', host: 'a.internal', routes: [{ paths: ['/a'] }] }],
    };
    const fromObject = parseDeclarativeConfig(object);
    expect(parseDeclarativeConfig(JSON.stringify(object))).toEqual(fromObject);
    expect(parseDeclarativeConfig(Buffer.from(JSON.stringify(object)))).toEqual(fromObject);
    expect(object.services[0]).toHaveProperty('routes'); // the input is not mutated
  });

  it('gives a nested entity whose parent has neither id nor name a stable derived id', () => {
    const object = { _format_version: '3.0', upstreams: [{ name: 'u' }], certificates: [] };
    const input = { ...object, services: [{ host: 'h', routes: [{ paths: ['/'] }] }] };
    const first = parseDeclarativeConfig(input);
    const second = parseDeclarativeConfig(structuredClone(input));
    const serviceId = first.services?.[0]?.id;
    expect(serviceId).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(first.routes?.[0]?.service).toBe(serviceId);
    expect(second).toEqual(first);
  });

  it('loads a YAML file from disk', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'planesync-decl-'));
    try {
      await writeFile(join(dir, 'kong.yml'), kongYaml);
      expect((await loadDeclarativeConfig(join(dir, 'kong.yml'))).services).toHaveLength(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('accepts a host schema instead of the declarative one', () => {
    const schema = z.object({ greeting: z.string() });
    expect(parseDeclarativeConfig('greeting: hello', { schema })).toEqual({ greeting: 'hello' });
    expect(() => parseDeclarativeConfig('greeting: 5', { schema })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
  });
});

describe('declarativeConfigSchema.zod: a zod schema to compose with your own', () => {
  // As its TSDoc tells users to write it.
  const zod = declarativeConfigSchema.zod as z.ZodType<DeclarativeConfig>;
  const nested = {
    _format_version: '3.0',
    services: [{ name: 'echo', url: 'http://echo.internal:8080', routes: [{ paths: ['/e'] }] }],
  };
  const flat = {
    _format_version: '3.0',
    services: [{ name: 'echo', protocol: 'http', host: 'echo.internal', port: 8080 }],
    routes: [{ paths: ['/e'], service: 'echo' }],
  };
  const broken = {
    _format_version: '3.0',
    services: [{ name: 'a', host: 'a.internal', port: 70_000, prot: 'http' }],
    routes: [{ paths: ['/x'], service: 'missing' }],
  };
  const issuesOf = (result: { error?: { issues: readonly ConfigIssue[] } }) =>
    result.error?.issues.map((issue) => `${issue.path.map(String).join('.')}: ${issue.message}`);

  it('is a zod type of the zod users install, with parse throwing a ZodError', () => {
    expect(zod).toBeInstanceOf(z.ZodType);
    expect(zod.parse(nested)).toEqual(flat);
    expect(() => zod.parse(broken)).toThrow(z.ZodError);
  });

  it('keeps its rules, paths and flattening inside a schema of yours', () => {
    const gateway = z.object({ name: z.string(), config: zod, previous: zod.optional() });
    expect(gateway.parse({ name: 'edge', config: nested })).toEqual({ name: 'edge', config: flat });
    expect(issuesOf(gateway.safeParse({ name: 'edge', config: broken }))).toEqual([
      'config.services.0.port: expected integer 0..65535',
      'config.services.0.prot: unknown field',
      'config.routes.0.service: references service "missing", which does not exist',
    ]);
    expect(z.array(zod).safeParse([nested, nested]).data).toEqual([flat, flat]);
  });

  it('takes rules of yours on top, which see the flattened config', () => {
    const everyRouteHasAService = zod.refine(
      (config) => (config.routes ?? []).every((route) => route.service !== undefined),
      { error: 'a route without a service' },
    );
    expect(everyRouteHasAService.safeParse(nested).success).toBe(true);
    const noPlugins = zod.refine((config) => (config.plugins ?? []).length === 0, {
      error: 'plugins are not allowed here',
    });
    const withPlugin = {
      ...nested,
      services: [{ ...nested.services[0], plugins: [{ name: 'cors' }] }],
    };
    expect(issuesOf(noPlugins.safeParse(withPlugin))).toEqual([': plugins are not allowed here']);
  });

  it('gives a JSON Schema of the file format (its input) that a JSON Schema validator can use', () => {
    const schema = z.toJSONSchema(zod, { io: 'input', target: 'draft-07' }) as {
      required: string[];
      properties: Record<string, { enum?: string[] }>;
    };
    expect(schema.required).toEqual(['_format_version']);
    expect(schema.properties._format_version?.enum).toEqual(['3.0', '2.1', '1.1']);
    for (const collection of DECLARATIVE_ENTITY_TYPES)
      expect(schema.properties).toHaveProperty(collection);
    const validate = new Ajv({ strict: false, validateFormats: false }).compile(schema);
    expect(validate(nested)).toBe(true);
    expect(validate({ services: [] })).toBe(false); // no _format_version
    expect(validate({ _format_version: '3.0', services: [{ host: 'a', port: 70_000 }] })).toBe(
      false,
    );
  });

  it('gives the answers of declarativeConfigSchema.safeParse, its output and its problems', () => {
    const configs = [
      { _format_version: '3.0' },
      {},
      nested,
      flat,
      broken,
      { ...broken, _format_version: '9' },
    ];
    for (const config of configs) {
      const ours = declarativeConfigSchema.safeParse(config);
      const theirs = zod.safeParse(config);
      expect(ours.success).toBe(theirs.success);
      if (ours.success) expect(ours.data).toEqual(theirs.data);
      else expect(issuesOf(ours)).toEqual(issuesOf(theirs));
    }
  });
});

describe('declarative config: every failure is CONFIG_INVALID with its path', () => {
  it('reports a port out of range with the path and the expected range', () => {
    expect(
      problemsOf({
        _format_version: '3.0',
        services: [
          { name: 'a', host: 'a' },
          { name: 'b', host: 'b' },
          { name: 'c', host: 'c', port: 70000 },
        ],
      }),
    ).toEqual(['services[2].port: expected integer 0..65535']);
  });

  it('checks the scheme of a service url as it checks protocol', () => {
    for (const url of ['htp://127.0.0.1:8080', 'ftp://a.internal']) {
      expect(problemsOf({ _format_version: '3.0', services: [{ name: 's', url }] })).toEqual([
        expect.stringMatching(/^services\[0\]\.url: .*its scheme one of http, https/),
      ]);
    }
    const valid = parseDeclarativeConfig({
      _format_version: '3.0',
      services: [{ name: 's', url: 'grpcs://a:1' }],
    });
    expect(valid.services?.[0]).toMatchObject({ protocol: 'grpcs', host: 'a', port: 1 });
  });

  it('lists every problem, not just the first', () => {
    const problems = problemsOf({
      _format_version: '3.0',
      services: [{ name: 'bad name!', host: 'h', port: 1.5, protocol: 'gopher' }],
      routes: [{ name: 'r' }],
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'services[0].name: expected a name of letters, digits and . _ - ~',
        'services[0].port: expected integer 0..65535',
        expect.stringMatching(/^services\[0\]\.protocol: expected one of http, https/),
        'routes[0]: a route needs at least one of methods, hosts, paths, headers, snis, sources, destinations, expression',
      ]),
    );
    expect(problems).toHaveLength(4);
  });

  it('reports a missing or wrong _format_version', () => {
    expect(problemsOf({ services: [] })).toEqual(['_format_version: expected "3.0"']);
    expect(problemsOf({ _format_version: '9.9' })).toEqual(['_format_version: expected "3.0"']);
  });

  it('reports a service without a host', () => {
    expect(problemsOf({ _format_version: '3.0', services: [{ name: 's' }] })).toEqual([
      'services[0].host: a service needs a host (or a url)',
    ]);
  });

  it('reports a nested route with the nested path', () => {
    expect(
      problemsOf({
        _format_version: '3.0',
        services: [{ name: 's', host: 'h', routes: [{ paths: ['no-slash'] }] }],
      }),
    ).toEqual([
      "services[0].routes[0].paths[0]: expected a path starting with '/' (or '~/' for a regex), without empty segments",
    ]);
  });

  it('reports a route naming a missing service (a dangling reference)', () => {
    expect(
      problemsOf({
        _format_version: '3.0',
        services: [{ name: 'real', host: 'h' }],
        routes: [
          { paths: ['/'], service: 'real' },
          { paths: ['/x'], service: 'missing' },
        ],
      }),
    ).toEqual(['routes[1].service: references service "missing", which does not exist']);
  });

  it('reports plugins and targets pointing at nothing', () => {
    expect(
      problemsOf({
        _format_version: '3.0',
        plugins: [{ name: 'cors', consumer: { id: '5f4a0c1e-9d2b-4c3a-8e7f-6a5b4c3d2e1f' } }],
        targets: [{ target: 'a:1', upstream: 'nowhere' }],
      }),
    ).toEqual([
      'plugins[0].consumer: references consumer "5f4a0c1e-9d2b-4c3a-8e7f-6a5b4c3d2e1f", which does not exist',
      'targets[0].upstream: references upstream "nowhere", which does not exist',
    ]);
  });

  it('reports a duplicate service name', () => {
    expect(
      problemsOf({
        _format_version: '3.0',
        services: [
          { name: 'x', host: 'a' },
          { name: 'x', host: 'b' },
        ],
      }),
    ).toEqual(['services[1].name: name "x" is already used by services[0]']);
  });

  it('reports invalid YAML with its line and column, never a raw YAML exception', () => {
    const problems = problemsOf('_format_version: "3.0"\nservices:\n  - name: a\n   host: b\n');
    expect(problems[0]).toMatch(/^\(line 4, column \d+\): invalid YAML: /);
  });

  it('reports a duplicate YAML key', () => {
    expect(problemsOf('_format_version: "3.0"\n_format_version: "3.0"\n')[0]).toMatch(
      /^\(line 2, column 1\): invalid YAML: /,
    );
  });

  it('reports invalid JSON with its line and column', () => {
    expect(problemsOf('{\n  "_format_version": "3.0",\n  "services": [,]\n}')[0]).toMatch(
      /^\(line 3, column \d+\): invalid JSON: /,
    );
  });

  it('reports a YAML alias bomb instead of expanding it', () => {
    const lines = ['_format_version: "3.0"', 'a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 0; i < 12; i++) {
      const prev = String.fromCharCode(97 + i);
      const next = String.fromCharCode(98 + i);
      lines.push(`${next}: &${next} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    expect(problemsOf(lines.join('\n'))[0]).toMatch(/^\(root\): invalid YAML: /);
  });

  it('reports a config that is not an object', () => {
    expect(problemsOf('just a string')).toEqual([
      '(root): expected a declarative config: an object with _format_version',
    ]);
  });

  it('reports a file it cannot read, naming it', async () => {
    await expect(loadDeclarativeConfig('/nonexistent/kong.yml')).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      problems: [
        { path: '/nonexistent/kong.yml', message: expect.stringContaining('cannot read the file') },
      ],
    });
  });

  it('an owner with neither id nor name gets a content id that does not depend on key order', () => {
    const routes = [{ paths: ['/a'] }];
    const one = parseDeclarativeConfig({
      _format_version: '3.0',
      services: [{ host: 'h', port: 80, routes }],
    });
    const other = parseDeclarativeConfig({
      _format_version: '3.0',
      services: [{ port: 80, routes, host: 'h' }],
    });
    expect(one.services?.[0]?.id).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(other.services?.[0]?.id).toBe(one.services?.[0]?.id);
    expect(other.routes?.[0]?.service).toBe(one.services?.[0]?.id);
  });
});

/** Ids of a Kong export, one per entity. */
const ID = {
  service: '0a7ac3d2-5c3e-4b47-9a8e-1f2d3c4b5a69',
  route: '1b8bd4e3-6d4f-4c58-8b9f-2a3e4d5c6b7a',
  plugin: '2c9ce5f4-7e5a-4d69-9cab-3b4f5e6d7c8b',
  consumer: '3dadf6a5-8f6b-4e7a-8dbc-4c5a6f7e8d9c',
  upstream: '4ebea7b6-9a7c-4f8b-9ecd-5d6b7a8f9eab',
  target: '5fcfb8c7-ab8d-4a9c-8fde-6e7c8b9aafbc',
  certificate: '6adac9d8-bc9e-4bad-9aef-7f8d9cabbacd',
  caCertificate: '7bebdae9-cdaf-4cbe-8bfa-8a9eadbccbde',
  sni: '8cfcebfa-debf-4dcf-9cab-9baf1ecddcef',
  vault: '9dadfcab-efca-4eda-8dbc-acba2fdeedfa',
};
const CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----';

/**
 * A config as Kong 3.10's export writes it: flat, every field of every entity present, `null`
 * for each one that is not set.
 */
const kongExport = {
  _format_version: '3.0',
  _transform: false,
  services: [
    {
      id: ID.service,
      created_at: 1_700_000_000,
      updated_at: 1_700_000_000,
      name: 'billing',
      retries: 5,
      protocol: 'https',
      host: 'billing.internal',
      port: 443,
      path: null,
      connect_timeout: 60_000,
      write_timeout: 60_000,
      read_timeout: 60_000,
      tags: null,
      client_certificate: null,
      tls_verify: null,
      tls_verify_depth: null,
      ca_certificates: null,
      enabled: true,
    },
  ],
  routes: [
    {
      id: ID.route,
      created_at: 1_700_000_000,
      updated_at: 1_700_000_000,
      name: null,
      protocols: ['http', 'https'],
      https_redirect_status_code: 426,
      strip_path: true,
      preserve_host: false,
      request_buffering: true,
      response_buffering: true,
      tags: null,
      service: ID.service,
      snis: null,
      sources: null,
      destinations: null,
      methods: null,
      hosts: null,
      paths: ['/billing'],
      headers: null,
      regex_priority: 0,
      path_handling: 'v0',
    },
  ],
  plugins: [
    {
      id: ID.plugin,
      created_at: 1_700_000_000,
      updated_at: 1_700_000_000,
      name: 'key-auth',
      instance_name: null,
      route: ID.route,
      service: null,
      consumer: null,
      config: { key_names: ['apikey'], hide_credentials: false, anonymous: null },
      protocols: ['grpc', 'grpcs', 'http', 'https'],
      enabled: true,
      tags: null,
    },
  ],
  consumers: [
    {
      id: ID.consumer,
      created_at: 1_700_000_000,
      updated_at: 1_700_000_000,
      username: 'alice',
      custom_id: null,
      tags: null,
    },
  ],
  upstreams: [
    {
      id: ID.upstream,
      created_at: 1_700_000_000,
      updated_at: 1_700_000_000,
      name: 'billing.internal',
      algorithm: 'round-robin',
      hash_on: 'none',
      hash_fallback: 'none',
      hash_on_header: null,
      hash_fallback_header: null,
      hash_on_cookie: null,
      hash_on_cookie_path: '/',
      hash_on_query_arg: null,
      hash_fallback_query_arg: null,
      hash_on_uri_capture: null,
      hash_fallback_uri_capture: null,
      slots: 10_000,
      healthchecks: {
        threshold: 0,
        active: {
          type: 'http',
          timeout: 1,
          concurrency: 10,
          http_path: '/',
          https_sni: null,
          https_verify_certificate: true,
          headers: null,
          healthy: { interval: 0, http_statuses: [200, 302], successes: 0 },
          unhealthy: {
            interval: 0,
            http_statuses: [429, 404, 500, 501, 502, 503, 504, 505],
            tcp_failures: 0,
            timeouts: 0,
            http_failures: 0,
          },
        },
        passive: {
          type: 'http',
          healthy: { http_statuses: [200, 201, 202], successes: 0 },
          unhealthy: {
            http_statuses: [429, 500, 503],
            tcp_failures: 0,
            timeouts: 0,
            http_failures: 0,
          },
        },
      },
      tags: null,
      host_header: null,
      client_certificate: null,
      use_srv_name: false,
    },
  ],
  targets: [
    {
      id: ID.target,
      created_at: 1_700_000_000.123,
      updated_at: 1_700_000_000.123,
      upstream: ID.upstream,
      target: '10.0.0.1:9000',
      weight: 100,
      tags: null,
    },
  ],
  certificates: [
    {
      id: ID.certificate,
      created_at: 1_700_000_000,
      updated_at: 1_700_000_000,
      cert: CERT,
      key: KEY,
      cert_alt: null,
      key_alt: null,
      tags: null,
    },
  ],
  ca_certificates: [
    {
      id: ID.caCertificate,
      created_at: 1_700_000_000,
      updated_at: 1_700_000_000,
      cert: CERT,
      cert_digest: 'a3f1',
      tags: null,
    },
  ],
  snis: [
    {
      id: ID.sni,
      created_at: 1_700_000_000,
      updated_at: 1_700_000_000,
      name: '*.example.com',
      certificate: ID.certificate,
      tags: null,
    },
  ],
  vaults: [
    {
      id: ID.vault,
      created_at: 1_700_000_000,
      updated_at: 1_700_000_000,
      prefix: 'env-secrets',
      name: 'env',
      description: null,
      config: { prefix: 'SECRET_' },
      tags: null,
    },
  ],
  workspaces: [{ id: '0dc6f45b-8f8d-40d2-a504-473544ee190b', name: 'default' }],
};

describe("declarative config: Kong 3.10's entity schemas, field by field", () => {
  it("accepts Kong's own export, with null for every unset field, and returns it unchanged", () => {
    const input = structuredClone(kongExport);
    expect(parseDeclarativeConfig(input)).toBe(input);
    expect(input).toEqual(kongExport);
  });

  it('never sends a valid config through zod: the compiled validator answers alone', () => {
    const zodParse = vi.spyOn(declarativeConfigSchema.zod, 'safeParse');
    try {
      expect(declarativeConfigSchema.safeParse(structuredClone(kongExport)).success).toBe(true);
      expect(zodParse).not.toHaveBeenCalled();
    } finally {
      zodParse.mockRestore();
    }
  });

  it('accepts the fields of Kong 3.x that planesync did not know before', () => {
    const config = parseDeclarativeConfig({
      _format_version: '3.0',
      _comment: 'exported by hand',
      _ignore: [{ anything: true }],
      certificates: [{ id: ID.certificate, cert: CERT, key: '{vault://env/billing-key}' }],
      ca_certificates: [{ id: ID.caCertificate, cert: CERT }],
      services: [
        {
          name: 'billing',
          url: 'https://billing.internal',
          client_certificate: { id: ID.certificate },
          tls_verify: true,
          tls_verify_depth: 4,
          ca_certificates: [ID.caCertificate],
          _comment: 'mTLS to the upstream',
          routes: [
            { paths: ['/b'], request_buffering: false, response_buffering: false },
            { expression: 'http.path == "/x"', priority: 10 },
          ],
        },
      ],
      upstreams: [{ name: 'billing.internal', host_header: 'billing:8443', use_srv_name: true }],
    });
    expect(config.services?.[0]).toMatchObject({ tls_verify_depth: 4, host: 'billing.internal' });
    expect(config.routes).toHaveLength(2);
  });

  it('accepts null where Kong does: tags, name, hosts, methods, a reference, a collection', () => {
    const config = parseDeclarativeConfig({
      _format_version: '3.0',
      _transform: null,
      services: [{ name: null, host: 'h', tags: null, path: null, retries: null }],
      routes: [
        { name: null, hosts: null, methods: null, paths: ['/'], service: null, headers: null },
      ],
      plugins: [{ name: 'cors', service: null, route: null, consumer: null, config: null }],
      consumers: null,
    });
    expect(config.routes?.[0]).toMatchObject({ hosts: null, methods: null });
    expect(config.consumers).toBeNull();
  });

  it('refuses null for a field Kong fills with a default (required field missing)', () => {
    expect(
      problemsOf({
        _format_version: '3.0',
        services: [{ host: 'h', protocol: null, port: null, enabled: null }],
        routes: [{ paths: ['/'], strip_path: null, protocols: null }],
      }),
    ).toEqual([
      'services[0].protocol: required field missing',
      'services[0].port: required field missing',
      'services[0].enabled: required field missing',
      'routes[0].protocols: required field missing',
      'routes[0].strip_path: required field missing',
    ]);
  });

  it('reports a field Kong does not know as "unknown field", with its path', () => {
    expect(
      problemsOf({
        _format_version: '3.0',
        services: [{ name: 's', host: 'h', prot: 'http' }],
        upstreams: [{ name: 'u', healthchecks: { active: { timeout: 1, intervall: 5 } } }],
      }),
    ).toEqual([
      'services[0].prot: unknown field',
      'upstreams[0].healthchecks.active.intervall: unknown field',
    ]);
  });

  it('reports a misspelt YAML key as unknown, besides the field it leaves missing', () => {
    expect(problemsOf('_format_version: "3.0"\nservices:\n  - name: s\n    hots: h\n')).toEqual([
      'services[0].hots: unknown field',
      'services[0].host: a service needs a host (or a url)',
    ]);
  });

  it('reports a parent reference set inside a nested entity, as Kong does', () => {
    expect(
      problemsOf({
        _format_version: '3.0',
        consumers: [{ username: 'bob' }],
        services: [
          {
            name: 's',
            host: 'h',
            routes: [{ paths: ['/'], service: 's' }],
            plugins: [{ name: 'key-auth', consumer: 'bob' }],
          },
        ],
      }),
    ).toEqual([
      'services[0].routes[0].service: value must be null',
      'services[0].plugins[0].consumer: value must be null',
    ]);
  });

  it('checks hosts, paths, server names and headers as Kong does', () => {
    expect(
      problemsOf({
        _format_version: '3.0',
        services: [{ name: 's', host: 'http://h', path: '/a//b' }],
        routes: [{ hosts: ['a.*.com'], paths: ['/ok', '/bad%zz'], headers: { Host: ['x'] } }],
        upstreams: [{ name: '10.0.0.1' }],
        targets: [{ target: '[::1]:99999', upstream: '10.0.0.1' }],
        snis: [{ name: '10.0.0.1', certificate: ID.certificate }],
      }),
    ).toEqual([
      'services[0].host: expected a host name or IP address without a port',
      "services[0].path: expected a path starting with '/' (RFC 3986 characters, no empty segment)",
      'routes[0].hosts[0]: expected a host with an optional port and at most one wildcard label (*.example.com, example.*)',
      "routes[0].paths[1]: expected a path starting with '/' (or '~/' for a regex), without empty segments",
      "routes[0].headers.Host: expected a header name of A-Z, a-z, 0-9, _ and - other than 'host' (match it with 'hosts')",
      'upstreams[0].name: expected a host name (no IP address, no port)',
      'targets[0].target: expected a host name or IP address, with an optional port',
      'snis[0].name: expected a server name, optionally with * as its first or last character',
      'snis[0].certificate: references certificate "6adac9d8-bc9e-4bad-9aef-7f8d9cabbacd", which does not exist',
    ]);
  });
});

describe('declarative config: every problem in one pass', () => {
  it('reports a bad port, a dangling reference and an unknown field together', () => {
    expect(
      problemsOf({
        _format_version: '3.0',
        services: [{ name: 's', host: 'h', port: 70_000, prot: 'http' }],
        routes: [{ paths: ['/'], service: 'missing' }],
      }),
    ).toEqual([
      'services[0].port: expected integer 0..65535',
      'services[0].prot: unknown field',
      'routes[0].service: references service "missing", which does not exist',
    ]);
  });

  it('reports duplicates and references of nested entities where the file has them', () => {
    expect(
      problemsOf({
        _format_version: '3.0',
        routes: [{ name: 'r', paths: ['/'] }],
        services: [
          { name: 's', host: 'h', port: 'eighty', routes: [{ name: 'r', paths: ['/x'] }] },
        ],
        plugins: [{ name: 'acl', route: 'nowhere' }],
      }),
    ).toEqual([
      'services[0].port: expected integer 0..65535',
      'services[0].routes[0].name: name "r" is already used by routes[0]',
      'plugins[0].route: references route "nowhere", which does not exist',
    ]);
  });

  it('names the first holder of a duplicate nested name by its path in the file', () => {
    expect(
      problemsOf({
        _format_version: '3.0',
        services: [
          { name: 'a', host: 'h', routes: [{ name: 'x', paths: ['/a'] }] },
          {
            name: 'b',
            host: 'h',
            routes: [
              { name: 'y', paths: ['/b'] },
              { name: 'x', paths: ['/c'] },
            ],
          },
        ],
        plugins: [{ name: 'acl', route: 'y' }],
      }),
    ).toEqual(['services[1].routes[1].name: name "x" is already used by services[0].routes[0]']);
  });
});
