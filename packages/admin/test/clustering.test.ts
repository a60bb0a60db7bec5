import { silentLogger } from '@planesync/core';
import { createTestCluster, type TestCluster } from '@planesync/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { controlPlaneAdmin, type KongDataPlane, type KongPage } from '../src/index.ts';
import { type Served, serve } from './serve.ts';

const DAY_MS = 86_400_000;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A CP in memory with `count` DPs connected (node ids dp-1…), and its admin on loopback http. */
async function fleet(count: number, options: { purgeDelayMs?: number } = {}) {
  const cluster: TestCluster = await createTestCluster({
    controlPlane: {
      logger: silentLogger,
      ...(options.purgeDelayMs ? { dataPlanePurgeDelayMs: options.purgeDelayMs } : {}),
    },
  });
  cleanups.push(() => cluster.stop());
  const { hash } = await cluster.cp.setConfig({ _format_version: '3.0' });
  const dps = [];
  for (let i = 1; i <= count; i++) {
    const dp = cluster.dataPlane({
      nodeId: `dp-${i}`,
      hostname: `gw-${i}.internal`,
      random: () => 0,
      ...(i === 1 ? { labels: { region: 'eu-west' } } : {}),
    });
    await dp.start();
    await dp.waitForConfig({ hash });
    dps.push(dp);
  }
  const admin: Served = await serve(
    controlPlaneAdmin(cluster.cp, { now: () => cluster.clock.now() }),
  );
  cleanups.push(() => admin.close());
  return { cluster, dps, admin, hash };
}

describe("Kong's Admin API: GET /clustering/data-planes", () => {
  it("lists every DP with Kong's field names, seconds for times, and a ttl counting down from the purge delay", async () => {
    const { cluster, admin, hash } = await fleet(2);
    const response = await admin.get('/clustering/data-planes');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const page = response.json() as KongPage<KongDataPlane>;
    expect(page.next).toBeNull();
    expect(page.data.map((dp) => dp.id)).toEqual(['dp-1', 'dp-2']);
    const now = cluster.clock.now();
    const status = cluster.cp.dataPlanes().find((dp) => dp.id === 'dp-1')!;
    expect(page.data[0]).toEqual({
      id: 'dp-1',
      hostname: 'gw-1.internal',
      ip: status.ip,
      version: status.version,
      sync_status: 'normal',
      config_hash: hash,
      last_seen: Math.floor(status.lastSeen / 1000),
      updated_at: Math.floor(status.lastSeen / 1000),
      labels: { region: 'eu-west' },
      cert_details: { expiry_timestamp: Math.floor(status.certExpiresAt! / 1000) },
      rpc_capabilities: null,
      ttl: Math.floor((status.lastSeen + 14 * DAY_MS - now) / 1000),
    });
    // Kong's keys, no others: a client written against Kong reads this unchanged.
    expect(Object.keys(page.data[0]!).sort()).toEqual(
      [
        'cert_details',
        'config_hash',
        'hostname',
        'id',
        'ip',
        'labels',
        'last_seen',
        'rpc_capabilities',
        'sync_status',
        'ttl',
        'updated_at',
        'version',
      ].sort(),
    );
    expect(page.data[1]!.labels).toBeNull();
  });

  it("pages by id as Kong does: size, then next's offset, until next is null", async () => {
    const { admin } = await fleet(5);
    const seen: string[] = [];
    let path: string | null = '/clustering/data-planes?size=2';
    let pages = 0;
    while (path !== null && pages < 10) {
      const page = (await admin.get(path)).json() as KongPage<KongDataPlane>;
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.data.map((dp) => dp.id));
      if (page.next !== null) {
        expect(page.next).toMatch(/^\/clustering\/data-planes\?offset=[^&]+&size=2$/);
        expect(page.offset).toBe(decodeURIComponent(page.next.split('offset=')[1]!.split('&')[0]!));
      }
      path = page.next;
      pages++;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual(['dp-1', 'dp-2', 'dp-3', 'dp-4', 'dp-5']);
  });

  it("makes offsets as Kong's PostgreSQL strategy does, base64 without padding, and takes them padded or not", async () => {
    const { admin } = await fleet(3);
    const first = (
      await admin.get('/clustering/data-planes?size=2')
    ).json() as KongPage<KongDataPlane>;
    // ["dp-2"] is 8 bytes: padded base64 would end in "=".
    expect(first.offset).toBe('WyJkcC0yIl0');
    expect(Buffer.from(first.offset!, 'base64').toString()).toBe('["dp-2"]');
    for (const offset of [first.offset!, `${first.offset}=`]) {
      const next = await admin.get(`/clustering/data-planes?offset=${encodeURIComponent(offset)}`);
      expect([offset, next.status]).toEqual([offset, 200]);
      expect((next.json() as KongPage<KongDataPlane>).data.map((dp) => dp.id)).toEqual(['dp-3']);
    }
    // One character past whole groups of four is no base64, as ngx.decode_base64 finds.
    expect((await admin.get('/clustering/data-planes?offset=WyJkcC0yIl0AA')).json()).toEqual({
      code: 7,
      name: 'invalid offset',
      message: "'WyJkcC0yIl0AA' is not a valid offset: bad base64 encoding",
    });
  });

  it("refuses a bad size or offset with Kong's 400 bodies", async () => {
    const { admin } = await fleet(1);
    const cases: Array<[string, unknown]> = [
      ['size=abc', { code: 9, name: 'invalid size', message: 'size must be a number' }],
      [
        'size=0',
        { code: 9, name: 'invalid size', message: 'size must be an integer between 1 and 1000' },
      ],
      [
        'size=1001',
        { code: 9, name: 'invalid size', message: 'size must be an integer between 1 and 1000' },
      ],
      // Lua's tonumber reads hexadecimal and exponents, not binary or octal.
      ['size=0b1', { code: 9, name: 'invalid size', message: 'size must be a number' }],
      ['size=0o7', { code: 9, name: 'invalid size', message: 'size must be a number' }],
      [
        'size=1.5',
        { code: 9, name: 'invalid size', message: 'size must be an integer between 1 and 1000' },
      ],
      [
        'offset=%25%25',
        {
          code: 7,
          name: 'invalid offset',
          message: "'%%' is not a valid offset: bad base64 encoding",
        },
      ],
      [
        `offset=${Buffer.from('{not json').toString('base64')}`,
        {
          code: 7,
          name: 'invalid offset',
          message: `'${Buffer.from('{not json').toString('base64')}' is not a valid offset: bad json encoding`,
        },
      ],
    ];
    for (const [query, body] of cases) {
      const response = await admin.get(`/clustering/data-planes?${query}`);
      expect([query, response.status, response.json()]).toEqual([query, 400, body]);
    }
    const taken = await admin.get('/clustering/data-planes?size=0x0a');
    expect((taken.json() as KongPage<KongDataPlane>).data).toHaveLength(1);
  });

  it('keeps a disconnected DP listed until its purge delay has passed, its ttl falling', async () => {
    const { cluster, dps, admin } = await fleet(2, { purgeDelayMs: 60_000 });
    await dps[1]!.stop();
    await expect
      .poll(() => cluster.cp.dataPlanes().find((dp) => dp.id === 'dp-2')?.connected)
      .toBe(false);
    await cluster.clock.advance(20_000);
    const during = (await admin.get('/clustering/data-planes')).json() as KongPage<KongDataPlane>;
    const gone = during.data.find((dp) => dp.id === 'dp-2')!;
    expect(gone.ttl).toBeGreaterThan(0);
    expect(gone.ttl).toBeLessThanOrEqual(40);
    // In its last second Kong still lists the row, with ttl 0; then no more.
    const lastSeen = cluster.cp.dataPlanes().find((dp) => dp.id === 'dp-2')!.lastSeen;
    await cluster.clock.advance(lastSeen + 60_000 - cluster.clock.now() - 500);
    const last = (await admin.get('/clustering/data-planes')).json() as KongPage<KongDataPlane>;
    expect(last.data.find((dp) => dp.id === 'dp-2')?.ttl).toBe(0);
    await cluster.clock.advance(1_000);
    const after = (await admin.get('/clustering/data-planes')).json() as KongPage<KongDataPlane>;
    expect(after.data.map((dp) => dp.id)).toEqual(['dp-1']);
  });
  it('answers with what this CP last read when the cluster state does not answer within listTimeoutMs, even a state that does not heed the abort', async () => {
    const { cluster } = await fleet(1);
    const admin = await serve(
      controlPlaneAdmin(cluster.cp, { now: () => cluster.clock.now(), listTimeoutMs: 50 }),
    );
    cleanups.push(() => admin.close());
    const listed = async () => {
      for (const path of ['/clustering/data-planes', '/clustering/status', '/planesync/status']) {
        const response = await fetch(`${admin.url}${path}`, { signal: AbortSignal.timeout(3_000) });
        expect([path, response.status]).toEqual([path, 200]);
        const text = await response.text();
        expect(text).toContain('gw-1.internal');
        // The page is told its list is this CP's last reading, not the cluster's now.
        if (path === '/planesync/status')
          expect(JSON.parse(text).dataPlanesFromCluster).toBe(false);
      }
    };
    expect(
      ((await admin.get('/planesync/status')).json() as { dataPlanesFromCluster: boolean })
        .dataPlanesFromCluster,
    ).toBe(true);
    // A state that throws rather than rejects: its timer must not reject later, unheard.
    cluster.cp.listDataPlanes = () => {
      throw new Error('the state is gone');
    };
    await listed();
    // A pool waiting for a connection, as pg's does, hears no AbortSignal.
    cluster.cp.listDataPlanes = () => new Promise(() => {});
    await listed();
  });

  it('refuses at once a timer option no timer can keep, rather than failing every request', async () => {
    const { cluster } = await fleet(0);
    // Past 2^31 - 1 ms, node and browsers fire a timer at once: the page would poll without
    // pause and every listing would time out.
    for (const option of ['listTimeoutMs', 'refreshMs'] as const)
      for (const value of [2 ** 31, 5e9, Number.POSITIVE_INFINITY, 0])
        expect(() => controlPlaneAdmin(cluster.cp, { [option]: value })).toThrow(
          new RegExp(option),
        );
    // A fraction of a ms is a delay a timer keeps.
    const admin = await serve(
      controlPlaneAdmin(cluster.cp, { now: () => cluster.clock.now(), listTimeoutMs: 1_000.5 }),
    );
    cleanups.push(() => admin.close());
    expect((await admin.get('/clustering/data-planes')).status).toBe(200);
  });
});

describe("Kong's Admin API: GET /clustering/status, methods and paths", () => {
  it('answers the deprecated map by DP id, with Deprecation: true', async () => {
    const { cluster, admin, hash } = await fleet(2);
    const response = await admin.get('/clustering/status');
    expect(response.headers.get('deprecation')).toBe('true');
    const dp1 = cluster.cp.dataPlanes().find((dp) => dp.id === 'dp-1')!;
    expect(response.json()).toEqual({
      'dp-1': {
        config_hash: hash,
        hostname: 'gw-1.internal',
        ip: dp1.ip,
        last_seen: Math.floor(dp1.lastSeen / 1000),
      },
      'dp-2': expect.objectContaining({ hostname: 'gw-2.internal' }),
    });
  });

  it('answers 405 to a method a route does not take and 404 to a path it does not serve; with next, passes the path on', async () => {
    const { cluster, admin } = await fleet(0);
    const refused = await fetch(`${admin.url}/clustering/data-planes`, { method: 'DELETE' });
    expect([refused.status, refused.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
    expect((await admin.get('/nothing-here')).status).toBe(404);
    // A path that starts with two slashes is a path, not a host.
    expect((await admin.get('//clustering/data-planes')).status).toBe(404);
    const head = await fetch(`${admin.url}/clustering/data-planes`, { method: 'HEAD' });
    expect([head.status, await head.text()]).toEqual([200, '']);
    const handler = controlPlaneAdmin(cluster.cp);
    const passed: string[] = [];
    const chained = await serve((request, response) =>
      handler(request, response, () => {
        passed.push(request.url!);
        response.end('host');
      }),
    );
    cleanups.push(() => chained.close());
    expect((await chained.get('/the-host-route')).text).toBe('host');
    expect(passed).toEqual(['/the-host-route']);
  });

  it('the page mounted under a path and asked without its slash redirects to it, so its relative links work', async () => {
    const { cluster } = await fleet(0);
    const handler = controlPlaneAdmin(cluster.cp);
    // What Express does for app.use('/ops', handler): the mount path leaves req.url.
    const mounted = await serve((request, response) => {
      const original = request.url!;
      if (!original.startsWith('/ops')) return response.end();
      Object.assign(request, { originalUrl: original, url: original.slice(4) || '/' });
      handler(request, response);
    });
    cleanups.push(() => mounted.close());
    const redirect = await fetch(`${mounted.url}/ops?x=1`, { redirect: 'manual' });
    expect([redirect.status, redirect.headers.get('location')]).toEqual([308, '/ops/?x=1']);
    const page = await mounted.get('/ops/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.text).toContain('<script src="status.js" defer></script>');
    expect((await mounted.get('/ops/status.js')).headers.get('content-type')).toMatch(/javascript/);
  });
});
