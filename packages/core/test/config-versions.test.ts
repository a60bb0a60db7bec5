import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LatestSlot } from '../src/config/latest-slot.ts';
import { ConfigPublisher } from '../src/config/publisher.ts';
import {
  CONFIG_VERSION_TRANSITIONS,
  type ConfigVersionState,
  DATA_PLANE_CONFIG_TRANSITIONS,
  DataPlaneConfigMachine,
} from '../src/config/state-machine.ts';
import {
  type ConfigSnapshot,
  declarativeConfigSchema,
  hashConfig,
  StateError,
} from '../src/index.ts';
import { FakeClock } from '../src/testing/index.ts';

function snapshot(
  version: number,
  source: ConfigSnapshot['source'],
  marker = version,
): ConfigSnapshot {
  const config = { _format_version: '3.0', marker };
  const { config_hash, hashes } = hashConfig(config);
  return { version, hash: config_hash, hashes, source, config, appliedAt: 0 };
}

function activeMachine(initial = snapshot(0, 'empty')) {
  const machine = new DataPlaneConfigMachine();
  machine.beginLoading();
  machine.activateLocal(initial);
  machine.startSession();
  return machine;
}

describe('DP config state machine', () => {
  it('goes empty → loading → active through the start sequence', () => {
    const machine = new DataPlaneConfigMachine();
    expect(machine.state).toBe('empty');
    machine.beginLoading();
    expect(machine.state).toBe('loading');
    const cached = snapshot(3, 'cache');
    machine.activateLocal(cached);
    expect(machine.state).toBe('active');
    expect(machine.active).toBe(cached);
  });

  it('takes a version received → validating → applying → active', () => {
    const machine = activeMachine();
    const next = snapshot(1, 'control-plane');
    const candidate = machine.receive(1, next.hash);
    const seen: ConfigVersionState[] = [candidate.state];
    candidate.validating();
    seen.push(candidate.state);
    candidate.applying();
    seen.push(candidate.state);
    candidate.activate(next);
    seen.push(candidate.state);
    expect(seen).toEqual(['received', 'validating', 'applying', 'active']);
    expect(machine.active).toBe(next);
    expect(machine.inFlight).toBeUndefined();
  });

  it('keeps the previous snapshot active when a version is rejected while validating or applying', () => {
    const initial = snapshot(0, 'declarative');
    const machine = activeMachine(initial);
    const first = machine.receive(1, snapshot(1, 'control-plane').hash);
    first.validating();
    first.reject([{ path: 'services[0].port', message: 'expected integer 0..65535' }]);
    expect(first.state).toBe('rejected');
    expect(first.problems).toHaveLength(1);
    const second = machine.receive(2, snapshot(2, 'control-plane').hash);
    second.validating();
    second.applying();
    second.reject([{ path: '(root)', message: 'the gateway refused it' }]);
    expect(machine.active).toBe(initial);
    expect(machine.state).toBe('active');
  });

  it('ignores an older or equal version arriving late in the same session', () => {
    const machine = activeMachine();
    const five = machine.receive(5, snapshot(5, 'control-plane').hash);
    five.validating();
    five.applying();
    five.activate(snapshot(5, 'control-plane'));
    const late = machine.receive(4, snapshot(4, 'control-plane').hash);
    expect([late.state, late.ignoredBecause]).toEqual(['ignored', 'stale']);
    const again = machine.receive(5, snapshot(5, 'control-plane', 99).hash);
    expect(again.state).toBe('ignored');
    expect(machine.active?.version).toBe(5);
  });

  it('counts versions afresh in a new CP session (a restarted CP numbers from 1)', () => {
    const machine = activeMachine(snapshot(7, 'cache'));
    machine.receive(7, snapshot(7, 'control-plane', 70).hash).validating();
    machine.inFlight?.reject([]);
    machine.startSession();
    const fromNewCp = machine.receive(1, snapshot(1, 'control-plane').hash);
    expect(fromNewCp.state).toBe('received');
  });

  it('ignores a version whose hash is already active', () => {
    const initial = snapshot(0, 'cache');
    const machine = activeMachine(initial);
    const same = machine.receive(3, initial.hash);
    expect([same.state, same.ignoredBecause]).toEqual(['ignored', 'unchanged']);
  });

  it('allows one version in flight at a time', () => {
    const machine = activeMachine();
    machine.receive(1, snapshot(1, 'control-plane').hash);
    expect(() => machine.receive(2, snapshot(2, 'control-plane').hash)).toThrow(StateError);
    expect(() => machine.activateLocal(snapshot(0, 'manual'))).toThrow(StateError);
  });

  it('accepts a manual load over an active config (active → active)', () => {
    const machine = activeMachine();
    const manual = snapshot(0, 'manual', 42);
    machine.activateLocal(manual);
    expect(machine.active).toBe(manual);
  });

  it('refuses versions before the start sequence has made a config active', () => {
    const machine = new DataPlaneConfigMachine();
    expect(() => machine.receive(1, 'a'.repeat(32))).toThrow(
      expect.objectContaining({ code: 'INVALID_STATE_TRANSITION' }),
    );
    machine.beginLoading();
    expect(() => machine.receive(1, 'a'.repeat(32))).toThrow(StateError);
  });
});

/**
 * The two machines as docs/concepts.md draws them ("The DP's config state machine"), written
 * out here rather than read from the exported tables: a change to a table must change this
 * list, and the diagram, on purpose.
 */
const DP_CONFIG_STATES = ['empty', 'loading', 'active'] as const;
const DP_CONFIG_EDGES = ['empty → loading', 'loading → active', 'active → active'];
const VERSION_STATES = [
  'received',
  'validating',
  'applying',
  'active',
  'rejected',
  'ignored',
] as const;
const VERSION_EDGES = [
  'received → ignored',
  'received → validating',
  'validating → applying',
  'validating → rejected',
  'applying → active',
  'applying → rejected',
];

/** A table's transitions as `from → to` lines, sorted. */
const edgesOf = (table: Readonly<Record<string, readonly string[]>>) =>
  Object.entries(table)
    .flatMap(([from, targets]) => targets.map((to) => `${from} → ${to}`))
    .sort();

/** The edges between states (not `[*]`) of the mermaid state diagram that starts at `initial`. */
function diagramEdges(initial: string): string[] {
  const concepts = readFileSync(new URL('../../../docs/concepts.md', import.meta.url), 'utf8');
  const diagram = [...concepts.matchAll(/```mermaid\n(stateDiagram-v2\n[\s\S]*?)```/g)]
    .map((match) => match[1]!)
    .find((text) => text.includes(`[*] --> ${initial}\n`));
  expect(diagram, `a state diagram starting at ${initial} in docs/concepts.md`).toBeDefined();
  return [...diagram!.matchAll(/^\s*(\w+) --> (\w+)/gm)]
    .map(([, from, to]) => `${from} → ${to}`)
    .sort();
}

describe('the config state machines are the ones docs/concepts.md draws', () => {
  it('the diagrams show exactly these transitions', () => {
    expect(diagramEdges('empty')).toEqual([...DP_CONFIG_EDGES].sort());
    expect(diagramEdges('received')).toEqual([...VERSION_EDGES].sort());
  });

  it('the exported tables hold exactly these transitions', () => {
    expect(Object.keys(DATA_PLANE_CONFIG_TRANSITIONS).sort()).toEqual([...DP_CONFIG_STATES].sort());
    expect(edgesOf(DATA_PLANE_CONFIG_TRANSITIONS)).toEqual([...DP_CONFIG_EDGES].sort());
    expect(Object.keys(CONFIG_VERSION_TRANSITIONS).sort()).toEqual([...VERSION_STATES].sort());
    expect(edgesOf(CONFIG_VERSION_TRANSITIONS)).toEqual([...VERSION_EDGES].sort());
  });

  describe('DP config: each step from each state is taken or refused as drawn', () => {
    type DpState = (typeof DP_CONFIG_STATES)[number];
    /** How to reach each state, and how to ask for each step (nothing leads back to empty). */
    const reach: Record<DpState, (m: DataPlaneConfigMachine) => void> = {
      empty: () => undefined,
      loading: (m) => m.beginLoading(),
      active: (m) => {
        m.beginLoading();
        m.activateLocal(snapshot(0, 'empty'));
      },
    };
    const step: Record<Exclude<DpState, 'empty'>, (m: DataPlaneConfigMachine) => void> = {
      loading: (m) => m.beginLoading(),
      active: (m) => m.activateLocal(snapshot(1, 'manual')),
    };
    for (const from of DP_CONFIG_STATES) {
      for (const to of ['loading', 'active'] as const) {
        const allowed = DP_CONFIG_EDGES.includes(`${from} → ${to}`);
        it(`${from} → ${to} is ${allowed ? 'taken' : 'refused with INVALID_STATE_TRANSITION'}`, () => {
          const machine = new DataPlaneConfigMachine();
          reach[from](machine);
          expect(machine.state).toBe(from);
          if (allowed) {
            step[to](machine);
            expect(machine.state).toBe(to);
            return;
          }
          const active = machine.active;
          expect(() => step[to](machine)).toThrow(
            expect.objectContaining({ code: 'INVALID_STATE_TRANSITION', from, to }),
          );
          expect(machine.state).toBe(from);
          expect(machine.active).toBe(active);
        });
      }
    }
  });

  describe('a config version: each step from each state is taken or refused as drawn', () => {
    type VersionState = (typeof VERSION_STATES)[number];
    const steps: Record<
      Exclude<VersionState, 'received'>,
      (c: ReturnType<DataPlaneConfigMachine['receive']>) => void
    > = {
      validating: (c) => c.validating(),
      applying: (c) => c.applying(),
      active: (c) => c.activate(snapshot(9, 'control-plane')),
      rejected: (c) => c.reject([]),
      ignored: (c) => c.ignore('stale'),
    };
    /** The steps that lead from `received` to each state. */
    const paths: Record<VersionState, Array<Exclude<VersionState, 'received'>>> = {
      received: [],
      validating: ['validating'],
      applying: ['validating', 'applying'],
      active: ['validating', 'applying', 'active'],
      rejected: ['validating', 'rejected'],
      ignored: ['ignored'],
    };
    // `received` is where every candidate starts; no step leads back to it.
    for (const from of VERSION_STATES) {
      for (const to of VERSION_STATES.filter((state) => state !== 'received')) {
        const allowed = VERSION_EDGES.includes(`${from} → ${to}`);
        it(`${from} → ${to} is ${allowed ? 'taken' : 'refused with INVALID_STATE_TRANSITION'}`, () => {
          const machine = activeMachine();
          const initial = machine.active;
          const candidate = machine.receive(1, snapshot(1, 'control-plane').hash);
          for (const step of paths[from]) steps[step](candidate);
          expect(candidate.state).toBe(from);
          const active = machine.active;
          if (allowed) {
            steps[to](candidate);
            expect(candidate.state).toBe(to);
            // Only `active` replaces the DP's config; every other end keeps the one it had.
            if (to === 'active') expect(machine.active?.version).toBe(9);
            else expect(machine.active).toBe(initial);
            return;
          }
          expect(() => steps[to](candidate)).toThrow(
            expect.objectContaining({ code: 'INVALID_STATE_TRANSITION', from, to }),
          );
          expect(candidate.state).toBe(from);
          expect(machine.active).toBe(active);
        });
      }
    }
  });
});

describe('CP config versions (ConfigPublisher)', () => {
  const base = { _format_version: '3.0', services: [{ name: 'a', host: 'a.internal' }] };

  it('bumps the version only when the hash changes', () => {
    const publisher = new ConfigPublisher({ schema: declarativeConfigSchema });
    expect(publisher.publish(base)).toMatchObject({ version: 1, changed: true });
    expect(publisher.publish(structuredClone(base))).toMatchObject({ version: 1, changed: false });
    const changed = { ...base, services: [{ name: 'a', host: 'b.internal' }] };
    const result = publisher.publish(changed);
    expect(result).toMatchObject({
      version: 2,
      changed: true,
      hash: hashConfig(changed).config_hash,
    });
    expect(publisher.latest?.config).toEqual(changed);
  });

  it('rejects an invalid config with CONFIG_INVALID and keeps the latest version', () => {
    const publisher = new ConfigPublisher({ schema: declarativeConfigSchema });
    publisher.publish(base);
    expect(() =>
      publisher.publish({ _format_version: '3.0', services: [{ name: 'x', port: -1 }] }),
    ).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(publisher.latest?.version).toBe(1);
  });

  it('stamps each version from the injected clock', () => {
    const clock = new FakeClock(1_000);
    const publisher = new ConfigPublisher({ clock });
    publisher.publish({ a: 1 });
    expect(publisher.latest?.publishedAt).toBe(1_000);
  });
});

describe('coalescing pushes (LatestSlot)', () => {
  it('delivers only the newest of rapid successive offers, nothing queued', async () => {
    const delivered: number[] = [];
    let release: () => void = () => undefined;
    let arrived: (value: number) => void = () => undefined;
    const slot = new LatestSlot<number>(async (value) => {
      delivered.push(value);
      arrived(value);
      await new Promise<void>((resolve) => {
        release = resolve;
      });
    });
    slot.offer(1);
    for (let v = 2; v <= 20; v++) slot.offer(v);
    expect(delivered).toEqual([1]);
    expect(slot.pending).toBe(true);
    const next = new Promise<number | 'idle'>((resolve) => {
      arrived = resolve;
      // A slot that dropped the waiting value goes idle instead: the test fails, not hangs.
      void slot.idle().then(() => resolve('idle'));
    });
    release();
    expect(await next).toBe(20);
    expect(slot.pending).toBe(false);
    release();
    await slot.idle();
    expect(delivered).toEqual([1, 20]);
  });

  it('goes on after a failed delivery and reports it', async () => {
    const failures: number[] = [];
    const delivered: number[] = [];
    const slot = new LatestSlot<number>(
      async (value) => {
        if (value === 1) throw new Error('socket closed');
        delivered.push(value);
      },
      (_error, value) => failures.push(value),
    );
    slot.offer(1);
    slot.offer(2);
    await slot.idle();
    expect([failures, delivered]).toEqual([[1], [2]]);
  });

  it('drops the waiting value on close', async () => {
    const delivered: number[] = [];
    const slot = new LatestSlot<number>(async (value) => {
      delivered.push(value);
    });
    slot.offer(1);
    slot.offer(2);
    slot.close();
    slot.offer(3);
    await slot.idle();
    expect(delivered).toEqual([1]);
  });
});
