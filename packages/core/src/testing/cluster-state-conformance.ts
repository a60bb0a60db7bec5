import assert from 'node:assert/strict';
import type {
  AnalyticsIntervalKey,
  ClusterState,
  SharedDataPlaneStatus,
  SharedVersion,
  VersionCandidate,
} from '../cluster/contract.ts';
import { hashConfig } from '../config/hash.ts';
import { assertSameJson } from './assertions.ts';
import { type ConformanceSkip, registerCases } from './skip.ts';
import type { TestApi } from './test-api.ts';

/** What a cluster state's `setup` hands the suite. */
export interface ClusterStateFixture {
  /** A state over fresh, empty storage, as one control plane holds it. */
  state: ClusterState;
  /**
   * Another handle on the same storage, as a second control plane holds it (for a state in
   * a database: a new connection). A memory state gives itself.
   */
  second(): Promise<ClusterState>;
}

/** Options of {@link clusterStateConformance}. */
export interface ClusterStateConformanceOptions {
  /** The `describe` title; default `'cluster state conformance'`. */
  name?: string;
  setup(): Promise<ClusterStateFixture>;
  teardown?(fixture: ClusterStateFixture): Promise<void>;
  /**
   * How long the suite waits for a `watch` to hear of a version (a database's notification);
   * default 5 000 ms.
   */
  watchTimeoutMs?: number;
  /** `true` when the state implements the optional `recent`: its case runs (else skipped). */
  recent?: boolean;
  /** `true` when the state shares DP records (`dataPlanes`): their cases run (else skipped). */
  dataPlanes?: boolean;
  /** `true` when the state shares traffic counters (`analytics`): their case runs. */
  analytics?: boolean;
  /** `true` when its `dataPlanes` has `claim` (the node-id rule across CPs): its cases run. */
  claim?: boolean;
  skip?: ConformanceSkip;
}

/**
 * Registers the cluster-state contract's cases with your test runner: the one order of
 * versions across control planes, `unchanged` and `conflict`, concurrent publishes, the
 * latest config read back whole, the feed of new versions (from another CP, in order, ending
 * on the latest, a throwing listener isolated, stopping), aborts. Every `ClusterState` runs it.
 *
 * @example
 * ```ts
 * import { memoryClusterState } from '@planesync/core';
 * import { clusterStateConformance } from '@planesync/core/testing';
 * import { afterEach, beforeEach, describe, it } from 'vitest';
 *
 * clusterStateConformance({ describe, it, beforeEach, afterEach }, {
 *   name: 'memory cluster state',
 *   async setup() {
 *     const state = memoryClusterState();
 *     return { state, second: async () => state };
 *   },
 * });
 * ```
 */
export function clusterStateConformance(
  test: TestApi,
  options: ClusterStateConformanceOptions,
): void {
  const watchTimeoutMs = options.watchTimeoutMs ?? 5_000;
  test.describe(options.name ?? 'cluster state conformance', () => {
    let fixture: ClusterStateFixture;
    const stops: Array<() => void> = [];

    test.beforeEach(async () => {
      fixture = await options.setup();
    });

    test.afterEach(async () => {
      for (const stop of stops.splice(0)) stop();
      await options.teardown?.(fixture);
    });

    /** Resolves once `state`'s feed has reported `version` (after `watch` was called). */
    const heard = (state: ClusterState, version: number) => {
      const seen: number[] = [];
      let resolve!: () => void;
      const done = new Promise<void>((ok) => {
        resolve = ok;
      });
      stops.push(
        state.watch((shared) => {
          seen.push(shared.version);
          if (shared.version >= version) resolve();
        }),
      );
      return {
        seen,
        wait: () =>
          within(done, watchTimeoutMs, `the feed to report version ${version} (saw ${seen})`),
      };
    };

    registerCases(
      test,
      {
        'has no latest version before any is published': async () => {
          assert.equal(await fixture.state.latest(), undefined);
        },

        'numbers versions 1, 2, 3 in order, and gives the latest back whole': async () => {
          const outcomes = [];
          for (let n = 1; n <= 3; n++) outcomes.push(await fixture.state.publish(candidate(n)));
          assert.deepEqual(
            outcomes.map(({ outcome, latest }) => [outcome, latest.version]),
            [
              ['published', 1],
              ['published', 2],
              ['published', 3],
            ],
          );
          const latest = await fixture.state.latest();
          assertVersion(latest, 3, candidate(3));
          const fromSecond = await (await fixture.second()).latest();
          assertVersion(fromSecond, 3, candidate(3));
        },

        'publishing the latest config again is unchanged: no new number': async () => {
          await fixture.state.publish(candidate(1));
          const again = await fixture.state.publish({ ...candidate(1), publishedAt: 99 });
          assert.equal(again.outcome, 'unchanged');
          assert.equal(again.latest.version, 1);
          // An older config again is a new version: the newest call wins.
          await fixture.state.publish(candidate(2));
          const back = await fixture.state.publish(candidate(1));
          assert.deepEqual([back.outcome, back.latest.version], ['published', 3]);
        },

        'with ifLatest, publishes only while that version is the latest (else conflict, with the latest)':
          async () => {
            assert.equal(
              (await fixture.state.publish(candidate(1), { ifLatest: 0 })).outcome,
              'published',
            );
            const second = await fixture.second();
            await second.publish(candidate(2));
            const stale = await fixture.state.publish(candidate(3), { ifLatest: 1 });
            assert.equal(stale.outcome, 'conflict');
            assertVersion(stale.latest, 2, candidate(2));
            const fresh = await fixture.state.publish(candidate(3), { ifLatest: 2 });
            assert.deepEqual([fresh.outcome, fresh.latest.version], ['published', 3]);
          },

        'numbers a version above `after` (a CP ahead of a state restored from a backup)':
          async () => {
            await fixture.state.publish(candidate(1));
            const ahead = await fixture.state.publish(candidate(2), { after: 7 });
            assert.deepEqual([ahead.outcome, ahead.latest.version], ['published', 8]);
            const next = await fixture.state.publish(candidate(3), { after: 2 });
            assert.equal(next.latest.version, 9);
            assert.equal((await fixture.state.latest())?.version, 9);
          },

        'two control planes publishing at once get distinct numbers, and the last is the latest':
          async () => {
            const second = await fixture.second();
            const results = await Promise.all(
              Array.from({ length: 10 }, (_, i) =>
                (i % 2 ? second : fixture.state).publish(candidate(100 + i)),
              ),
            );
            const numbers = results.map(({ latest }) => latest.version).sort((a, b) => a - b);
            assert.deepEqual(
              numbers,
              Array.from({ length: 10 }, (_, i) => i + 1),
            );
            const last = results.find(({ latest }) => latest.version === 10)!;
            const latest = await fixture.state.latest();
            assert.equal(latest?.hash, last.latest.hash);
          },

        "reports another control plane's versions, in increasing order, ending on the latest":
          async () => {
            const feed = heard(fixture.state, 5);
            const second = await fixture.second();
            for (let n = 1; n <= 5; n++) await second.publish(candidate(n));
            await feed.wait();
            assert.deepEqual(
              [...feed.seen].sort((a, b) => a - b),
              feed.seen,
              'in order',
            );
            assert.equal(feed.seen.at(-1), 5);
            assert.equal(new Set(feed.seen).size, feed.seen.length, 'each at most once');
          },

        'reports the config of a version whole': async () => {
          let reported: SharedVersion | undefined;
          const feed = heard(fixture.state, 1);
          stops.push(
            fixture.state.watch((version) => {
              reported = version;
            }),
          );
          await (await fixture.second()).publish(candidate(1));
          await feed.wait();
          assertVersion(reported, 1, candidate(1));
        },

        'a listener that throws changes nothing for the others': async () => {
          stops.push(
            fixture.state.watch(() => {
              throw new Error('a broken listener');
            }),
          );
          const feed = heard(fixture.state, 2);
          const second = await fixture.second();
          await second.publish(candidate(1));
          await second.publish(candidate(2));
          await feed.wait();
          assert.equal(feed.seen.at(-1), 2);
        },

        'stops reporting once the watch is stopped': async () => {
          const seen: number[] = [];
          const stop = fixture.state.watch((version) => seen.push(version.version));
          stop();
          const feed = heard(fixture.state, 1);
          await (await fixture.second()).publish(candidate(1));
          await feed.wait();
          assert.deepEqual(seen, []);
        },

        'rejects with ABORTED on an aborted signal and publishes nothing': async () => {
          const controller = new AbortController();
          controller.abort();
          const { signal } = controller;
          await assert.rejects(fixture.state.publish(candidate(1), { signal }), {
            code: 'ABORTED',
          });
          await assert.rejects(fixture.state.latest({ signal }), { code: 'ABORTED' });
          assert.equal(await fixture.state.latest(), undefined);
        },
        'gives the recent versions oldest first, at most as many as asked, the latest among them':
          async () => {
            const recent = fixture.state.recent!.bind(fixture.state);
            for (let n = 1; n <= 5; n++) await fixture.state.publish(candidate(n));
            const three = await recent(3);
            assert.deepEqual(
              three.map((version) => version.version),
              [3, 4, 5],
            );
            for (const version of three)
              assertVersion(version, version.version, candidate(version.version));
            assert.deepEqual((await recent(0)).length, 0);
          },
        'DP records written by one CP are listed by another, each replacing the last of its DP':
          async () => {
            const records = fixture.state.dataPlanes!;
            await records.write([dataPlane('dp-1', 'cp-a', 100), dataPlane('dp-2', 'cp-a', 100)]);
            await records.write([{ ...dataPlane('dp-1', 'cp-a', 200), configVersion: 7 }]);
            const listed = await (await fixture.second()).dataPlanes!.list();
            const byId = new Map(listed.map((record) => [record.id, record]));
            assert.equal(listed.length, 2);
            const { storedAgoMs: _one, ...first } = byId.get('dp-1')!;
            const { storedAgoMs: _two, ...second } = byId.get('dp-2')!;
            assert.deepEqual(first, { ...dataPlane('dp-1', 'cp-a', 200), configVersion: 7 });
            assert.deepEqual(second, dataPlane('dp-2', 'cp-a', 100));
          },

        'lists the records stored within storedWithinMs, by its own clock (what changed lately)':
          async () => {
            const records = fixture.state.dataPlanes!;
            await records.write([dataPlane('old', 'cp-a', 100)]);
            // A database's own clock judges the age: a short real wait.
            await new Promise((resolve) => setTimeout(resolve, 50));
            await records.write([dataPlane('new', 'cp-a', 200)]);
            const lately = (await records.list({ storedWithinMs: 25 })).map((record) => record.id);
            assert.ok(lately.includes('new'), 'a record just stored is listed');
            assert.deepEqual((await records.list()).map((record) => record.id).sort(), [
              'new',
              'old',
            ]);
          },

        'the CP a DP left never shows it gone over the CP serving it, whatever their clocks':
          async () => {
            const records = fixture.state.dataPlanes!;
            await records.write([dataPlane('dp-1', 'cp-b', 500)]);
            // The CP the DP left says late that it is gone — its clock even ahead of B's.
            await records.write([{ ...dataPlane('dp-1', 'cp-a', 900), connected: false }]);
            const [kept] = await records.list();
            assert.equal(kept?.controlPlaneId, 'cp-b');
            assert.equal(kept?.connected, true);
            // The CP serving it now wins even with a clock behind; its own disconnect counts.
            await records.write([dataPlane('dp-1', 'cp-c', 100)]);
            await records.write([{ ...dataPlane('dp-1', 'cp-c', 120), connected: false }]);
            const [last] = await records.list();
            assert.equal(last?.controlPlaneId, 'cp-c');
            assert.equal(last?.connected, false);
            assert.equal(typeof last?.storedAgoMs, 'number');
          },

        'purges the records last seen before the cutoff, connected or not, and says how many':
          async () => {
            const records = fixture.state.dataPlanes!;
            await records.write([
              { ...dataPlane('gone', 'cp-a', 100), connected: false },
              dataPlane('dead-cp', 'cp-x', 150), // its CP died with it marked connected
              dataPlane('live', 'cp-a', 900),
            ]);
            const second = (await fixture.second()).dataPlanes!;
            const purged = await Promise.all([records.purge(500), second.purge(500)]);
            assert.equal(purged[0]! + purged[1]!, 2);
            assert.deepEqual(
              (await records.list()).map((record) => record.id),
              ['live'],
            );
          },

        'a node id connected under one certificate cannot be claimed for another from another CP; the same certificate, or a DP gone, can':
          async () => {
            const records = fixture.state.dataPlanes!;
            const second = (await fixture.second()).dataPlanes!;
            const claim = (id: string, cp: string, print: string, on = records) =>
              on.claim!({ ...dataPlane(id, cp, 100), certFingerprint: print }, { liveMs: 60_000 });
            assert.equal(await claim('dp-1', 'cp-a', 'f1'), true);
            assert.equal(await claim('dp-1', 'cp-b', 'f2', second), false);
            const [kept] = await records.list();
            assert.equal(kept?.controlPlaneId, 'cp-a');
            assert.equal(kept?.certFingerprint, 'f1');
            assert.equal(kept?.connected, true);
            // The same certificate moves (a DP failing over); a DP gone frees its id.
            assert.equal(await claim('dp-1', 'cp-b', 'f1', second), true);
            await second.write([
              { ...dataPlane('dp-1', 'cp-b', 200), certFingerprint: 'f1', connected: false },
            ]);
            assert.equal(await claim('dp-1', 'cp-a', 'f2'), true);
            // Two CPs claiming one id for two certificates at once: one gets it.
            const raced = await Promise.all([
              claim('dp-2', 'cp-a', 'f1'),
              claim('dp-2', 'cp-b', 'f2', second),
            ]);
            assert.equal(raced.filter(Boolean).length, 1);
          },

        'a node id held by a CP that stopped storing its record (a dead CP) can be claimed once liveMs passed':
          async () => {
            const records = fixture.state.dataPlanes!;
            await records.claim!(
              { ...dataPlane('dp-1', 'cp-dead', 100), certFingerprint: 'f1' },
              { liveMs: 60_000 },
            );
            // A database's own clock judges the age: a short real wait, then a short bound.
            await new Promise((resolve) => setTimeout(resolve, 30));
            const claimed = await records.claim!(
              { ...dataPlane('dp-1', 'cp-b', 100), certFingerprint: 'f2' },
              { liveMs: 10 },
            );
            assert.equal(claimed, true);
            const [kept] = await records.list();
            assert.equal(kept?.controlPlaneId, 'cp-b');
          },

        'analytics intervals written by one CP are read by another; a rewrite of one replaces it; purge removes the old':
          async () => {
            const analytics = fixture.state.analytics!;
            const second = (await fixture.second()).analytics!;
            const counts = (requests: number, name = 'orders') => ({
              total: traffic(requests),
              services: { [name]: traffic(requests) },
              routes: {},
              consumers: {},
              dropped: 1,
              folded: { services: 0, routes: 0, consumers: 0 },
              apiCallsByDataPlane: { 'dp-1': requests },
            });
            const at = (controlPlaneId: string, start: number, run = 'run-1') => ({
              controlPlaneId,
              start,
              run,
            });
            await analytics.write([
              { ...at('cp-a', 60_000), counts: counts(3) },
              { ...at('cp-a', 120_000), counts: counts(4) },
            ]);
            await second.write([{ ...at('cp-b', 60_000), counts: counts(5) }]);
            // A retry of the same interval replaces it (never counted twice); another run of
            // the same CP (restarted, its clock behind) is another interval.
            await analytics.write([{ ...at('cp-a', 60_000), counts: counts(3) }]);
            await analytics.write([{ ...at('cp-a', 60_000, 'run-2'), counts: counts(2) }]);
            const read = await second.read(0);
            assert.equal(read.length, 4);
            const byKey = new Map(
              read.map((one) => [`${one.controlPlaneId}@${one.start}@${one.run}`, one]),
            );
            assert.deepEqual(byKey.get('cp-a@60000@run-1'), {
              ...at('cp-a', 60_000),
              counts: counts(3),
            });
            assert.deepEqual(
              (await analytics.read(120_000)).map((one) => one.start),
              [120_000],
            );
            // Pages: ordered by key, each after the last one's key.
            const pages: string[][] = [];
            let after: AnalyticsIntervalKey | undefined;
            for (let page = 0; page < 5; page++) {
              const got = await second.read(0, { limit: 2, ...(after ? { after } : {}) });
              if (got.length === 0) break;
              pages.push(got.map((one) => `${one.controlPlaneId}@${one.start}@${one.run}`));
              after = got.at(-1);
            }
            assert.deepEqual(pages, [
              ['cp-a@60000@run-1', 'cp-a@60000@run-2'],
              ['cp-b@60000@run-1', 'cp-a@120000@run-1'],
            ]);
            // Names a DP sent are kept as they came (a NUL or a lone surrogate cleaned at most).
            await analytics.write([
              { ...at('cp-a', 180_000), counts: counts(1, 'svc \u00e9\u4e2d') },
            ]);
            const [named] = await analytics.read(180_000);
            assert.deepEqual(Object.keys(named?.counts.services ?? {}), ['svc \u00e9\u4e2d']);
            const hostile = counts(1, 'a\u0000b\ud800');
            await analytics.write([{ ...at('cp-a', 240_000), counts: hostile }]);
            assert.equal((await analytics.read(240_000)).length, 1);
            const purged = await Promise.all([analytics.purge(120_000), second.purge(120_000)]);
            assert.equal(purged[0]! + purged[1]!, 3);
            assert.deepEqual(
              (await analytics.read(0)).map((one) => one.start).sort((x, y) => x - y),
              [120_000, 180_000, 240_000],
            );
          },
      },
      options.skip,
      new Map([
        ...(options.analytics
          ? []
          : [
              [
                'analytics intervals written by one CP are read by another; a rewrite of one replaces it; purge removes the old',
                'the state shares no traffic counters (`analytics` is optional)',
              ] as const,
            ]),
        ...(options.dataPlanes && !options.claim
          ? [
              'a node id connected under one certificate cannot be claimed for another from another CP; the same certificate, or a DP gone, can',
              'a node id held by a CP that stopped storing its record (a dead CP) can be claimed once liveMs passed',
            ].map((name) => [name, 'the state has no `dataPlanes.claim` (it is optional)'] as const)
          : []),
        ...(options.recent
          ? []
          : [
              [
                'gives the recent versions oldest first, at most as many as asked, the latest among them',
                'the state keeps no recent versions (`recent` is optional)',
              ] as const,
            ]),
        ...(options.dataPlanes
          ? []
          : [
              'DP records written by one CP are listed by another, each replacing the last of its DP',
              'lists the records stored within storedWithinMs, by its own clock (what changed lately)',
              'the CP a DP left never shows it gone over the CP serving it, whatever their clocks',
              'purges the records last seen before the cutoff, connected or not, and says how many',
              'a node id connected under one certificate cannot be claimed for another from another CP; the same certificate, or a DP gone, can',
              'a node id held by a CP that stopped storing its record (a dead CP) can be claimed once liveMs passed',
            ].map(
              (name) =>
                [name, 'the state shares no DP records (`dataPlanes` is optional)'] as const,
            )),
      ]),
    );
  });
}

/** Traffic counts of `requests` requests of 10 ms, answered 200. */
function traffic(requests: number) {
  return {
    requests,
    statusClasses: { '2xx': requests },
    latencyBuckets: { '121': requests },
    requestBytes: 100 * requests,
    responseBytes: 1_000 * requests,
  };
}

/** A config numbered `n`, with its real Kong hashes. */
function candidate(n: number): VersionCandidate {
  const config = {
    _format_version: '3.0',
    services: [{ name: `service-${n}`, host: `backend-${n}.internal`, port: 8000 + n }],
    _comment: `ünïcødé ✓ ${n}`,
  };
  const { config_hash, hashes } = hashConfig(config);
  return { hash: config_hash, hashes, config, publishedAt: Date.UTC(2026, 0, 1) + n };
}

/** A DP status record as CP `controlPlaneId` writes it, seen at `lastSeen`. */
function dataPlane(id: string, controlPlaneId: string, lastSeen: number): SharedDataPlaneStatus {
  return {
    id,
    hostname: `${id}.internal`,
    ip: '10.0.0.7',
    version: '3.10.0',
    labels: { region: 'eu' },
    syncStatus: 'normal',
    configHash: 'a'.repeat(32),
    configVersion: 3,
    cacheHash: 'a'.repeat(32),
    lastSeen,
    connected: true,
    certExpiresAt: 1_900_000_000_000,
    pushError: undefined,
    protocol: 'planesync/2',
    controlPlaneId,
  };
}

function assertVersion(
  actual: SharedVersion | undefined,
  version: number,
  expected: VersionCandidate,
): void {
  assert.ok(actual, `version ${version}`);
  assert.equal(actual.version, version);
  assert.equal(actual.hash, expected.hash);
  assert.deepEqual(actual.hashes, expected.hashes);
  assert.equal(actual.publishedAt, expected.publishedAt);
  assertSameJson(actual.config, expected.config);
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
