import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameDecoder, frameHeader } from '../src/framing.ts';

const RUNS = Number(process.env.PLANESYNC_FUZZ_RUNS ?? 10_000);

describe(`fuzzing TCP framing (${RUNS} cases)`, () => {
  it('reassembles any frames split at any points into the same frames', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }),
        fc.array(fc.nat({ max: 50 }), { maxLength: 30 }),
        (frames, cuts) => {
          const wire = Buffer.concat(
            frames.flatMap((f) => [frameHeader(f.length), Buffer.from(f)]),
          );
          const decoder = new FrameDecoder(1024);
          const out: Uint8Array[] = [];
          let offset = 0;
          for (const cut of cuts) {
            const next = Math.min(wire.length, offset + cut);
            for (const event of decoder.push(wire.subarray(offset, next)))
              if (event.kind === 'frame') out.push(event.frame);
            offset = next;
          }
          for (const event of decoder.push(wire.subarray(offset)))
            if (event.kind === 'frame') out.push(event.frame);
          expect(out.map((f) => Buffer.from(f).toString('hex'))).toEqual(
            frames.map((f) => Buffer.from(f).toString('hex')),
          );
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('never throws on random bytes, and never buffers past an oversized header', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 10 }), (chunks) => {
        const decoder = new FrameDecoder(100);
        for (const chunk of chunks) {
          for (const event of decoder.push(Buffer.from(chunk))) {
            if (event.kind === 'frame') expect(event.frame.byteLength).toBeLessThanOrEqual(100);
          }
        }
        return true;
      }),
      { numRuns: RUNS },
    );
  });
});
