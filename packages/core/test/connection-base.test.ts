import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ConnectionBase, DEFAULT_MAX_PAYLOAD_BYTES } from '../src/transport/index.ts';

/** A connection whose socket is the test: frames are pushed in by hand. */
class Probe extends ConnectionBase {
  paused = 0;
  constructor() {
    super({
      remoteAddress: 'probe',
      maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES,
      highWaterMark: 1024 * 1024,
    });
  }
  push(frame: Uint8Array) {
    this.receive(frame);
  }
  protected async writeFrame() {}
  /** The socket's close handshake, still under way until `closed()` is called. */
  closing: (() => void) | undefined;
  protected closeTransport(code: number, reason: string) {
    this.closing = () => this.finish({ code, reason, initiator: 'local' });
  }
  protected override pauseReading() {
    this.paused++;
  }
}

describe('ConnectionBase read-side flow control', () => {
  it('stops reading under a flood of empty frames, as under a few large ones', () => {
    const connection = new Probe();
    for (let i = 0; i < 100_000 && connection.paused === 0; i++) connection.push(new Uint8Array(0));
    expect(connection.paused).toBe(1);
    expect(connection.bufferedBytes).toBeGreaterThan(1024 * 1024);
  });

  it('lets go of each frame once its reader has it, even one that waited in the inbox', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const connection = new Probe();
    const sent: Array<WeakRef<Uint8Array>> = [];
    // No reader is waiting: the frames wait in the inbox. (Made and read in calls of their
    // own: this function's variables would hold the last of them.)
    const send = () => {
      const frame = new Uint8Array(64 * 1024);
      sent.push(new WeakRef(frame));
      connection.push(frame);
    };
    for (let i = 0; i < 3; i++) send();
    const reader = connection[Symbol.asyncIterator]();
    const read = async () => (await reader.next()).value?.byteLength;
    for (let i = 0; i < 3; i++) expect(await read()).toBe(64 * 1024);
    // WeakRef targets stay alive until the event loop's turn ends.
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    expect(sent.filter((frame) => frame.deref() !== undefined)).toHaveLength(0);
  });

  it('drops what arrives once this side has started closing', async () => {
    const connection = new Probe();
    const closing = connection.close(1000, 'bye');
    connection.push(new Uint8Array(1024)); // during the close handshake: not kept
    expect(connection.bufferedBytes).toBe(0);
    connection.closing?.();
    await closing;
  });
});

describe('what a connection keeps of its handshake', () => {
  class Described extends ConnectionBase {
    constructor(metadata: Record<string, string>) {
      super({
        remoteAddress: 'probe',
        maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES,
        metadata,
        request: { path: '/planesync/v1', rawQuery: '__proto__=x&node_id=a' },
      });
    }
    protected async writeFrame() {}
    protected closeTransport() {}
  }

  it('keeps the query as given, frozen, a `__proto__` key as a key and not as the prototype', () => {
    const query = Object.fromEntries(new URLSearchParams('__proto__=x&node_id=a'));
    const connection = new Described(query);
    expect(Object.getPrototypeOf(connection.metadata)).toBe(Object.prototype);
    expect(Object.entries(connection.metadata)).toEqual([
      ['__proto__', 'x'],
      ['node_id', 'a'],
    ]);
    expect(Object.isFrozen(connection.metadata)).toBe(true);
    expect(Object.isFrozen(connection.request)).toBe(true);
    expect(connection.request).toEqual({
      path: '/planesync/v1',
      rawQuery: '__proto__=x&node_id=a',
    });
    // A copy: the transport's object changing later changes nothing here.
    query.node_id = 'b';
    expect(connection.metadata.node_id).toBe('a');
  });
});

describe('inflating what a peer sent', () => {
  const order = async (payload: Uint8Array) => {
    const { inflateJson } = await import('../src/index.ts');
    const seen: string[] = [];
    setImmediate(() => seen.push('event loop'));
    await inflateJson(payload, 64 * 1024 * 1024).then(() => seen.push('inflated'));
    await new Promise((resolve) => setImmediate(resolve));
    return seen;
  };

  it('inflates a small body inline', async () => {
    expect(await order(gzipSync(JSON.stringify({ batch: 1 })))).toEqual(['inflated', 'event loop']);
  });

  it('never inflates a small body to megabytes on the event loop (a 31 KiB gzip of 31 MiB)', async () => {
    const bomb = gzipSync(
      Buffer.concat([
        Buffer.from('{"a":'),
        Buffer.alloc(31 * 1024 * 1024, 0x20),
        Buffer.from('1}'),
      ]),
      { level: 9 },
    );
    expect(bomb.byteLength).toBeLessThan(32 * 1024);
    expect(await order(bomb)).toEqual(['event loop', 'inflated']);
  });
});
