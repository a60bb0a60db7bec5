import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer, connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let found: boolean | undefined;

/**
 * Whether a real `tinyproxy` can be run here (planesync's CI installs it where apt is
 * available). Asked once per process.
 *
 * @example
 * ```ts
 * import { hasTinyproxy } from '@planesync/node-tls/testing';
 * if (!hasTinyproxy()) console.log('tinyproxy cases skipped: tinyproxy is not installed');
 * ```
 */
export function hasTinyproxy(): boolean {
  found ??= spawnSync('tinyproxy', ['-v']).status === 0;
  return found;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Starts a real tinyproxy on loopback, optionally with Basic auth, and resolves once it
 * accepts connections (at most 100 attempts, 30 ms apart: a process start, not a test wait).
 * `close()` kills it and removes its configuration.
 *
 * @example
 * ```ts
 * import { hasTinyproxy, startTinyproxy } from '@planesync/node-tls/testing';
 * if (hasTinyproxy()) {
 *   const proxy = await startTinyproxy({ user: 'kong', password: 's3cret' });
 *   // dial through `http://kong:s3cret@127.0.0.1:${proxy.port}`
 *   await proxy.close();
 * }
 * ```
 */
export async function startTinyproxy(auth?: {
  user: string;
  password: string;
}): Promise<{ port: number; close(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'planesync-tinyproxy-'));
  const port = await freePort();
  const conf = [
    `Port ${port}`,
    'Listen 127.0.0.1',
    'Timeout 30',
    'Allow 127.0.0.1',
    'User nobody',
    'Group nogroup',
    'LogLevel Error',
    ...(auth ? [`BasicAuth ${auth.user} ${auth.password}`] : []),
  ].join('\n');
  await writeFile(join(dir, 'tinyproxy.conf'), `${conf}\n`);
  const proc = spawn('tinyproxy', ['-d', '-c', join(dir, 'tinyproxy.conf')], { stdio: 'ignore' });
  const close = async () => {
    proc.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  };
  for (let attempt = 0; attempt < 100; attempt++) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = netConnect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (up) return { port, close };
    await new Promise((resolve) => setTimeout(resolve, 30));
  }
  await close();
  throw new Error('tinyproxy did not start');
}
