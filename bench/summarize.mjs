// `node bench/summarize.mjs runs/*.json`: the medians of several `pnpm bench` runs (copies of
// bench/results.json), figure by figure, grouped by the Node version that produced each run,
// with the range of the runs beside each median and, with two Node versions, how far the
// second's median ratio is from the first's (figures that moved more than 20 % are marked).
import { readFileSync } from 'node:fs';

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node bench/summarize.mjs RESULTS.json…');
  process.exit(2);
}

/**
 * A figure's name without what varies from run to run: the fan-out and apply names carry the
 * frame's measured size (62 or 63 KiB, 993–996 KiB), given here as the size aimed at.
 */
const figure = (name) =>
  name.replace(/\b(\d+) KiB frame/, (_, kib) =>
    Number(kib) < 256 ? '~64 KiB frame' : '~1 MiB frame',
  );

/** Node version → figure name → the runs' ratios and values. */
const byNode = new Map();
for (const file of files) {
  const { machine, results } = JSON.parse(readFileSync(file, 'utf8'));
  const node = machine.node.replace(/\.\d+\.\d+$/, '');
  const figures = byNode.get(node) ?? new Map();
  byNode.set(node, figures);
  for (const result of results) {
    const name = figure(result.name);
    const runs = figures.get(name) ?? { ratios: [], values: [], unit: result.unit ?? 'ms' };
    runs.ratios.push(result.ratio);
    runs.values.push(result.value ?? result.subjectMs);
    figures.set(name, runs);
  }
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};
const number = (value) =>
  Math.abs(value) >= 100
    ? value.toFixed(0)
    : Math.abs(value) >= 1
      ? value.toFixed(2)
      : value.toPrecision(2);
const cell = ({ ratios, values, unit }) =>
  `${number(median(ratios))}× (${number(Math.min(...ratios))}–${number(Math.max(...ratios))}); ` +
  `${number(median(values))} ${unit}, ${ratios.length} runs`;

const nodes = [...byNode.keys()].sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
const names = [...new Set(nodes.flatMap((node) => [...byNode.get(node).keys()]))];
const moved = nodes.length === 2 ? ['change of the median ratio'] : [];
console.log(`| ${['figure', ...nodes.map((node) => `Node ${node}`), ...moved].join(' | ')} |`);
console.log(`|---|${nodes.map(() => '---|').join('')}${moved.length ? '---|' : ''}`);
for (const name of names) {
  const runs = nodes.map((node) => byNode.get(node).get(name));
  const cells = runs.map((run) => (run ? cell(run) : '—'));
  let change = '';
  if (moved.length && runs[0] && runs[1]) {
    const ratio = median(runs[1].ratios) / median(runs[0].ratios) - 1;
    change = `${ratio >= 0 ? '+' : ''}${(ratio * 100).toFixed(0)} %${Math.abs(ratio) > 0.2 ? ' **moved**' : ''}`;
  }
  console.log(`| ${name} | ${cells.join(' | ')} |${moved.length ? ` ${change} |` : ''}`);
}
