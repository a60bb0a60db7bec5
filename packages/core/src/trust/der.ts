// A bounded DER reader for the few structures planesync reads by hand (CRLs, OCSP
// responses): every length is checked against its container, so hostile bytes end in a throw
// the caller turns into a typed error, never in a read past the input.

/** One DER element: its tag, where its header starts, and its contents' bounds. */
export interface Element {
  tag: number;
  headerStart: number;
  start: number;
  end: number;
}

/** The element at `offset`, within `limit`; throws on a length past it (hostile input). */
export function element(der: Uint8Array, offset: number, limit: number): Element {
  if (offset + 2 > limit) throw new Error('it ends inside an element');
  const tag = der[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new Error('it uses a multi-byte tag');
  let length = der[offset + 1]!;
  let start = offset + 2;
  if (length & 0x80) {
    const octets = length & 0x7f;
    if (octets === 0 || octets > 4 || start + octets > limit) throw new Error('a length is bad');
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + der[start + i]!;
    start += octets;
  }
  const end = start + length;
  if (end > limit) throw new Error('an element runs past its container');
  return { tag, headerStart: offset, start, end };
}

export function sequence(der: Uint8Array, offset: number, limit: number): Element {
  const found = element(der, offset, limit);
  if (found.tag !== 0x30 || found.end !== limit) throw new Error('it is not one SEQUENCE');
  return found;
}

export function children(der: Uint8Array, parent: Element | undefined): Element[] {
  if (!parent) return [];
  const found: Element[] = [];
  for (let offset = parent.start; offset < parent.end; ) {
    const child = element(der, offset, parent.end);
    found.push(child);
    offset = child.end;
  }
  return found;
}

export function oid(der: Uint8Array, node: Element | undefined): string {
  if (node?.tag !== 0x06 || node.end === node.start) throw new Error('an algorithm has no OID');
  const bytes = der.subarray(node.start, node.end);
  const parts = [Math.min(2, Math.floor(bytes[0]! / 40)), 0];
  parts[1] = bytes[0]! - parts[0]! * 40;
  let value = 0;
  for (const byte of bytes.subarray(1)) {
    value = value * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      parts.push(value);
      value = 0;
    }
  }
  return parts.join('.');
}

/** A UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ), in ms since the epoch. */
export function timeOf(der: Uint8Array, node: Element): number {
  const text = Buffer.from(der.subarray(node.start, node.end)).toString('latin1');
  const match =
    node.tag === 0x17
      ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
      : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!match) throw new Error(`a time is not one: ${JSON.stringify(text)}`);
  let year = Number(match[1]);
  if (node.tag === 0x17) year += year < 50 ? 2000 : 1900;
  const [, , month, day, hour, minute, second] = match.map(Number);
  return Date.UTC(year, month! - 1, day, hour, minute, second);
}

/** DER encoding of a tag with its contents. */
export function encode(tag: number, ...contents: Uint8Array[]): Uint8Array {
  const body = Buffer.concat(contents);
  const length =
    body.length < 0x80
      ? Buffer.from([body.length])
      : (() => {
          const octets: number[] = [];
          for (let n = body.length; n > 0; n = Math.floor(n / 256)) octets.unshift(n % 256);
          return Buffer.from([0x80 | octets.length, ...octets]);
        })();
  return new Uint8Array(Buffer.concat([Buffer.from([tag]), length, body]));
}

/** The contents of an element. */
export function contents(der: Uint8Array, node: Element): Uint8Array {
  return der.subarray(node.start, node.end);
}

/** The contents of an OBJECT IDENTIFIER's encoding, from its dotted form. */
export function oidContents(dotted: string): Uint8Array {
  const parts = dotted.split('.').map(Number);
  const bytes = [parts[0]! * 40 + parts[1]!];
  for (const part of parts.slice(2)) {
    const chunk = [part & 0x7f];
    for (let rest = part >>> 7; rest > 0; rest >>>= 7) chunk.unshift((rest & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return new Uint8Array(bytes);
}
