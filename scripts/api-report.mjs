// `node scripts/api-report.mjs [--update]`: the public surface of every package entry point
// (each `exports` entry of each packages/*/package.json), one report per entry in api/, as
// TypeScript's checker sees it from the sources: every exported name with its kind and
// type, and every public member of exported classes and interfaces. test/api-surface.test.ts
// compares the reports with the committed ones, so the surface changes only on purpose:
// after a deliberate change, run this with --update and commit the diff with the change.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('..', import.meta.url));
const API_DIR = join(root, 'api');

/** Every package entry point: `{ name: '@planesync/core/testing', file: '…/src/testing/index.ts' }`. */
export function entryPoints() {
  const entries = [];
  for (const dir of readdirSync(join(root, 'packages')).sort()) {
    const manifestPath = join(root, 'packages', dir, 'package.json');
    if (!existsSync(manifestPath)) continue;
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
    for (const [subpath, target] of Object.entries(manifest.exports ?? {})) {
      const source = typeof target === 'object' ? target['@planesync/source'] : undefined;
      if (!source) continue;
      const name = subpath === '.' ? manifest.name : `${manifest.name}/${subpath.slice(2)}`;
      entries.push({ name, file: join(root, 'packages', dir, source) });
    }
  }
  return entries;
}

const FLAGS = ts.TypeFormatFlags.NoTruncation | ts.TypeFormatFlags.WriteArrowStyleSignature;

/** The report of each entry point, by report file name. */
export function apiReports() {
  const entries = entryPoints();
  const config = ts.getParsedCommandLineOfConfigFile(
    join(root, 'tsconfig.json'),
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined },
  );
  const program = ts.createProgram({
    rootNames: entries.map((entry) => entry.file),
    options: { ...config.options, noEmit: true },
  });
  const checker = program.getTypeChecker();
  const reports = new Map();
  for (const entry of entries) {
    const source = program.getSourceFile(entry.file);
    const module = source && checker.getSymbolAtLocation(source);
    if (!module) throw new Error(`cannot read ${relative(root, entry.file)}`);
    const lines = [`# ${entry.name}`, ''];
    const exports = checker.getExportsOfModule(module).sort((a, b) => a.name.localeCompare(b.name));
    for (const exported of exports) lines.push(...describe(checker, exported));
    const file = `${entry.name.replace(/^@/, '').replaceAll('/', '.')}.api.md`;
    reports.set(file, `${lines.join('\n')}\n`);
  }
  return reports;
}

function describe(checker, exported) {
  const symbol =
    exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
  const name = exported.name;
  const declaration = symbol.declarations?.[0];
  // Deprecated where it is declared, or where this entry point re-exports it.
  const deprecated = [declaration, exported.declarations?.[0]].some(
    (node) => node && ts.getJSDocTags(node).some((tag) => tag.tagName.text === 'deprecated'),
  );
  const mark = deprecated ? ' (deprecated)' : '';
  const flags = symbol.flags;
  const lines = [];
  if (flags & ts.SymbolFlags.Class) {
    lines.push(`- class ${name}${heritage(declaration)}${mark}`);
    const instance = checker.getDeclaredTypeOfSymbol(symbol);
    const statics = checker.getTypeOfSymbolAtLocation(symbol, declaration);
    for (const signature of statics.getConstructSignatures().slice(0, 1))
      lines.push(`  - constructor${signatureText(checker, signature)}`);
    lines.push(
      ...members(checker, statics, '  - static ', (p) => p.name !== 'prototype', declaration),
    );
    lines.push(...members(checker, instance, '  - ', () => true, declaration));
  } else if (flags & ts.SymbolFlags.Interface) {
    lines.push(`- interface ${name}${heritage(declaration)}${mark}`);
    lines.push(...members(checker, checker.getDeclaredTypeOfSymbol(symbol), '  - ', () => true));
  } else if (flags & ts.SymbolFlags.TypeAlias) {
    const type = checker.getDeclaredTypeOfSymbol(symbol);
    lines.push(`- type ${name}${mark} = ${aliasText(checker, declaration, type)}`);
  } else if (flags & ts.SymbolFlags.Function) {
    const type = checker.getTypeOfSymbolAtLocation(symbol, declaration);
    for (const signature of type.getCallSignatures())
      lines.push(`- function ${name}${signatureText(checker, signature)}${mark}`);
  } else if (flags & (ts.SymbolFlags.Variable | ts.SymbolFlags.Enum)) {
    const type = checker.getTypeOfSymbolAtLocation(symbol, declaration);
    lines.push(`- const ${name}${mark}: ${checker.typeToString(type, declaration, FLAGS)}`);
  } else {
    lines.push(`- ${name}${mark}`);
  }
  // A value and a type of one name (a class, a const with a type of the same name).
  if (
    flags & ts.SymbolFlags.Variable &&
    flags & (ts.SymbolFlags.TypeAlias | ts.SymbolFlags.Interface)
  ) {
    const type = checker.getDeclaredTypeOfSymbol(symbol);
    lines.push(`- type ${name} = ${checker.typeToString(type, undefined, FLAGS)}`);
  }
  return lines;
}

function heritage(declaration) {
  const clauses = declaration?.heritageClauses ?? [];
  return clauses.map((clause) => ` ${clause.getText()}`).join('');
}

function aliasText(checker, declaration, type) {
  // The alias's own text (unions, mapped types), without its comments.
  const text = declaration?.type
    ? ts
        .createPrinter({ removeComments: true })
        .printNode(ts.EmitHint.Unspecified, declaration.type, declaration.getSourceFile())
    : undefined;
  return (text ?? checker.typeToString(type, undefined, FLAGS)).replace(/\s+/g, ' ');
}

function members(checker, type, prefix, keep, owner) {
  const lines = [];
  for (const property of checker
    .getPropertiesOfType(type)
    .sort((a, b) => a.name.localeCompare(b.name))) {
    if (!keep(property) || property.name.startsWith('#') || property.name.startsWith('__'))
      continue;
    const declaration = property.declarations?.[0];
    const modifiers = declaration ? ts.getCombinedModifierFlags(declaration) : 0;
    if (modifiers & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) {
      if (!(modifiers & ts.ModifierFlags.Protected)) continue;
    }
    // Members a class inherits from a library base (EventEmitter-like) are that base's.
    if (owner && declaration && declaration.parent !== owner && !isOwnedByWorkspace(declaration))
      continue;
    const deprecated =
      declaration && ts.getJSDocTags(declaration).some((tag) => tag.tagName.text === 'deprecated');
    const note = deprecated ? ' (deprecated)' : '';
    const protectedMark = modifiers & ts.ModifierFlags.Protected ? 'protected ' : '';
    const readonlyMark = modifiers & ts.ModifierFlags.Readonly ? 'readonly ' : '';
    const optional = property.flags & ts.SymbolFlags.Optional ? '?' : '';
    const propertyType = checker.getTypeOfSymbol(property);
    const signatures = propertyType.getCallSignatures();
    if (property.flags & ts.SymbolFlags.Method && signatures.length > 0) {
      for (const signature of signatures)
        lines.push(
          `${prefix}${protectedMark}${property.name}${optional}${signatureText(checker, signature)}${note}`,
        );
    } else if (property.flags & ts.SymbolFlags.GetAccessor) {
      lines.push(
        `${prefix}${protectedMark}get ${property.name}: ${checker.typeToString(propertyType, undefined, FLAGS)}${note}`,
      );
    } else {
      lines.push(
        `${prefix}${protectedMark}${readonlyMark}${property.name}${optional}: ${checker.typeToString(propertyType, undefined, FLAGS)}${note}`,
      );
    }
  }
  return lines;
}

function isOwnedByWorkspace(declaration) {
  const file = declaration.getSourceFile().fileName;
  return file.startsWith(join(root, 'packages'));
}

function signatureText(checker, signature) {
  return checker
    .signatureToString(signature, undefined, FLAGS & ~ts.TypeFormatFlags.WriteArrowStyleSignature)
    .replace(/\s+/g, ' ');
}

/** Writes the reports to api/ (and removes reports of entry points that are gone). */
export function writeApiReports() {
  const reports = apiReports();
  rmSync(API_DIR, { recursive: true, force: true });
  mkdirSync(API_DIR, { recursive: true });
  for (const [file, text] of reports) writeFileSync(join(API_DIR, file), text);
  return reports;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--update')) {
    const reports = writeApiReports();
    console.log(`api/: ${reports.size} reports written`);
  } else {
    for (const [file, text] of apiReports()) console.log(`== ${file}\n${text}`);
  }
}
