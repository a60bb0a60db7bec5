import { equal } from 'node:assert/strict';
import { test } from 'node:test';
import { createTestCluster, FakeClock } from '@planesync/core/testing';

test('a fake clock runs a timer when the test moves time, never by itself', async () => {
  const clock = new FakeClock();
  let beats = 0;
  clock.setTimeout(() => beats++, 30_000); // a heartbeat
  await clock.advance(29_999);
  equal(beats, 0);
  await clock.advance(1);
  equal(beats, 1);
});

test('a DP keeps serving through a CP outage and resyncs when it returns', async () => {
  const cluster = await createTestCluster();
  const dp = cluster.dataPlane({ random: () => 0 }); // reconnect after exactly 5 s
  await dp.start();
  const first = await cluster.cp.setConfig({ _format_version: '3.0', services: [{ name: 'a', host: 'a.internal' }] });
  await dp.waitForConfig({ hash: first.hash });

  await cluster.cp.stop();
  await cluster.clock.advance(60 * 60_000); // an hour without a CP
  equal(dp.currentConfig?.hash, first.hash);

  const second = await cluster.cp.setConfig({ _format_version: '3.0', services: [{ name: 'b', host: 'b.internal' }] });
  await cluster.cp.start();
  await cluster.clock.advance(5_000);
  await dp.waitForConfig({ hash: second.hash });
  await cluster.stop();
});
