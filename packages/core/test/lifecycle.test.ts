import { describe, expect, it } from 'vitest';
import {
  ControlPlane,
  generateClusterCertificate,
  memoryTransport,
  silentLogger,
  TrustVerifier,
} from '../src/index.ts';

describe('ControlPlane start and stop', () => {
  it('a stop called while start is still binding wins: nothing is left listening', async () => {
    const { certificate } = await generateClusterCertificate();
    const transport = memoryTransport({ certificates: [certificate] });
    const cp = new ControlPlane({
      transport: transport.server,
      trust: new TrustVerifier({ mode: 'pinned', certificates: [certificate] }),
      version: '3.10.0',
      logger: silentLogger,
    });
    const results = await Promise.allSettled([cp.start(), cp.stop()]);
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled']);
    expect(transport.server.listening).toBe(false);
    // … and it can be started again afterwards.
    await cp.start();
    expect(transport.server.listening).toBe(true);
    await cp.stop();
  });
});
