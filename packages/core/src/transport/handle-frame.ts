/**
 * Handles one frame a read loop took from `frames`, the frame `next` holds: empties `next`
 * first, so the frame is left nowhere but in `handle`'s hands once it is done with. When
 * `handle` throws, `frames` is told it is done with (as a `for await` loop left by an error
 * would) and the error goes on. `owner` rather than a closure: a CP runs one loop per DP.
 * Internal: the read loop of a CP's session and of a DP's link, written as
 *
 * ```ts
 * const frames = connection[Symbol.asyncIterator]();
 * for (let next = await frames.next(); !next.done; next = await frames.next())
 *   await handleFrame(frames, next, owner, handle);
 * ```
 *
 * and not as `for await (const frame of connection)`: an async function waiting for the next
 * frame keeps what its variables hold, and such a loop's hold the frame it read last. A CP
 * would keep every quiet DP's last frame (a telemetry batch), and a DP the last config the CP
 * sent (up to megabytes), until the next frame came.
 */
export async function handleFrame<T>(
  frames: AsyncIterator<Uint8Array>,
  next: IteratorResult<Uint8Array>,
  owner: T,
  handle: (owner: T, frame: Uint8Array) => Promise<void> | void,
): Promise<void> {
  const frame = next.value as Uint8Array;
  try {
    (next as { value: unknown }).value = undefined;
  } catch {
    // A frozen result (a connection of the host's own making): it keeps its frame.
  }
  try {
    await handle(owner, frame);
  } catch (error) {
    try {
      await frames.return?.();
    } catch {
      // The reader's own failure: the first error is the one reported.
    }
    throw error;
  }
}
