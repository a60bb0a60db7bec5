// The status page's script: reads planesync/status (relative to the page, so the handler may
// be mounted under any path) and draws it, again every `refreshMs`. Everything a data plane
// sent (hostnames, versions, service names) is set as text, never as markup.

const SVG = 'http://www.w3.org/2000/svg';
const statusUrl = new URL('planesync/status', document.baseURI);

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function ago(ms) {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 90) return `${seconds} s ago`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 90) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  return hours < 48 ? `${hours} h ago` : `${Math.round(hours / 24)} days ago`;
}

function date(ms) {
  return new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
}

/** A DP's state as the page shows it: its sync status, or what is wrong first. */
function stateOf(dp, config) {
  if (!dp.connected) return { key: 'disconnected', text: 'disconnected' };
  if (dp.syncStatus.endsWith('_incompatible')) return { key: 'incompatible', text: dp.syncStatus };
  if (config && dp.configHash !== config.hash) {
    const of =
      dp.configVersion > 0 ? `version ${dp.configVersion} of ${config.version}` : 'an older config';
    return { key: 'behind', text: `behind (${of})` };
  }
  if (dp.syncStatus === 'normal') return { key: 'normal', text: 'in sync' };
  return { key: 'unknown', text: dp.syncStatus };
}

function certificateCell(dp, now, warningMs) {
  if (dp.certExpiresAt === undefined || dp.certExpiresAt === null) return element('td', '—');
  const left = dp.certExpiresAt - now;
  if (left <= 0) return element('td', `${date(dp.certExpiresAt)} (expired)`, 'cert-expired');
  if (left <= warningMs)
    return element(
      'td',
      `${date(dp.certExpiresAt)} (in ${Math.ceil(left / 86_400_000)} days)`,
      'cert-warning',
    );
  return element('td', date(dp.certExpiresAt));
}

function drawPlanes(status) {
  const body = document.querySelector('#data-planes tbody');
  const several =
    new Set(status.dataPlanes.map((dp) => dp.controlPlaneId).filter(Boolean)).size > 1;
  document.querySelector('#data-planes').classList.toggle('one-cp', !several);
  for (const cell of document.querySelectorAll('.cp-column')) cell.hidden = !several;
  const rows = status.dataPlanes
    .slice()
    .sort((a, b) => a.hostname.localeCompare(b.hostname) || a.id.localeCompare(b.id))
    .map((dp) => {
      const state = stateOf(dp, status.config);
      const row = element('tr');
      row.dataset.nodeId = dp.id;
      row.dataset.state = state.key;
      const host = element('td', dp.hostname);
      host.title = `${dp.id} — ${dp.ip}`;
      row.append(
        host,
        element('td', state.text, `state state-${state.key}`),
        element('td', dp.version),
        element('td', dp.protocol ?? '—'),
      );
      const config = element('td', dp.configVersion > 0 ? `v${dp.configVersion} ` : '');
      config.append(element('span', dp.configHash.slice(0, 8), 'hash'));
      config.title = dp.configHash;
      const seen = element('td', dp.connected ? 'now' : ago(status.now - dp.lastSeen));
      seen.title = date(dp.lastSeen);
      row.append(config, seen, certificateCell(dp, status.now, status.certificateWarningMs));
      const cp = element('td', dp.controlPlaneId ?? '—', 'cp-column');
      cp.hidden = !several;
      row.append(cp);
      return row;
    });
  body.replaceChildren(...rows);
  document.querySelector('#no-planes').hidden = rows.length > 0;
}

function drawTraffic(status) {
  const { series, services, routes } = status.traffic;
  const chart = document.querySelector('#chart');
  const width = 600;
  const height = 200;
  const minute = 60_000;
  const end = Math.floor(status.now / minute) * minute;
  const start = end - 59 * minute;
  const slot = width / 60;
  const maxRequests = Math.max(1, ...series.map((p) => p.requests));
  const maxP95 = Math.max(1, ...series.map((p) => p.latencyMs.p95));
  const shapes = [];
  const line = [];
  for (const point of series) {
    const x = ((point.start - start) / minute) * slot;
    if (x < 0) continue;
    const bar = document.createElementNS(SVG, 'rect');
    const barHeight = (point.requests / maxRequests) * (height - 10);
    bar.setAttribute('class', 'bar');
    bar.setAttribute('x', String(x + 1));
    bar.setAttribute('y', String(height - barHeight));
    bar.setAttribute('width', String(Math.max(1, slot - 2)));
    bar.setAttribute('height', String(barHeight));
    const title = document.createElementNS(SVG, 'title');
    title.textContent = `${date(point.start)}: ${point.requests} requests, p95 ${point.latencyMs.p95.toFixed(1)} ms`;
    bar.append(title);
    shapes.push(bar);
    // A step across the minute's slot: one minute alone still draws a line.
    const y = height - (point.latencyMs.p95 / maxP95) * (height - 10);
    line.push(`${x},${y}`, `${x + slot},${y}`);
  }
  if (line.length > 0) {
    const p95 = document.createElementNS(SVG, 'polyline');
    p95.setAttribute('class', 'p95');
    p95.setAttribute('points', line.join(' '));
    shapes.push(p95);
  }
  const title = chart.querySelector('title');
  chart.replaceChildren(...(title ? [title] : []), ...shapes);
  chart.dataset.points = String(series.length);
  document.querySelector('#chart-scale').textContent =
    series.length > 0
      ? `peak ${maxRequests} requests/min, p95 up to ${maxP95.toFixed(1)} ms`
      : 'no traffic in the last hour';
  fillTraffic('#services tbody', services);
  fillTraffic('#routes tbody', routes);
}

function fillTraffic(selector, rows) {
  document.querySelector(selector).replaceChildren(
    ...rows.map((row) => {
      const tr = element('tr');
      tr.append(
        element('td', row.name),
        element('td', row.requests, 'number'),
        element('td', row.statusClasses['5xx'] ?? 0, 'number'),
        element('td', row.latencyMs.p95.toFixed(1), 'number'),
      );
      return tr;
    }),
  );
}

function drawSummary(status) {
  const connected = status.dataPlanes.filter((dp) => dp.connected).length;
  const config = status.config
    ? `config version ${status.config.version} (${status.config.hash.slice(0, 8)}), published ${ago(status.now - status.config.publishedAt)}`
    : 'no config published yet';
  document.querySelector('#summary').textContent =
    `${status.controlPlane.id} · version ${status.controlPlane.version} · ${connected} of ${status.dataPlanes.length} data planes connected · ${config}`;
  const problems = [];
  if (!status.stateHealth.available)
    problems.push(
      `The cluster state does not answer: ${status.stateHealth.reason ?? 'no reason given'}.`,
    );
  if (!status.dataPlanesFromCluster)
    problems.push(
      'Data planes as this control plane last read them: the cluster state did not answer in time.',
    );
  const problem = document.querySelector('#problem');
  problem.hidden = problems.length === 0;
  problem.textContent = problems.join(' ');
}

let refreshMs = 5000;

async function refresh() {
  try {
    const response = await fetch(statusUrl, { cache: 'no-store' });
    if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
    const status = await response.json();
    refreshMs = status.refreshMs;
    drawSummary(status);
    drawPlanes(status);
    drawTraffic(status);
    document.body.dataset.updated = String(status.now);
  } catch (error) {
    const problem = document.querySelector('#problem');
    problem.hidden = false;
    problem.textContent = `Could not read the status: ${error.message}`;
  } finally {
    setTimeout(refresh, refreshMs);
  }
}

refresh();
