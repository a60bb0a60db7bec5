// The status page in a real browser: Debian's Chromium driven by puppeteer-core, reading a CP
// whose DPs connect over real wss with mutual TLS on loopback, and send real telemetry.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  type CertificateKeyPair,
  ControlPlane,
  DataPlane,
  generateClusterCertificate,
  memoryClusterState,
  silentLogger,
  TrustVerifier,
} from '@planesync/core';
import { wsClient, wsServer } from '@planesync/transport-ws';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controlPlaneAdmin } from '../src/index.ts';
import { refusing } from './refusing.ts';
import { type Served, serve } from './serve.ts';

/** Chromium: PLANESYNC_CHROMIUM, else the first of Debian's and Google's names on the PATH. */
function findChromium(): string | undefined {
  const given = process.env.PLANESYNC_CHROMIUM;
  if (given) return existsSync(given) ? given : undefined;
  for (const name of ['chromium', 'chromium-browser', 'google-chrome-stable', 'google-chrome']) {
    try {
      const path = execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
      if (path) return path;
    } catch {
      // not this one
    }
  }
  return undefined;
}

const chromium = findChromium();
/** Where the screenshots go: a CI artifact, ignored by git. */
const ARTIFACTS = join(import.meta.dirname, '..', '..', '..', 'test-artifacts');

const config = (host: string) => ({
  _format_version: '3.0',
  services: [
    { name: 'orders', host, port: 80, routes: [{ name: 'orders-route', paths: ['/orders'] }] },
    { name: 'users', host, port: 80, routes: [{ name: 'users-route', paths: ['/users'] }] },
  ],
});

describe.skipIf(!chromium)(
  `the status page in Chromium (skipped when no Chromium is installed: apt-get install chromium, or set PLANESYNC_CHROMIUM)`,
  () => {
    let pair: CertificateKeyPair;
    let cp: ControlPlane;
    /** A second CP sharing cp's cluster state: edge-ap connects to it. */
    let other: ControlPlane;
    /** cp's wss URL. */
    let url: string;
    let admin: Served;
    let browser: Browser;
    const dps: DataPlane[] = [];

    beforeAll(async () => {
      pair = await generateClusterCertificate();
      const tls = { cert: pair.certificate, key: pair.privateKey };
      const trust = new TrustVerifier({ mode: 'pinned', certificates: [pair.certificate] });
      // Two CPs of one cluster (an in-memory cluster state): the page lists both CPs' DPs.
      const state = memoryClusterState();
      const urls: string[] = [];
      const cps = [];
      for (const controlPlaneId of ['cp-a', 'cp-b']) {
        const transport = wsServer({ host: '127.0.0.1', port: 0, tls });
        const made = new ControlPlane({
          transport,
          trust,
          version: '3.10.0',
          logger: silentLogger,
          pushIntervalMs: 0,
          state,
          controlPlaneId,
        });
        await made.start();
        urls.push(`wss://127.0.0.1:${transport.port}/planesync/v1`);
        cps.push(made);
      }
      [cp, other] = cps as [ControlPlane, ControlPlane];
      url = urls[0]!;
      admin = await serve(controlPlaneAdmin(cp, { refreshMs: 200 }));
      browser = await puppeteer.launch({
        executablePath: chromium!,
        // Root in CI containers has no user namespaces for Chromium's sandbox.
        args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
        headless: true,
        timeout: 30_000,
      });
      const { hash } = await cp.setConfig(config('a.internal'));
      for (const [i, name] of ['edge-eu', 'edge-us', 'edge-ap'].entries()) {
        const dp = new DataPlane({
          transport: wsClient({ url: urls[name === 'edge-ap' ? 1 : 0]!, tls }),
          trust,
          version: '3.10.0',
          nodeId: `dp-${i + 1}`,
          hostname: `${name}.internal`,
          logger: silentLogger,
          analytics: { flushIntervalMs: 100 },
          // edge-us refuses configs naming b.internal: it will fall behind.
          ...(name === 'edge-us' ? { schema: refusing('b.internal') } : {}),
        });
        await dp.start();
        await dp.waitForConfig({ hash });
        dps.push(dp);
      }
    }, 60_000);

    afterAll(async () => {
      await browser?.close();
      for (const dp of dps) await dp.stop();
      await admin?.close();
      await cp?.stop();
      await other?.stop();
    });

    /** The state a DP's row shows, once the page shows it. */
    async function waitForRow(page: Page, nodeId: string, state: string): Promise<string> {
      const row = await page.waitForSelector(
        `tr[data-node-id="${nodeId}"][data-state="${state}"]`,
        {
          timeout: 15_000,
        },
      );
      return row!.evaluate((tr) => tr.textContent ?? '');
    }

    it('lists the DPs of a running CP, then shows one disconnecting and one falling behind', async () => {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(String(error)));
      page.on('console', (message) => {
        if (message.type() === 'error') errors.push(message.text());
      });
      await page.goto(`${admin.url}/`, { waitUntil: 'load' });
      for (const id of ['dp-1', 'dp-2', 'dp-3'])
        expect(await waitForRow(page, id, 'normal')).toContain('in sync');
      const first = await waitForRow(page, 'dp-1', 'normal');
      expect(first).toContain('edge-eu.internal');
      expect(first).toContain('planesync/3');
      expect(first).toContain(cp.currentConfig!.hash.slice(0, 8));
      expect(await page.$eval('#summary', (p) => p.textContent)).toContain(
        '3 of 3 data planes connected',
      );
      // Two CPs serve them: the page says which serves which.
      expect(
        await page.$$eval('th.cp-column', (cells) => cells.map((cell) => cell.hidden)),
      ).toEqual([false]);
      expect(await waitForRow(page, 'dp-3', 'normal')).toContain('cp-b');
      expect(first).toContain('cp-a');

      // A DP stops: its row says so within a refresh or two.
      await dps[2]!.stop();
      expect(await waitForRow(page, 'dp-3', 'disconnected')).toContain('edge-ap.internal');

      // A config edge-us refuses: it stays on version 1 while the others move to version 2.
      const { version } = await cp.setConfig(config('b.internal'));
      expect(await waitForRow(page, 'dp-2', 'behind')).toContain(
        `behind (version 1 of ${version})`,
      );
      await waitForRow(page, 'dp-1', 'normal');
      expect(errors).toEqual([]);
      await page.close();
    }, 60_000);

    it('warns of a DP certificate expiring within the warning time, and says when', async () => {
      // Every DP's certificate runs out within 4 years (generateClusterCertificate: 1095 days).
      const warned = await serve(
        controlPlaneAdmin(cp, { refreshMs: 200, certificateWarningMs: 4 * 365 * 86_400_000 }),
      );
      try {
        const page = await browser.newPage();
        await page.goto(`${warned.url}/`, { waitUntil: 'load' });
        await page.waitForSelector('tr[data-node-id="dp-1"]', { timeout: 15_000 });
        const cell = await page.$eval(
          'tr[data-node-id="dp-1"] td.cert-warning',
          (td) => td.textContent,
        );
        const expires = cp.dataPlanes().find((dp) => dp.id === 'dp-1')!.certExpiresAt!;
        const days = Math.ceil((expires - Date.now()) / 86_400_000);
        expect(cell).toMatch(new RegExp(`\\(in (${days - 1}|${days}) days\\)$`));
        // With the default (30 days), the same certificate is not warned about.
        const plain = await browser.newPage();
        await plain.goto(`${admin.url}/`, { waitUntil: 'load' });
        await plain.waitForSelector('tr[data-node-id="dp-1"]', { timeout: 15_000 });
        expect(await plain.$$('td.cert-warning')).toHaveLength(0);
        await page.close();
        await plain.close();
      } finally {
        await warned.close();
      }
    }, 60_000);

    it('draws requests and p95 latency from real telemetry, lists traffic by service, and fits a phone screen', async () => {
      const [dp] = dps;
      for (let i = 0; i < 40; i++)
        dp!.recordRequest({
          service: i % 4 === 0 ? 'users' : 'orders',
          route: i % 4 === 0 ? 'users-route' : 'orders-route',
          status: i % 10 === 0 ? 503 : 200,
          latencyMs: 5 + i,
        });
      await expect
        .poll(() => cp.counters.telemetryRecords, { timeout: 10_000 })
        .toBeGreaterThanOrEqual(40);

      const page = await browser.newPage();
      await page.setViewport({ width: 1100, height: 900 });
      await page.goto(`${admin.url}/`, { waitUntil: 'load' });
      await page.waitForSelector('#chart rect.bar', { timeout: 15_000 });
      const chart = await page.$eval('#chart', (svg) => ({
        points: Number(svg.getAttribute('data-points')),
        bars: svg.querySelectorAll('rect.bar').length,
        height: Number(svg.querySelector('rect.bar')?.getAttribute('height')),
        line: svg.querySelector('polyline.p95')?.getAttribute('points') ?? '',
      }));
      expect(chart.points).toBeGreaterThanOrEqual(1);
      expect(chart.bars).toBe(chart.points);
      expect(chart.height).toBeGreaterThan(0);
      expect(chart.line.split(' ')).toHaveLength(2 * chart.points); // a step per minute
      const services = await page.$$eval('#services tbody tr', (rows) =>
        rows.map((row) => [...row.querySelectorAll('td')].map((cell) => cell.textContent)),
      );
      expect(services[0]?.slice(0, 3)).toEqual(['orders', '30', '2']);
      expect(services[1]?.slice(0, 3)).toEqual(['users', '10', '2']);
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, 'status-page.png'), fullPage: true });

      // On a phone: nothing wider than the screen but the tables, which scroll on their own.
      await page.setViewport({ width: 390, height: 844, isMobile: true, hasTouch: true });
      await page.reload({ waitUntil: 'load' });
      await page.waitForSelector('tr[data-node-id="dp-1"]', { timeout: 15_000 });
      const width = (await page.evaluate(
        '({ page: document.documentElement.scrollWidth, screen: window.innerWidth })',
      )) as { page: number; screen: number };
      expect(width.page).toBeLessThanOrEqual(width.screen);
      await page.screenshot({ path: join(ARTIFACTS, 'status-page-phone.png'), fullPage: true });
      await page.close();
    }, 60_000);

    it('shows what a DP sends as text: a hostname or version of markup runs nothing and adds no element', async () => {
      const trust = new TrustVerifier({ mode: 'pinned', certificates: [pair.certificate] });
      const hostile = new DataPlane({
        transport: wsClient({ url, tls: { cert: pair.certificate, key: pair.privateKey } }),
        trust,
        version: '3.10.0<img src=x onerror="window.injected=1">',
        nodeId: 'dp-hostile',
        hostname: '<img src=x onerror="window.injected=1"><script>window.injected=1</script>',
        logger: silentLogger,
      });
      dps.push(hostile);
      await hostile.start();
      const page = await browser.newPage();
      await page.goto(`${admin.url}/`, { waitUntil: 'load' });
      const row = await page.waitForSelector('tr[data-node-id="dp-hostile"]', { timeout: 15_000 });
      expect(await row!.evaluate((tr) => tr.querySelectorAll('img, script').length)).toBe(0);
      expect(await row!.evaluate((tr) => tr.textContent)).toContain('<script>window.injected=1');
      expect(await page.evaluate('window.injected')).toBeUndefined();
      await page.close();
    }, 60_000);
  },
);
