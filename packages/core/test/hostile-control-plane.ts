import {
  type Connection,
  DataPlane,
  type DataPlaneOptions,
  generateClusterCertificate,
  memoryTransport,
  type PlanesyncError,
  TrustVerifier,
} from '../src/index.ts';
import { FakeClock } from '../src/testing/index.ts';

/**
 * A DataPlane started against a CP that answers its hello with `frame` and nothing more;
 * resolves with the DP and the first error of `code` it reports. The caller stops the DP.
 */
export async function dataPlaneSent(
  frame: () => Uint8Array | Promise<Uint8Array>,
  code: string,
  options: Partial<DataPlaneOptions> = {},
): Promise<{ dp: DataPlane; error: PlanesyncError }> {
  const clock = new FakeClock();
  const { certificate } = await generateClusterCertificate({ clock });
  const trust = new TrustVerifier({ mode: 'pinned', certificates: [certificate], clock });
  const evil = memoryTransport({ clock, certificates: [certificate] });
  await evil.server.listen((connection: Connection) => {
    void (async () => {
      for await (const _ of connection) {
        await connection.send(await frame()).catch(() => undefined);
        break;
      }
    })();
  });
  const dp = new DataPlane({
    transport: evil.client({ certificates: [certificate] }),
    trust,
    version: '3.10.0',
    clock,
    ...options,
  });
  const failure = new Promise<PlanesyncError>((resolve) =>
    dp.on('error', (error) => error.code === code && resolve(error)),
  );
  await dp.start();
  return { dp, error: await failure };
}
