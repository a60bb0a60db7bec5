import { describe, expect, it } from 'vitest';
import { openTunnel } from '../src/index.ts';
import { startProxy } from '../src/testing/index.ts';
import { silentServer } from './helpers.ts';

describe('openTunnel (HTTP CONNECT)', () => {
  it('asks for host:port with a Host header, and no Proxy-Authorization without credentials', async () => {
    const target = await silentServer();
    const proxy = await startProxy();
    try {
      const socket = await openTunnel({
        proxy: { url: `http://127.0.0.1:${proxy.port}` },
        host: '127.0.0.1',
        port: target.port,
      });
      socket.destroy();
      expect(proxy.requests).toHaveLength(1);
      expect(proxy.requests[0]).toMatchObject({
        target: `127.0.0.1:${target.port}`,
        headers: { host: `127.0.0.1:${target.port}` },
        tunnelled: true,
      });
      expect(proxy.requests[0]!.headers['proxy-authorization']).toBeUndefined();
    } finally {
      await proxy.close();
      await target.close();
    }
  });

  it('sends the URL’s credentials, percent-decoded, as Proxy-Authorization: Basic', async () => {
    const target = await silentServer();
    const proxy = await startProxy({ credentials: 'kong:p@ss:word' });
    try {
      const socket = await openTunnel({
        proxy: { url: `http://kong:p%40ss%3Aword@127.0.0.1:${proxy.port}` },
        host: '127.0.0.1',
        port: target.port,
      });
      socket.destroy();
      expect(proxy.requests[0]!.headers['proxy-authorization']).toBe(
        `Basic ${Buffer.from('kong:p@ss:word').toString('base64')}`,
      );
    } finally {
      await proxy.close();
      await target.close();
    }
  });

  it('writes an IPv6 target in brackets', async () => {
    const proxy = await startProxy();
    try {
      // the proxy cannot reach it; what matters is what it was asked
      await openTunnel({
        proxy: { url: `http://127.0.0.1:${proxy.port}` },
        host: '::1',
        port: 9,
      }).then(
        (socket) => socket.destroy(),
        () => undefined,
      );
      expect(proxy.requests[0]).toMatchObject({ target: '[::1]:9', headers: { host: '[::1]:9' } });
    } finally {
      await proxy.close();
    }
  });

  it('fails with PROXY_REFUSED carrying the status when the proxy says no', async () => {
    const proxy = await startProxy({ credentials: 'kong:s3cret' });
    try {
      await expect(
        openTunnel({
          proxy: { url: `http://kong:wrong@127.0.0.1:${proxy.port}` },
          host: '127.0.0.1',
          port: 9,
        }),
      ).rejects.toMatchObject({ code: 'PROXY_REFUSED', status: 407 });
    } finally {
      await proxy.close();
    }
  });

  it('refuses a proxy URL that is not http:// or https://, or not a URL', () => {
    for (const url of ['socks5://127.0.0.1:1080', 'not a url']) {
      expect(() => openTunnel({ proxy: { url }, host: '127.0.0.1', port: 9 })).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
      );
    }
  });

  it('fails with TRANSPORT_FAILED when the proxy cannot be reached, ABORTED when aborted', async () => {
    const gone = await silentServer();
    await gone.close();
    await expect(
      openTunnel({ proxy: { url: `http://127.0.0.1:${gone.port}` }, host: 'cp', port: 9 }),
    ).rejects.toMatchObject({ code: 'TRANSPORT_FAILED' });
    const stalled = await silentServer(); // accepts, never answers the CONNECT
    try {
      const controller = new AbortController();
      const outcome = openTunnel({
        proxy: { url: `http://127.0.0.1:${stalled.port}` },
        host: 'cp',
        port: 9,
        signal: controller.signal,
      }).catch((error: unknown) => error);
      await stalled.accepted();
      controller.abort();
      expect(await outcome).toMatchObject({ code: 'ABORTED' });
    } finally {
      await stalled.close();
    }
  });
});
