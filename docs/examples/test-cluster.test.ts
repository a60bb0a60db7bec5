import { createTestCluster } from '@planesync/core/testing';
import { expect, it } from 'vitest';

it('keeps serving through a CP outage and resyncs when it returns', async () => {
  const cluster = await createTestCluster();
  const dp = cluster.dataPlane({ random: () => 0 }); // reconnect after exactly 5 s
  await dp.start();
  const first = await cluster.cp.setConfig({ _format_version: '3.0', services: [{ name: 'a', host: 'a.internal' }] });
  await dp.waitForConfig({ hash: first.hash });

  await cluster.cp.stop();
  await cluster.clock.advance(60 * 60_000); // an hour without a CP
  expect(dp.currentConfig?.hash).toBe(first.hash);

  const second = await cluster.cp.setConfig({ _format_version: '3.0', services: [{ name: 'b', host: 'b.internal' }] });
  await cluster.cp.start();
  await cluster.clock.advance(5_000);
  await dp.waitForConfig({ hash: second.hash });
  await cluster.stop();
});
