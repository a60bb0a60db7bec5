import { describe, expect, it } from 'vitest';
import { ControlPlane, DataPlane, fileStore, memoryTransport } from '../src/index.ts';

/** The codes of the warnings `run` makes Node emit. */
async function warningsOf(run: () => void): Promise<string[]> {
  const codes: string[] = [];
  const listener = (warning: Error & { code?: string }) => {
    if (warning.name === 'DeprecationWarning') codes.push(String(warning.code));
  };
  process.on('warning', listener);
  try {
    run();
    // process.emitWarning delivers on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', listener);
  }
  return codes;
}

describe('a deprecated name still works, and says once that it is going', () => {
  const { server, client } = memoryTransport({ certificates: [] });
  const trust = { mode: 'pinned' } as never;

  it('ControlPlane maxPayloadBytes and maxInflatedBytes, each once per process', async () => {
    const make = () =>
      new ControlPlane({
        transport: server,
        trust,
        version: '3.10.0',
        maxPayloadBytes: 1,
        maxInflatedBytes: 1,
      });
    expect(await warningsOf(make)).toEqual([
      'PLANESYNC_DEP_CONTROLPLANE_MAXPAYLOADBYTES',
      'PLANESYNC_DEP_CONTROLPLANE_MAXINFLATEDBYTES',
    ]);
    expect(await warningsOf(make)).toEqual([]);
  });

  it('DataPlane serverName and maxInflatedBytes, and fileStore maxInflatedBytes', async () => {
    const codes = await warningsOf(() => {
      new DataPlane({
        transport: client(),
        trust,
        version: '3.10.0',
        serverName: 'cp',
        maxInflatedBytes: 1,
      });
      fileStore({ prefix: '/nonexistent', maxInflatedBytes: 1 });
    });
    expect(codes.sort()).toEqual([
      'PLANESYNC_DEP_DATAPLANE_MAXINFLATEDBYTES',
      'PLANESYNC_DEP_DATAPLANE_SERVERNAME',
      'PLANESYNC_DEP_FILESTORE_MAXINFLATEDBYTES',
    ]);
  });

  it('the new names warn nothing', async () => {
    expect(
      await warningsOf(() => {
        new ControlPlane({ transport: server, trust, version: '3.10.0', maxConfigFrameBytes: 1 });
        new DataPlane({
          transport: client(),
          trust,
          version: '3.10.0',
          expectedServerName: 'cp',
          maxConfigBytes: 1,
        });
      }),
    ).toEqual([]);
  });
});
