const warned = new Set<string>();

/**
 * Says once per process that a deprecated name was used, as a `DeprecationWarning` with a
 * `PLANESYNC_DEP_*` code (silenced by `--no-deprecation`, seen by `process.on('warning')`).
 */
export function warnDeprecated(code: string, message: string): void {
  if (warned.has(code)) return;
  warned.add(code);
  process.emitWarning(message, { type: 'DeprecationWarning', code });
}

/** The option's deprecated name, when it was used: warns once, and returns its value. */
export function renamedOption<T>(
  options: object,
  old: string,
  replacement: string,
  owner: string,
): T | undefined {
  const value = (options as Record<string, unknown>)[old];
  if (value === undefined) return undefined;
  warnDeprecated(
    `PLANESYNC_DEP_${owner.toUpperCase()}_${old.toUpperCase()}`,
    `${owner}({ ${old} }) is deprecated and goes in 0.3.0: it is ${replacement} now`,
  );
  return value as T;
}
