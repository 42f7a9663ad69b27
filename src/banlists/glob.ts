// Matrix policy globs: `*` matches any run of characters (including none), `?` exactly one,
// the whole string must match, there is no escaping, and matching ignores letter case.
// Never turned into a JS RegExp: list content must not be able to freeze the bot.

export interface Glob {
  /** The pattern after lower-casing and collapsing runs of wildcards. */
  readonly source: string;
  /** True when the pattern has no wildcard: compare with `===` on the lower-cased input. */
  readonly literal: boolean;
  /** Anchored prefix before the first `*` (may contain `?`). */
  readonly head: string;
  /** Anchored suffix after the last `*` (may contain `?`); empty when there is no `*`. */
  readonly tail: string;
  /** Segments between stars, matched left to right, leftmost first. */
  readonly middle: readonly string[];
  readonly hasStar: boolean;
  /** Lower-cased input in, match out. */
  matches(input: string): boolean;
}

export function hasWildcard(pattern: string): boolean {
  return pattern.includes("*") || pattern.includes("?");
}

/** Lower-cases and rewrites every run of wildcards as its `?`s followed by one `*` (if any). */
export function normaliseGlob(pattern: string): string {
  const p = pattern.toLowerCase();
  let out = "";
  let i = 0;
  while (i < p.length) {
    const c = p[i];
    if (c !== "*" && c !== "?") {
      out += c;
      i++;
      continue;
    }
    let questions = 0;
    let star = false;
    while (i < p.length && (p[i] === "*" || p[i] === "?")) {
      if (p[i] === "?") questions++;
      else star = true;
      i++;
    }
    out += "?".repeat(questions) + (star ? "*" : "");
  }
  return out;
}

/** Does `seg` (which may contain `?`) match `text` at position `at`? */
function segmentAt(text: string, at: number, seg: string): boolean {
  if (at < 0 || at + seg.length > text.length) return false;
  for (let j = 0; j < seg.length; j++) {
    const s = seg.charCodeAt(j);
    if (s !== 63 /* ? */ && s !== text.charCodeAt(at + j)) return false;
  }
  return true;
}

/**
 * Bit-parallel (shift-and) matcher for a segment that contains `?`: one pass over the text,
 * O(n · ⌈m/32⌉), where a naive scan would be O(n · m) on adversarial input.
 */
interface WildSegment {
  readonly length: number;
  readonly words: number;
  /** Bits of the `?` positions: every character matches there. */
  readonly wild: Uint32Array;
  /** Per literal character: the wild bits plus the positions holding that character. */
  readonly masks: ReadonlyMap<number, Uint32Array>;
}

function compileWildSegment(seg: string): WildSegment {
  const words = (seg.length + 31) >>> 5;
  const wild = new Uint32Array(words);
  for (let j = 0; j < seg.length; j++) {
    if (seg.charCodeAt(j) === 63) wild[j >>> 5]! |= 1 << (j & 31);
  }
  const masks = new Map<number, Uint32Array>();
  for (let j = 0; j < seg.length; j++) {
    const c = seg.charCodeAt(j);
    if (c === 63) continue;
    let m = masks.get(c);
    if (m === undefined) {
      m = wild.slice();
      masks.set(c, m);
    }
    m[j >>> 5]! |= 1 << (j & 31);
  }
  return { length: seg.length, words, wild, masks };
}

function findWildSegment(text: string, from: number, w: WildSegment): number {
  const { length: m, words, wild, masks } = w;
  const state = new Uint32Array(words);
  const lastWord = (m - 1) >>> 5;
  const lastBit = 1 << ((m - 1) & 31);
  for (let i = from; i < text.length; i++) {
    const mask = masks.get(text.charCodeAt(i)) ?? wild;
    let carry = 1;
    for (let k = 0; k < words; k++) {
      const d = state[k]!;
      state[k] = ((d << 1) | carry) & mask[k]!;
      carry = d >>> 31;
    }
    if ((state[lastWord]! & lastBit) !== 0) return i - m + 1;
  }
  return -1;
}

export function compileGlob(pattern: string): Glob {
  const source = normaliseGlob(pattern);
  const parts = source.split("*");
  const hasStar = parts.length > 1;
  const literal = !hasStar && !source.includes("?");
  const head = parts[0] ?? "";
  const tail = hasStar ? (parts[parts.length - 1] ?? "") : "";
  const middle = hasStar ? parts.slice(1, -1).filter((s) => s.length > 0) : [];
  const wildMiddle = middle.map((seg) => (seg.includes("?") ? compileWildSegment(seg) : undefined));
  const minLength = head.length + tail.length + middle.reduce((n, s) => n + s.length, 0);

  const matches = (input: string): boolean => {
    if (literal) return input === source;
    if (!hasStar) return input.length === source.length && segmentAt(input, 0, source);
    if (input.length < minLength) return false;
    if (!segmentAt(input, 0, head)) return false;
    const end = input.length - tail.length;
    if (!segmentAt(input, end, tail)) return false;
    // Greedy leftmost placement of the middle segments is exact for `*`-separated segments:
    // placing a segment earlier never removes options for the ones after it.
    // Each search starts where the previous segment ended, so the whole loop reads the input once.
    let pos = head.length;
    for (let k = 0; k < middle.length; k++) {
      const seg = middle[k] as string;
      const wild = wildMiddle[k];
      const at = wild === undefined ? input.indexOf(seg, pos) : findWildSegment(input, pos, wild);
      if (at < 0 || at + seg.length > end) return false;
      pos = at + seg.length;
    }
    return true;
  };

  return { source, literal, head, tail, middle, hasStar, matches };
}

/** One-off convenience; compile once and reuse `matches` on hot paths. */
export function globMatches(pattern: string, input: string): boolean {
  return compileGlob(pattern).matches(input.toLowerCase());
}
