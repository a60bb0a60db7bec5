import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileConfigStore, fileStore, MemoryConfigStore } from '../src/index.ts';
import { loadChain } from '../src/storage/stored-deltas.ts';
import { toStoredRecord } from '../src/storage/stored-snapshot.ts';
import { configStoreConformance, FakeClock, sampleSnapshot } from '../src/testing/index.ts';

const vitest = { describe, it, beforeEach, afterEach };

configStoreConformance(vitest, {
  name: 'MemoryConfigStore conformance',
  setup: async () => ({ store: new MemoryConfigStore() }),
  skip: [
    {
      reason: 'a memory store lives and dies with its process',
      tests: ['keeps the snapshot and node id for a new instance on the same storage'],
    },
  ],
});

const prefixes: string[] = [];
async function freshPrefix(): Promise<string> {
  const prefix = await mkdtemp(join(tmpdir(), 'planesync-file-store-'));
  prefixes.push(prefix);
  return prefix;
}

configStoreConformance(vitest, {
  name: 'FileConfigStore conformance',
  async setup() {
    const prefix = await freshPrefix();
    return {
      store: new FileConfigStore({ prefix }),
      reopen: async () => new FileConfigStore({ prefix }),
    };
  },
  async teardown() {
    await Promise.all(prefixes.splice(0).map((p) => rm(p, { recursive: true, force: true })));
  },
});

describe('FileConfigStore', () => {
  let prefix: string;
  beforeEach(async () => {
    prefix = await freshPrefix();
  });
  afterEach(async () => {
    await Promise.all(prefixes.splice(0).map((p) => rm(p, { recursive: true, force: true })));
  });

  it('keeps the cache at <prefix>/config.json.gz and the node id at <prefix>/node_id', async () => {
    const store = new FileConfigStore({ prefix });
    await store.save(sampleSnapshot(1));
    await store.saveNodeId('node-1');
    // planesync.pid: the writer lock, while the store is open
    expect((await readdir(prefix)).sort()).toEqual(['config.json.gz', 'node_id', 'planesync.pid']);
    await store.close();
    expect((await readdir(prefix)).sort()).toEqual(['config.json.gz', 'node_id']);
    expect(store.path).toBe(join(prefix, 'config.json.gz'));
  });

  it('stamps savedAt from the injected clock', async () => {
    const clock = new FakeClock(Date.UTC(2026, 5, 1));
    const store = new FileConfigStore({ prefix, clock });
    await store.save(sampleSnapshot(1));
    expect((await store.load())?.savedAt).toBe(Date.UTC(2026, 5, 1));
  });

  it('reports a truncated cache as STORE_CORRUPT', async () => {
    const store = new FileConfigStore({ prefix });
    await store.save(sampleSnapshot(1, 'control-plane', 500));
    const whole = gzipSync(JSON.stringify({ anything: true }));
    await writeFile(store.path, whole.subarray(0, whole.length - 9));
    await expect(store.load()).rejects.toMatchObject({ code: 'STORE_CORRUPT' });
  });

  it('reports a cache that is not JSON as STORE_CORRUPT', async () => {
    const store = new FileConfigStore({ prefix });
    await writeFile(store.path, gzipSync('{"format": "planesync-config/1", '));
    await expect(store.load()).rejects.toMatchObject({ code: 'STORE_CORRUPT' });
  });

  it('reports JSON that is not a snapshot as STORE_CORRUPT, naming the problem', async () => {
    const store = new FileConfigStore({ prefix });
    await writeFile(
      store.path,
      gzipSync(JSON.stringify({ format: 'planesync-config/1', version: -1 })),
    );
    const failure = await store.load().catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 'STORE_CORRUPT' });
    expect(String((failure as Error).message)).toContain('version');
  });

  it('reports a damaged node id file as STORE_CORRUPT', async () => {
    await writeFile(join(prefix, 'node_id'), 'two words\n');
    await expect(new FileConfigStore({ prefix }).loadNodeId()).rejects.toMatchObject({
      code: 'STORE_CORRUPT',
    });
  });

  it.each([
    'maxConfigBytes',
    'maxInflatedBytes', // its deprecated name
  ])('refuses to inflate a cache past %s: a gzip bomb is STORE_CORRUPT', async (option) => {
    const store = fileStore({ prefix, [option]: 1024 * 1024 });
    await writeFile(store.path, gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20)));
    await expect(store.load()).rejects.toMatchObject({
      code: 'STORE_CORRUPT',
      message: expect.stringContaining('maxConfigBytes'),
    });
  });

  it('one writer per prefix: a second store is STORE_LOCKED until the first closes; reading is free', async () => {
    const first = new FileConfigStore({ prefix });
    await first.save(sampleSnapshot(1));
    const second = new FileConfigStore({ prefix });
    await expect(second.open()).rejects.toMatchObject({ code: 'STORE_LOCKED', pid: process.pid });
    await expect(second.saveNodeId('node-2')).rejects.toMatchObject({ code: 'STORE_LOCKED' });
    expect((await second.load())?.version).toBe(1);
    await first.close();
    await expect(second.open()).resolves.toEqual({ writable: true });
    await second.close();
  });

  it('knows a prefix under two spellings as one (relative and absolute)', async () => {
    const { relative } = await import('node:path');
    const first = new FileConfigStore({ prefix });
    await first.open();
    const second = new FileConfigStore({ prefix: relative(process.cwd(), prefix) });
    await expect(second.open()).rejects.toMatchObject({ code: 'STORE_LOCKED' });
    await first.close();
  });

  it('takes over a lock whose process is gone', async () => {
    await writeFile(join(prefix, 'planesync.pid'), '2147483646\n'); // no such process
    const store = new FileConfigStore({ prefix });
    await expect(store.open()).resolves.toEqual({ writable: true });
    await store.close();
  });

  it('ignores the temporary file a crashed save left behind', async () => {
    const store = new FileConfigStore({ prefix });
    await store.save(sampleSnapshot(1));
    await writeFile(join(prefix, '.config.json.gz.999.abc.tmp'), 'half a write');
    expect((await store.load())?.version).toBe(1);
  });

  it('reports a save it cannot write as STORE_WRITE_FAILED and keeps the previous snapshot', async () => {
    const store = new FileConfigStore({ prefix });
    await store.save(sampleSnapshot(1));
    // A directory where the prefix expects to create its temporary file's parent: the node id
    // path is made a directory, so writing it fails.
    await rm(join(prefix, 'node_id'), { force: true });
    await writeFile(join(prefix, 'blocker'), '');
    const blocked = new FileConfigStore({ prefix: join(prefix, 'blocker') });
    await expect(blocked.save(sampleSnapshot(2))).rejects.toMatchObject({
      code: 'STORE_WRITE_FAILED',
    });
    expect((await store.load())?.version).toBe(1);
  });

  it('needs a prefix', () => {
    expect(() => new FileConfigStore({ prefix: '' })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});

describe('the writer lock file', () => {
  it('refuses a lock path that is not a regular file (a pipe would block every start)', async () => {
    const { execFileSync } = await import('node:child_process');
    const prefix = await freshPrefix();
    execFileSync('mkfifo', [join(prefix, 'planesync.pid')]);
    const store = new FileConfigStore({ prefix });
    await expect(store.open()).rejects.toMatchObject({
      code: 'STORE_WRITE_FAILED',
      message: expect.stringContaining('not a regular file'),
    });
    await rm(prefix, { recursive: true, force: true });
  });
});

describe('a stored record that is not a snapshot', () => {
  it('is named in words: what is missing, what is not a hash', async () => {
    const { fromStoredRecord } = await import('../src/index.ts');
    const base = {
      format: 'planesync-config/1',
      version: 1,
      hash: 'a'.repeat(32),
      hashes: { config: 'a'.repeat(32) },
      source: 'cache',
      config: {},
      appliedAt: 0,
      savedAt: 0,
    };
    expect(() => fromStoredRecord(base, 'f.json')).toThrow('hashes.routes: missing');
    expect(() => fromStoredRecord({ ...base, hash: 'x' }, 'f.json')).toThrow(
      'hash: not a 32-digit lowercase hex hash',
    );
    expect(() => fromStoredRecord({ ...base, version: 'x' }, 'f.json')).toThrow(
      'version: expected number',
    );
  });
});

describe('a delta chain record read back (loadChain)', () => {
  it('a chain nested deeper than this Node reads is STORE_CORRUPT, never another error', () => {
    const base = { ...sampleSnapshot(1, 'control-plane', 3), savedAt: 0 };
    const { config: _config, ...meta } = toStoredRecord(base);
    const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    const record = `{"format":"planesync-deltas/1","base":${JSON.stringify(base.hash)},"snapshot":${JSON.stringify(meta)},"deltas":[{"keys":["_format_version","x"],"set":{"x":${deep}},"lists":{}}]}`;
    // Node 22 and 24 overflow their stack on it (a RangeError, before the fix); Node 26's
    // JSON reads it, and the delta is then a valid one.
    let outcome: unknown = 'loaded';
    try {
      loadChain(base, 100, new TextEncoder().encode(record), 'test');
    } catch (error) {
      outcome = error;
    }
    if (outcome !== 'loaded') expect(outcome).toMatchObject({ code: 'STORE_CORRUPT' });
  });
});
