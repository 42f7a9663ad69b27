// Linear-time text helpers over untrusted message text: user ID and link extraction, and the
// confusable "skeleton" used to compare display names. No user-supplied pattern is involved here;
// the few fixed RegExps used have no nested quantifiers.

const MAX_USER_ID_LENGTH = 255;

function isLocalpartChar(c: number): boolean {
  // a-z A-Z 0-9 . _ = - / + (the grammar Synapse accepts for new IDs; historical IDs are rarer
  // and still reach m.mentions validation below via isValidUserId's wider check).
  return (
    (c >= 97 && c <= 122) ||
    (c >= 65 && c <= 90) ||
    (c >= 48 && c <= 57) ||
    c === 46 ||
    c === 95 ||
    c === 61 ||
    c === 45 ||
    c === 47 ||
    c === 43
  );
}

function isServerChar(c: number): boolean {
  // host name, IPv4, IPv6 literal brackets and the port separator
  return (
    (c >= 97 && c <= 122) ||
    (c >= 65 && c <= 90) ||
    (c >= 48 && c <= 57) ||
    c === 46 ||
    c === 45 ||
    c === 58 ||
    c === 91 ||
    c === 93
  );
}

/** A syntactically plausible Matrix user ID: `@localpart:server`, ≤ 255 chars, no whitespace. */
export function isValidUserId(s: unknown): s is string {
  if (typeof s !== "string" || s.length < 4 || s.length > MAX_USER_ID_LENGTH || s.charCodeAt(0) !== 64) {
    return false;
  }
  const colon = s.indexOf(":");
  if (colon < 2 || colon === s.length - 1) return false;
  for (let i = 1; i < colon; i++) {
    const c = s.charCodeAt(i);
    // historical user IDs: printable ASCII except ':'
    if (c < 0x21 || c > 0x7e) return false;
  }
  for (let i = colon + 1; i < s.length; i++) {
    if (!isServerChar(s.charCodeAt(i))) return false;
  }
  return true;
}

/** User IDs written out in plain text (`@alice:example.org`), distinct, at most `limit`. */
export function findUserIds(text: string, limit = 1000): string[] {
  const found = new Set<string>();
  let i = text.indexOf("@");
  while (i !== -1 && found.size < limit) {
    const prev = i > 0 ? text.charCodeAt(i - 1) : 32;
    let j = i + 1;
    if (!isLocalpartChar(prev) || prev === 46) {
      while (j < text.length && isLocalpartChar(text.charCodeAt(j))) j++;
      if (j > i + 1 && text.charCodeAt(j) === 58) {
        let k = j + 1;
        while (k < text.length && isServerChar(text.charCodeAt(k))) k++;
        // Trailing punctuation belongs to the sentence, not the server name.
        while (k > j + 1 && (text.charCodeAt(k - 1) === 46 || text.charCodeAt(k - 1) === 58)) k--;
        if (k > j + 1) {
          const id = text.slice(i, k);
          if (id.length <= MAX_USER_ID_LENGTH) found.add(id);
          j = k;
        }
      }
    }
    i = text.indexOf("@", Math.max(j, i + 1));
  }
  return [...found];
}

// Top-level domains common enough in chat spam that a bare `name.tld` counts as a link even
// without a scheme or path. Anything with a scheme, `www.` or a path counts regardless.
const BARE_TLDS = new Set(
  (
    "com net org io me gg ly co xyz ru su cn tk ml ga cf gq top site online live info biz app dev " +
    "link click shop store club vip icu buzz fun cc ws to su pw in us uk de fr eu tv im sh gl lol " +
    "win bet casino money cash finance crypto chat social space page"
  ).split(" "),
);

const OPEN_PUNCT = "([{<\"'`*_~";
const CLOSE_PUNCT = ".,;:!?)]}>\"'`*_~";

function isAsciiLetter(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
}

/** The link a token holds (possibly starting mid-token, e.g. "see:https://x"), or null. */
function linkIn(token: string): string | null {
  const sep = token.indexOf("://");
  if (sep > 0) {
    // Walk back over scheme characters: "hello,https://x" holds "https://x", as clients linkify it.
    let start = sep;
    while (start > 0) {
      const c = token.charCodeAt(start - 1);
      if (isAsciiLetter(c) || (c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46) start--;
      else break;
    }
    while (start < sep && !isAsciiLetter(token.charCodeAt(start))) start++;
    if (sep - start >= 2 && sep - start <= 16 && token.length > sep + 3) return token.slice(start);
  }
  return looksLikeLink(token) ? token : null;
}

function looksLikeLink(token: string): boolean {
  const lower = token.toLowerCase();
  if (lower.startsWith("www.") && token.length > 5) return true;
  if (lower.startsWith("matrix:") && !lower.startsWith("matrix:u/")) return token.length > 9;
  // bare host[/path]
  let end = token.length;
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    if (c === 47 || c === 63 || c === 35) {
      end = i;
      break;
    }
  }
  const host = lower.slice(0, end);
  const dot = host.lastIndexOf(".");
  if (dot <= 0 || dot === host.length - 1) return false;
  const tld = host.slice(dot + 1);
  if (tld.length < 2 || tld.length > 24) return false;
  for (let i = 0; i < tld.length; i++) if (!isAsciiLetter(tld.charCodeAt(i))) return false;
  for (let i = 0; i < dot; i++) {
    const c = host.charCodeAt(i);
    if (!(isAsciiLetter(c) || (c >= 48 && c <= 57) || c === 45 || c === 46)) return false;
  }
  if (host.includes("..")) return false;
  return BARE_TLDS.has(tld) || (end < token.length && token.charCodeAt(end) === 47 && token.length > end + 1);
}

function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13) || c === 0xa0 || c === 0x3000 || (c >= 0x2000 && c <= 0x200b);
}

/** Links written in plain text: `scheme://…`, `www.…`, `matrix:` room links, bare `host.tld[/…]`. */
export function findLinks(text: string, limit = 50): string[] {
  const out: string[] = [];
  let i = 0;
  const n = text.length;
  while (i < n && out.length < limit) {
    while (i < n && isSpace(text.charCodeAt(i))) i++;
    const start = i;
    while (i < n && !isSpace(text.charCodeAt(i))) i++;
    if (i - start < 4) continue;
    let a = start;
    let b = i;
    while (a < b && OPEN_PUNCT.includes(text[a] as string)) a++;
    while (b > a && CLOSE_PUNCT.includes(text[b - 1] as string)) b--;
    // Only the start of a token decides whether it is a link; keep the work per token bounded.
    const token = text.slice(a, Math.min(b, a + 2048));
    if (token.length < 4 || token.charCodeAt(0) === 64) continue;
    const link = linkIn(token);
    if (link !== null) out.push(link);
  }
  return out;
}

export function hasNonAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7e) return true;
  return false;
}

// Code points that render as nothing (or nearly nothing) and are used to make two names differ
// invisibly: soft hyphen, combining grapheme joiner, Hangul fillers, Mongolian and other variation
// selectors, zero-width spaces/joiners, bidi controls, word joiner and friends, BOM.
const INVISIBLE_RANGES: readonly (readonly [number, number])[] = [
  [0x00ad, 0x00ad],
  [0x034f, 0x034f],
  [0x061c, 0x061c],
  [0x115f, 0x1160],
  [0x17b4, 0x17b5],
  [0x180b, 0x180f],
  [0x200b, 0x200f],
  [0x202a, 0x202e],
  [0x2060, 0x206f],
  [0x3164, 0x3164],
  [0xfe00, 0xfe0f],
  [0xfeff, 0xfeff],
  [0xffa0, 0xffa0],
  [0xe0000, 0xe007f], // tag characters
];

function isInvisible(cp: number): boolean {
  if (cp < 0xad) return false;
  for (const [lo, hi] of INVISIBLE_RANGES) if (cp >= lo && cp <= hi) return true;
  return false;
}

function stripInvisible(s: string): string {
  let out = "";
  for (const ch of s) if (!isInvisible(ch.codePointAt(0) as number)) out += ch;
  return out;
}

const MARKS = /\p{M}/gu;
const WHITESPACE = /\s+/gu;

// Look-alikes NFKC leaves alone: Cyrillic, Greek and a few Latin letters and digits, mapped to
// the Latin letter they imitate. Capital I and l are indistinguishable in many fonts and case is
// folded, so every i/l/1/| look-alike collapses into "l".
// prettier-ignore
const HOMOGLYPHS: ReadonlyMap<string, string> = new Map(
  Object.entries({
    а: "a", б: "b", в: "b", г: "r", е: "e", ё: "e", з: "e", и: "u", к: "k", м: "m", н: "h", о: "o",
    п: "n", р: "p", с: "c", т: "t", у: "y", х: "x", ь: "b", ѕ: "s", і: "l", ї: "l", ј: "j", һ: "h",
    ԁ: "d", ԛ: "q", ԝ: "w", ӏ: "l", ɡ: "g", ɑ: "a", ı: "l", ȷ: "j", ʟ: "l", ɩ: "l", ο: "o", α: "a",
    β: "b", ε: "e", η: "n", ι: "l", i: "l", κ: "k", ν: "v", ρ: "p", τ: "t", υ: "u", χ: "x", ω: "w", ϲ: "c",
    ϳ: "j", "0": "o", "1": "l", "|": "l", ǀ: "l", "5": "s", "$": "s", "@": "a", "3": "e", "4": "a",
    "7": "t", "8": "b", "!": "l",
  }),
);

/**
 * A "skeleton" of a display name for impersonation checks: NFKC, invisible characters and
 * diacritics removed, homoglyphs mapped, case and whitespace folded, `rn`→`m`, `vv`→`w`.
 * Two names with the same skeleton look alike to a human.
 */
export function confusableSkeleton(input: string, maxLength = 512): string {
  let s = input.length > maxLength ? input.slice(0, maxLength) : input;
  s = stripInvisible(s.normalize("NFKC"));
  s = s.normalize("NFD").replace(MARKS, "");
  let out = "";
  for (const ch of s) {
    const c = ch.toLowerCase();
    out += HOMOGLYPHS.get(c) ?? c;
  }
  return out.replace(WHITESPACE, "").replaceAll("rn", "m").replaceAll("vv", "w");
}

/** Lower-cased, NFKC, invisible characters and diacritics removed: for word-list matching. */
export function foldForMatching(input: string): string {
  return stripInvisible(input.normalize("NFKC")).normalize("NFD").replace(MARKS, "").toLowerCase();
}
