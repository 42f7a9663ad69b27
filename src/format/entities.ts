// HTML character references in incoming `formatted_body` HTML (command text, protections' view
// of a message). The look-ahead for `;` is bounded, so text full of `&` stays linear.

const NAMED_ENTITIES: Readonly<Record<string, string>> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
  nbsp: " ",
};

/** Longest reference looked at: `&#x10FFFF;` and the names above fit. */
const MAX_REFERENCE = 12;

/**
 * Decodes the character reference starting at `s[i]` (an `&`): the text it stands for and the
 * index after it, or `["&", i + 1]` when it is not one (the `&` is literal).
 */
export function decodeEntityAt(s: string, i: number): [string, number] {
  let semi = -1;
  for (let j = i + 1; j < s.length && j <= i + MAX_REFERENCE; j++) {
    if (s.charCodeAt(j) === 59) {
      semi = j;
      break;
    }
  }
  if (semi === -1) return ["&", i + 1];
  const name = s.slice(i + 1, semi);
  if (name.startsWith("#")) {
    const hex = name[1] === "x" || name[1] === "X";
    const digits = hex ? name.slice(2) : name.slice(1);
    const valid = digits.length > 0 && (hex ? /^[0-9a-f]+$/i : /^[0-9]+$/).test(digits);
    const code = valid ? Number.parseInt(digits, hex ? 16 : 10) : Number.NaN;
    if (Number.isInteger(code) && code > 0 && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff)) {
      return [String.fromCodePoint(code), semi + 1];
    }
    return ["&", i + 1];
  }
  const named = NAMED_ENTITIES[name.toLowerCase()];
  return named === undefined ? ["&", i + 1] : [named, semi + 1];
}

/** `s` with every character reference decoded. */
export function decodeEntities(s: string): string {
  if (!s.includes("&")) return s;
  let out = "";
  let i = 0;
  while (i < s.length) {
    const amp = s.indexOf("&", i);
    if (amp === -1) {
      out += s.slice(i);
      break;
    }
    out += s.slice(i, amp);
    const [t, next] = decodeEntityAt(s, amp);
    out += t;
    i = next;
  }
  return out;
}
