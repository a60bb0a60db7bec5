/**
 * Length-prefixed frames: a 4-byte big-endian length, then that many bytes. The length
 * 0xFFFFFFFF announces a close frame instead: a 2-byte code, a 2-byte reason length, then the
 * reason (UTF-8), so a close carries its code and reason as WebSocket's does.
 */
export const CLOSE_MARK = 0xffffffff;

/** The preface (the client's metadata) is small: a bigger first frame is refused unread. */
export const MAX_PREFACE_BYTES = 8 * 1024;

export type FrameEvent =
  | { kind: 'frame'; frame: Uint8Array }
  | { kind: 'close'; code: number; reason: string }
  | { kind: 'oversized'; size: number };

/** A data frame's header and body, written together. */
export function frameHeader(length: number): Buffer {
  const header = Buffer.allocUnsafe(4);
  header.writeUInt32BE(length, 0);
  return header;
}

export function closeFrame(code: number, reason: string): Buffer {
  const text = Buffer.from(reason, 'utf8').subarray(0, 123);
  const frame = Buffer.allocUnsafe(8 + text.length);
  frame.writeUInt32BE(CLOSE_MARK, 0);
  frame.writeUInt16BE(code & 0xffff, 4);
  frame.writeUInt16BE(text.length, 6);
  text.copy(frame, 8);
  return frame;
}

/**
 * Reassembles frames split across reads, or several in one read. A length over
 * `maxPayloadBytes` is reported as `oversized` from the header alone, before any of the body
 * is buffered, and decoding stops. With `maxFrames`, decoding pauses after that many frames
 * and `rest()` gives back the bytes after them (the TCP preface is read this way). Once
 * `discard()` is called, data frames are skipped as they stream by — never buffered — and
 * only a close frame is still reported (a closing side reads nothing more).
 */
export class FrameDecoder {
  #chunks: Buffer[] = [];
  #buffered = 0;
  #stopped = false;
  #frames = 0;
  #discarding = false;
  /** Bytes of a discarded frame's body still to skip. */
  #skip = 0;

  constructor(
    private readonly maxPayloadBytes: number,
    private readonly maxFrames = Number.POSITIVE_INFINITY,
  ) {}

  push(chunk: Buffer): FrameEvent[] {
    if (this.#stopped) return [];
    if (this.#skip > 0) {
      const skipped = Math.min(this.#skip, chunk.length);
      this.#skip -= skipped;
      chunk = chunk.subarray(skipped);
      if (chunk.length === 0) return [];
    }
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    const events: FrameEvent[] = [];
    while (this.#frames < this.maxFrames) {
      if (this.#buffered < 4) break;
      const length = this.#peekUInt32();
      if (length === CLOSE_MARK) {
        if (this.#buffered < 8) break;
        const head = this.#take(8);
        const reasonLength = head.readUInt16BE(6);
        if (this.#buffered < reasonLength) {
          this.#unshift(head);
          break;
        }
        const reason = this.#take(reasonLength).toString('utf8');
        events.push({ kind: 'close', code: head.readUInt16BE(4), reason });
        this.#stopped = true;
        break;
      }
      if (this.#discarding) {
        this.#take(4);
        const skipped = Math.min(length, this.#buffered);
        this.#take(skipped);
        this.#skip = length - skipped;
        continue;
      }
      if (length > this.maxPayloadBytes) {
        events.push({ kind: 'oversized', size: length });
        this.#stopped = true;
        this.#chunks = [];
        this.#buffered = 0;
        break;
      }
      if (this.#buffered < 4 + length) break;
      this.#take(4);
      events.push({ kind: 'frame', frame: new Uint8Array(this.#take(length)) });
      this.#frames++;
    }
    return events;
  }

  /** The bytes received after the frames decoded so far (after `maxFrames` were reached). */
  rest(): Buffer {
    const rest = Buffer.concat(this.#chunks);
    this.#chunks = [];
    this.#buffered = 0;
    return rest;
  }

  /** From now on, data frames are skipped unbuffered; a close frame is still reported. */
  discard(): void {
    this.#discarding = true;
    const buffered = this.rest();
    if (buffered.length > 0) this.#unshift(buffered);
  }

  #peekUInt32(): number {
    const first = this.#chunks[0]!;
    if (first.length >= 4) return first.readUInt32BE(0);
    const joined = Buffer.concat(this.#chunks);
    this.#chunks = [joined];
    return joined.readUInt32BE(0);
  }

  #take(length: number): Buffer {
    if (length === 0) return Buffer.alloc(0);
    const first = this.#chunks[0]!;
    if (first.length >= length) {
      const taken = first.subarray(0, length);
      if (first.length === length) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(length);
      this.#buffered -= length;
      return taken;
    }
    const out = Buffer.allocUnsafe(length);
    let offset = 0;
    while (offset < length) {
      const chunk = this.#chunks[0]!;
      const needed = length - offset;
      if (chunk.length <= needed) {
        chunk.copy(out, offset);
        offset += chunk.length;
        this.#chunks.shift();
      } else {
        chunk.copy(out, offset, 0, needed);
        this.#chunks[0] = chunk.subarray(needed);
        offset += needed;
      }
    }
    this.#buffered -= length;
    return out;
  }

  #unshift(buffer: Buffer): void {
    this.#chunks.unshift(buffer);
    this.#buffered += buffer.length;
  }
}
