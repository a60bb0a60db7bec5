import { describe, expect, it } from 'vitest';
import { handleFrame } from '../src/transport/handle-frame.ts';

/** An iterator over `frames` that records its calls; `result` shapes each result object. */
function reader(
  frames: Uint8Array[],
  options: {
    result?: (r: IteratorResult<Uint8Array>) => IteratorResult<Uint8Array>;
    returnFails?: boolean;
  } = {},
) {
  const calls: string[] = [];
  let i = 0;
  const it: AsyncIterator<Uint8Array> & AsyncIterable<Uint8Array> = {
    next() {
      calls.push('next');
      const r: IteratorResult<Uint8Array> =
        i < frames.length ? { value: frames[i++]!, done: false } : { value: undefined, done: true };
      return Promise.resolve(options.result ? options.result(r) : r);
    },
    return() {
      calls.push('return');
      if (options.returnFails) return Promise.reject(new Error('return failed'));
      return Promise.resolve({ value: undefined, done: true });
    },
    [Symbol.asyncIterator]() {
      return it;
    },
  };
  return { it, calls };
}

async function loop(
  frames: AsyncIterator<Uint8Array>,
  handle: (owner: string[], frame: Uint8Array) => Promise<void> | void,
  seen: string[],
) {
  for (let next = await frames.next(); !next.done; next = await frames.next())
    await handleFrame(frames, next, seen, handle);
}

async function forAwait(
  frames: AsyncIterable<Uint8Array>,
  handle: (owner: string[], frame: Uint8Array) => Promise<void> | void,
  seen: string[],
) {
  for await (const frame of frames) await handle(seen, frame);
}

const f = (n: number) => new Uint8Array([n]);
const cases: Array<[string, (seen: string[], frame: Uint8Array) => Promise<void> | void]> = [
  ['handles all', (seen, frame) => void seen.push(String(frame[0]))],
  [
    'throws synchronously',
    (seen, frame) => {
      seen.push(String(frame[0]));
      if (frame[0] === 2) throw new Error('sync');
    },
  ],
  [
    'rejects',
    async (seen, frame) => {
      seen.push(String(frame[0]));
      await null;
      if (frame[0] === 2) throw new Error('async');
    },
  ],
];

describe('handleFrame, as a for await loop would', () => {
  for (const [name, handle] of cases) {
    for (const returnFails of [false, true]) {
      it(`${name}${returnFails ? ', its reader’s return() failing' : ''}`, async () => {
        const a = reader([f(1), f(2), f(3)], { returnFails });
        const b = reader([f(1), f(2), f(3)], { returnFails });
        const seenA: string[] = [];
        const seenB: string[] = [];
        const errA = await loop(a.it, handle, seenA).catch((e: Error) => e.message);
        const errB = await forAwait(b.it, handle, seenB).catch((e: Error) => e.message);
        expect(errA).toEqual(errB);
        expect(seenA).toEqual(seenB);
        expect(a.calls).toEqual(b.calls);
      });
    }
  }

  it('empties the result it hands over, and handles a frozen one', async () => {
    const results: Array<IteratorResult<Uint8Array>> = [];
    const a = reader([f(1), f(2)], {
      result: (r) => {
        results.push(r);
        return r;
      },
    });
    const seen: string[] = [];
    await loop(a.it, (s, frame) => void s.push(String(frame[0])), seen);
    expect(seen).toEqual(['1', '2']);
    expect(results.map((r) => r.value)).toEqual([undefined, undefined, undefined]);
    const frozen = reader([f(1), f(2)], { result: (r) => Object.freeze(r) });
    const seenFrozen: string[] = [];
    await loop(frozen.it, (s, frame) => void s.push(String(frame[0])), seenFrozen);
    expect(seenFrozen).toEqual(['1', '2']);
  });

  it('a reader reusing one result object', async () => {
    const shared = { value: undefined as unknown, done: false };
    const frames = [f(1), f(2), f(3)];
    let i = 0;
    const it: AsyncIterator<Uint8Array> = {
      next() {
        if (i < frames.length) {
          shared.value = frames[i++];
        } else {
          shared.value = undefined;
          shared.done = true;
        }
        return Promise.resolve(shared as IteratorResult<Uint8Array>);
      },
    };
    const seen: string[] = [];
    await loop(it, (s, frame) => void s.push(String(frame[0])), seen);
    expect(seen).toEqual(['1', '2', '3']);
  });
});
