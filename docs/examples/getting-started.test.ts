import { hashConfig, parseDeclarativeConfig } from '@planesync/core';
import { expect, it } from 'vitest';
import { gettingStarted } from './getting-started.ts';

it('the getting-started guide runs: the DP ends on the config the CP pushed', async () => {
  const hash = await gettingStarted();
  const expected = parseDeclarativeConfig({
    _format_version: '3.0',
    services: [{ name: 'echo', url: 'http://127.0.0.1:8080', routes: [{ paths: ['/echo'] }] }],
  });
  expect(hash).toBe(hashConfig(expected).config_hash);
});
