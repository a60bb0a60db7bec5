import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  DeclarativeFastPath,
  SLOW_VALIDATION_WARNING,
} from '../src/config/declarative-fast-path.ts';
import { createDeclarativeConfigSchema } from '../src/config/declarative-schema.ts';
import { declarativeConfigSchema } from '../src/index.ts';

/** Configs with each answer: valid, nested (flattened), a bad field, a dangling reference. */
const CONFIGS: unknown[] = [
  { _format_version: '3.0' },
  {
    _format_version: '3.0',
    services: [{ name: 'echo', url: 'http://echo.internal:8080/v1', routes: [{ paths: ['/e'] }] }],
  },
  { _format_version: '3.0', services: [{ name: 'a', host: 'a.internal', port: 70_000 }] },
  { _format_version: '3.0', routes: [{ paths: ['/x'], service: 'missing' }] },
  {},
];

const warnings: Error[] = [];
const onWarning = (warning: Error) => warnings.push(warning);
process.on('warning', onWarning);
afterEach(() => {
  warnings.length = 0;
});

/** `emitWarning` emits on the next tick: let it. */
const nextTick = () => new Promise<void>((resolve) => process.nextTick(resolve));
const slowValidationWarnings = () =>
  warnings.filter((w) => (w as { code?: string }).code === SLOW_VALIDATION_WARNING);

describe('the declarative schema when its compiled fast path is off', () => {
  it('the real schema compiles its fast path and warns of nothing', async () => {
    expect(declarativeConfigSchema.fastPath).toBe(true);
    for (const config of CONFIGS) declarativeConfigSchema.safeParse(config);
    await nextTick();
    expect(slowValidationWarnings()).toEqual([]);
  });

  it('a failed compile is tried once, and the process is told once, with the code PLANESYNC_SLOW_VALIDATION and the reason', async () => {
    // Node also prints this warning on stderr: the line in the test output is expected.
    const compile = vi.fn(() => {
      throw new EvalError('Code generation from strings disallowed for this context');
    });
    const slow = createDeclarativeConfigSchema(new DeclarativeFastPath(compile));
    for (const config of CONFIGS) slow.safeParse(config);
    for (const config of CONFIGS) slow.safeParse(config);
    expect(slow.fastPath).toBe(false);
    expect(compile).toHaveBeenCalledTimes(1);
    // A second schema in the same process (or a CommonJS copy of core) does not say it again.
    const another = createDeclarativeConfigSchema(
      new DeclarativeFastPath(() => {
        throw new Error('ajv refused the schema');
      }),
    );
    expect(another.fastPath).toBe(false);
    await nextTick();
    const [warning, ...more] = slowValidationWarnings();
    expect(more).toEqual([]);
    expect(warning).toBeInstanceOf(Error);
    expect(warning?.name).toBe('Warning');
    expect(warning?.message).toContain('Code generation from strings disallowed');
  });

  it('validates every config with zod alone, with the answers and output of the fast path', () => {
    const slow = createDeclarativeConfigSchema(
      new DeclarativeFastPath(() => {
        throw new Error('no fast path');
      }),
    );
    const answers = CONFIGS.map((config) => slow.safeParse(config));
    expect(answers.map((answer) => answer.success)).toEqual([true, true, false, false, false]);
    expect(answers).toEqual(CONFIGS.map((config) => declarativeConfigSchema.safeParse(config)));
  });

  it('under node --disallow-code-generation-from-strings: one warning on stderr, and every config still validated', () => {
    const core = new URL('../src/index.ts', import.meta.url).pathname;
    const source = `
      import { declarativeConfigSchema } from ${JSON.stringify(core)};
      const configs = ${JSON.stringify(CONFIGS)};
      const answers = [0, 1, 2].flatMap(() => configs.map((c) => declarativeConfigSchema.safeParse(c).success));
      process.stdout.write(JSON.stringify({ fastPath: declarativeConfigSchema.fastPath, answers }));`;
    const child = spawnSync(
      process.execPath,
      [
        '--disallow-code-generation-from-strings',
        '--conditions=@planesync/source',
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        source,
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(child.status, child.stderr).toBe(0);
    expect(JSON.parse(child.stdout)).toEqual({
      fastPath: false,
      answers: [0, 1, 2].flatMap(() => [true, true, false, false, false]),
    });
    const lines = child.stderr.split('\n').filter((line) => line.includes(SLOW_VALIDATION_WARNING));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\(node:\d+\) \[PLANESYNC_SLOW_VALIDATION\] Warning: planesync: /);
  }, 60_000);
});
