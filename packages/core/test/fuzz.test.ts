import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createCertificateAuthority,
  decodePemCertificates,
  hashConfig,
  issueCertificate,
  PlanesyncError,
  parseDeclarativeConfig,
  TrustVerifier,
} from '../src/index.ts';
import {
  decodeFrame,
  encodeCompressed,
  encodeConfigFrame,
  encodeMessage,
  inflateJson,
} from '../src/protocol/index.ts';
import { encodeTelemetryColumns, readTelemetryColumns } from '../src/protocol/telemetry-columns.ts';

/** Cases per decoder: CI runs at least 10 000; `pnpm soak` sets PLANESYNC_FUZZ_RUNS=1000000. */
const RUNS = Number(process.env.PLANESYNC_FUZZ_RUNS ?? 10_000);

/** Runs `fn`; a planesync error is an acceptable outcome, anything else thrown fails the property. */
function typedOrValue(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch (error) {
    if (error instanceof PlanesyncError) return true;
    throw error;
  }
}

async function typedOrValueAsync(fn: () => Promise<unknown>): Promise<boolean> {
  try {
    await fn();
    return true;
  } catch (error) {
    if (error instanceof PlanesyncError) return true;
    throw error;
  }
}

/** Valid frames to mutate: every message type the protocol has. */
let validFrames: Uint8Array[] = [];
let validChain: Uint8Array[] = [];
let verifier: TrustVerifier;

beforeAll(async () => {
  const config = { _format_version: '3.0', services: [{ name: 'a', host: 'a.internal' }] };
  const { config_hash, hashes } = hashConfig(config);
  validFrames = [
    encodeMessage('hello', {
      protocol: 'planesync/1',
      nodeId: 'node-1',
      hostname: 'dp',
      version: '3.10.0',
      labels: { a: 'b' },
      plugins: [{ name: 'key-auth', version: '3.10.0' }],
      configHash: config_hash,
      configVersion: 1,
    }),
    encodeMessage('welcome', {
      protocol: 'planesync/1',
      controlPlaneVersion: '3.10.0',
      syncStatus: 'normal',
    }),
    encodeMessage('ack', { version: 1, hash: config_hash }),
    encodeMessage('nack', { version: 1, hash: config_hash, errors: [{ path: 'a', message: 'b' }] }),
    encodeMessage('ping', { version: 1, hash: config_hash }),
    encodeMessage('pong', {}),
    encodeMessage('telemetryAck', { batch: 3 }),
    await encodeConfigFrame({ version: 1, hash: config_hash, hashes }, config),
    await encodeCompressed('telemetry', {
      stream: 's',
      batch: 1,
      firstSeq: 0,
      dropped: 0,
      records: [{ status: 200, latencyMs: 1, at: 1 }],
    }),
    await encodeTelemetryColumns({
      stream: 's',
      batch: 2,
      firstSeq: 1,
      dropped: 0,
      records: [
        { service: 'a', status: 200, latencyMs: 1, at: 1, requestBytes: 5 },
        { route: 'r', consumer: 'c', status: 404, latencyMs: 2, at: 2 },
      ],
    }),
  ];
  const root = await createCertificateAuthority({ commonName: 'Fuzz Root' });
  const intermediate = await createCertificateAuthority({
    commonName: 'Fuzz Intermediate',
    issuer: root,
  });
  const leaf = await issueCertificate({ issuer: intermediate, commonName: 'dp', usage: 'client' });
  validChain = [
    ...decodePemCertificates(leaf.certificate),
    ...decodePemCertificates(intermediate.certificate),
  ];
  verifier = new TrustVerifier({ mode: 'pki', trustAnchors: [root.certificate] });
});

/** A valid input with a few bytes flipped, inserted, removed or truncated. */
function mutated(sources: () => Uint8Array[]) {
  return fc
    .tuple(
      fc.nat(),
      fc.array(
        fc.tuple(
          fc.nat(),
          fc.integer({ min: 0, max: 255 }),
          fc.constantFrom('flip', 'insert', 'delete', 'truncate'),
        ),
        { minLength: 1, maxLength: 4 },
      ),
    )
    .map(([pick, edits]) => {
      const list = sources();
      let bytes = Array.from(list[pick % list.length]!);
      for (const [at, value, kind] of edits) {
        const index = bytes.length === 0 ? 0 : at % bytes.length;
        if (kind === 'flip') bytes[index] = value;
        else if (kind === 'insert') bytes.splice(index, 0, value);
        else if (kind === 'delete') bytes.splice(index, 1);
        else bytes = bytes.slice(0, index);
      }
      return Uint8Array.from(bytes);
    });
}

describe(`fuzzing every decoder (${RUNS} cases each): a typed error or a value, never a crash`, () => {
  it('frame codec: random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) =>
        typedOrValue(() => decodeFrame(bytes)),
      ),
      { numRuns: RUNS },
    );
  });

  it('frame codec: mutated valid frames', () => {
    fc.assert(
      fc.property(
        mutated(() => validFrames),
        (bytes) => typedOrValue(() => decodeFrame(bytes)),
      ),
      { numRuns: RUNS },
    );
  });

  it('gzip bodies: mutated compressed payloads inflate or fail typed, within the limit', async () => {
    const payloads = () => validFrames.filter((f) => f[0] === 0x09).map((f) => f.subarray(1));
    await fc.assert(
      fc.asyncProperty(mutated(payloads), (bytes) =>
        typedOrValueAsync(() => inflateJson(bytes, 64 * 1024)),
      ),
      { numRuns: Math.min(RUNS, 10_000) },
    );
  });

  it('telemetry columns (planesync/3): mutated bodies are read as valid records or fail typed, within the limit', async () => {
    const payloads = () => validFrames.filter((f) => f[0] === 0x0c).map((f) => f.subarray(1));
    await fc.assert(
      fc.asyncProperty(mutated(payloads), (bytes) =>
        typedOrValueAsync(() => readTelemetryColumns(bytes, 64 * 1024)),
      ),
      { numRuns: Math.min(RUNS, 10_000) },
    );
  });

  it('declarative config: random JSON values', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) =>
        typedOrValue(() => parseDeclarativeConfig(value as object)),
      ),
      {
        numRuns: RUNS,
      },
    );
  });

  it('declarative config: random and mutated YAML/JSON text', () => {
    const seeds = [
      '_format_version: "3.0"\nservices:\n  - name: a\n    url: http://a:80\n    routes:\n      - paths: [/a]\n',
      '{"_format_version":"3.0","services":[{"name":"a","host":"h","port":80}],"routes":[{"paths":["/"],"service":"a"}]}',
    ];
    const text = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc
        .tuple(fc.constantFrom(...seeds), fc.nat(), fc.string({ maxLength: 8 }))
        .map(([seed, at, insert]) => {
          const index = at % seed.length;
          return seed.slice(0, index) + insert + seed.slice(index + 1);
        }),
    );
    fc.assert(
      fc.property(text, (input) => typedOrValue(() => parseDeclarativeConfig(input))),
      { numRuns: RUNS },
    );
  });

  it('certificate parsing: mutated DER chains are judged, never thrown', () => {
    fc.assert(
      fc.property(
        mutated(() => validChain),
        fc.boolean(),
        (bytes, withIntermediate) => {
          const chain = withIntermediate ? [bytes, validChain[1]!] : [bytes];
          const result = verifier.verify(chain, { role: 'data-plane' });
          expect(typeof result.ok).toBe('boolean');
          return true;
        },
      ),
      { numRuns: Math.min(RUNS, 10_000) },
    );
  });
});
