import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  ConfigInvalidError,
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

  it('keeps unknown top-level keys and unknown entity fields', () => {
    const config = parseDeclarativeConfig(kongYaml);
    expect(config.workspaces).toEqual([{ name: 'default' }]);
    const withExtra = parseDeclarativeConfig({
      _format_version: '3.0',
      services: [{ name: 's', host: 'h', client_certificate: null, ca_certificates: ['x'] }],
    });
    expect(withExtra.services?.[0]).toMatchObject({
      client_certificate: null,
      ca_certificates: ['x'],
    });
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

  it('is a zod schema users can call directly', () => {
    expect(declarativeConfigSchema.safeParse({ _format_version: '3.0' }).success).toBe(true);
    expect(declarativeConfigSchema.safeParse({}).success).toBe(false);
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
        'routes[0]: a route needs at least one of methods, hosts, paths, headers, snis, sources, destinations',
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
      "services[0].routes[0].paths[0]: expected a path starting with '/' (or '~' for a regex)",
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
    expect(problemsOf('just a string')).toEqual([expect.stringMatching(/^\(root\): /)]);
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
