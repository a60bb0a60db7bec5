/** Lets timers and other peers' frames run before going on (one turn of the event loop). */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Telemetry records checked or counted between two turns of the event loop, so a batch of
 * 100 000 never holds the loop (the protocol checks them, the session counts them).
 */
export const TELEMETRY_SLICE = 2_000;
