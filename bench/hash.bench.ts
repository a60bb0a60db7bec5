import { createHash } from 'node:crypto';
import { hashConfig } from '@planesync/core';
import { largeConfig } from './fixtures.ts';
import { type BenchResult, compare } from './harness.ts';

/** hashConfig of a 25 000-entity config against JSON.stringify + md5 of the same object. */
export async function run(): Promise<BenchResult[]> {
  const config = largeConfig(25_000);
  const bytes = Buffer.byteLength(JSON.stringify(config));
  return [
    await compare({
      name: 'config hash, 25 000 entities',
      subject: ['hashConfig', () => hashConfig(config)],
      baseline: [
        'JSON.stringify + md5',
        () => createHash('md5').update(JSON.stringify(config)).digest('hex'),
      ],
      samples: 11,
      notes: `config is ${(bytes / 1e6).toFixed(1)} MB of JSON`,
    }),
  ];
}
