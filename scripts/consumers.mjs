// `node scripts/consumers.mjs` (CI runs it after the build): what a user installs, checked as
// a user would meet it. Packs every package; checks each tarball's files and manifest and runs
// arethetypeswrong on it (every entry point, node10 resolution included); installs all the
// tarballs with npm into a scratch application that has no vitest; compiles an ESM and a
// CommonJS copy of scripts/consumer/main.ts with tsc (strict, skipLibCheck: false; CommonJS
// with module commonjs, no esModuleInterop and no allowSyntheticDefaultImports: planesync's
// declarations name none of zod's types, whose .d.cts would need them) under TypeScript 5.9
// and the workspace's own;
// runs both (a CP and a DP over wss, then over tcp, sync one config and exit 0), runs a
// node:test file using FakeClock and createTestCluster, the conformance suites and
// @planesync/node-tls's TLS/proxy suite under each, and runs the planesync bin. Everything happens in a temporary directory, removed at the end
// (kept with --keep).
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBuilt } from './bootstrap.mjs';
import { packAll } from './pack.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const USER_TYPESCRIPT = '5.9.3';
const started = Date.now();
const problems = [];

function step(text) {
  console.log(`consumers: ${text} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
}

/** Runs a command; a failure is recorded with its output, and returns undefined. */
function run(label, command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', ...options });
  if (result.status !== 0) {
    problems.push(
      `${label}: exit ${result.status ?? result.signal}\n${result.stdout}${result.stderr}`,
    );
    return undefined;
  }
  return result.stdout;
}

function checkTarball(tarball) {
  const files = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).trim().split('\n');
  const manifest = JSON.parse(
    execFileSync('tar', ['xzf', tarball, '-O', 'package/package.json'], { encoding: 'utf8' }),
  );
  const name = manifest.name;
  const need = ['LICENSE', 'README.md', 'package.json', 'dist/index.js', 'dist/index.cjs'];
  need.push('dist/index.d.ts', 'dist/index.d.cts');
  // every file each entry point of the exports map names (`./testing` too), and its node10 stub
  for (const [entry, conditions] of Object.entries(manifest.exports ?? {})) {
    if (typeof conditions !== 'object') continue;
    for (const target of Object.values(conditions).flatMap((c) =>
      typeof c === 'string' ? [c] : Object.values(c),
    ))
      need.push(target.replace('./', ''));
    if (entry !== '.' && entry !== './package.json') need.push(`${entry.slice(2)}/package.json`);
  }
  if (manifest.bin) need.push(...Object.values(manifest.bin).map((bin) => bin.replace('./', '')));
  for (const file of need) {
    if (!files.includes(`package/${file}`)) problems.push(`${name}: the tarball has no ${file}`);
  }
  const stray = files.filter((file) => /\/(test|src)\/|\.test\.|\.tsbuildinfo$/.test(file));
  if (stray.length > 0) problems.push(`${name}: the tarball holds ${stray.join(', ')}`);
  const text = JSON.stringify(manifest);
  if (text.includes('workspace:')) problems.push(`${name}: a workspace: range was not rewritten`);
  if (text.includes('@planesync/source'))
    problems.push(`${name}: the source-only export condition is in the published exports`);
  if (manifest.publishConfig?.access !== 'public')
    problems.push(`${name}: a scoped package needs publishConfig.access "public"`);
  for (const field of ['description', 'keywords', 'license', 'engines', 'exports', 'types']) {
    if (manifest[field] === undefined) problems.push(`${name}: package.json has no ${field}`);
  }
  return `${name}@${manifest.version}: ${files.length} files`;
}

function arethetypeswrong(tarball) {
  const attw = join(root, 'node_modules/.bin/attw');
  const result = spawnSync(attw, [tarball, '--format', 'json', '--no-definitely-typed'], {
    encoding: 'utf8',
  });
  const report = JSON.parse(result.stdout);
  const found = report.problems ?? report.analysis?.problems ?? [];
  const entries = Object.keys(report.analysis.entrypoints).join(' ');
  if (result.status !== 0 || found.length > 0) {
    problems.push(`arethetypeswrong ${basename(tarball)}: ${JSON.stringify(found, null, 2)}`);
    return `${report.analysis.packageName}: ${found.length} problem(s) in ${entries}`;
  }
  return `${report.analysis.packageName}: no problems (${entries}; node10, node16 CJS and ESM, bundler)`;
}

const strict = {
  target: 'es2022',
  lib: ['es2023'],
  types: ['node'],
  strict: true,
  skipLibCheck: false,
  outDir: 'build',
  rootDir: '.',
};
const apps = {
  esm: {
    type: 'module',
    compilerOptions: {
      ...strict,
      module: 'nodenext',
      moduleResolution: 'nodenext',
      noUncheckedIndexedAccess: true,
      exactOptionalPropertyTypes: true,
    },
  },
  cjs: {
    type: 'commonjs',
    compilerOptions: {
      ...strict,
      module: 'commonjs',
      moduleResolution: 'node10',
      esModuleInterop: false,
      allowSyntheticDefaultImports: false,
    },
  },
};

const work = mkdtempSync(join(tmpdir(), 'planesync-consumers-'));
try {
  ensureBuilt();
  step('packing every package');
  const tarballs = packAll(join(work, 'packs'));
  for (const tarball of tarballs) console.log(`  ${checkTarball(tarball)}`);

  step('arethetypeswrong on every tarball');
  for (const tarball of tarballs) console.log(`  ${arethetypeswrong(tarball)}`);

  step('npm install of the tarballs, together, into a scratch application');
  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'scratch', private: true }));
  const installed = run(
    'npm install',
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--loglevel=error',
      ...tarballs,
      '@types/node@^22.20.7',
      `typescript@${USER_TYPESCRIPT}`,
    ],
    { cwd: app },
  );
  if (installed === undefined) throw new Error('npm could not install the tarballs');
  if (existsSync(join(app, 'node_modules/vitest'))) problems.push('vitest came with the tarballs');

  for (const [kind, { type, compilerOptions }] of Object.entries(apps)) {
    const dir = join(app, kind);
    mkdirSync(dir);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type }));
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({ compilerOptions, include: ['*.ts'] }, null, 2),
    );
    copyFileSync(join(root, 'scripts/consumer/main.ts'), join(dir, 'main.ts'));
    copyFileSync(join(root, 'docs/examples/cluster.node-test.ts'), join(dir, 'cluster.test.ts'));
    copyFileSync(
      join(root, 'packages/core/test/node-test/conformance.node-test.ts'),
      join(dir, 'conformance.test.ts'),
    );
    copyFileSync(
      join(root, 'packages/transport-tcp/test/node-test/tls-suite.node-test.ts'),
      join(dir, 'tls-suite.test.ts'),
    );

    step(`${kind}: tsc ${USER_TYPESCRIPT}, then the workspace's tsc`);
    const tsconfig = join(dir, 'tsconfig.json');
    run(`${kind} tsc ${USER_TYPESCRIPT}`, process.execPath, [
      join(app, 'node_modules/typescript/bin/tsc'),
      '-p',
      tsconfig,
    ]);
    const deprecations = kind === 'cjs' ? ['--ignoreDeprecations', '6.0'] : [];
    run(`${kind} tsc (workspace)`, process.execPath, [
      join(root, 'node_modules/typescript/bin/tsc'),
      '-p',
      tsconfig,
      '--noEmit',
      ...deprecations,
    ]);

    step(`${kind}: running the CP and DP program, and the node:test files`);
    const out = run(`${kind} main.js`, process.execPath, [join(dir, 'build/main.js')], {
      cwd: dir,
      timeout: 60_000,
    });
    if (out !== undefined) console.log(`  ${kind}: ${out.trim()}`);
    const tests = run(
      `${kind} node --test`,
      process.execPath,
      [
        '--test',
        '--test-reporter=tap',
        'build/cluster.test.js',
        'build/conformance.test.js',
        'build/tls-suite.test.js',
      ],
      { cwd: dir, timeout: 120_000 },
    );
    const summary = tests?.match(/^# pass (\d+)$/m);
    if (tests !== undefined) console.log(`  ${kind}: node --test: ${summary?.[1]} passed`);
  }

  step('the planesync bin from the tarball');
  const version = run('planesync --version', join(app, 'node_modules/.bin/planesync'), [
    '--version',
  ]);
  if (version !== undefined) console.log(`  planesync --version: ${version.trim()}`);
} catch (error) {
  problems.push(String(error?.stack ?? error));
} finally {
  if (process.argv.includes('--keep')) console.log(`consumers: kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}

step(problems.length === 0 ? 'all good' : `${problems.length} problem(s)`);
for (const problem of problems) console.error(`\n${problem}`);
process.exit(problems.length === 0 ? 0 : 1);
