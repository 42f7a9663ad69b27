// Moderator-supplied patterns. Each item is either a literal (case-insensitive substring) or
// `/regex/flags`. Everything runs on re2js, whose matching time is linear in the input, so a
// pattern like `(a+)+$` cannot freeze the bot the way it would with JS RegExp.
import { RE2JS } from "re2js";

export interface CompiledPattern {
  readonly source: string;
  readonly regex: boolean;
  readonly re: RE2JS;
}

export interface PatternList {
  readonly sources: readonly string[];
  readonly size: number;
  /** The first pattern (its source text) that matches somewhere in `text`, or null. */
  firstMatch(text: string): string | null;
}

export type PatternResult = { ok: true; pattern: CompiledPattern } | { ok: false; error: string };

const FLAG_BITS: Readonly<Record<string, number>> = {
  i: RE2JS.CASE_INSENSITIVE,
  m: RE2JS.MULTILINE,
  s: RE2JS.DOTALL,
  u: 0, // re2 is Unicode-aware already
  g: 0, // meaningless for a yes/no match
};

function regexParts(item: string): { body: string; flags: string } | null {
  if (!item.startsWith("/")) return null;
  const last = item.lastIndexOf("/");
  if (last <= 0) return null;
  const flags = item.slice(last + 1);
  for (const f of flags) if (!(f in FLAG_BITS)) return null; // e.g. "/r/spam" is a literal
  return { body: item.slice(1, last), flags };
}

function inlineFlags(flags: string): string {
  let s = "";
  if (flags.includes("i")) s += "i";
  if (flags.includes("m")) s += "m";
  if (flags.includes("s")) s += "s";
  return s;
}

/** Compiles one item; the error says what is wrong without the item itself (callers add it). */
export function compilePattern(item: string): PatternResult {
  if (item.length === 0) return { ok: false, error: "empty pattern" };
  const parts = regexParts(item);
  let re: RE2JS;
  try {
    if (parts === null) {
      re = RE2JS.compile(RE2JS.quote(item), RE2JS.CASE_INSENSITIVE);
    } else {
      if (parts.body.length === 0) return { ok: false, error: "empty regex" };
      let bits = 0;
      for (const f of parts.flags) bits |= FLAG_BITS[f] ?? 0;
      re = RE2JS.compile(parts.body, bits);
    }
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    return { ok: false, error: `invalid regex: ${msg.slice(0, 200)}` };
  }
  // A pattern that matches the empty string matches every message: almost surely a mistake,
  // and with a "ban" action a disastrous one.
  if (re.test("")) return { ok: false, error: "pattern matches every text (it matches the empty string)" };
  return { ok: true, pattern: { source: item, regex: parts !== null, re } };
}

class CompiledList implements PatternList {
  readonly sources: readonly string[];
  readonly #patterns: readonly CompiledPattern[];
  // One alternation of all patterns: a single linear pass rejects the common non-matching text.
  readonly #combined: RE2JS | null;

  constructor(patterns: readonly CompiledPattern[]) {
    this.#patterns = patterns;
    this.sources = patterns.map((p) => p.source);
    let combined: RE2JS | null = null;
    if (patterns.length > 1) {
      const alternatives = patterns.map((p) => {
        const parts = p.regex ? regexParts(p.source) : null;
        const flags = parts === null ? "i" : inlineFlags(parts.flags);
        const body = parts === null ? RE2JS.quote(p.source) : parts.body;
        return flags.length > 0 ? `(?${flags}:${body})` : `(?:${body})`;
      });
      try {
        combined = RE2JS.compile(alternatives.join("|"));
      } catch {
        combined = null; // e.g. program too large: fall back to one pass per pattern
      }
    }
    this.#combined = combined;
  }

  get size(): number {
    return this.#patterns.length;
  }

  firstMatch(text: string): string | null {
    if (this.#patterns.length === 0 || text.length === 0) return null;
    if (this.#combined !== null && !this.#combined.test(text)) return null;
    for (const p of this.#patterns) if (p.re.test(text)) return p.source;
    return null;
  }
}

export const EMPTY_PATTERN_LIST: PatternList = new CompiledList([]);

/** Compiles every item; errors name the offending item by position and text. */
export function compilePatternList(
  items: readonly string[],
): { ok: true; list: PatternList } | { ok: false; errors: string[] } {
  const compiled: CompiledPattern[] = [];
  const errors: string[] = [];
  items.forEach((item, i) => {
    const r = compilePattern(item);
    if (r.ok) compiled.push(r.pattern);
    else errors.push(`item ${i + 1} ${JSON.stringify(item.slice(0, 80))}: ${r.error}`);
  });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, list: new CompiledList(compiled) };
}
