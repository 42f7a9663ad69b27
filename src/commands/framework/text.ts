// Small text helpers shared by the parsers: whitespace, safe echoes of user input in error
// messages, and naming a suspicious character precisely.
import { codePointLabel, neutraliseInvisible } from "../../format/html.ts";

/** Whitespace separating tokens: everything JS calls whitespace (NBSP, ideographic space,
 *  U+2000–U+200A, …) plus the zero-width space, which pastes from web pages often carry. */
export function isSpace(ch: string): boolean {
  return ch === "\u200b" || /^\s$/u.test(ch);
}

/** Trim `isSpace` characters. A loop on purpose: the regex `\s+$` is quadratic on long inner
 *  runs of spaces (seconds for 60,000), and message bodies are attacker-controlled. */
export function trimSpace(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && isSpace(s[start] as string)) start++;
  while (end > start && isSpace(s[end - 1] as string)) end--;
  return s.slice(start, end);
}

/** A user-supplied value quoted for an error message: shortened, invisible characters made
 *  visible, so a 10,000-character argument cannot produce a 10,000-character reply. */
export function quote(raw: string, max = 60): string {
  const chars = Array.from(raw);
  const short = chars.length > max ? `${chars.slice(0, max).join("")}…` : raw;
  return `"${neutraliseInvisible(short)}"`;
}

/** `"а" (U+0430)` — shows the character and its code point so look-alikes stand out;
 *  characters that would not show are described instead. */
export function describeChar(ch: string): string {
  const label = codePointLabel(ch.codePointAt(0) ?? 0);
  if (ch === " ") return `a space (${label})`;
  if (/^\s$/u.test(ch) || ch === "\u200b") return `a whitespace character (${label})`;
  if (/^\p{C}$/u.test(ch)) return `an invisible character (${label})`;
  return `"${ch}" (${label})`;
}

/** First character of `s` for which `ok` is false, or undefined. */
export function firstBadChar(s: string, ok: (ch: string) => boolean): string | undefined {
  for (const ch of s) if (!ok(ch)) return ch;
  return undefined;
}

export function utf8Length(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

/** Does `s` contain a non-ASCII letter that could pass for an ASCII one? (A cheap check:
 *  any non-ASCII character counts; used only to add a hint to an error.) */
export function nonAsciiChar(s: string): string | undefined {
  return firstBadChar(s, (ch) => ch.charCodeAt(0) < 0x80);
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString("en-US")} ${n === 1 ? one : many}`;
}
