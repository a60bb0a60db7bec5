import { afterEach, describe, expect, it, vi } from 'vitest';
import { planesyncProtocol, silentLogger, type WireProtocol } from '../src/index.ts';
import { createTestCluster, type TestCluster } from '../src/testing/index.ts';

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

/** planesync's protocol, whose CP side fails to open the first link it is given. */
function failingOnce(): WireProtocol {
  const base = planesyncProtocol();
  let failed = false;
  return {
    ...base,
    controlPlane: {
      ...base.controlPlane,
      open(connection, context) {
        if (!failed) {
          failed = true;
          throw new Error('boom');
        }
        return base.controlPlane.open(connection, context);
      },
    },
  };
}

describe('maxDataPlanes counts only the connections that are open', () => {
  it('a link the CP fails to set up (closed 1011) frees its place once it has closed', async () => {
    cluster = await createTestCluster({
      controlPlane: { logger: silentLogger, maxDataPlanes: 1, protocols: [failingOnce()] },
    });
    const { cp } = cluster;
    const errors: string[] = [];
    cp.on('error', (error) => errors.push(error.code));
    const first = await cluster.transport.client({ certificates: [cluster.certificate] }).connect();
    expect(await first.closed).toMatchObject({ code: 1011 });
    expect(errors).toEqual(['INTERNAL_ERROR']);

    const rejected: string[] = [];
    cp.on('dataPlaneRejected', (event) => rejected.push(event.code));
    cluster.dataPlane({ nodeId: 'second' }).start();
    await vi.waitFor(() => expect(cp.dataPlanes()[0]?.connected).toBe(true));
    expect(rejected).toEqual([]);
  });
});
