import { readFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { jsonMemberSpan } from '../src/config/json-scan.ts';
import {
  type Connection,
  type ControlFrame,
  DataPlane,
  declarativeConfigSchema,
  EMPTY_CONFIG_HASH,
  generateClusterCertificate,
  hashConfig,
  KONG_PROTOCOL,
  kongProtocol,
  MemoryConfigStore,
  memoryTransport,
  type SaveOptions,
  silentLogger,
  TrustVerifier,
  toKongExport,
} from '../src/index.ts';
import { isKongEmptyConfig, kongGeneratedId, uuidV5 } from '../src/protocol/index.ts';
import { createTestCluster, FakeClock, type TestCluster } from '../src/testing/index.ts';

/**
 * A config in Kong 3.10 OSS's export shape, as its CP sends `config_table`: every entity with
 * its id, foreign keys as id strings, nulls, targets' fractional timestamps, and entity types
 * planesync does not model (workspaces, parameters, keys, key_sets, keyauth_credentials, acls).
 */
const kongExport = (): Record<string, unknown> =>
  JSON.parse(
    readFileSync(new URL('./fixtures/kong-export/config-3.10.json', import.meta.url), 'utf8'),
  );

const encoder = new TextEncoder();
const decoder = new TextDecoder();

let cluster: TestCluster | undefined;
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await cluster?.stop();
  cluster = undefined;
});

/** A memory store that keeps the JSON bytes each save was given. */
class RecordingStore extends MemoryConfigStore {
  readonly saved: Array<Uint8Array | undefined> = [];
  override async save(snapshot: Parameters<MemoryConfigStore['save']>[0], options?: SaveOptions) {
    this.saved.push(options?.json);
    return super.save(snapshot, options);
  }
}

async function kongCluster() {
  return createTestCluster({
    controlPlane: { protocols: [kongProtocol()], logger: silentLogger },
  });
}

describe("A config in Kong's export shape", () => {
  it('is accepted as it is by the declarative schema (the same object: nothing to transform)', () => {
    const config = kongExport();
    const result = declarativeConfigSchema.safeParse(config);
    expect(result.success && result.data).toBe(config);
    expect(toKongExport(config)).toBe(config);
  });

  it('syncs to a planesync DP speaking Kong, which serves it under the CP hash and caches the bytes it was sent', async () => {
    cluster = await kongCluster();
    const store = new RecordingStore();
    const dp = cluster.dataPlane({
      protocol: kongProtocol(),
      storage: store,
      plugins: [
        { name: 'key-auth', version: '3.10.0' },
        { name: 'rate-limiting', version: '3.10.0' },
      ],
    });
    await dp.start();
    const config = kongExport();
    const { hash } = await cluster.cp.setConfig(config);
    expect(hash).toBe(hashConfig(config).config_hash);
    await dp.waitForConfig({ hash });
    expect(dp.currentConfig?.config).toEqual(config);
    await cluster.cp.waitForSync({ hash });
    // The cache holds the config_table bytes of the CP's message, not a re-serialisation.
    expect(decoder.decode(store.saved.at(-1))).toBe(JSON.stringify(config));
    const cached = await store.load();
    expect(cached?.hash).toBe(hash);
    expect(hashConfig(cached?.config).config_hash).toBe(hash);
  });
});

describe('toKongExport: a planesync config in the shape Kong sends', () => {
  const planesync = () => ({
    _format_version: '3.0',
    services: [
      {
        name: 'shop',
        url: 'https://shop.internal:8443/api',
        routes: [
          { name: 'orders', paths: ['/orders'], plugins: [{ name: 'cors' }] },
          { paths: ['/unnamed'] },
        ],
        plugins: [{ name: 'key-auth' }],
      },
    ],
    consumers: [{ username: 'alice' }],
    upstreams: [{ name: 'shop.internal', targets: [{ target: '10.0.0.1:8443', weight: 10 }] }],
    plugins: [{ name: 'rate-limiting', route: 'orders', consumer: 'alice', config: { minute: 5 } }],
  });

  it('gives every entity an id, and every reference between them as an id string', () => {
    const exported = toKongExport(planesync()) as Record<string, Array<Record<string, unknown>>>;
    const ids = (name: string) => exported[name]!.map((entity) => entity.id);
    for (const name of ['services', 'routes', 'plugins', 'consumers', 'upstreams', 'targets'])
      for (const id of ids(name)) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-/);
    const [service] = exported.services!;
    const route = exported.routes!.find((entity) => entity.name === 'orders')!;
    expect(service).toMatchObject({ protocol: 'https', host: 'shop.internal', port: 8443 });
    expect(service).not.toHaveProperty('url');
    expect(exported.routes!.map((entity) => entity.service)).toEqual([service!.id, service!.id]);
    const limit = exported.plugins!.find((entity) => entity.name === 'rate-limiting')!;
    expect(limit.route).toBe(route.id);
    expect(limit.consumer).toBe(exported.consumers![0]!.id);
    expect(exported.targets![0]!.upstream).toBe(exported.upstreams![0]!.id);
    // No ws_id: an OSS DP refuses one as an unknown field.
    expect(JSON.stringify(exported)).not.toContain('ws_id');
    expect(declarativeConfigSchema.safeParse(exported).success).toBe(true);
    // Converted once, it is in the export shape: converting again changes nothing.
    expect(toKongExport(exported)).toBe(exported);
  });

  it("derives named entities' ids as Kong's own declarative loader does, and the same config always the same ids", () => {
    const exported = toKongExport(planesync()) as Record<string, Array<Record<string, unknown>>>;
    expect(exported.services![0]!.id).toBe(kongGeneratedId('services', 'shop'));
    expect(exported.consumers![0]!.id).toBe(kongGeneratedId('consumers', 'alice'));
    expect(JSON.stringify(toKongExport(planesync()))).toBe(JSON.stringify(exported));
  });

  it('keeps an entity’s id when its settings change (plugins by their cache key, targets by upstream and target)', () => {
    const before = toKongExport(planesync()) as Record<string, Array<Record<string, unknown>>>;
    const changed = planesync();
    changed.plugins[0]!.config.minute = 50;
    changed.upstreams[0]!.targets[0]!.weight = 90;
    const after = toKongExport(changed) as Record<string, Array<Record<string, unknown>>>;
    expect(after.plugins!.map((plugin) => plugin.id)).toEqual(
      before.plugins!.map((plugin) => plugin.id),
    );
    expect(after.targets![0]!.id).toBe(before.targets![0]!.id);
  });

  it('refuses an invalid config with CONFIG_INVALID, as validateConfig does', () => {
    expect(() => toKongExport({ _format_version: '3.0', services: [{ port: 'x' }] })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
  });

  it('makes version-5 UUIDs as RFC 4122 does (its DNS example)', () => {
    expect(uuidV5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'www.example.com')).toBe(
      '2ed6657d-e927-568b-95e1-2665a8aea6a2',
    );
  });
});

describe("Kong's empty-config rule (only workspaces: 32 zeros)", () => {
  const workspacesOnly = () => ({
    _format_version: '3.0',
    _transform: false,
    workspaces: [{ id: '0dc6f45b-8f8d-40d2-a504-473544ee190b', name: 'default' }],
    services: [],
  });

  it.each([
    [workspacesOnly(), true],
    [{ _format_version: '3.0' }, false],
    [{ _format_version: '3.0', workspaces: [] }, false],
    [{ ...workspacesOnly(), routes: [{ paths: ['/'] }] }, false],
    [{ ...workspacesOnly(), parameters: [{ key: 'cluster_id', value: 'x' }] }, false],
  ])('judges %j empty: %s', (config, empty) => {
    expect(isKongEmptyConfig(config)).toBe(empty);
  });

  it('a planesync DP speaking Kong stores and reports 32 zeros; the CP counts that as in sync', async () => {
    cluster = await kongCluster();
    const store = new RecordingStore();
    const dp = cluster.dataPlane({ protocol: kongProtocol(), storage: store, nodeId: 'dp-1' });
    await dp.start();
    const { hash, version } = await cluster.cp.setConfig(workspacesOnly());
    expect(hash).not.toBe(EMPTY_CONFIG_HASH);
    await dp.waitForConfig({ hash: EMPTY_CONFIG_HASH, source: 'control-plane' });
    expect(dp.currentConfig?.config).toEqual(workspacesOnly());
    // Its ping after applying says zeros, which the CP takes as the version it pushed.
    await cluster.clock.advance(0);
    await cluster.cp.waitForSync({ hash });
    expect(cluster.cp.dataPlanes()[0]).toMatchObject({
      configHash: EMPTY_CONFIG_HASH,
      configVersion: version,
    });
    expect((await store.load())?.hash).toBe(EMPTY_CONFIG_HASH);
    // Restarted from that cache, the DP finds it sound (the zeros are its hash, not a corruption).
    await dp.stop();
    await cluster.cp.stop();
    const errors: string[] = [];
    const again = cluster.dataPlane({ protocol: kongProtocol(), storage: store, nodeId: 'dp-1' });
    again.on('error', (error) => errors.push(error.code));
    await again.start();
    // The cache check runs right after start() resolves.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(again.currentConfig).toMatchObject({ source: 'cache', hash: EMPTY_CONFIG_HASH });
    expect(errors).not.toContain('STORE_CORRUPT');
  });

  it('a Kong DP still gets the config on connect, whatever it serves, and its zeros ping marks it in sync', async () => {
    cluster = await kongCluster();
    const { hash } = await cluster.cp.setConfig(workspacesOnly());
    const connection = await cluster.transport
      .client({ certificates: [cluster.certificate] })
      .connect({
        request: {
          path: '/v1/outlet',
          query: [
            ['node_id', 'kong-1'],
            ['node_hostname', 'kong-1'],
            ['node_version', '3.10.0'],
          ],
          encodeQuery: false,
        },
        pings: 'manual',
      });
    cleanups.push(() => connection.close());
    const frames = connection[Symbol.asyncIterator]();
    await connection.send(
      encoder.encode(JSON.stringify({ type: 'basic_info', plugins: [], labels: {} })),
    );
    const message = JSON.parse(gunzipSync((await frames.next()).value as Uint8Array).toString());
    expect(message).toMatchObject({ type: 'reconfigure', config_hash: hash });
    await connection.sendControl!({ kind: 'ping', payload: encoder.encode(EMPTY_CONFIG_HASH) });
    const [record] = await cluster.cp.waitForSync({ hash });
    expect(record).toMatchObject({ id: 'kong-1', configHash: EMPTY_CONFIG_HASH });
  });
});

describe('A planesync DP speaking Kong, against a Kong CP written from its Lua', () => {
  /** Listens as Kong's CP does on /v1/outlet: reads basic_info, sends frames, pongs pings. */
  async function kongControlPlane({ answerPings = true, version = '3.10.0' } = {}) {
    const clock = new FakeClock();
    const { certificate } = await generateClusterCertificate({ clock });
    const transport = memoryTransport({ clock, certificates: [certificate] });
    const links: Array<{ connection: Connection; basicInfo: unknown; pings: string[] }> = [];
    const pinged = new Map<string, () => void>();
    const ping = (hash: string) =>
      new Promise<void>((resolve) => {
        pinged.set(hash, resolve);
      });
    let arrived: () => void = () => {};
    await transport.server.listen(
      (connection) => {
        const link = { connection, basicInfo: undefined as unknown, pings: [] as string[] };
        connection.onControl?.((frame: ControlFrame) => {
          if (frame.kind !== 'ping') return;
          link.pings.push(decoder.decode(frame.payload));
          pinged.get(decoder.decode(frame.payload))?.();
          if (answerPings)
            void connection.sendControl!({ kind: 'pong', payload: new Uint8Array(0) });
        });
        void (async () => {
          for await (const frame of connection) {
            link.basicInfo = JSON.parse(decoder.decode(frame));
            links.push(link);
            arrived();
          }
        })();
      },
      { routes: [{ path: '/v1/outlet', pings: 'manual' }] },
    );
    const store = new RecordingStore();
    const dp = new DataPlane({
      transport: transport.client({ certificates: [certificate] }),
      trust: new TrustVerifier({ mode: 'pinned', certificates: [certificate], clock }),
      version,
      clock,
      logger: silentLogger,
      protocol: kongProtocol(),
      storage: store,
    });
    cleanups.push(async () => {
      await dp.stop();
      await transport.server.close();
    });
    const linked = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    await dp.start();
    await linked;
    return { dp, link: links[0]!, ping, store, clock };
  }

  it('keeps the config_table bytes exactly as Kong’s cjson wrote them (escaped slashes and all)', async () => {
    const { dp, link, ping, store } = await kongControlPlane();
    expect(link.basicInfo).toMatchObject({ type: 'basic_info', plugins: [] });
    const config = { _format_version: '3.0', routes: [{ paths: ['/shop'], name: 'shop' }] };
    const { config_hash } = hashConfig(config);
    // cjson escapes '/' as '\/'; the bytes differ from JSON.stringify's, the values do not.
    const table = '{"routes":[{"paths":["\\/shop"],"name":"shop"}],"_format_version":"3.0"}';
    const message = `{"type":"reconfigure","timestamp":1764590000.5,"config_table":${table},"config_hash":"${config_hash}"}`;
    // Right after applying it, the DP pings the new hash, as Kong's DP does.
    const pinged = ping(config_hash);
    await link.connection.send(gzipSync(encoder.encode(message)));
    await dp.waitForConfig({ hash: config_hash });
    expect(decoder.decode(store.saved.at(-1))).toBe(table);
    await pinged;
  });

  it('stays linked on pongs alone, and drops a CP silent for 45 s (no pong, no config)', async () => {
    const answered = await kongControlPlane();
    for (let second = 0; second < 120; second += 15) await answered.clock.advance(15_000);
    expect(answered.link.connection.isClosed).toBe(false);
    expect(answered.link.pings.length).toBeGreaterThanOrEqual(4);
    const silent = await kongControlPlane({ answerPings: false });
    const errors: string[] = [];
    silent.dp.on('error', (error) => errors.push(error.code));
    await silent.clock.advance(44_000);
    expect(silent.link.connection.isClosed).toBe(false);
    await silent.clock.advance(1_000);
    await silent.link.connection.closed;
    expect(errors).toContain('HEARTBEAT_TIMEOUT');
  });

  it('refuses a config too deep to hash when the message carries no hash, and keeps the link', async () => {
    const { dp, link } = await kongControlPlane();
    const errors: string[] = [];
    dp.on('error', (error) => errors.push(error.code));
    let deep: unknown = 'bottom';
    for (let i = 0; i < 2_000; i++) deep = { a: deep };
    const config_table = {
      _format_version: '3.0',
      services: [{ name: 'a', host: 'a', tags: [deep] }],
    };
    // JSON.stringify would overflow on its own recursion sooner than this depth: build the text.
    const message = `{"type":"reconfigure","timestamp":1,"config_table":${JSON.stringify(config_table).replace('"bottom"', `${'{"a":'.repeat(2_000)}1${'}'.repeat(2_000)}`)}}`;
    await link.connection.send(gzipSync(encoder.encode(message)));
    const good = { _format_version: '3.0', services: [{ name: 'b', host: 'b.internal' }] };
    await link.connection.send(
      gzipSync(encoder.encode(JSON.stringify({ type: 'reconfigure', config_table: good }))),
    );
    await dp.waitForConfig({ hash: hashConfig(good).config_hash });
    expect(errors).toContain('CONFIG_INVALID');
    expect(link.connection.isClosed).toBe(false);
  });

  it('serves a config the CP adapted for this older DP under the CP’s hash, as Kong’s DP does, and restarts from it', async () => {
    const { dp, link, ping, store } = await kongControlPlane({ version: '3.0.1' });
    // What Kong 3.10's CP sends a 3.0 DP: `latency` turned into round-robin, the hash of the
    // config before that change.
    const original = { _format_version: '3.0', upstreams: [{ name: 'u', algorithm: 'latency' }] };
    const adapted = {
      _format_version: '3.0',
      upstreams: [{ name: 'u', algorithm: 'round-robin' }],
    };
    const { config_hash } = hashConfig(original);
    const pinged = ping(config_hash);
    const message = { type: 'reconfigure', timestamp: 1, config_table: adapted, config_hash };
    await link.connection.send(gzipSync(encoder.encode(JSON.stringify(message))));
    await dp.waitForConfig({ hash: config_hash });
    await pinged;
    expect(dp.currentConfig?.config).toEqual(adapted);
    const cached = await store.load();
    expect(cached).toMatchObject({
      hash: config_hash,
      hashes: { config: hashConfig(adapted).config_hash },
    });
    // A restart serves that cache: the hash stored with it is the CP's, its own beside it.
    await dp.stop();
    const errors: string[] = [];
    dp.on('error', (error) => errors.push(error.code));
    await dp.start();
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(dp.currentConfig).toMatchObject({ hash: config_hash });
    expect(errors).not.toContain('STORE_CORRUPT');
  });

  it('computes the hash itself when the message carries none, as Kong’s DP does', async () => {
    const { dp, link } = await kongControlPlane();
    const config = { _format_version: '3.0', services: [{ name: 'a', host: 'a.internal' }] };
    const message = { type: 'reconfigure', timestamp: 1, config_table: config };
    await link.connection.send(gzipSync(encoder.encode(JSON.stringify(message))));
    const { config_hash } = hashConfig(config);
    await dp.waitForConfig({ hash: config_hash });
    expect(dp.status.protocol).toBe(KONG_PROTOCOL);
  });
});

describe('jsonMemberSpan: where a top-level member’s value lies in JSON bytes', () => {
  const span = (json: string, key: string) => {
    const bytes = encoder.encode(json);
    const at = jsonMemberSpan(bytes, key);
    return at && decoder.decode(bytes.subarray(at[0], at[1]));
  };

  it.each([
    ['{"a":1,"b":{"c":"}"}}', 'b', '{"c":"}"}'],
    ['{"a":"x\\"}","b":[1,{"d":[]}] }', 'b', '[1,{"d":[]}]'],
    [' { "a" : true , "b" : -1.5e3 } ', 'b', '-1.5e3'],
    ['{"a":"\\\\","b":null}', 'b', 'null'],
    ['{"é":1,"b":"ü"}', 'b', '"ü"'],
    ['{"a":1}', 'b', undefined],
    ['{"b\\u0062":1}', 'bb', undefined],
    ['[1,2]', 'b', undefined],
    // JSON.parse keeps the last of two: a span of the first would cache what is not served.
    ['{"b":1,"b":2}', 'b', undefined],
    ['{"b":1,"\\u0062":2}', 'b', undefined],
    ['{}', 'b', undefined],
  ])('in %s, %s is %s', (json, key, expected) => {
    expect(span(json, key)).toBe(expected);
  });
});
