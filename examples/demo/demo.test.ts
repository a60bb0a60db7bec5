import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

describe('npm run demo', () => {
  it('walks through every step of the spec on loopback and exits 0, within 60 s', {
    timeout: 90_000,
  }, async () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const child = spawn(process.execPath, ['scripts/demo.mjs'], {
      cwd: root,
      env: { ...process.env, PLANESYNC_SKIP_BOOTSTRAP: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    const started = Date.now();
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code, output).toBe(0);
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(output).not.toMatch(/\b1 services\b/);
    for (const line of [
      '/nowhere → 404 {"message":"no Route matched"}',
      'both gateways picked up config',
      'the change travelled as 2 deltas of',
      '(CP down)',
      'from cache',
      // a DP speaking Kong's own protocol joins the same CP and routes by the same config
      "gw-3 joined over Kong's sync v1 (/v1/outlet)",
      'the hash gw-1 and gw-2 serve over planesync/3, from the one CP',
      'all three gateways reconnected and in sync',
      // the status page's data, Kong's endpoint and the metrics, from @planesync/admin
      'lists gw-1 normal planesync/3, gw-2 normal planesync/3, gw-3 normal kong/sync-v1',
      "GET /clustering/data-planes, in Kong's shape: 3 data planes, each kept 14 days",
      'GET /metrics: 3 kong_data_plane_last_seen series; planesync_config_frames_sent_total{kind="whole"}',
      "gw-1's status listener: kong_control_plane_connected 1, kong_data_plane_cluster_cert_expiry_timestamp",
      // the version counter restarting with the CP is explained, not left to puzzle over
      'what CP and DPs compare is the config hash',
      // closes in words, counts in English
      'the control plane is going away — code 1001',
      'removed the demo files (run with --keep-cache',
    ]) {
      expect(output).toContain(line);
    }
  });
});
