import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { hashConfig } from '../src/index.ts';
import { BLOCK_ENTITIES, MemberMemo } from '../src/protocol/config-members.ts';
import {
  compressConfig,
  decodeFrame,
  encodeConfigFrame,
  inflate,
  inflateJson,
} from '../src/protocol/index.ts';
import { createTestCluster, type TestCluster } from '../src/testing/index.ts';

/** A declarative config of about `megabytes` MB of JSON that gzip cannot shrink much. */
function bigConfig(megabytes: number) {
  const services = Math.ceil((megabytes * 1e6) / 110);
  return {
    _format_version: '3.0',
    services: Array.from({ length: services }, (_, i) => ({
      name: `service-${i}`,
      host: `backend-${i % 97}.internal`,
      port: 8000 + (i % 1000),
      tags: [randomBytes(12).toString('hex')],
    })),
  };
}

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

describe('config frame payload', () => {
  it('a large config is compressed in pieces side by side and still inflates as one gzip stream', async () => {
    const config = bigConfig(5);
    const json = Buffer.from(JSON.stringify(config));
    expect(json.byteLength).toBeGreaterThan(4 * 1024 * 1024);
    const { config_hash, hashes } = hashConfig(config);
    const message = decodeFrame(
      await encodeConfigFrame({ version: 1, hash: config_hash, hashes }, config),
    );
    if (message.type !== 'config') throw new Error('expected a config frame');
    const payload = message.body.payload;
    expect(await inflateJson(payload, 64 * 1024 * 1024)).toEqual(config);
    // Several gzip members: the magic bytes open the payload and at least one more member.
    const starts = [...Buffer.from(payload).entries()].filter(
      ([i, byte]) => byte === 0x1f && payload[i + 1] === 0x8b && payload[i + 2] === 0x08,
    ).length;
    expect(starts).toBeGreaterThanOrEqual(2);
    // About the size of one stream.
    expect(payload.byteLength).toBeLessThan(gzipSync(json).byteLength * 1.02);
  });

  it('the members inflate to exactly the JSON of the config, whatever its shape', async () => {
    const odd = {
      toJSON: () => ({ replaced: true }),
    };
    const shapes: unknown[] = [
      null,
      'text',
      [1, 2, 3],
      {},
      { services: [] },
      { a: undefined, f: () => 1, services: [{ id: 1 }], b: 2 },
      { when: new Date(0), routes: Array.from({ length: 1025 }, (_, i) => ({ i })), tail: 'x' },
      { list: Array.from({ length: 512 }, (_, i) => i), other: [undefined, odd], after: [] },
      odd,
      { ...bigConfig(1), plugins: [{ name: 'cors' }] },
    ];
    for (const config of shapes) {
      const inflated = await inflate(await compressConfig(config), 64 * 1024 * 1024);
      expect(Buffer.from(inflated).toString()).toBe(JSON.stringify(config) ?? 'null');
    }
  });

  it('a config derived by changing some entities reuses the members of the entities it kept', async () => {
    const first = bigConfig(1);
    await compressConfig(first);
    const kept = first.services[0]!;
    // An entity of another member than the first (members end every BLOCK_ENTITIES entities).
    const at = 3 * BLOCK_ENTITIES + 5;
    const changed = { ...first.services[at]!, host: 'changed.internal' };
    const services = first.services.map((service, i) => (i === at ? changed : service));
    services.push({ ...kept, name: 'appended' });
    const next = { ...first, services };
    // An object edited in place after it was given is not seen: its member is reused as it
    // was compressed (configs handed to the CP must not be edited, its docs say).
    const original = kept.host;
    kept.host = 'edited-in-place.internal';
    const derived = await inflateJson(await compressConfig(next, { derivedFrom: first }), 1e8);
    const fresh = await inflateJson(await compressConfig(next), 1e8);
    kept.host = original;
    expect(derived).toEqual(next);
    expect((fresh as typeof next).services[0]!.host).toBe('edited-in-place.internal');
  });

  it('a config derived from another compresses again the members holding an entity in fresh, one it held and edited since', async () => {
    const first = bigConfig(1);
    await compressConfig(first);
    const upserted = first.services[2 * BLOCK_ENTITIES + 7]!;
    upserted.host = 'edited-then-upserted.internal'; // upserted again after an edit in place
    const next = { ...first, services: [...first.services] };
    const derived = await inflateJson(
      await compressConfig(next, { derivedFrom: first, fresh: new Set([upserted]) }),
      1e8,
    );
    expect((derived as typeof next).services[2 * BLOCK_ENTITIES + 7]!.host).toBe(
      'edited-then-upserted.internal',
    );
    expect(derived).toEqual(next);
  });

  it('a config derived step by step (keys reordered, added, dropped; lists grown, cut, spliced across members) always inflates to its JSON', async () => {
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const entity = (i: number) => ({ name: `e${i}-${random(1e6)}`, port: random(65535) });
    let config: Record<string, unknown> = {
      _format_version: '3.0',
      services: Array.from({ length: 2500 }, (_, i) => entity(i)),
      routes: Array.from({ length: 1024 }, (_, i) => entity(i)),
    };
    await compressConfig(config);
    for (let step = 0; step < 60; step++) {
      const next: Record<string, unknown> = {};
      const keys = Object.keys(config);
      if (random(5) === 0) keys.reverse();
      for (const key of keys) {
        let value = config[key];
        if (Array.isArray(value)) {
          const list = [...value];
          const edit = random(6);
          if (edit === 0) list.splice(random(list.length), 1);
          else if (edit === 1) list.push(entity(list.length));
          else if (edit === 2) list[random(list.length)] = entity(9);
          else if (edit === 3)
            list.splice(random(list.length), 0, ...Array.from({ length: random(1500) }, entity));
          else if (edit === 4) list.length = random(list.length + 1);
          value = list;
        } else if (random(3) === 0) value = `${value}x`;
        if (random(20) !== 0) next[key] = value;
      }
      if (random(4) === 0) next[`k${step}`] = random(2) ? [] : { a: step };
      const bytes = await compressConfig(next, { derivedFrom: config });
      expect(Buffer.from(await inflate(bytes, 1e8)).toString()).toBe(JSON.stringify(next));
      config = next;
    }
  });

  it('a config given whole again takes the gzip of every member whose JSON is unchanged from the last encoding, by content', async () => {
    const memo = new MemberMemo();
    const first = bigConfig(1);
    const members = Math.ceil(first.services.length / BLOCK_ENTITIES);
    await compressConfig(first, { memo });
    expect(memo.reused).toBe(0);
    // The same entities read anew (other objects), one top-level key more: the last member
    // changed, the rest are taken as they were.
    const again = { ...structuredClone(first), round: 1 };
    expect(await inflateJson(await compressConfig(again, { memo }), 1e8)).toEqual(again);
    expect(memo.reused).toBe(members - 1);
    // An entity edited in place is seen (by content, not by object): its member is made again.
    again.services[3 * BLOCK_ENTITIES + 5]!.host = 'edited-in-place.internal';
    expect(await inflateJson(await compressConfig(again, { memo }), 1e8)).toEqual(again);
    expect(memo.reused).toBe(2 * (members - 1));
    // Only the last encoding's members are kept: the first config's changed member is gone.
    await compressConfig(first, { memo });
    expect(memo.reused).toBe(3 * (members - 1) - 1);
  });

  it('a CP given the same config objects again, one entity edited in place, pushes the edit: the DP applies it under its hash', async () => {
    cluster = await createTestCluster();
    const dp = cluster.dataPlane();
    await dp.start();
    const config = bigConfig(1);
    await dp.waitForConfig({ hash: (await cluster.cp.setConfig(config)).hash });
    config.services[2 * BLOCK_ENTITIES + 7]!.host = 'edited-in-place.internal';
    const { hash } = await cluster.cp.setConfig({ ...config });
    const applying = dp.waitForConfig({ hash });
    await cluster.clock.advance(1_000); // the CP's push throttle
    const applied = await applying;
    expect(applied.hash).toBe(hashConfig(config).config_hash);
    expect((applied.config as typeof config).services[2 * BLOCK_ENTITIES + 7]!.host).toBe(
      'edited-in-place.internal',
    );
  });

  it('a DP applies a config compressed in pieces, pushed by the CP', async () => {
    cluster = await createTestCluster();
    const dp = cluster.dataPlane();
    await dp.start();
    const { hash } = await cluster.cp.setConfig(bigConfig(3));
    const applied = await dp.waitForConfig({ hash });
    expect((applied.config as { services: unknown[] }).services).toHaveLength(Math.ceil(3e6 / 110));
  });
});
