import { describe, expect, it } from 'vitest';
import { checkDeltaResult } from '../src/config/change.ts';
import { applyDelta, diffConfig, fingerprintConfig } from '../src/config/delta.ts';
import {
  type ConfigSnapshot,
  type DataPlane,
  MemoryConfigStore,
  planesyncProtocol,
  type SaveOptions,
  silentLogger,
  type WireProtocol,
} from '../src/index.ts';
import { MessageType } from '../src/protocol/messages.ts';
import { createTestCluster, type FrameInfo, faultyClient } from '../src/testing/index.ts';

type Entity = Record<string, unknown>;
type Config = Record<string, unknown> & { _format_version: string };

/** A small deterministic PRNG (mulberry32), so a failing sequence can be replayed by its seed. */
function prng(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (below: number) => Math.floor(next() * below),
    pick: <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]!,
  };
}

const PLUGINS = [
  { name: 'cors', version: '3.10.0' },
  { name: 'key-auth', version: '3.10.0' },
];

/**
 * Random valid edits of a declarative config, across the entity types (services, routes,
 * plugins, consumers, upstreams, targets, a type planesync does not model) and top-level
 * values: creates, updates, deletes, renames, moves. Each returns a new config; the old one
 * is never changed (a CP and the reference both hold it).
 */
let editors = 0;
function editor(seed: number) {
  const random = prng(seed);
  const instance = editors++;
  let serial = 0;
  const fresh = () => `e${seed}-${instance}-${serial++}`;
  const list = (config: Config, key: string) => [...((config[key] as Entity[] | undefined) ?? [])];
  const edits: Array<(config: Config) => Config> = [
    (config) => {
      const name = fresh();
      const routes = list(config, 'routes');
      routes.splice(random.int(routes.length + 1), 0, {
        name: `r-${name}`,
        paths: [`/${name}`],
        service: `s-${name}`,
      });
      return {
        ...config,
        services: [...list(config, 'services'), { name: `s-${name}`, host: `${name}.internal` }],
        routes,
      };
    },
    (config) => {
      const services = list(config, 'services');
      if (services.length === 0) return config;
      const index = random.int(services.length);
      services[index] = { ...services[index], port: 1024 + random.int(60_000) };
      return { ...config, services };
    },
    (config) => {
      const services = list(config, 'services');
      if (services.length === 0) return config;
      const [gone] = services.splice(random.int(services.length), 1);
      const keep = (entity: Entity) => entity.service !== gone!.name;
      return {
        ...config,
        services,
        routes: list(config, 'routes').filter(keep),
        plugins: list(config, 'plugins').filter(keep),
      };
    },
    (config) => {
      // A rename: the route's name is an update of that route.
      const routes = list(config, 'routes');
      if (routes.length === 0) return config;
      const index = random.int(routes.length);
      if (list(config, 'plugins').some((plugin) => plugin.route === routes[index]!.name))
        return config;
      routes[index] = { ...routes[index], name: `renamed-${fresh()}` };
      return { ...config, routes };
    },
    (config) => {
      // A move: order matters to Kong's hash, so a delta must keep it.
      const routes = list(config, 'routes');
      if (routes.length < 2) return config;
      const [moved] = routes.splice(random.int(routes.length), 1);
      routes.splice(random.int(routes.length + 1), 0, moved!);
      return { ...config, routes };
    },
    (config) => {
      const services = list(config, 'services');
      if (services.length === 0) return config;
      const plugin = {
        name: random.pick(['cors', 'key-auth']),
        service: random.pick(services).name,
      };
      return {
        ...config,
        plugins: [...list(config, 'plugins'), { ...plugin, instance_name: fresh() }],
      };
    },
    (config) => {
      const plugins = list(config, 'plugins');
      if (plugins.length === 0) return config;
      plugins.splice(random.int(plugins.length), 1);
      return { ...config, plugins };
    },
    (config) => {
      const name = fresh();
      return {
        ...config,
        consumers: [...list(config, 'consumers'), { username: name }],
        keyauth_credentials: [
          ...list(config, 'keyauth_credentials'),
          { key: name, consumer: name },
        ],
      };
    },
    (config) => {
      const upstreams = list(config, 'upstreams');
      if (upstreams.length === 0 || random.next() < 0.3) {
        const name = fresh();
        return {
          ...config,
          upstreams: [...upstreams, { name }],
          targets: [
            ...list(config, 'targets'),
            { upstream: name, target: '10.0.0.1:80', weight: 100 },
          ],
        };
      }
      const targets = list(config, 'targets');
      if (targets.length === 0) return config;
      const index = random.int(targets.length);
      targets[index] = { ...targets[index], weight: random.int(1000) };
      return { ...config, targets };
    },
    (config) => {
      // A top-level value that is not a list.
      const { _transform, ...rest } = config;
      return _transform === undefined
        ? { ...rest, _transform: random.next() < 0.5 }
        : (rest as Config);
    },
    (config) => {
      // A whole collection goes away, or comes back.
      if (config.consumers === undefined) return config;
      const { consumers: _c, keyauth_credentials: _k, ...rest } = config;
      return rest as Config;
    },
  ];
  return {
    random,
    edit(config: Config): Config {
      return random.pick(edits)(config);
    },
  };
}

function seedConfig(seed: number, edits = 20): Config {
  const { edit } = editor(seed);
  let config: Config = { _format_version: '3.0' };
  for (let i = 0; i < edits; i++) config = edit(config);
  return config;
}

describe('config deltas: the change from one version to the next', () => {
  it.each(Array.from({ length: 40 }, (_, seed) => seed))(
    'rebuild the next config exactly, key and entity order included (seed %i)',
    (seed) => {
      const { edit } = editor(1000 + seed);
      let config = seedConfig(seed);
      for (let step = 0; step < 10; step++) {
        const next = edit(edit(config));
        const delta = diffConfig(fingerprintConfig(config), next);
        // The delta crosses the wire as JSON.
        const { config: rebuilt, changed } = applyDelta(config, JSON.parse(JSON.stringify(delta)));
        expect(JSON.stringify(rebuilt)).toBe(JSON.stringify(next));
        // Valid edits make a valid config: the DP's partial check agrees.
        const { added, dropped } = applyDelta(config, JSON.parse(JSON.stringify(delta)));
        if (added) expect(() => checkDeltaResult(rebuilt, added, dropped)).not.toThrow();
        for (const key of new Set([...Object.keys(config), ...Object.keys(next)]))
          if (JSON.stringify(config[key]) !== JSON.stringify(next[key]))
            expect(changed).toContain(key);
        config = next;
      }
    },
  );

  it('carry an unchanged list not at all, and one changed entity of many as three runs', () => {
    const services = Array.from({ length: 1000 }, (_, i) => ({ name: `s${i}`, host: `h${i}` }));
    const base = { _format_version: '3.0', services, consumers: [{ username: 'a' }] };
    const next = {
      ...base,
      services: services.map((s, i) => (i === 500 ? { ...s, port: 8080 } : s)),
    };
    const delta = diffConfig(fingerprintConfig(base), next);
    expect(delta.set).toEqual({});
    expect(Object.keys(delta.lists)).toEqual(['services']);
    expect(delta.lists.services).toEqual([[0, 500], { e: next.services[500] }, [501, 1000]]);
    expect(JSON.stringify(delta).length).toBeLessThan(JSON.stringify(next).length / 100);
  });

  it.each([
    ['not an object', []],
    ['keys not a list', { keys: 'a', set: {}, lists: {} }],
    ['a key named twice', { keys: ['a', 'a'], set: {}, lists: {} }],
    ['a kept key the base lacks', { keys: ['missing'], set: {}, lists: {} }],
    ['a set key not among the keys', { keys: [], set: { a: 1 }, lists: {} }],
    ['a run past the base list', { keys: ['services'], set: {}, lists: { services: [[0, 3]] } }],
    ['an empty run', { keys: ['services'], set: {}, lists: { services: [[1, 1]] } }],
    ['a run of fractions', { keys: ['services'], set: {}, lists: { services: [[0.5, 1]] } }],
    ['a run that is neither', { keys: ['services'], set: {}, lists: { services: [{ x: 1 }] } }],
    [
      'runs over a value that is not a list',
      { keys: ['_format_version'], set: {}, lists: { _format_version: [[0, 1]] } },
    ],
  ])('refuse a malformed delta (%s) with CONFIG_DELTA_INVALID, the base unchanged', (_, delta) => {
    const base = { _format_version: '3.0', services: [{ name: 'a' }, { name: 'b' }] };
    const before = JSON.stringify(base);
    expect(() => applyDelta(base, delta)).toThrow(
      expect.objectContaining({ code: 'CONFIG_DELTA_INVALID' }),
    );
    expect(JSON.stringify(base)).toBe(before);
  });

  it.each([
    ['an entity its schema refuses', { name: 's2', host: 'h', port: 'http' }, 'services[1].port'],
    [
      'an entity with another nested in it',
      { name: 's2', host: 'h', routes: [] },
      'services[1].routes',
    ],
    ['a name another entity holds', { name: 's0', host: 'h' }, 'services[1].name'],
  ])(
    'leave a DP that checks only what a delta brought refusing %s (CONFIG_INVALID at its path)',
    (_, entity, path) => {
      const base = { _format_version: '3.0', services: [{ name: 's0', host: 'h0' }] };
      const delta = {
        keys: ['_format_version', 'services'],
        set: {},
        lists: { services: [[0, 1], { e: entity }] },
      };
      const { config, added, dropped } = applyDelta(base, delta);
      expect(() => checkDeltaResult(config, added!, dropped)).toThrow(
        expect.objectContaining({
          code: 'CONFIG_INVALID',
          problems: expect.arrayContaining([expect.objectContaining({ path })]),
        }),
      );
    },
  );

  it.each([
    [
      'a route the delta adds, naming a service that does not exist',
      { routes: [[0, 1], { e: { name: 'r1', paths: ['/x'], service: 'nope' } }] },
      'routes[1].service',
    ],
    [
      'a plugin the delta adds, naming a consumer by a name no one holds',
      { plugins: [{ e: { name: 'cors', consumer: 'ghost' } }] },
      'plugins[0].consumer',
    ],
    [
      'a service the delta replaces under another name, its route left behind',
      { services: [{ e: { name: 's9', host: 'h' } }] },
      'routes[0].service',
    ],
  ])('leave a DP refusing %s, looking only at what the delta touched', (_, lists, path) => {
    const base = {
      _format_version: '3.0',
      services: [{ name: 's0', host: 'h0' }],
      routes: [{ name: 'r0', paths: ['/'], service: 's0' }],
      plugins: [] as unknown[],
    };
    const delta = { keys: Object.keys(base), set: {}, lists };
    const { config, added, dropped } = applyDelta(base, delta);
    expect(() => checkDeltaResult(config, added!, dropped)).toThrow(
      expect.objectContaining({
        code: 'CONFIG_INVALID',
        problems: [expect.objectContaining({ path })],
      }),
    );
  });

  it('leave a DP accepting a service replaced under the same name, its route still finding it', () => {
    const base = {
      _format_version: '3.0',
      services: [{ name: 's0', host: 'h0' }],
      routes: [{ name: 'r0', paths: ['/'], service: 's0' }],
    };
    const delta = {
      keys: Object.keys(base),
      set: {},
      lists: { services: [{ e: { name: 's0', host: 'h1', port: 81 } }] },
    };
    const { config, added, dropped } = applyDelta(base, delta);
    expect(() => checkDeltaResult(config, added!, dropped)).not.toThrow();
  });

  it('leave a DP checking a route a delta kept whose service the delta removed (a dangling reference)', () => {
    const base = {
      _format_version: '3.0',
      services: [{ name: 's0', host: 'h0' }],
      routes: [{ name: 'r0', paths: ['/'], service: 's0' }],
    };
    const delta = {
      keys: ['_format_version', 'services', 'routes'],
      set: {},
      lists: { services: [] },
    };
    const { config, added, dropped } = applyDelta(base, delta);
    expect(() => checkDeltaResult(config, added!, dropped)).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
  });

  it('ask for a whole check when a delta sets a top-level value that is not a list', () => {
    const base = { _format_version: '3.0', services: [] };
    const { added } = applyDelta(base, {
      keys: ['_format_version', 'services'],
      set: { _format_version: '9' },
      lists: {},
    });
    expect(added).toBeUndefined();
  });

  it.each([
    ['a value', { _format_version: [] }],
    ['nothing', { routes: [{ name: 'r', paths: ['/'] }] }],
  ])('ask for a whole check when a delta sets a list where the base held %s', (_, set) => {
    // `_format_version: []` passes every entity check; only the whole schema refuses it.
    const base = { _format_version: '3.0', services: [] };
    const keys = [...new Set([...Object.keys(base), ...Object.keys(set)])];
    expect(applyDelta(base, { keys, set, lists: {} }).added).toBeUndefined();
  });

  it('copy each base entity at most once, so a small delta cannot multiply a config', () => {
    const base = {
      _format_version: '3.0',
      services: Array.from({ length: 1000 }, (_, i) => ({ name: `s${i}`, host: 'h' })),
    };
    const runs = Array.from({ length: 3000 }, () => [0, 1000]);
    const delta = { keys: ['_format_version', 'services'], set: {}, lists: { services: runs } };
    expect(() => applyDelta(base, delta)).toThrow(
      expect.objectContaining({
        code: 'CONFIG_DELTA_INVALID',
        message: expect.stringContaining('copied twice'),
      }),
    );
    // A list with the same entity twice still travels: the second copy whole.
    const twice = { ...base, services: [...base.services, base.services[0]!] };
    const made = diffConfig(fingerprintConfig(base), twice);
    expect(JSON.stringify(applyDelta(base, made).config)).toBe(JSON.stringify(twice));
  });

  it('leave out a key whose value is undefined, as JSON does', () => {
    const base = { _format_version: '3.0', services: [{ name: 'a', host: 'a' }] };
    const next = { ...base, _transform: undefined, services: [{ name: 'b', host: 'b' }] };
    const delta = JSON.parse(JSON.stringify(diffConfig(fingerprintConfig(base), next)));
    expect(JSON.stringify(applyDelta(base, delta).config)).toBe(JSON.stringify(next));
  });

  it('ask for a whole check when a delta removes a top-level key', () => {
    const base = { _format_version: '3.0', services: [] };
    expect(applyDelta(base, { keys: ['services'], set: {}, lists: {} }).added).toBeUndefined();
  });

  it('take a key named __proto__ as a key, never as the prototype', () => {
    const delta = JSON.parse(
      '{"keys":["__proto__"],"set":{"__proto__":{"polluted":true}},"lists":{}}',
    );
    const { config } = applyDelta({}, delta);
    expect(Object.getPrototypeOf(config)).toBe(Object.prototype);
    expect(Object.keys(config)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

/** A store that keeps the bytes of each save: what a cache on disk would hold. */
class BytesStore extends MemoryConfigStore {
  bytes: string | undefined;
  override async save(snapshot: ConfigSnapshot, options?: SaveOptions) {
    this.bytes = options?.json
      ? new TextDecoder().decode(options.json)
      : JSON.stringify(snapshot.config);
    return super.save(snapshot, options);
  }
}

/** A store whose saves wait until the gate `close()` returned is opened (a slow disk). */
class GatedStore extends BytesStore {
  #gate: Promise<void> | undefined;
  close(): () => void {
    let open!: () => void;
    this.#gate = new Promise((resolve) => {
      open = resolve;
    });
    return () => {
      this.#gate = undefined;
      open();
    };
  }
  override async save(snapshot: ConfigSnapshot, options?: SaveOptions) {
    if (this.#gate) await this.#gate;
    return super.save(snapshot, options);
  }
}

/**
 * Turns the event loop (compression runs in libuv's pool, whatever the fake clock says) until
 * `done`, without advancing the clock: bounded, and no sleeping for a set time.
 */
async function until(
  cluster: { clock: { advance(ms: number): Promise<unknown> } },
  done: () => boolean,
) {
  for (let turn = 0; turn < 20_000 && !done(); turn++) {
    await new Promise((resolve) => setImmediate(resolve));
    await cluster.clock.advance(0);
  }
  expect(done()).toBe(true);
}

describe('incremental sync over planesync/2', () => {
  async function fleet(options: { versions?: number; protocol?: WireProtocol } = {}) {
    const cluster = await createTestCluster({
      controlPlane: {
        logger: silentLogger,
        ...(options.protocol ? { protocols: [options.protocol] } : {}),
        ...(options.versions !== undefined ? { deltaHistory: { versions: options.versions } } : {}),
      },
    });
    const frames: Array<FrameInfo & { dp: string }> = [];
    const dataPlane = (nodeId: string, extra: Record<string, unknown> = {}) => {
      const store = new BytesStore();
      const dp = cluster.dataPlane({
        nodeId,
        plugins: PLUGINS,
        storage: store,
        random: () => 0,
        transport: faultyClient(
          cluster.transport.client({ certificates: [cluster.certificate] }),
          (frame) => {
            if (frame.direction === 'in') frames.push({ ...frame, dp: nodeId });
            return { kind: 'pass' };
          },
        ),
        ...extra,
      });
      return { dp, store };
    };
    const received = (dp: string, type: number) =>
      frames.filter((frame) => frame.dp === dp && frame.type === type);
    return { cluster, dataPlane, frames, received };
  }

  it('sends one changed service of many as a delta: a fraction of the bytes, the same hash and cache bytes', async () => {
    const { cluster, dataPlane, received } = await fleet();
    try {
      const delta = dataPlane('delta');
      const whole = dataPlane('whole', {
        protocol: planesyncProtocol({ versions: ['planesync/1'] }),
      });
      await Promise.all([delta.dp.start(), whole.dp.start()]);
      // Tags that do not compress away, as real configs' ids and names do not.
      const random = prng(5);
      const tag = () => random.int(2 ** 31).toString(36) + random.int(2 ** 31).toString(36);
      const services = Array.from({ length: 5000 }, (_, i) => ({
        name: `s${i}`,
        host: `s${i}.internal`,
        tags: [tag(), tag()],
      }));
      const first = await cluster.cp.setConfig({ _format_version: '3.0', services });
      await cluster.cp.waitForSync({ hash: first.hash });
      const changed = services.map((s, i) => (i === 1234 ? { ...s, port: 8443 } : s));
      await cluster.clock.advance(1_000);
      const second = await cluster.cp.setConfig({ _format_version: '3.0', services: changed });
      await cluster.cp.waitForSync({ hash: second.hash });
      const [fullFrame] = received('delta', MessageType.config);
      const [deltaFrame] = received('delta', MessageType.delta);
      expect(received('delta', MessageType.delta)).toHaveLength(1);
      expect(deltaFrame!.bytes).toBeLessThan(fullFrame!.bytes / 100);
      expect(received('whole', MessageType.delta)).toHaveLength(0);
      expect(received('whole', MessageType.config)).toHaveLength(2);
      expect(delta.dp.currentConfig?.hash).toBe(second.hash);
      expect(delta.store.bytes).toBe(whole.store.bytes);
      expect(cluster.cp.counters).toMatchObject({
        deltasEncoded: 1,
        deltasSent: 1,
        deltaBytesSent: deltaFrame!.bytes,
        wholeConfigsSent: 3,
      });
    } finally {
      await cluster.stop();
    }
  });

  it('makes a delta once per pair of versions, shared by every DP on the same base', async () => {
    const { cluster, dataPlane } = await fleet();
    try {
      const dps = ['a', 'b', 'c'].map((id) => dataPlane(id).dp);
      await Promise.all(dps.map((dp) => dp.start()));
      const services = Array.from({ length: 300 }, (_, i) => ({ name: `s${i}`, host: `h${i}` }));
      const first = await cluster.cp.setConfig({ _format_version: '3.0', services });
      await cluster.cp.waitForSync({ hash: first.hash });
      await cluster.clock.advance(1_000);
      const second = await cluster.cp.setConfig({
        _format_version: '3.0',
        services: services.map((s, i) => (i === 7 ? { ...s, port: 81 } : s)),
      });
      await cluster.cp.waitForSync({ hash: second.hash });
      expect(cluster.cp.counters.deltasEncoded).toBe(1);
    } finally {
      await cluster.stop();
    }
  });

  it.each([
    [2, 'a delta'],
    [3, 'the whole config'],
  ])('with deltaHistory.versions 2, sends a DP %i versions behind %s', async (behind, what) => {
    const { cluster, dataPlane, received } = await fleet({ versions: 2 });
    try {
      const lagging = dataPlane('lagging');
      await lagging.dp.start();
      const services = Array.from({ length: 200 }, (_, i) => ({ name: `s${i}`, host: `h${i}` }));
      const version = (port: number) => ({
        _format_version: '3.0',
        services: services.map((s, i) => (i === 0 ? { ...s, port } : s)),
      });
      const first = await cluster.cp.setConfig(version(1));
      await cluster.cp.waitForSync({ hash: first.hash });
      await lagging.dp.stop();
      let last = first;
      for (let i = 0; i < behind; i++) last = await cluster.cp.setConfig(version(100 + i));
      await lagging.dp.start();
      await cluster.clock.advance(10_000);
      await cluster.cp.waitForSync({ hash: last.hash });
      const deltas = what === 'a delta' ? 1 : 0;
      expect(received('lagging', MessageType.delta)).toHaveLength(deltas);
      expect(received('lagging', MessageType.config)).toHaveLength(2 - deltas);
    } finally {
      await cluster.stop();
    }
  });

  /** planesync's protocol, with its deltas tampered with on the CP's side. */
  function tampered(tamper: 'drop an entity' | 'wrong base'): WireProtocol {
    const inner = planesyncProtocol();
    return {
      ...inner,
      controlPlane: {
        ...inner.controlPlane,
        encodeDelta: (delta, base) => {
          if (tamper === 'wrong base')
            return inner.controlPlane.encodeDelta!(delta, 'f'.repeat(32));
          const [name] = Object.keys(delta.lists);
          const lists = name
            ? { ...delta.lists, [name]: delta.lists[name]!.slice(1) }
            : delta.lists;
          return inner.controlPlane.encodeDelta!({ ...delta, lists }, base);
        },
      },
    };
  }

  it.each([
    [
      'a forged delta (an entity dropped) fails the hash check',
      'drop an entity',
      'CONFIG_HASH_MISMATCH',
    ],
    ['a delta from another base', 'wrong base', 'CONFIG_DELTA_INVALID'],
  ] as const)(
    '%s: the DP refuses it, keeps its config, and the CP repairs it with the whole config',
    async (_, tamper, code) => {
      const { cluster, dataPlane, received } = await fleet({ protocol: tampered(tamper) });
      try {
        const { dp } = dataPlane('dp');
        const rejected: string[] = [];
        cluster.cp.on('configRejected', (event) => rejected.push(event.errors[0]!.message));
        const errors: string[] = [];
        dp.on('error', (error) => errors.push(error.code));
        await dp.start();
        const services = Array.from({ length: 50 }, (_, i) => ({ name: `s${i}`, host: `h${i}` }));
        const first = await cluster.cp.setConfig({ _format_version: '3.0', services });
        await cluster.cp.waitForSync({ hash: first.hash });
        await cluster.clock.advance(1_000);
        const second = await cluster.cp.setConfig({
          _format_version: '3.0',
          services: services.map((s, i) => (i === 0 ? { ...s, port: 81 } : s)),
        });
        await cluster.cp.waitForSync({ hash: second.hash });
        expect(errors).toContain(code);
        expect(rejected).toHaveLength(1);
        expect(received('dp', MessageType.delta)).toHaveLength(1);
        expect(received('dp', MessageType.config)).toHaveLength(2);
        expect(dp.currentConfig?.hash).toBe(second.hash);
      } finally {
        await cluster.stop();
      }
    },
  );

  it('a change made while a slow DP is still saving the previous one reaches it as a delta from where it is', async () => {
    const { cluster, dataPlane, received } = await fleet();
    try {
      const store = new GatedStore();
      const { dp } = dataPlane('slow', { storage: store });
      const errors: string[] = [];
      dp.on('error', (error) => errors.push(error.code));
      await dp.start();
      const services = Array.from({ length: 200 }, (_, i) => ({ name: `s${i}`, host: `h${i}` }));
      const version = (port: number) => ({
        _format_version: '3.0',
        services: services.map((s, i) => (i === 0 ? { ...s, port } : s)),
      });
      const v0 = await cluster.cp.setConfig(version(80));
      await cluster.cp.waitForSync({ hash: v0.hash });
      const opened = store.close();
      await cluster.clock.advance(1_000);
      await cluster.cp.setConfig(version(81)); // the DP applies it; its save waits
      await until(cluster, () => received('slow', MessageType.delta).length === 1);
      await cluster.clock.advance(1_000);
      await cluster.cp.setConfig(version(82)); // waits for v1's answer
      await until(cluster, () => cluster.cp.counters.deltasEncoded === 2);
      opened();
      const v2 = { hash: cluster.cp.currentConfig!.hash };
      await cluster.cp.waitForSync({ hash: v2.hash });
      expect(errors).not.toContain('CONFIG_DELTA_INVALID');
      expect(received('slow', MessageType.delta)).toHaveLength(2);
    } finally {
      await cluster.stop();
    }
  });

  it('repairs a delta refused after its ack timeout with the whole config', async () => {
    const { cluster, dataPlane, received } = await fleet({ protocol: tampered('wrong base') });
    try {
      const store = new GatedStore();
      const { dp } = dataPlane('slow', { storage: store });
      await dp.start();
      const services = Array.from({ length: 200 }, (_, i) => ({ name: `s${i}`, host: `h${i}` }));
      const v0 = await cluster.cp.setConfig({ _format_version: '3.0', services });
      await cluster.cp.waitForSync({ hash: v0.hash });
      const opened = store.close();
      await cluster.clock.advance(1_000);
      // The DP holds the delta while its store is stuck: the refusal comes after 30 s.
      await cluster.cp.setConfig({ _format_version: '3.0', services: services.slice(1) });
      // Refused at once (its base is wrong), repaired whole: the DP's save of that now waits.
      await until(cluster, () => received('slow', MessageType.config).length === 2);
      await cluster.clock.advance(31_000);
      const v2 = await cluster.cp.setConfig({
        _format_version: '3.0',
        services: services.slice(2),
      });
      await until(cluster, () => received('slow', MessageType.delta).length === 2);
      await cluster.clock.advance(31_000); // v2's ack timeout passes before the DP answers it
      opened();
      await cluster.cp.waitForSync({ hash: v2.hash });
      expect(dp.currentConfig?.hash).toBe(v2.hash);
    } finally {
      await cluster.stop();
    }
  });

  it('a hash published again in other bytes (keys reordered) sends no delta from it, and every DP ends on the same bytes', async () => {
    const { cluster, dataPlane } = await fleet();
    try {
      const delta = dataPlane('delta');
      const whole = dataPlane('whole', {
        protocol: planesyncProtocol({ versions: ['planesync/1'] }),
      });
      await Promise.all([delta.dp.start(), whole.dp.start()]);
      const services = Array.from({ length: 100 }, (_, i) => ({ name: `s${i}`, host: `h${i}` }));
      const a = { _format_version: '3.0', services };
      const b = { _format_version: '3.0', services: services.slice(1) };
      // The same config as a, its keys in another order: the same Kong hash, other bytes.
      const reordered = {
        services: services.map(({ name, host }) => ({ host, name })),
        _format_version: '3.0',
      };
      for (const config of [a, b, reordered]) {
        const { hash } = await cluster.cp.setConfig(config);
        await cluster.cp.waitForSync({ hash });
        await cluster.clock.advance(1_000);
      }
      expect(delta.store.bytes).toBe(whole.store.bytes);
      expect(delta.store.bytes).toBe(JSON.stringify(reordered));
    } finally {
      await cluster.stop();
    }
  });

  it.each([11, 22, 33])(
    'random edits with DPs joining, lagging and restarting end where full configs would (seed %i)',
    async (seed) => {
      const { cluster, dataPlane, received } = await fleet({ versions: 4 });
      const { edit, random } = editor(seed);
      const nodes = new Map<string, { dp: DataPlane; store: BytesStore; running: boolean }>();
      const add = (id: string, extra?: Record<string, unknown>) => {
        const node = { ...dataPlane(id, extra), running: false };
        nodes.set(id, node);
        return node;
      };
      try {
        add('reference', { protocol: planesyncProtocol({ versions: ['planesync/1'] }) });
        for (const id of ['steady', 'lagging', 'restarting']) add(id);
        for (const node of nodes.values()) {
          await node.dp.start();
          node.running = true;
        }
        let config = seedConfig(seed);
        for (let step = 0; step < 25; step++) {
          config = edit(config);
          if (random.next() < 0.5) config = edit(config);
          await cluster.cp.setConfig(config);
          await cluster.clock.advance(random.pick([0, 500, 1_000]));
          // Someone joins, someone lags, someone restarts from its cache.
          if (step === 8)
            await add('late')
              .dp.start()
              .then(() => (nodes.get('late')!.running = true));
          const lagging = nodes.get('lagging')!;
          if (random.next() < 0.2) {
            if (lagging.running) await lagging.dp.stop();
            else await lagging.dp.start();
            lagging.running = !lagging.running;
          }
          if (random.next() < 0.15) {
            const restarting = nodes.get('restarting')!;
            await restarting.dp.stop();
            await restarting.dp.start();
          }
        }
        for (const node of nodes.values()) if (!node.running) await node.dp.start();
        await cluster.clock.advance(11_000);
        const { hash } = await cluster.cp.setConfig(config);
        await cluster.cp.waitForSync({ hash });
        for (let i = 0; i < 3; i++) await cluster.clock.advance(1_000);
        const reference = nodes.get('reference')!;
        for (const [id, node] of nodes) {
          expect(node.dp.currentConfig?.hash, id).toBe(hash);
          expect(node.store.bytes, id).toBe(reference.store.bytes);
        }
        // Deltas did travel, and never to the planesync/1 reference.
        expect(received('steady', MessageType.delta).length).toBeGreaterThan(0);
        expect(received('reference', MessageType.delta)).toHaveLength(0);
      } finally {
        await cluster.stop();
      }
    },
  );
});
