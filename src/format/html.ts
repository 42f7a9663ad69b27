// Escaping for text that came from users (command arguments, reasons, display names, event
// content) before it goes into a reply. Two threats: HTML/markup injection in
// `formatted_body`, and invisible characters that make the bot's reply say something other
// than what it appears to say (bidi overrides reorder the text around them; C0/C1 controls
// can hide or garble parts of the line). Invisible ones are made visible as `<U+XXXX>` so a
// moderator sees exactly what was typed; look-alike letters (Cyrillic "а") are kept as they
// are, because changing them would misreport the input.

const BIDI_CONTROLS = new Set([
  0x061c, 0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069,
]);

/** Code point as `U+XXXX` (at least four hex digits). */
export function codePointLabel(cp: number): string {
  return `U+${cp.toString(16).toUpperCase().padStart(4, "0")}`;
}

function isInvisibleControl(cp: number): boolean {
  if (cp === 0x09 || cp === 0x0a) return false; // tab and newline are meaningful layout
  return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || BIDI_CONTROLS.has(cp);
}

// Lone surrogates would be serialised as `\udXXX` escapes and render as garbage.
function isLoneSurrogate(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  if (c >= 0xd800 && c <= 0xdbff) {
    const n = s.charCodeAt(i + 1);
    return !(n >= 0xdc00 && n <= 0xdfff);
  }
  if (c >= 0xdc00 && c <= 0xdfff) {
    const p = s.charCodeAt(i - 1);
    return !(p >= 0xd800 && p <= 0xdbff);
  }
  return false;
}

// Anything `neutraliseInvisible` may change (controls, bidi, separators, surrogates).
/* eslint-disable no-control-regex */
const NEEDS_NEUTRALISING =
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]/;
/* eslint-enable no-control-regex */

/** Replace invisible controls with a visible `<U+XXXX>` label; CR and line/paragraph
 *  separators become `\n`. The result is plain text, still to be HTML-escaped. */
export function neutraliseInvisible(s: string): string {
  // Fast path: most text has nothing to replace.
  if (!NEEDS_NEUTRALISING.test(s)) return s;
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const cp = s.charCodeAt(i);
    if (cp === 0x0d) {
      if (s.charCodeAt(i + 1) !== 0x0a) out += "\n";
    } else if (cp === 0x2028 || cp === 0x2029) {
      out += "\n";
    } else if (isInvisibleControl(cp)) {
      out += `<${codePointLabel(cp)}>`;
    } else if (cp >= 0xd800 && cp <= 0xdfff && isLoneSurrogate(s, i)) {
      out += "\ufffd";
    } else {
      out += s[i];
    }
  }
  return out;
}

const HTML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escape for HTML text and attribute values (after neutralising invisible characters).
 *  Newlines are kept as `\n`; use `escapeHtmlMultiline` where they must show as line breaks. */
export function escapeHtml(s: string): string {
  return neutraliseInvisible(s).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

/** Like `escapeHtml`, but newlines become `<br>`. */
export function escapeHtmlMultiline(s: string): string {
  return escapeHtml(s).replace(/\n/g, "<br>");
}

/** Plain-text rendering of user input for a `body`: only the invisible characters change. */
export function plainText(s: string): string {
  return neutraliseInvisible(s);
}
