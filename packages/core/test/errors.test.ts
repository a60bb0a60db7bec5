import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  AbortedError,
  CapacityExceededError,
  ConfigHashMismatchError,
  ConfigInvalidError,
  ConnectionClosedError,
  ErrorCode,
  HeartbeatTimeoutError,
  InternalError,
  InvalidArgumentError,
  NodeIdInUseError,
  PayloadTooLargeError,
  PeerRefusedError,
  PlanesyncError,
  ProtocolViolationError,
  ProxyRefusedError,
  StateError,
  StoreCorruptError,
  StoreDecryptFailedError,
  StoreLockedError,
  StoreWriteFailedError,
  TransportFailedError,
  type TrustCode,
  TrustError,
  VersionIncompatibleError,
} from '../src/index.ts';

describe('errors', () => {
  it('documents every code in docs/errors.md', () => {
    const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
    const documented = new Set([...doc.matchAll(/^## `([A-Z_]+)`/gm)].map((m) => m[1]));
    expect(documented.size).toBe(Object.values(ErrorCode).length);
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
      [new StoreDecryptFailedError('x', { cause }), 'STORE_DECRYPT_FAILED'],
      [new StoreLockedError('/p/planesync.pid', 42, 'x', { cause }), 'STORE_LOCKED'],
      [new ConfigInvalidError([{ path: 'a', message: 'b' }], { cause }), 'CONFIG_INVALID'],
      [
        new ConfigHashMismatchError('a'.repeat(32), 'b'.repeat(32), { cause }),
        'CONFIG_HASH_MISMATCH',
      ],
      [new ProtocolViolationError('x', { cause }), 'PROTOCOL_VIOLATION'],
      [new VersionIncompatibleError('x', { cause }), 'VERSION_INCOMPATIBLE'],
      [new HeartbeatTimeoutError('x', { cause }), 'HEARTBEAT_TIMEOUT'],
      [new InternalError('x', { cause }), 'INTERNAL_ERROR'],
      [new NodeIdInUseError('x', { cause }), 'NODE_ID_IN_USE'],
      [new CapacityExceededError('x', { cause }), 'CAPACITY_EXCEEDED'],
      [new ProxyRefusedError(407, 'x', { cause }), 'PROXY_REFUSED'],
      [new PeerRefusedError(1008, 'TRUST_PIN_MISMATCH', { cause }), 'PEER_REFUSED'],
    ];
    const trustCodes = Object.values(ErrorCode).filter((code) => code.startsWith('TRUST_'));
    for (const code of trustCodes)
      cases.push([new TrustError(code as TrustCode, 'x', { cause }), code]);
    expect([...cases.map(([, code]) => code), 'INVALID_STATE_TRANSITION'].sort()).toEqual(
      Object.values(ErrorCode).sort(),
    );
    cases.push([new StateError('machine', 'a', 'b'), 'INVALID_STATE_TRANSITION']);
    for (const [error, code] of cases) {
      if (error instanceof StateError) continue; // StateError has no cause: it is a caller bug
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

describe('ConfigInvalidError', () => {
  it('lists each problem with its path, one a line', () => {
    const error = new ConfigInvalidError([
      { path: 'services[2].port', message: 'expected integer 0..65535' },
      { path: 'routes[0].service', message: 'references service "x", which does not exist' },
    ]);
    expect(error.message).toBe(
      'invalid config:\n  services[2].port: expected integer 0..65535\n  routes[0].service: references service "x", which does not exist',
    );
  });
});

describe('StateError', () => {
  it('names the machine and the refused transition', () => {
    const error = new StateError('config version', 'active', 'applying');
    expect([error.code, error.from, error.to]).toEqual([
      'INVALID_STATE_TRANSITION',
      'active',
      'applying',
    ]);
    expect(error.message).toBe('config version: no transition from active to applying');
  });
});
