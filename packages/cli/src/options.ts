import { type ParseArgsConfig, parseArgs } from 'node:util';
import { UsageError } from './io.ts';

type Options = NonNullable<ParseArgsConfig['options']>;
type Parsed<O extends Options> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>
>;

/** The range `--days` takes everywhere, as the help says. */
export const MAX_DAYS = 36_500;

/**
 * `parseArgs`, strict, with positionals, every mistake a {@link UsageError}. A value that
 * looks like a negative number (`--days -5`) is taken as the option's value, so the option
 * can say what it accepts, instead of parseArgs calling it ambiguous.
 */
export function parseOptions<const O extends Options>(
  argv: readonly string[],
  options: O,
): Parsed<O> {
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = argv[i + 1];
    const name = arg.startsWith('--') ? arg.slice(2) : undefined;
    if (
      name !== undefined &&
      options[name]?.type === 'string' &&
      next !== undefined &&
      /^-[\d.]/.test(next)
    ) {
      args.push(`${arg}=${next}`);
      i++;
    } else args.push(arg);
  }
  try {
    return parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>({
      args,
      options,
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError(plainParseError(error as Error & { code?: string }));
  }
}

/** parseArgs' own messages, said plainly: `unknown option --bogus`. */
function plainParseError(error: Error & { code?: string }): string {
  const option = /'(-{1,2}[^'\s]+)'|"(-{1,2}[^"\s]+)"/.exec(error.message);
  const name = option?.[1] ?? option?.[2];
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && name) return `unknown option ${name}`;
  if (error.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && name)
    return `option ${name.replace(/ <value>$/, '')} needs a value`;
  return error.message;
}

/** `--days N`: a whole number from 1 to 36500, or `fallback` when not given. */
export function parseDays(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < 1 || value > MAX_DAYS)
    throw new UsageError(`--days must be a whole number from 1 to ${MAX_DAYS}, got ${text}`);
  return value;
}

/** A whole number option such as `--path-length`. */
export function parseWholeNumber(text: string, flag: string, max: number): number {
  const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value > max)
    throw new UsageError(`${flag} must be a whole number from 0 to ${max}, got ${text}`);
  return value;
}
