import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { diffConfig, fingerprintConfig } from '../config/delta.ts';
import type { ConfigSnapshot } from '../config/snapshot.ts';
import type { ConfigStore } from '../storage/contract.ts';
import { assertMatches, assertSameJson } from './assertions.ts';
import { type ConformanceSkip, registerCases } from './skip.ts';
import { globalTestApi, type TestApi } from './test-api.ts';

/** What a store's `setup` hands the suite. */
export interface ConfigStoreFixture {
  /** A store over fresh, empty storage. */
  store: ConfigStore;
  /**
   * A second instance over the same storage, as a restarted DP would open it. Leave it out
   * for a store that does not persist (the persistence case is then skipped, and says so).
   */
  reopen?(): Promise<ConfigStore>;
}

/** Options of {@link configStoreConformance}. */
export interface ConfigStoreConformanceOptions {
  /** The `describe` title; default `'config store conformance'`. */
  name?: string;
  setup(): Promise<ConfigStoreFixture>;
  teardown?(fixture: ConfigStoreFixture): Promise<void>;
  skip?: ConformanceSkip;
}

/**
 * Registers the storage contract's cases with your test runner: load of a missing store,
 * round trip, replacement, atomicity under concurrent saves and loads, copy semantics, clear,
 * node id round trip, persistence across instances, saves given as deltas, abort, invalid
 * input. Every store runs it.
 *
 * `test` is `{ describe, it, beforeEach, afterEach }` from vitest, `node:test`, jest or
 * mocha; the cases assert with `node:assert`, so the suite needs no particular runner.
 *
 * @example
 * ```ts
 * import { memoryStore } from '@planesync/core';
 * import { configStoreConformance } from '@planesync/core/testing';
 * import { afterEach, beforeEach, describe, it } from 'node:test'; // or 'vitest'
 *
 * configStoreConformance({ describe, it, beforeEach, afterEach }, {
 *   name: 'memory store',
 *   setup: async () => ({ store: memoryStore() }),
 *   skip: [{ reason: 'a memory store does not persist',
 *            tests: ['keeps the snapshot and node id for a new instance on the same storage'] }],
 * });
 * ```
 */
export function configStoreConformance(test: TestApi, options: ConfigStoreConformanceOptions): void;
/**
 * The 0.1 form: the runner's functions must be globals (vitest with `globals: true`, jest,
 * mocha); otherwise it throws `INVALID_ARGUMENT`.
 *
 * @deprecated Pass the test API first: `configStoreConformance({ describe, it, beforeEach,
 * afterEach }, options)`. This form goes in 0.3.0.
 */
export function configStoreConformance(options: ConfigStoreConformanceOptions): void;
export function configStoreConformance(
  first: TestApi | ConfigStoreConformanceOptions,
  second?: ConfigStoreConformanceOptions,
): void {
  const [test, options] =
    second === undefined
      ? [globalTestApi('configStoreConformance'), first as ConfigStoreConformanceOptions]
      : [first as TestApi, second];
  test.describe(options.name ?? 'config store conformance', () => {
    let fixture: ConfigStoreFixture;
    const reopened: ConfigStore[] = [];

    test.beforeEach(async () => {
      fixture = await options.setup();
    });

    test.afterEach(async () => {
      await Promise.all(reopened.splice(0).map((store) => store.close?.()));
      await fixture.store.close?.();
      await options.teardown?.(fixture);
    });

    registerCases(
      test,
      {
        'loads undefined from a store that never saved': async () => {
          assert.equal(await fixture.store.load(), undefined);
          assert.equal(await fixture.store.loadNodeId(), undefined);
        },

        'loads back exactly the snapshot it saved, with savedAt': async () => {
          const snapshot = sampleSnapshot(1);
          await fixture.store.save(snapshot);
          const loaded = await fixture.store.load();
          assertMatches(loaded, snapshot);
          assertSameJson(loaded?.config, snapshot.config);
          assert.equal(typeof loaded?.savedAt, 'number');
        },

        'given the config as JSON bytes, loads back the same snapshot': async () => {
          const snapshot = sampleSnapshot(7);
          const json = new TextEncoder().encode(JSON.stringify(snapshot.config));
          await fixture.store.save(snapshot, { json });
          const loaded = await fixture.store.load();
          assertMatches(loaded, snapshot);
          assertSameJson(loaded?.config, snapshot.config);
        },

        'given the config as JSON bytes and their gzip, loads back the same snapshot, and deltas on it':
          async () => {
            const snapshot = sampleSnapshot(8, 'control-plane', 40);
            const json = new TextEncoder().encode(JSON.stringify(snapshot.config));
            // In two members, as the planesync protocol sends a config.
            const cut = json.byteLength >> 1;
            const gzip = Buffer.concat([
              gzipSync(json.subarray(0, cut)),
              gzipSync(json.subarray(cut)),
            ]);
            await fixture.store.save(snapshot, { json, gzip });
            const loaded = await fixture.store.load();
            assertMatches(loaded, snapshot);
            assert.equal(JSON.stringify(loaded?.config), JSON.stringify(snapshot.config));
            const next = editedSnapshot(snapshot, 1);
            await fixture.store.save(next, { delta: deltaBetween(snapshot, next) });
            assert.equal(
              JSON.stringify((await fixture.store.load())?.config),
              JSON.stringify(next.config),
            );
          },

        'replaces the previous snapshot on save': async () => {
          await fixture.store.save(sampleSnapshot(1));
          await fixture.store.save(sampleSnapshot(2, 'manual'));
          const loaded = await fixture.store.load();
          assertMatches(loaded, sampleSnapshot(2, 'manual'));
        },

        'never shows a mix of two snapshots to concurrent loads': async () => {
          const first = sampleSnapshot(1, 'control-plane', 2_000);
          await fixture.store.save(first);
          const saves: Promise<void>[] = [];
          const loads: Promise<unknown>[] = [];
          for (let n = 2; n <= 6; n++) {
            saves.push(fixture.store.save(sampleSnapshot(n, 'control-plane', 2_000)));
            loads.push(fixture.store.load(), fixture.store.load());
          }
          await Promise.all(saves);
          for (const loaded of await Promise.all(loads)) assert.equal(isWhole(loaded), true);
          const last = await fixture.store.load();
          assert.equal(isWhole(last), true);
          assert.ok([2, 3, 4, 5, 6].includes(last?.version ?? 0), `version ${last?.version}`);
        },

        'keeps a copy: mutating the saved or loaded object changes nothing stored': async () => {
          const snapshot = sampleSnapshot(3);
          const config = snapshot.config as { services: Array<{ name: string }> };
          await fixture.store.save(snapshot);
          config.services[0]!.name = 'mutated-after-save';
          const loaded = (await fixture.store.load())!;
          (loaded.config as typeof config).services[0]!.name = 'mutated-after-load';
          const again = (await fixture.store.load())!;
          assert.equal((again.config as typeof config).services[0]?.name, 'service-3-0');
        },

        'forgets the snapshot on clear but keeps the node id': async () => {
          await fixture.store.save(sampleSnapshot(4));
          await fixture.store.saveNodeId('0b4ce0f5-7dc6-4e57-8b4a-5a1f4c3d2e10');
          await fixture.store.clear();
          assert.equal(await fixture.store.load(), undefined);
          assert.equal(await fixture.store.loadNodeId(), '0b4ce0f5-7dc6-4e57-8b4a-5a1f4c3d2e10');
        },

        'round-trips the node id and replaces it': async () => {
          await fixture.store.saveNodeId('node-a');
          assert.equal(await fixture.store.loadNodeId(), 'node-a');
          await fixture.store.saveNodeId('node-b');
          assert.equal(await fixture.store.loadNodeId(), 'node-b');
        },

        'keeps the snapshot and node id for a new instance on the same storage': async () => {
          if (!fixture.reopen)
            throw new Error('this store has no reopen(); skip this case with a reason');
          await fixture.store.save(sampleSnapshot(5));
          await fixture.store.saveNodeId('node-persistent');
          await fixture.store.close?.();
          const again = await fixture.reopen();
          reopened.push(again);
          assertMatches(await again.load(), sampleSnapshot(5));
          assert.equal(await again.loadNodeId(), 'node-persistent');
        },

        'round-trips a large config with unicode and deep nesting': async () => {
          const snapshot = sampleSnapshot(6, 'control-plane', 20_000);
          const config = snapshot.config as Record<string, unknown>;
          config.unicode = 'ünïcødé ✓ 🚀 \u0000 "quoted" \\ back';
          config.deep = JSON.parse(`${'['.repeat(64)}1${']'.repeat(64)}`);
          await fixture.store.save(snapshot);
          assertSameJson((await fixture.store.load())?.config, config);
        },

        'rejects every operation with ABORTED on an aborted signal and changes nothing':
          async () => {
            await fixture.store.save(sampleSnapshot(7));
            const controller = new AbortController();
            controller.abort();
            const signal = controller.signal;
            const aborted = { code: 'ABORTED' };
            await assert.rejects(fixture.store.save(sampleSnapshot(8), { signal }), aborted);
            await assert.rejects(fixture.store.load({ signal }), aborted);
            await assert.rejects(fixture.store.clear({ signal }), aborted);
            await assert.rejects(fixture.store.saveNodeId('x', { signal }), aborted);
            await assert.rejects(fixture.store.loadNodeId({ signal }), aborted);
            assert.equal((await fixture.store.load())?.version, 7);
          },

        'rejects an invalid snapshot with INVALID_ARGUMENT and keeps the previous one':
          async () => {
            await fixture.store.save(sampleSnapshot(9));
            const broken = { ...sampleSnapshot(10), hash: 'not-a-hash' };
            await assert.rejects(fixture.store.save(broken), { code: 'INVALID_ARGUMENT' });
            assert.equal((await fixture.store.load())?.version, 9);
          },

        'given a delta from the snapshot it holds, loads back exactly the config the delta made':
          async () => {
            // A store may keep the base and its deltas (see SaveOptions.delta): whatever it
            // keeps, every load gives the newest config, its JSON byte for byte.
            let current = sampleSnapshot(20, 'control-plane', 40);
            await fixture.store.save(current);
            for (let step = 1; step <= 20; step++) {
              const next = editedSnapshot(current, step);
              await fixture.store.save(next, { delta: deltaBetween(current, next) });
              current = next;
              const loaded = await fixture.store.load();
              assertMatches(loaded, current);
              assert.equal(JSON.stringify(loaded?.config), JSON.stringify(current.config));
            }
            if (!fixture.reopen) return;
            await fixture.store.close?.();
            const again = await fixture.reopen();
            reopened.push(again);
            const loaded = await again.load();
            assertMatches(loaded, current);
            assert.equal(JSON.stringify(loaded?.config), JSON.stringify(current.config));
            // The reopened store goes on from what it loaded.
            const next = editedSnapshot(current, 21);
            await again.save(next, { delta: deltaBetween(current, next) });
            assert.equal(JSON.stringify((await again.load())?.config), JSON.stringify(next.config));
          },

        'given a delta from a snapshot it does not hold, saves the new snapshot whole':
          async () => {
            const held = sampleSnapshot(30);
            await fixture.store.save(held);
            const other = sampleSnapshot(31, 'control-plane', 5);
            const next = editedSnapshot(other, 1);
            // The delta applies to `other`, not to what the store holds.
            await fixture.store.save(next, { delta: deltaBetween(other, next) });
            const loaded = await fixture.store.load();
            assertMatches(loaded, next);
            assert.equal(JSON.stringify(loaded?.config), JSON.stringify(next.config));
          },

        'rejects an invalid node id with INVALID_ARGUMENT': async () => {
          await assert.rejects(fixture.store.saveNodeId(''), { code: 'INVALID_ARGUMENT' });
          await assert.rejects(fixture.store.saveNodeId('has space'), {
            code: 'INVALID_ARGUMENT',
          });
        },
      },
      options.skip,
    );
  });
}

/** `snapshot` with one service edited, one added and (from step 2) one removed: a new version. */
function editedSnapshot(snapshot: ConfigSnapshot, step: number): ConfigSnapshot {
  const config = snapshot.config as { _format_version: string; services: { name: string }[] };
  const services = config.services.map((service, i) =>
    i === step % config.services.length ? { ...service, host: `edited-${step}.internal` } : service,
  );
  services.push({ ...services[0]!, name: `added-${step}` });
  if (step >= 2) services.splice(1, 1);
  const next = { _format_version: config._format_version, services };
  const hash = digest(next);
  return {
    ...snapshot,
    version: snapshot.version + 1,
    hash,
    hashes: { ...snapshot.hashes, config: hash, services: hash },
    config: next,
  };
}

/** The delta from one snapshot's config to the next's, as a DP receives it (planesync/2). */
function deltaBetween(
  from: ConfigSnapshot,
  to: ConfigSnapshot,
): { base: string; json: Uint8Array } {
  const delta = diffConfig(
    fingerprintConfig(from.config as Record<string, unknown>),
    to.config as Record<string, unknown>,
  );
  return { base: from.hash, json: new TextEncoder().encode(JSON.stringify(delta)) };
}

/**
 * A deterministic snapshot whose hash is derived from its content, so a mix of two snapshots
 * is detectable: `isWhole` recomputes it.
 */
export function sampleSnapshot(
  version: number,
  source: ConfigSnapshot['source'] = 'control-plane',
  services = 3,
): ConfigSnapshot {
  const config = {
    _format_version: '3.0',
    services: Array.from({ length: services }, (_, i) => ({
      name: `service-${version}-${i}`,
      host: `upstream-${i}.internal`,
      port: 8000 + (i % 1000),
      protocol: 'http',
    })),
  };
  const hash = digest(config);
  return {
    version,
    hash,
    hashes: {
      config: hash,
      routes: hash,
      services: hash,
      plugins: hash,
      upstreams: hash,
      targets: hash,
    },
    source,
    config,
    appliedAt: Date.UTC(2026, 0, 1) + version,
  };
}

function isWhole(loaded: unknown): boolean {
  const snapshot = loaded as ConfigSnapshot | undefined;
  return snapshot !== undefined && snapshot.hash === digest(snapshot.config);
}

function digest(value: unknown): string {
  return createHash('md5').update(JSON.stringify(value)).digest('hex');
}
