import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import * as core from '../src/index.ts';
import {
  AbortedError,
  CapacityExceededError,
  ConfigDeltaInvalidError,
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
  parseDeclarativeConfig,
  StateError,
  StateUnavailableError,
  StoreCorruptError,
  StoreDecryptFailedError,
  StoreLockedError,
  StoreWriteFailedError,
  TransportFailedError,
  type TrustCode,
  TrustError,
  TrustVerifier,
  VersionIncompatibleError,
} from '../src/index.ts';
import { throwIfAborted } from '../src/transport/index.ts';

/** docs/errors.md: each `## \`CODE\`` heading with the text of its section. */
const sections = (() => {
  const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
  const found = new Map<string, string>();
  for (const part of doc.split(/^(?=## )/m)) {
    const code = /^## `([A-Z_]+)`/.exec(part)?.[1];
    if (code) found.set(code, part);
  }
  return found;
})();

/** The class docs/errors.md names for a code: `Class \`X\``, or TrustError for a trust code. */
function documentedClass(code: string): string | undefined {
  if (code.startsWith('TRUST_')) return 'TrustError'; // "Trust codes": one class, its `code` says which
  return /Class `(\w+)`/.exec(sections.get(code) ?? '')?.[1];
}

const cause = new Error('socket hang up');

/**
 * An error of each class as planesync makes it, with a cause, and the data fields it carries
 * besides `code`. Written out per class: a new error class must be added here to pass.
 */
const MAKE: Record<
  string,
  (code: string) => { error: PlanesyncError; fields?: Record<string, unknown> }
> = {
  InvalidArgumentError: () => ({ error: new InvalidArgumentError('bad option', { cause }) }),
  AbortedError: () => ({ error: new AbortedError(undefined, { cause }) }),
  ConnectionClosedError: () => ({ error: new ConnectionClosedError(undefined, { cause }) }),
  TransportFailedError: () => ({ error: new TransportFailedError('unreachable', { cause }) }),
  PeerRefusedError: () => ({
    error: new PeerRefusedError(1008, 'TRUST_PIN_MISMATCH', { cause }),
    fields: { closeCode: 1008, reason: 'TRUST_PIN_MISMATCH' },
  }),
  ProxyRefusedError: () => ({
    error: new ProxyRefusedError(407, 'proxy wants credentials', { cause }),
    fields: { status: 407 },
  }),
  PayloadTooLargeError: () => ({
    error: new PayloadTooLargeError(17, 16, { cause }),
    fields: { size: 17, limit: 16 },
  }),
  StoreCorruptError: () => ({ error: new StoreCorruptError('damaged', { cause }) }),
  StoreWriteFailedError: () => ({ error: new StoreWriteFailedError('disk full', { cause }) }),
  StoreLockedError: () => ({
    error: new StoreLockedError('/p/planesync.pid', 42, 'locked', { cause }),
    fields: { lockFile: '/p/planesync.pid', pid: 42 },
  }),
  StoreDecryptFailedError: () => ({ error: new StoreDecryptFailedError('wrong key', { cause }) }),
  ConfigInvalidError: () => ({
    error: new ConfigInvalidError([{ path: 'services[0].port', message: 'too big' }], { cause }),
    fields: { problems: [{ path: 'services[0].port', message: 'too big' }] },
  }),
  ConfigDeltaInvalidError: () => ({
    error: new ConfigDeltaInvalidError('a delta from an unknown base', { cause }),
    fields: {},
  }),
  ConfigHashMismatchError: () => ({
    error: new ConfigHashMismatchError('a'.repeat(32), 'b'.repeat(32), { cause }),
    fields: { expected: 'a'.repeat(32), actual: 'b'.repeat(32) },
  }),
  StateError: () => ({
    error: new StateError('config version', 'active', 'applying'),
    fields: { from: 'active', to: 'applying' },
  }),
  ProtocolViolationError: () => ({ error: new ProtocolViolationError('bad frame', { cause }) }),
  VersionIncompatibleError: () => ({ error: new VersionIncompatibleError('4.0', { cause }) }),
  HeartbeatTimeoutError: () => ({ error: new HeartbeatTimeoutError('silent', { cause }) }),
  CapacityExceededError: () => ({ error: new CapacityExceededError('full', { cause }) }),
  NodeIdInUseError: () => ({ error: new NodeIdInUseError('dp-1', { cause }) }),
  InternalError: () => ({ error: new InternalError('a schema threw', { cause }) }),
  StateUnavailableError: () => ({ error: new StateUnavailableError('postgres down', { cause }) }),
  TrustError: (code) => ({ error: new TrustError(code as TrustCode, 'untrusted', { cause }) }),
};

/** Every error class @planesync/core exports, by name. */
const exportedClasses = Object.entries(core).filter(
  ([, value]) =>
    typeof value === 'function' &&
    value.prototype instanceof PlanesyncError &&
    value !== PlanesyncError,
) as Array<[string, new (...args: never[]) => PlanesyncError]>;

describe('error codes, as docs/errors.md promises them', () => {
  it('documents exactly the codes ErrorCode has, each its own name', () => {
    expect([...sections.keys()].sort()).toEqual(Object.values(ErrorCode).sort());
    for (const [key, code] of Object.entries(ErrorCode)) expect(code).toBe(key);
  });

  it('names for each code an exported class that carries that code', () => {
    for (const code of Object.values(ErrorCode)) {
      const name = documentedClass(code);
      expect(name, `docs/errors.md names no class for ${code}`).toBeDefined();
      expect(core, `${name} is not exported`).toHaveProperty(name!);
      const make = MAKE[name!];
      expect(make, `no sample of ${name} in this test`).toBeDefined();
      const { error } = make!(code);
      expect(error).toBeInstanceOf((core as Record<string, unknown>)[name!] as typeof Error);
      expect(error.code).toBe(code);
    }
  });

  it('every exported error class is documented under some code', () => {
    const documented = new Set(Object.values(ErrorCode).map(documentedClass));
    expect(exportedClasses.map(([name]) => name).filter((name) => !documented.has(name))).toEqual(
      [],
    );
  });
});

describe('errors as users meet them', () => {
  const samples = exportedClasses.map(([name, ErrorClass]) => {
    const code = Object.values(ErrorCode).find((c) => documentedClass(c) === name)!;
    return { name, ErrorClass, code, ...MAKE[name]!(code) };
  });

  it('each is an Error, a PlanesyncError and its own class, named after it', () => {
    expect(samples).toHaveLength(Object.keys(MAKE).length);
    for (const { name, ErrorClass, error } of samples) {
      expect(error).toBeInstanceOf(Error);
      expect(error).toBeInstanceOf(PlanesyncError);
      expect(error).toBeInstanceOf(ErrorClass);
      expect(error.name).toBe(name);
      expect(error.stack?.startsWith(`${name}: `), name).toBe(true);
      expect(error.message.length, name).toBeGreaterThan(0);
    }
  });

  it('keeps the error that caused it as `cause`, and has none when none is given', () => {
    for (const { name, error } of samples) {
      if (error instanceof StateError) continue; // a caller's bug: it has no cause to carry
      expect(error.cause, name).toBe(cause);
    }
    const bare = [
      new TransportFailedError('unreachable'),
      new ConfigInvalidError([]),
      new StateError('m', 'a', 'b'),
      new TrustError('TRUST_EXPIRED', 'expired'),
    ];
    for (const error of bare) expect(Object.hasOwn(error, 'cause'), error.name).toBe(false);
  });

  it('keeps its code and data when logged: JSON and util.inspect both show them', () => {
    for (const { name, error, code, fields } of samples) {
      expect(JSON.parse(JSON.stringify(error)), name).toEqual({ name, code, ...fields });
      const shown = inspect(error);
      expect(shown, name).toContain(`code: '${code}'`);
      if (!(error instanceof StateError))
        expect(shown, name).toContain('[cause]: Error: socket hang up');
    }
  });

  it('ConfigInvalidError lists every problem, each on a line of its own in the message', () => {
    const problems = [
      { path: 'services[2].port', message: 'expected integer 0..65535' },
      { path: 'routes[0].service', message: 'references service "x", which does not exist' },
    ];
    const error = new ConfigInvalidError(problems);
    expect(error.problems).toEqual(problems);
    const lines = error.message.split('\n');
    for (const { path, message } of problems)
      expect(lines.filter((line) => line.includes(path) && line.includes(message))).toHaveLength(1);
  });

  it('what planesync throws is the documented class: aborts, bad configs, bad options', () => {
    const reason = new Error('shutting down');
    expect(() => throwIfAborted(AbortSignal.abort(reason))).toThrow(
      expect.objectContaining({ code: 'ABORTED', cause: reason }),
    );
    try {
      parseDeclarativeConfig('services: [');
      expect.unreachable('a YAML syntax error is CONFIG_INVALID');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigInvalidError);
      expect((error as ConfigInvalidError).problems[0]?.path).toMatch(/^\(line \d+, column \d+\)$/);
    }
    expect(() => new TrustVerifier({ mode: 'nonsense' } as never)).toThrow(InvalidArgumentError);
  });
});
