// Silences exactly one warning Node prints at every start, and nothing else.
//
// matrix-bot-sdk's MatrixClient loads `htmlencode` 0.0.4 (its last release), which calls the
// deprecated `util._extend` while loading: Node prints "DEP0060 DeprecationWarning: The
// `util._extend` API is deprecated" at each start. Operators cannot act on it and it is not
// Tyr's code, so this filter drops that one code; every other warning still goes out. Import this
// module before anything that loads matrix-bot-sdk (first import of every entry point).

const SILENCED_CODES: ReadonlySet<string> = new Set(["DEP0060"]);

/** The warning code of a `process.emitWarning` call, in either of its argument forms. */
export function warningCode(args: readonly unknown[]): string | undefined {
  const [warning, typeOrOptions, code] = args;
  if (warning instanceof Error) {
    const c = (warning as Error & { code?: unknown }).code;
    if (typeof c === "string") return c;
  }
  if (typeof typeOrOptions === "object" && typeOrOptions !== null) {
    const c = (typeOrOptions as { code?: unknown }).code;
    return typeof c === "string" ? c : undefined;
  }
  return typeof code === "string" ? code : undefined;
}

let installed = false;

export function silenceDependencyWarnings(): void {
  if (installed) return;
  installed = true;
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((...args: unknown[]) => {
    const code = warningCode(args);
    if (code !== undefined && SILENCED_CODES.has(code)) return;
    emit(...args);
  }) as typeof process.emitWarning;
}

silenceDependencyWarnings();
