import { describe, expect, it } from 'vitest';
import {
  adaptConfig,
  type RemovedFieldsTable,
  removedFieldsFor,
} from '../src/protocol/kong-compat/checkers.ts';
import {
  adaptKongConfig,
  kongAdaptationKey,
  kongMaxPayloadBytes,
} from '../src/protocol/kong-compat/index.ts';

type Config = Record<string, unknown>;

const CP = '3.10.0';

/** Freezes a value and everything under it, so a write anywhere throws. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

function plugin(name: string, config: Config, extra: Config = {}): Config {
  return { name, config, ...extra };
}

/** The config of the first plugin named `name` in an adapted config. */
function configOf(config: Config, name: string): Config {
  const found = (config.plugins as Config[]).find((p) => p.name === name);
  return found?.config as Config;
}

// ---------------------------------------------------------------------------------------------
// Kong's own vectors: spec/01-unit/19-hybrid/03-compat_spec.lua in Kong/kong at commit
// 22246ef28c16842098369b494eef879222e30c7b (Apache License 2.0, Copyright Kong Inc.). Their
// inputs and expected configs are transcribed as data; Kong's `ngx.null` is JSON `null`, an
// empty Lua table an empty array. Where Kong's spec loads entities through its database and
// exports them, the transcript holds the fields the spec writes.
// ---------------------------------------------------------------------------------------------

describe("Kong's compat spec: calculating fields to remove", () => {
  const table: RemovedFieldsTable = {
    200: { my_plugin: ['a', 'c'], my_other_plugin: ['my_field'] },
    300: {
      my_plugin: ['b'],
      my_other_plugin: ['my_extra_field'],
      my_third_plugin: ['my_new_field'],
    },
  };

  it('merges multiple versions together, each list sorted', () => {
    expect(Object.fromEntries(removedFieldsFor(table, 100))).toEqual({
      my_plugin: ['a', 'b', 'c'],
      my_other_plugin: ['my_extra_field', 'my_field'],
      my_third_plugin: ['my_new_field'],
    });
  });

  it('takes only the versions newer than the DP', () => {
    expect(Object.fromEntries(removedFieldsFor(table, 200))).toEqual({
      my_plugin: ['b'],
      my_other_plugin: ['my_extra_field'],
      my_third_plugin: ['my_new_field'],
    });
  });
});

describe("Kong's compat spec: update_compatible_payload()", () => {
  // The spec swaps Kong's table for this one.
  const table: RemovedFieldsTable = {
    2000000000: { my_plugin: ['delete_me'] },
    3000000000: {
      my_plugin: ['delete_me_too'],
      other_plugin: ['goodbye', 'my.nested.field'],
      session: ['anything'],
    },
  };
  const cases: { name: string; version: string; plugins: Config[]; expect: Config[] }[] = [
    { name: 'empty', version: '3.0.0', plugins: [], expect: [] },
    {
      name: 'merged',
      version: '1.0.0',
      plugins: [
        plugin('my-plugin', { do_not_delete: true, delete_me: false, delete_me_too: null }),
        plugin('other-plugin', { hello: { a: 1 } }),
      ],
      expect: [
        plugin('my-plugin', { do_not_delete: true }),
        plugin('other-plugin', { hello: { a: 1 } }),
      ],
    },
    {
      name: 'nested fields',
      version: '1.0.0',
      plugins: [
        plugin('other-plugin', { do_not_delete: 1, my: 123 }),
        plugin('other-plugin', { do_not_delete: 1, my: { nested: 'not a table' } }),
        plugin('other-plugin', {
          do_not_delete: 1,
          my: { nested: { field: 'this one', stay: "I'm still here" } },
        }),
      ],
      expect: [
        plugin('other-plugin', { do_not_delete: 1, my: 123 }),
        plugin('other-plugin', { do_not_delete: 1, my: { nested: 'not a table' } }),
        plugin('other-plugin', { do_not_delete: 1, my: { nested: { stay: "I'm still here" } } }),
      ],
    },
    {
      name: 'renamed fields',
      version: '1.0.0',
      plugins: [
        plugin('session', {
          idling_timeout: 60,
          rolling_timeout: 60,
          stale_ttl: 60,
          cookie_same_site: 'Default',
          cookie_http_only: false,
          remember: true,
        }),
      ],
      expect: [
        plugin('session', {
          cookie_idletime: 60,
          cookie_lifetime: 60,
          cookie_discard: 60,
          cookie_samesite: 'Lax',
          cookie_httponly: false,
          cookie_persistent: true,
        }),
      ],
    },
  ];

  it.each(cases)('$name', ({ version, plugins, expect: expected }) => {
    const { config } = adaptConfig(deepFreeze({ plugins }), version, CP, table);
    expect(config.plugins).toEqual(expected);
  });
});

describe("Kong's compat spec: entities that have an `updated_at` field", () => {
  const stamp = { created_at: 1234567890, updated_at: 1234567890 };
  const collections = [
    'services',
    'routes',
    'ca_certificates',
    'certificates',
    'consumers',
    'targets',
    'upstreams',
    'plugins',
    'workspaces',
    'snis',
  ];
  const config = deepFreeze(
    Object.fromEntries(
      collections.map((name) => [
        name,
        [name === 'plugins' ? { name: 'key-auth', config: {}, ...stamp } : { ...stamp }],
      ]),
    ),
  );

  it('has_update for a 3.0.0 DP', () => {
    expect(adaptKongConfig(config, '3.0.0', CP).changed).toBe(true);
  });

  it('drops `updated_at` from the entities checkers.lua lists, keeps it on services and routes', () => {
    const adapted = adaptKongConfig(config, '3.2.0', CP).config;
    for (const name of collections) {
      const [entity] = adapted[name] as Config[];
      const kept = name === 'services' || name === 'routes';
      expect(entity?.updated_at, name).toBe(kept ? 1234567890 : undefined);
    }
    expect(adaptKongConfig(config, '3.3.0', CP).changed).toBe(false);
  });
});

describe("Kong's compat spec: core entities compatible changes", () => {
  const certificate = 'f6c12564-47c8-48b4-b171-0a0d9dbf7cb0';
  const caCertificate = 'f6c12564-47c8-48b4-b171-0a0d9dbf7cb1';
  const queue = { max_batch_size: 9, max_coalescing_delay: 9 };
  const service = (id: string, name: string, host: string, port: number, protocol: string) => ({
    connect_timeout: 60000,
    created_at: 1234567890,
    host,
    id,
    name,
    port,
    read_timeout: 60000,
    retries: 5,
    updated_at: 1234567890,
    write_timeout: 60000,
    protocol,
    enabled: true,
  });
  const upstreamTls = {
    client_certificate: { id: certificate },
    tls_verify_depth: 1,
    tls_verify: true,
    ca_certificates: [caCertificate],
  };
  const config: Config = deepFreeze({
    ca_certificates: [{ id: caCertificate, created_at: 1541088353 }],
    certificates: [{ id: certificate, created_at: 1541088353 }],
    upstreams: [
      {
        id: '01a2b3c4-d5e6-f7a8-b9c0-d1e2f3a4b5c6',
        name: 'upstreams1',
        slots: 10,
        use_srv_name: true,
      },
      { id: '01a2b3c4-d5e6-f7a8-b9c0-d1e2f3a4b5c7', name: 'upstreams2', slots: 10 },
      {
        id: '01a2b3c4-d5e6-f7a8-b9c0-d1e2f3a4b5c8',
        name: 'upstreams3',
        slots: 10,
        use_srv_name: false,
      },
      {
        id: '01a2b3c4-d5e6-f7a8-b9c0-d1e2f3a4b5c9',
        name: 'upstreams4',
        slots: 10,
        algorithm: 'latency',
      },
      {
        id: '01a2b3c4-d5e6-f7a8-b9c0-d1e2f3a4b5d0',
        name: 'upstreams5',
        slots: 10,
        algorithm: 'round-robin',
      },
    ],
    plugins: [
      {
        id: '00000000-0000-0000-0000-000000000001',
        name: 'cors',
        instance_name: 'my-cors',
        config: {},
      },
      {
        id: '00000000-0000-0000-0000-000000000002',
        name: 'correlation-id',
        instance_name: 'my-correlation-id',
        config: {},
      },
      { id: '00000000-0000-0000-0000-000000000003', name: 'statsd', config: { queue } },
      { id: '00000000-0000-0000-0000-000000000004', name: 'datadog', config: { queue } },
      {
        id: '00000000-0000-0000-0000-000000000005',
        name: 'opentelemetry',
        config: { traces_endpoint: 'http://example.com', queue },
      },
    ],
    services: [
      {
        ...service('123e4567-e89b-12d3-a456-426655440000', 'foo1', 'example.test', 3000, 'tls'),
        ...upstreamTls,
      },
      {
        ...service('123e4567-e89b-12d3-a456-426655440001', 'foo2', 'example.com', 80, 'https'),
        ...upstreamTls,
      },
      service('123e4567-e89b-12d3-a456-426655440002', 'foo3', 'example.com', 80, 'tls'),
    ],
  });

  it('upstream.use_srv_name: gone for a 3.0.0 DP', () => {
    const { changed, config: adapted } = adaptKongConfig(config, '3.0.0', CP);
    expect(changed).toBe(true);
    for (const upstream of adapted.upstreams as Config[]) {
      expect(upstream).not.toHaveProperty('use_srv_name');
    }
  });

  it('plugin.instance_name: gone for a 3.1.0 DP', () => {
    const { changed, config: adapted } = adaptKongConfig(config, '3.1.0', CP);
    expect(changed).toBe(true);
    const [cors, correlationId] = adapted.plugins as Config[];
    expect(cors).not.toHaveProperty('instance_name');
    expect(correlationId).not.toHaveProperty('instance_name');
  });

  it("plugin queue parameters: a 3.2.0 DP gets the legacy fields, from the plugin's queue", () => {
    const { changed, config: adapted } = adaptKongConfig(config, '3.2.0', CP);
    expect(changed).toBe(true);
    for (const name of ['statsd', 'datadog']) {
      expect(configOf(adapted, name)).toMatchObject({
        retry_count: 10,
        queue_size: 9,
        flush_timeout: 9,
      });
    }
    expect(configOf(adapted, 'opentelemetry')).toMatchObject({
      batch_span_count: 9,
      batch_flush_delay: 9,
    });
  });

  it('upstream.algorithm: latency becomes round-robin for a 3.1.0 DP', () => {
    const { changed, config: adapted } = adaptKongConfig(config, '3.1.0', CP);
    expect(changed).toBe(true);
    const upstreams = adapted.upstreams as Config[];
    expect(upstreams[3]?.algorithm).toBe('round-robin');
    expect(upstreams[4]?.algorithm).toBe('round-robin');
  });

  it('service.protocol: a 3.1.0 DP gets no upstream TLS settings on tls services, https ones keep theirs', () => {
    const { changed, config: adapted } = adaptKongConfig(config, '3.1.0', CP);
    expect(changed).toBe(true);
    const [tls, https, plainTls] = adapted.services as Config[];
    for (const field of Object.keys(upstreamTls)) {
      expect(tls).not.toHaveProperty(field);
      expect(https).toHaveProperty(field);
      expect(plainTls).not.toHaveProperty(field);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// planesync's behaviour around those rules.
// ---------------------------------------------------------------------------------------------

describe('adaptKongConfig: when nothing is adapted', () => {
  const config = deepFreeze({
    plugins: [plugin('session', { idling_timeout: 60, hash_subject: true })],
    upstreams: [{ name: 'u', algorithm: 'latency', use_srv_name: true }],
  });

  it.each([
    ['3.0.0', '3.0.0'],
    ['3.10.0', '3.10.0.0'],
    ['3.9.1', '3.9.1.0-enterprise-edition'],
  ])('a DP %s of a CP %s (the same Kong number) gets the same object, unchanged', (dp, cp) => {
    expect(adaptKongConfig(config, dp, cp)).toEqual({ config, changed: false, notes: [] });
    expect(adaptKongConfig(config, dp, cp).config).toBe(config);
  });

  it('a DP no rule applies to gets the input object itself', () => {
    const plain = deepFreeze({ plugins: [plugin('key-auth', { key_names: ['apikey'] })] });
    const result = adaptKongConfig(plain, '3.0.0', CP);
    expect(result.changed).toBe(false);
    expect(result.config).toBe(plain);
    expect(result.notes).toEqual([]);
  });

  it('a DP newer than every rule gets the input object itself', () => {
    expect(adaptKongConfig(config, '3.11.0', CP).config).toBe(config);
  });
});

describe('adaptKongConfig: the input is never written', () => {
  const everything = (): Config => ({
    plugins: [
      plugin('session', { idling_timeout: 60, cookie_same_site: 'Default', hash_subject: true }),
      plugin('opentelemetry', { traces_endpoint: 'http://otel', header_type: 'aws', queue: {} }),
      plugin('zipkin', { header_type: 'gcp', default_header_type: 'aws' }),
      plugin('ai-proxy', {
        route_type: 'llm/v1/chat',
        model: { provider: 'huggingface', options: { huggingface: {} } },
      }),
      plugin('ai-request-transformer', {
        llm: { model: { provider: 'gemini', options: { gemini: {} } } },
      }),
      plugin('rate-limiting', { policy: 'redis', redis: { host: 'r', port: 6379 } }),
      plugin('acme', {
        storage: 'redis',
        storage_config: { redis: { host: 'r', username: 'u', extra_options: { namespace: 'n' } } },
      }),
      plugin('statsd', {}),
      plugin('cors', { private_network: true }, { instance_name: 'c', updated_at: 1 }),
    ],
    upstreams: [{ name: 'u', algorithm: 'latency', use_srv_name: true, updated_at: 1 }],
    services: [{ protocol: 'tls', tls_verify: true }],
    vaults: [{ name: 'env', config: { prefix: 'my-prefix' } }],
    routes: [{ name: 'r' }],
  });

  it('adapts a deep-frozen config for a 3.0.0 DP without a write to it', () => {
    const input = deepFreeze(everything());
    const result = adaptKongConfig(input, '3.0.0', CP);
    expect(result.changed).toBe(true);
    expect(input).toEqual(everything());
    expect(result.config).not.toBe(input);
  });

  it('shares what it did not change with the input', () => {
    const input = deepFreeze(everything());
    const { config } = adaptKongConfig(input, '3.0.0', CP);
    expect(config.routes).toBe(input.routes);
    expect(config.plugins).not.toBe(input.plugins);
  });
});

describe('adaptKongConfig: plugin fields removed per version (removed_fields.lua)', () => {
  it.each([
    // [plugin, field, last DP version without it, first DP version with it, config]
    ['cors', 'private_network', '3.4.3', '3.5.0', { private_network: true }],
    ['session', 'hash_subject', '3.9.1', '3.10.0', { hash_subject: true }],
    ['rate-limiting', 'sync_rate', '3.3.1', '3.4.0', { sync_rate: -1 }],
    ['basic-auth', 'realm', '3.5.0', '3.6.0', { realm: 'service' }],
    ['key-auth', 'realm', '3.6.1', '3.7.0', { realm: 'service' }],
    ['prometheus', 'ai_metrics', '3.7.1', '3.8.0', { ai_metrics: false }],
    ['aws-lambda', 'disable_https', '3.2.2', '3.3.0', { disable_https: false }],
  ])('%s.%s: removed for %s, kept for %s', (name, field, older, newer, config) => {
    const input = deepFreeze({ plugins: [plugin(name, config)] });
    const removed = adaptKongConfig(input, older, CP);
    expect(removed.changed).toBe(true);
    expect(configOf(removed.config, name)).not.toHaveProperty(field);
    expect(removed.notes.some((line) => line.includes(`'${field}'`))).toBe(true);
    const kept = adaptKongConfig(input, newer, CP);
    expect(kept.config).toBe(input);
  });

  it('removes a nested field and keeps its siblings (acme storage_config.redis.scan_count before 3.5)', () => {
    const input = deepFreeze({
      plugins: [plugin('acme', { storage_config: { redis: { scan_count: 10, host: 'r' } } })],
    });
    const { config } = adaptKongConfig(input, '3.4.0', CP);
    expect(configOf(config, 'acme')).toEqual({ storage_config: { redis: { host: 'r' } } });
  });

  it('removes a field set to null, as Kong removes one set to ngx.null', () => {
    const input = deepFreeze({
      plugins: [plugin('cors', { private_network: null, origins: null })],
    });
    expect(configOf(adaptKongConfig(input, '3.4.0', CP).config, 'cors')).toEqual({ origins: null });
  });

  it("renames opentelemetry's traces_endpoint to endpoint for a DP before 3.8", () => {
    const input = deepFreeze({
      plugins: [
        plugin('opentelemetry', { traces_endpoint: 'http://otel', logs_endpoint: 'http://logs' }),
      ],
    });
    expect(configOf(adaptKongConfig(input, '3.7.1', CP).config, 'opentelemetry')).toEqual({
      endpoint: 'http://otel',
    });
    expect(adaptKongConfig(input, '3.8.0', CP).config).toBe(input);
  });

  it("sends session's cookie fields under their pre-3.2 names, and drops cookie_persistent before 3.1 as Kong does", () => {
    const input = deepFreeze({
      plugins: [plugin('session', { rolling_timeout: 3600, remember: true })],
    });
    expect(configOf(adaptKongConfig(input, '3.1.1', CP).config, 'session')).toEqual({
      cookie_lifetime: 3600,
      cookie_persistent: true,
    });
    expect(configOf(adaptKongConfig(input, '3.0.0', CP).config, 'session')).toEqual({
      cookie_lifetime: 3600,
    });
  });
});

describe('adaptKongConfig: unknown plugins are untouched', () => {
  it('leaves a custom plugin with fields named like removed ones as it is', () => {
    const input = deepFreeze({
      plugins: [
        plugin('my-auth', { realm: 'x', queue: {}, traces_endpoint: 'y', idling_timeout: 1 }),
      ],
    });
    const result = adaptKongConfig(input, '3.0.0', CP);
    expect(result).toEqual({ config: input, changed: false, notes: [] });
    expect(result.config).toBe(input);
  });

  it('leaves a plugin with no config object alone', () => {
    const input = deepFreeze({ plugins: [{ name: 'cors' }, { name: 'statsd', config: null }] });
    expect(adaptKongConfig(input, '3.0.0', CP).config).toBe(input);
  });
});

describe('adaptKongConfig: structural rules (checkers.lua)', () => {
  it('falls an AI provider newer than the DP back to openai in preserve mode, then llm/v1/chat before 3.7', () => {
    const input = deepFreeze({
      plugins: [
        plugin('ai-proxy', {
          route_type: 'llm/v1/chat',
          model: {
            provider: 'huggingface',
            options: { huggingface: { use_cache: true }, max_tokens: 5 },
          },
        }),
        plugin('ai-response-transformer', {
          llm: { model: { provider: 'bedrock', options: { bedrock: { aws_region: 'x' } } } },
        }),
      ],
    });
    const for38 = adaptKongConfig(input, '3.8.0', CP).config;
    expect(configOf(for38, 'ai-proxy')).toEqual({
      route_type: 'preserve',
      model: { provider: 'openai', options: { max_tokens: 5 } },
    });
    // bedrock is 3.8's: a 3.8 DP knows it.
    expect(configOf(for38, 'ai-response-transformer')).toBe(
      configOf(input, 'ai-response-transformer'),
    );

    const for36 = adaptKongConfig(input, '3.6.0', CP).config;
    expect(configOf(for36, 'ai-proxy')).toMatchObject({ route_type: 'llm/v1/chat' });
    expect(configOf(for36, 'ai-response-transformer')).toEqual({
      llm: { model: { provider: 'openai', options: {} } },
    });
  });

  it("spells out mistral's managed upstream_url for ai-proxy before 3.8", () => {
    const input = deepFreeze({
      plugins: [
        plugin('ai-proxy', { model: { provider: 'mistral', options: null } }),
        plugin('ai-proxy', {
          model: { provider: 'mistral', options: { upstream_url: 'http://m' } },
        }),
      ],
    });
    const [fallback, own] = adaptKongConfig(input, '3.7.0', CP).config.plugins as Config[];
    expect(fallback?.config).toEqual({
      model: { provider: 'mistral', options: { upstream_url: 'https://api.mistral.ai:443' } },
    });
    expect(own).toBe((input.plugins as Config[])[1]);
  });

  it('removes aws-lambda aws_sts_endpoint_url before 3.8', () => {
    const input = deepFreeze({
      plugins: [plugin('aws-lambda', { aws_sts_endpoint_url: 'http://sts' })],
    });
    expect(configOf(adaptKongConfig(input, '3.7.1', CP).config, 'aws-lambda')).toEqual({});
  });

  it("warns about acme's redis username before 3.8 without a change of its own", () => {
    const input = deepFreeze({
      plugins: [plugin('acme', { storage: 'kong', storage_config: { redis: { username: 'u' } } })],
    });
    const result = adaptKongConfig(input, '3.7.0', CP);
    expect(result.config).toBe(input);
    expect(result.changed).toBe(false);
    expect(result.notes).toEqual([
      'Kong Gateway v3.10.0 configures acme plugin with redis username which is incompatible with dataplane version 3.7.0 and will not work in this release.',
    ]);
  });

  it('sends the pre-3.6 redis fields of rate-limiting, response-ratelimiting and acme', () => {
    const redis = {
      host: 'r',
      port: 6379,
      username: 'u',
      password: 'p',
      database: 0,
      timeout: 2000,
      ssl: false,
      ssl_verify: false,
      server_name: 's',
    };
    const input = deepFreeze({
      plugins: [
        plugin('rate-limiting', { policy: 'redis', minute: 5, redis }),
        plugin('response-ratelimiting', { policy: 'local', redis }),
        plugin('acme', {
          storage: 'redis',
          storage_config: {
            redis: { ...redis, extra_options: { namespace: 'ns', scan_count: 10 } },
          },
        }),
      ],
    });
    const [rateLimiting, local, acme] = adaptKongConfig(input, '3.5.0', CP).config
      .plugins as Config[];
    expect(rateLimiting?.config).toEqual({
      policy: 'redis',
      minute: 5,
      redis_host: 'r',
      redis_port: 6379,
      redis_username: 'u',
      redis_password: 'p',
      redis_database: 0,
      redis_timeout: 2000,
      redis_ssl: false,
      redis_ssl_verify: false,
      redis_server_name: 's',
    });
    expect(local).toBe((input.plugins as Config[])[1]);
    expect(acme?.config).toEqual({
      storage: 'redis',
      storage_config: {
        redis: {
          host: 'r',
          port: 6379,
          auth: 'p',
          database: 0,
          ssl: false,
          ssl_verify: false,
          ssl_server_name: 's',
          namespace: 'ns',
          scan_count: 10,
        },
      },
    });
  });

  it('counts a redis adaptation as a change even when a later plugin needs none', () => {
    const input = deepFreeze({
      plugins: [
        plugin('rate-limiting', { policy: 'redis', redis: { host: 'r' } }),
        plugin('rate-limiting', { policy: 'local' }),
      ],
    });
    expect(adaptKongConfig(input, '3.5.0', CP).changed).toBe(true);
  });

  it.each([
    ['aws', '3.3.0', '3.4.0'],
    ['gcp', '3.4.0', '3.5.0'],
  ])(
    'falls the %s trace header back to preserve (and b3 for zipkin) for %s, not %s',
    (header, older, newer) => {
      const input = deepFreeze({
        plugins: [
          plugin('opentelemetry', { header_type: header }),
          plugin('zipkin', { header_type: header, default_header_type: header }),
        ],
      });
      const [otel, zipkin] = adaptKongConfig(input, older, CP).config.plugins as Config[];
      // before 3.3 opentelemetry's header_type is a removed field: compare with a 3.3+ DP.
      expect(otel?.config).toEqual({ header_type: 'preserve' });
      expect(zipkin?.config).toEqual({ header_type: 'preserve', default_header_type: 'b3' });
      expect(adaptKongConfig(input, newer, CP).config).toBe(input);
    },
  );

  it("writes the env vault's prefix with '_' for '-' before 3.3", () => {
    const input = deepFreeze({
      vaults: [
        { name: 'env', config: { prefix: 'my-app-' } },
        { name: 'hcv', config: { prefix: 'a-b' } },
      ],
    });
    const vaults = adaptKongConfig(input, '3.2.0', CP).config.vaults as Config[];
    expect(vaults[0]?.config).toEqual({ prefix: 'my_app_' });
    expect(vaults[1]).toBe((input.vaults as Config[])[1]);
  });

  it('keeps the legacy queue fields a plugin already has, and defaults those it lacks', () => {
    const input = deepFreeze({
      plugins: [plugin('statsd', { queue_size: 3 }), plugin('opentelemetry', {})],
    });
    const adapted = adaptKongConfig(input, '3.2.0', CP).config;
    expect(configOf(adapted, 'statsd')).toEqual({
      queue_size: 3,
      retry_count: 10,
      flush_timeout: 2,
    });
    expect(configOf(adapted, 'opentelemetry')).toEqual({
      batch_span_count: 200,
      batch_flush_delay: 3,
    });
  });

  it("notes each kind of change once, in the words of Kong's warning", () => {
    const input = deepFreeze({
      upstreams: [
        { name: 'a', algorithm: 'latency' },
        { name: 'b', algorithm: 'latency' },
      ],
    });
    expect(adaptKongConfig(input, '3.1.0', CP).notes).toEqual([
      "Kong Gateway v3.10.0 configuration 'upstream.algorithm' contains 'latency' option which is incompatible with dataplane version 3.1.0 and will fall back to 'round-robin'.",
    ]);
  });
});

describe("kongMaxPayloadBytes: a Kong DP's default cluster_max_payload", () => {
  it.each([
    ['2.0.5', 65536],
    ['2.1.0', 4194304],
    ['2.8.4', 4194304],
    ['3.0.0', 4194304],
    ['3.3.1', 4194304],
    ['3.4.0', 16777216],
    ['3.10.0.0', 16777216],
    ['3.9.1.0-enterprise-edition', 16777216],
    ['1.5.0', 65536],
    ['not a version', 65536],
  ])('Kong %s: %d bytes', (version, bytes) => {
    expect(kongMaxPayloadBytes(version)).toBe(bytes);
  });
});

describe('adaptation classes: one adaptation per set of rules, not per patch release', () => {
  it.each([
    ['3.0.0', '3.0.1', true],
    ['3.0.1', '3.0.2.0-enterprise-edition', true],
    ['3.0.0', '3.1.0', false],
    ['3.9.0', '3.9.1', true],
    ['3.9.1', '3.10.0', false],
  ])('%s and %s share an adaptation: %s', (a, b, same) => {
    expect(kongAdaptationKey(a) === kongAdaptationKey(b)).toBe(same);
  });

  it('every DP of one class gets exactly what the first of them got', () => {
    const config = {
      upstreams: [{ name: 'u', algorithm: 'latency', use_srv_name: true, updated_at: 1 }],
      plugins: [{ name: 'session', config: { cookie_same_site: 'Default' } }],
    };
    for (const [a, b] of [
      ['3.0.0', '3.0.9'],
      ['3.2.0', '3.2.4'],
      ['3.7.0', '3.7.1'],
    ] as const) {
      expect(kongAdaptationKey(a)).toBe(kongAdaptationKey(b));
      expect(adaptKongConfig(config, a, '3.10.0').config).toEqual(
        adaptKongConfig(config, b, '3.10.0').config,
      );
    }
  });
});
