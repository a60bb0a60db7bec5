import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  ConfigInvalidError,
  type ConfigProblem,
  DECLARATIVE_ENTITY_TYPES,
  type DeclarativeConfig,
  parseDeclarativeConfig,
} from '@planesync/core';
import {
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
} from 'yaml';
import { readFailure } from '../files.ts';
import { type CliIo, UsageError } from '../io.ts';

export const CONFIG_USAGE = `Usage: planesync config validate FILE

Checks a declarative config (YAML or JSON) as a DP checks one: Kong 3.10's entity schemas
for the entity types planesync models, unknown fields, references between entities and
unique names. Entity types it does not model (workspaces, keyauth_credentials, ...) pass
through unvalidated. Every problem is printed, one a line:

  FILE:LINE:COLUMN: path: message

Exit codes: 0 valid, 1 invalid or unreadable, 2 called wrongly.
`;

/** `planesync config ...`; resolves with the exit code. */
export async function configCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) throw new UsageError(`config needs a command\n\n${CONFIG_USAGE}`);
  if (command === 'help' || argv.includes('--help') || argv.includes('-h')) {
    io.stdout(CONFIG_USAGE);
    return 0;
  }
  if (command !== 'validate')
    throw new UsageError(`unknown config command: ${command}\n\n${CONFIG_USAGE}`);
  const [file, ...extra] = rest;
  if (file === undefined || extra.length > 0 || file.startsWith('-'))
    throw new UsageError(`config validate takes one FILE\n\n${CONFIG_USAGE}`);
  return validateFile(file, io);
}

async function validateFile(file: string, io: CliIo): Promise<number> {
  let text: string;
  try {
    text = await readFile(resolve(io.cwd, file), 'utf8');
  } catch (error) {
    io.stderr(`planesync: cannot read ${file}: ${readFailure(error)}\n`);
    return 1;
  }
  let config: DeclarativeConfig;
  try {
    config = parseDeclarativeConfig(text);
  } catch (error) {
    if (!(error instanceof ConfigInvalidError)) throw error;
    const located = error.problems.map(locator(text));
    located.sort((a, b) => a.line - b.line || a.column - b.column);
    for (const { line, column, text: problem } of located)
      io.stdout(`${file}:${line}:${column}: ${problem}\n`);
    const count = located.length;
    io.stdout(`${file}: invalid: ${count} ${count === 1 ? 'problem' : 'problems'}\n`);
    return 1;
  }
  io.stdout(`${file}: valid: ${summary(config)}\n`);
  return 0;
}

/** "2 services, 3 routes, 1 plugin" and the top-level keys that were not validated. */
function summary(config: DeclarativeConfig): string {
  const count = (n: number, name: string) => `${n} ${n === 1 ? name.replace(/s$/, '') : name}`;
  const counts = DECLARATIVE_ENTITY_TYPES.flatMap((name) => {
    const list = config[name];
    return Array.isArray(list) && list.length > 0 ? [count(list.length, name)] : [];
  });
  const passed = Object.keys(config).filter(
    (key) => !key.startsWith('_') && !DECLARATIVE_ENTITY_TYPES.includes(key),
  );
  const validated = counts.length > 0 ? counts.join(', ') : 'no entities';
  return passed.length > 0 ? `${validated}; not validated: ${passed.join(', ')}` : validated;
}

interface Located {
  line: number;
  column: number;
  text: string;
}

/**
 * Finds where each problem is in the source: a syntax problem carries its line and column; a
 * schema problem's path (`services[2].port`) leads to its node, or to the nearest node that
 * exists when the field is missing. An unknown field points at its key.
 */
function locator(source: string): (problem: ConfigProblem) => Located {
  const lineCounter = new LineCounter();
  const document = parseDocument(source, { lineCounter, uniqueKeys: false });
  const at = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  return (problem) => {
    const syntax = /^\(line (\d+), column (\d+)\)$/.exec(problem.path);
    if (syntax)
      return { line: Number(syntax[1]), column: Number(syntax[2]), text: problem.message };
    const text = `${problem.path}: ${problem.message}`;
    const path = parsePath(problem.path);
    let node: unknown = document.contents;
    let offset = rangeStart(node) ?? 0;
    for (const segment of path ?? []) {
      if (isAlias(node)) node = node.resolve(document);
      let next: unknown;
      let keyOffset: number | undefined;
      if (isMap(node)) {
        const pair = node.items.find(
          (item) => isScalar(item.key) && String(item.key.value) === String(segment),
        );
        if (isPair(pair)) {
          next = pair.value;
          keyOffset = rangeStart(pair.key);
        }
      } else if (isSeq(node) && typeof segment === 'number') next = node.items[segment];
      const start = rangeStart(next) ?? keyOffset;
      if (start === undefined) break;
      offset = problem.message === 'unknown field' && keyOffset !== undefined ? keyOffset : start;
      node = next;
    }
    return { ...at(offset), text };
  };
}

function rangeStart(node: unknown): number | undefined {
  return (node as Node | null | undefined)?.range?.[0];
}

/** `services[2].routes[0]["x-y"]` → `['services', 2, 'routes', 0, 'x-y']`; `(root)` → `[]`. */
function parsePath(path: string): Array<string | number> | undefined {
  if (path === '(root)') return [];
  const segments: Array<string | number> = [];
  let rest = path;
  while (rest.length > 0) {
    const match =
      /^\.?([A-Za-z_$][\w$]*)/.exec(rest) ??
      /^\[(\d+)\]/.exec(rest) ??
      /^\[("(?:[^"\\]|\\.)*")\]/.exec(rest);
    if (!match) return segments.length > 0 ? segments : undefined;
    const [whole, value] = match as unknown as [string, string];
    // `[2]` and `["x-y"]` are JSON: a number and a string.
    segments.push(whole.startsWith('[') ? JSON.parse(value) : value);
    rest = rest.slice(whole.length);
  }
  return segments;
}
