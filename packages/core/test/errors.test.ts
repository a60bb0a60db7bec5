import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  AbortedError,
  ConnectionClosedError,
  ErrorCode,
  InvalidArgumentError,
  PayloadTooLargeError,
  PlanesyncError,
  StoreCorruptError,
  StoreWriteFailedError,
  TransportFailedError,
} from '../src/index.ts';

describe('errors', () => {
  it('documents every code in docs/errors.md', () => {
    const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
    const documented = new Set([...doc.matchAll(/^## `([A-Z_]+)`/gm)].map((m) => m[1]));
    expect([...documented].sort()).toEqual(Object.values(ErrorCode).sort());
  });

  it('gives each class its stable code, its name and the cause', () => {
    const cause = new Error('socket hang up');
    const cases: Array<[PlanesyncError, ErrorCode]> = [
      [new InvalidArgumentError('x', { cause }), 'INVALID_ARGUMENT'],
      [new AbortedError(undefined, { cause }), 'ABORTED'],
      [new ConnectionClosedError(undefined, { cause }), 'CONNECTION_CLOSED'],
      [new TransportFailedError('x', { cause }), 'TRANSPORT_FAILED'],
      [new PayloadTooLargeError(10, 5, { cause }), 'PAYLOAD_TOO_LARGE'],
      [new StoreCorruptError('x', { cause }), 'STORE_CORRUPT'],
      [new StoreWriteFailedError('x', { cause }), 'STORE_WRITE_FAILED'],
    ];
    expect(cases.map(([, code]) => code).sort()).toEqual(Object.values(ErrorCode).sort());
    for (const [error, code] of cases) {
      expect(error).toBeInstanceOf(PlanesyncError);
      expect(error.code).toBe(code);
      expect(error.cause).toBe(cause);
      expect(error.name).toBe(error.constructor.name);
    }
  });

  it('reports the size and the limit of an oversized payload', () => {
    const error = new PayloadTooLargeError(17, 16);
    expect([error.size, error.limit]).toEqual([17, 16]);
  });
});
