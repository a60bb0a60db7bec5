/**
 * Finding a value in JSON bytes without parsing them again: where a member of the top-level
 * object lies, for bytes `JSON.parse` has already read.
 *
 * @module
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Where the value of the top-level member `key` lies in `json` (bytes already known to be a
 * valid JSON object: `JSON.parse` read them), as `[start, end)`; `undefined` when the object
 * has no such member, has it twice (`JSON.parse` keeps the last), or has any escaped key
 * (which could spell it) — a caller then serialises the parsed value instead. A linear scan
 * that skips strings and nesting, so that a value's own bytes can be kept as they came.
 */
export function jsonMemberSpan(json: Uint8Array, key: string): [number, number] | undefined {
  const wanted = new TextEncoder().encode(key);
  let found: [number, number] | undefined;
  let at = skipSpace(json, 0);
  if (json[at] !== 0x7b) return undefined; // {
  at = skipSpace(json, at + 1);
  if (json[at] === 0x7d) return undefined; // {}
  for (;;) {
    if (json[at] !== QUOTE) return undefined;
    const keyStart = at + 1;
    const keyEnd = skipString(json, at) - 1;
    if (json.subarray(keyStart, keyEnd).includes(BACKSLASH)) return undefined;
    at = skipSpace(json, keyEnd + 1) + 1; // past ':'
    const start = skipSpace(json, at);
    const end = skipValue(json, start);
    if (
      keyEnd - keyStart === wanted.length &&
      wanted.every((byte, index) => json[keyStart + index] === byte)
    ) {
      if (found) return undefined;
      found = [start, end];
    }
    at = skipSpace(json, end);
    if (json[at] !== 0x2c) return found; // no ',': the object ended
    at = skipSpace(json, at + 1);
  }
}

function skipSpace(json: Uint8Array, at: number): number {
  while (
    at < json.length &&
    (json[at] === 0x20 || json[at] === 0x0a || json[at] === 0x0d || json[at] === 0x09)
  )
    at++;
  return at;
}

/** From the opening quote at `at` to just past the closing one. */
function skipString(json: Uint8Array, at: number): number {
  for (;;) {
    const quote = json.indexOf(QUOTE, at + 1);
    if (quote === -1) return json.length;
    // A quote after an odd run of backslashes is escaped.
    let slashes = 0;
    while (json[quote - 1 - slashes] === BACKSLASH) slashes++;
    if (slashes % 2 === 0) return quote + 1;
    at = quote;
  }
}

/** From the first byte of a value to just past its last. */
function skipValue(json: Uint8Array, at: number): number {
  const first = json[at];
  if (first === QUOTE) return skipString(json, at);
  if (first !== 0x7b && first !== 0x5b) {
    // A number or a literal: up to the next delimiter.
    while (at < json.length && !isDelimiter(json[at]!)) at++;
    return at;
  }
  let depth = 0;
  while (at < json.length) {
    const byte = json[at]!;
    if (byte === QUOTE) {
      at = skipString(json, at);
      continue;
    }
    if (byte === 0x7b || byte === 0x5b) depth++;
    else if (byte === 0x7d || byte === 0x5d) {
      depth--;
      if (depth === 0) return at + 1;
    }
    at++;
  }
  return at;
}

function isDelimiter(byte: number): boolean {
  return byte === 0x2c || byte === 0x7d || byte === 0x5d || byte <= 0x20;
}
