// Splits a command body into tokens.
//
// Rules, chosen so that people can type naturally (including on phones):
// - Tokens are separated by any Unicode whitespace (and the zero-width space).
// - A quote opens only at the start of a token, so apostrophes inside words (don't, l'été)
//   are plain characters. Accepted quotes: "…", '…', and the typographic pairs phones
//   substitute automatically: “…”, ‘…’, „…“, «…».
// - A quote closes at the first matching closing quote followed by whitespace or the end,
//   so `"it's "fine" here"` is one token. There are no backslash escapes: put a `"` inside
//   '…' (or the reverse).
// - An opening quote with no closing one is an error in `tokenize`; `scan` instead keeps it
//   as a literal character and reports where it was, so a free-text reason may contain one.
// - Flags (`--yes`, `--room=!r`, `--room !r`) are plain tokens here; the registry resolves
//   them against each command's declared flags.
import { err, ok, type ParseResult } from "./result.ts";
import { isSpace, quote } from "./text.ts";

export const MAX_COMMAND_LENGTH = 10_000;

export interface Token {
  /** The token's text with any surrounding quotes removed. */
  readonly value: string;
  /** UTF-16 offsets of the token in the input, quotes included. */
  readonly start: number;
  readonly end: number;
  readonly quoted: boolean;
}

export interface ScanResult {
  readonly tokens: Token[];
  /** The first opening quote that was never closed (treated as a literal character). */
  readonly unclosedQuote?: { readonly index: number; readonly quote: string };
}

const CLOSERS: Record<string, string> = {
  '"': '"',
  "'": "'",
  "“": "”“",
  "‘": "’‘",
  "„": "“”",
  "«": "»",
};

/** Lenient scan: never fails. */
export function scan(input: string): ScanResult {
  const tokens: Token[] = [];
  let unclosedQuote: ScanResult["unclosedQuote"];
  const n = input.length;
  // Per opening quote: the last search start and the closing index it found (-1 = none).
  // Searches start at increasing positions, so reusing them keeps the scan linear even for
  // inputs full of unmatched quotes.
  const memo = new Map<string, { from: number; at: number }>();
  const findClose = (open: string, from: number): number => {
    const m = memo.get(open);
    if (m !== undefined && from >= m.from && (m.at < 0 || from <= m.at)) return m.at;
    const closers = CLOSERS[open] ?? open;
    let at = -1;
    for (let j = from; j < n; j++) {
      if (closers.includes(input[j] as string) && (j + 1 === n || isSpace(input[j + 1] as string))) {
        at = j;
        break;
      }
    }
    memo.set(open, { from, at });
    return at;
  };

  let i = 0;
  while (i < n) {
    while (i < n && isSpace(input[i] as string)) i++;
    if (i >= n) break;
    const ch = input[i] as string;
    if (CLOSERS[ch] !== undefined) {
      const close = findClose(ch, i + 1);
      if (close >= 0) {
        tokens.push({ value: input.slice(i + 1, close), start: i, end: close + 1, quoted: true });
        i = close + 1;
        continue;
      }
      unclosedQuote ??= { index: i, quote: ch };
    }
    let j = i;
    while (j < n && !isSpace(input[j] as string)) j++;
    tokens.push({ value: input.slice(i, j), start: i, end: j, quoted: false });
    i = j;
  }
  return unclosedQuote === undefined ? { tokens } : { tokens, unclosedQuote };
}

/** 1-based position in characters (code points), as a person would count. */
export function characterPosition(input: string, index: number): number {
  return Array.from(input.slice(0, index)).length + 1;
}

export function tooLongError(input: string): string | undefined {
  if (input.length <= MAX_COMMAND_LENGTH) return undefined;
  return `That command is too long (${input.length.toLocaleString("en-US")} characters; the limit is ${MAX_COMMAND_LENGTH.toLocaleString("en-US")}).`;
}

export function unclosedQuoteError(input: string, q: { index: number; quote: string }): string {
  const closer = (CLOSERS[q.quote] ?? q.quote)[0];
  const at = characterPosition(input, q.index);
  const after = input.slice(q.index + 1, q.index + 41);
  const context = after.trim() === "" ? "" : `, before ${quote(after, 20)}`;
  return `Unclosed quote ${q.quote} at character ${at}${context}: add a closing ${closer} followed by a space, or remove it.`;
}

/** Strict tokenization: fails on over-long input and on an unclosed quote. */
export function tokenize(input: string): ParseResult<Token[]> {
  const long = tooLongError(input);
  if (long !== undefined) return err(long);
  const r = scan(input);
  if (r.unclosedQuote !== undefined) return err(unclosedQuoteError(input, r.unclosedQuote));
  return ok(r.tokens);
}
