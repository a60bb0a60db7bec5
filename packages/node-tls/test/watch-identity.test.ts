// watchIdentity over an unlucky disk: files missing when the watch begins, a watch closed
// while a read is in flight. The target is a stand-in; the files are real, the clock fake.
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CertificateKeyPair,
  type Clock,
  decodePemCertificates,
  generateClusterCertificate,
} from '@planesync/core';
import { FakeClock } from '@planesync/core/testing';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type IdentityWatch, type TlsIdentity, watchIdentity } from '../src/index.ts';

let pair: CertificateKeyPair;
let dir: string;
beforeAll(async () => {
  pair = await generateClusterCertificate();
  dir = await mkdtemp(join(tmpdir(), 'planesync-watch-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('watchIdentity on an unlucky disk', () => {
  it('files missing when the watch begins (a rotation half-way): the pair that then appears is taken', async () => {
    const files = { cert: join(dir, 'late.crt'), key: join(dir, 'late.key') };
    const clock = new FakeClock();
    const taken: TlsIdentity[] = [];
    const watch = watchIdentity({ setIdentity: (identity) => taken.push(identity) }, files, {
      clock,
      onError: () => undefined,
    });
    await watch.ready;
    await writeFile(files.cert, pair.certificate);
    await writeFile(files.key, pair.privateKey);
    await clock.advance(1_000);
    // The read is real I/O, which the fake clock does not wait for.
    await vi.waitFor(() => expect(taken).toHaveLength(1));
    expect(taken[0]).toEqual({ cert: [pair.certificate], key: pair.privateKey });
    watch.close();
  });

  it('a certificate file in DER is read as bytes and given as bytes, not mangled as text', async () => {
    const files = { cert: join(dir, 'der.crt'), key: join(dir, 'der.key') };
    const der = decodePemCertificates(pair.certificate)[0]!;
    await writeFile(files.cert, pair.certificate);
    await writeFile(files.key, pair.privateKey);
    const clock = new FakeClock();
    const taken: TlsIdentity[] = [];
    const watch = watchIdentity({ setIdentity: (identity) => taken.push(identity) }, files, {
      clock,
      onError: () => undefined,
    });
    await watch.ready;
    await writeFile(files.cert, der);
    await clock.advance(1_000);
    await vi.waitFor(() => expect(taken).toHaveLength(1));
    expect(Buffer.from((taken[0]!.cert as Uint8Array[])[0]!).equals(Buffer.from(der))).toBe(true);
    expect(taken[0]!.key).toBe(pair.privateKey);
    watch.close();
  });

  it('a watch closed while it reads reports nothing and takes nothing', async () => {
    const files = { cert: join(dir, 'closing.crt'), key: join(dir, 'closing.key') };
    await writeFile(files.cert, pair.certificate);
    await writeFile(files.key, pair.privateKey);
    const fake = new FakeClock();
    const setIdentity = vi.fn();
    const onError = vi.fn();
    let watch: IdentityWatch | undefined;
    // A clock that closes the watch as soon as a read has begun, while it is in flight.
    const clock: Clock = {
      now: () => fake.now(),
      setTimeout: (callback, ms) =>
        fake.setTimeout(() => {
          callback();
          watch?.close();
        }, ms),
      clearTimeout: (id) => fake.clearTimeout(id),
    };
    watch = watchIdentity({ setIdentity }, files, { clock, onError });
    await watch.ready;
    await unlink(files.key);
    await fake.advance(1_000);
    // Let the read in flight finish (real I/O, which no fake clock drives): nothing may come of it.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(onError).not.toHaveBeenCalled();
    expect(setIdentity).not.toHaveBeenCalled();
  });
});
