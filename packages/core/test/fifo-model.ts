import fc from 'fast-check';
import { expect } from 'vitest';

/** Pushes of 1–3 000 and drains of 0–3 000 (each maybe requeued), up to 12 of them. */
export const fifoOperations = fc.array(
  fc.oneof(
    fc.record({ push: fc.integer({ min: 1, max: 3_000 }) }),
    fc.record({ drain: fc.integer({ min: 0, max: 3_000 }), requeue: fc.boolean() }),
  ),
  { maxLength: 12 },
);

/**
 * Runs `operations` on a bounded FIFO of `capacity` and on a plain array standing for it
 * (pushing 0, 1, 2, …; the oldest dropped when full; a requeued drain put back at the front,
 * what no longer fits dropped from its oldest end), checking every drain against the model
 * and handing the model and the drop count to `check` after each operation. The FIFO is seen
 * through `fifo`: `drain` returns the numbers taken and a `requeue` that puts them back.
 */
export function checkAgainstFifoModel(
  capacity: number,
  operations: ReadonlyArray<{ push: number } | { drain: number; requeue: boolean }>,
  fifo: {
    push(n: number): void;
    drain(max: number): { taken: number[]; requeue(): void };
  },
  check: (model: readonly number[], dropped: number) => void,
): void {
  let model: number[] = [];
  let dropped = 0;
  let next = 0;
  for (const operation of operations) {
    if ('push' in operation) {
      for (let i = 0; i < operation.push; i++) {
        fifo.push(next);
        model.push(next++);
        if (model.length > capacity) {
          model.shift();
          dropped++;
        }
      }
    } else {
      const { taken, requeue } = fifo.drain(operation.drain);
      expect(taken).toEqual(model.slice(0, operation.drain));
      model = model.slice(taken.length);
      if (operation.requeue) {
        requeue();
        const room = capacity - model.length;
        const lost = Math.max(0, taken.length - room);
        dropped += lost;
        model = [...taken.slice(lost), ...model];
      }
    }
    check(model, dropped);
  }
}
