import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeFrame } from '../src/protocol/codec.ts';
import { MessageType, messageSchemas } from '../src/protocol/messages.ts';

const frameOf = (type: 'ack' | 'ping', text: string) => {
  const body = new TextEncoder().encode(text);
  const frame = new Uint8Array(1 + body.byteLength);
  frame[0] = MessageType[type];
  frame.set(body, 1);
  return frame;
};

/** What decoding gives: the message, or the error's code. */
function outcome(run: () => unknown): unknown {
  try {
    return run();
  } catch (error) {
    return { code: (error as { code?: string }).code };
  }
}

const hex32 = fc.stringMatching(/^[0-9a-f]{32}$/);
const field = fc.oneof(
  hex32,
  fc.string(),
  fc.integer(),
  fc.double(),
  fc.constantFrom(-0, 2 ** 53, -1, 1.5, null, true, [], {}),
);

describe('acks and pings, decoded as their schema decodes them', () => {
  for (const type of ['ack', 'ping'] as const) {
    it(`a ${type} is what the schema makes of it, or refused as the schema refuses it`, () => {
      fc.assert(
        fc.property(
          fc.record(
            {
              version: fc.oneof(fc.nat(), field),
              hash: fc.oneof(hex32, field),
              cacheHash: fc.oneof(hex32, field),
              extra: field,
              __proto__: field,
            },
            { requiredKeys: [] },
          ),
          (body) => {
            const text = JSON.stringify(body);
            const decoded = outcome(() => decodeFrame(frameOf(type, text)));
            const parsed = messageSchemas[type].safeParse(JSON.parse(text));
            expect(decoded).toEqual(
              parsed.success ? { type, body: parsed.data } : { code: 'PROTOCOL_VIOLATION' },
            );
          },
        ),
        { numRuns: 2_000, seed: 20261202 },
      );
    });
  }

  it('takes an ack with its cache hash and refuses one with a hash of capitals', () => {
    const hash = 'a'.repeat(32);
    expect(
      decodeFrame(frameOf('ack', JSON.stringify({ version: 3, hash, cacheHash: hash }))),
    ).toEqual({ type: 'ack', body: { version: 3, hash, cacheHash: hash } });
    expect(() =>
      decodeFrame(frameOf('ack', JSON.stringify({ version: 3, hash: 'A'.repeat(32) }))),
    ).toThrow(expect.objectContaining({ code: 'PROTOCOL_VIOLATION' }));
  });
});
