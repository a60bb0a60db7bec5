/**
 * What planesync says about itself: connection changes, rejections, configs applied or
 * rejected, and every error no listener handled. The shape is pino's (`level(obj, msg)`), so
 * pino, a host's own logger or {@link consoleLogger} plugs in.
 *
 * @module
 */

/** One log method: a structured object first, then a message. */
export type LogFn = (obj: Record<string, unknown>, msg?: string) => void;

/**
 * A logger with pino's method shape. A pino logger is one as it is:
 * `new DataPlane({ ..., logger: pino() })`.
 */
export interface Logger {
  error: LogFn;
  warn: LogFn;
  info: LogFn;
  debug: LogFn;
}

/** The levels, most severe first. */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

const LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug'];

/** Where {@link consoleLogger} writes one line; default: standard error. */
export type LogSink = (line: string) => void;

const stderrSink: LogSink = (line) => {
  process.stderr.write(`${line}\n`);
};

/**
 * A logger that writes one line per entry — `planesync warn: <msg> {json}` — for entries at
 * `level` or more severe, to standard error unless another sink is given. Errors in the object
 * (`err`) are written with their code and message.
 *
 * @example
 * ```ts
 * import { consoleLogger } from '@planesync/core';
 * const logger = consoleLogger({ level: 'info' });
 * logger.info({ nodeId: 'dp-1' }, 'data plane connected');
 * ```
 */
export function consoleLogger(options: { level?: LogLevel; sink?: LogSink } = {}): Logger {
  const threshold = LEVELS.indexOf(options.level ?? 'warn');
  const sink = options.sink ?? stderrSink;
  const method =
    (level: LogLevel): LogFn =>
    (obj, msg) => {
      if (LEVELS.indexOf(level) > threshold) return;
      try {
        sink(`planesync ${level}: ${msg ?? ''}${describe(obj)}`);
      } catch {
        // a logger never throws into the code that logs
      }
    };
  return {
    error: method('error'),
    warn: method('warn'),
    info: method('info'),
    debug: method('debug'),
  };
}

/** A logger that drops everything. */
export const silentLogger: Logger = {
  error: () => {},
  warn: () => {},
  info: () => {},
  debug: () => {},
};

/** The default logger: warnings and errors on standard error. */
export const defaultLogger: Logger = consoleLogger();

/**
 * Calls `logger[level]` and never lets a host logger's exception escape into the SDK (a
 * logger is host code too). Adapters log through it as well.
 *
 * @example
 * ```ts
 * import { defaultLogger, logSafely } from '@planesync/core/transport';
 * logSafely(defaultLogger, 'warn', { peer: '10.0.0.7' }, 'dropped a peer');
 * ```
 */
export function logSafely(
  logger: Logger,
  level: LogLevel,
  obj: Record<string, unknown>,
  msg: string,
): void {
  try {
    logger[level](obj, msg);
  } catch {
    // a throwing logger loses this line, nothing else
  }
}

function describe(obj: Record<string, unknown>): string {
  const entries = Object.entries(obj).filter(([, value]) => value !== undefined);
  if (entries.length === 0) return '';
  try {
    return ` ${JSON.stringify(Object.fromEntries(entries), (_key, value: unknown) =>
      value instanceof Error ? errorFields(value) : value,
    )}`;
  } catch {
    return ' (unprintable details)';
  }
}

function errorFields(error: Error): Record<string, unknown> {
  const code = (error as { code?: unknown }).code;
  return { ...(code === undefined ? {} : { code }), message: error.message };
}
