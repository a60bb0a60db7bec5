import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bundleScript } from './bundle-script.ts';

const major = Number(process.versions.node.split('.')[0]);
/** `--allow-net` exists from Node 25: before, the permission model leaves the network open. */
const netFlag = major >= 25 ? ['--allow-net'] : [];

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe.skipIf(major < 22)(
  'under Node’s permission model (Node 22 and later; Node 20 has only --experimental-permission)',
  () => {
    it('a DP syncs over wss and caches in lmdb writing only under its prefix, and a restart serves the cache', async () => {
      const work = await mkdtemp(join(tmpdir(), 'planesync-permission-'));
      dirs.push(work);
      const [bundle, prefix, outside] = ['bundle', 'prefix', 'outside'].map((d) =>
        join(work, d),
      ) as [string, string, string];
      for (const dir of [bundle, prefix, outside]) await mkdir(dir);
      const child = await bundleScript('permission-child.ts', bundle);
      const proc = spawn(
        process.execPath,
        [
          '--permission',
          '--allow-fs-read=*',
          `--allow-fs-write=${prefix}`,
          // lmdb is a native addon: the one grant beyond the files.
          '--allow-addons',
          ...netFlag,
          child,
          prefix,
          outside,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      let err = '';
      proc.stdout.on('data', (chunk) => {
        out += chunk;
      });
      proc.stderr.on('data', (chunk) => {
        err += chunk;
      });
      const [code] = await once(proc, 'exit');
      expect({ code, err: code === 0 ? '' : err }).toEqual({ code: 0, err: '' });
      const result = JSON.parse(out.trim().split('\n').at(-1)!);
      expect(result.refused).toBe('ERR_ACCESS_DENIED');
      expect(result.restarted).toEqual({ hash: result.served, source: 'cache' });
      expect(await readdir(prefix)).toEqual(['dbless.lmdb']);
      expect(await readdir(outside)).toEqual([]);
    }, 60_000);
  },
);
