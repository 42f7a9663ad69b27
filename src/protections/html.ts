// A single-pass, bounded scanner for Matrix `formatted_body` HTML. It is not a sanitiser and not a
// full parser: it extracts what protections need (visible text, link targets, inline images) from
// possibly malformed, attacker-written HTML in time linear in the input, never with a RegExp.
import { decodeEntities } from "../format/entities.ts";

export interface HtmlScan {
  /** Visible text: tags removed, entities decoded, reply fallback (`<mx-reply>`) skipped. */
  readonly text: string;
  /** `href` of every `<a>` outside the reply fallback (at most `maxHrefs`). */
  readonly hrefs: readonly string[];
  /** Number of `<img>` tags outside the reply fallback. */
  readonly images: number;
}

// prettier-ignore
const BLOCK_TAGS = new Set([
  "p", "br", "div", "li", "ul", "ol", "tr", "td", "th", "table", "h1", "h2", "h3", "h4", "h5", "h6",
  "blockquote", "pre", "hr", "details", "summary",
]);
// Clients drop the content of these rather than showing it.
const HIDDEN_TAGS = new Set(["mx-reply", "script", "style"]);

function isNameChar(c: number): boolean {
  return (
    (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 45 || c === 95 || c === 58
  );
}

function isWs(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13 || c === 12;
}

interface Tag {
  name: string;
  closing: boolean;
  attrs: Map<string, string>;
  end: number;
}

/** Parses the tag whose `<` is at `i`; null when the input ends inside the tag. */
function parseTag(s: string, i: number, wanted: boolean): Tag | null {
  let j = i + 1;
  const closing = s.charCodeAt(j) === 47;
  if (closing) j++;
  const nameStart = j;
  while (j < s.length && isNameChar(s.charCodeAt(j))) j++;
  const name = s.slice(nameStart, j).toLowerCase();
  const attrs = new Map<string, string>();
  while (j < s.length) {
    const c = s.charCodeAt(j);
    if (c === 62) return { name, closing, attrs, end: j + 1 };
    if (isWs(c) || c === 47) {
      j++;
      continue;
    }
    const aStart = j;
    while (j < s.length) {
      const d = s.charCodeAt(j);
      if (isWs(d) || d === 47 || d === 62 || d === 61) break;
      j++;
    }
    const attr = s.slice(aStart, j).toLowerCase();
    if (j === aStart) j++; // a stray character: skip it so the scan always advances
    while (j < s.length && isWs(s.charCodeAt(j))) j++;
    let value = "";
    if (s.charCodeAt(j) === 61) {
      j++;
      while (j < s.length && isWs(s.charCodeAt(j))) j++;
      const q = s.charCodeAt(j);
      if (q === 34 || q === 39) {
        const close = s.indexOf(q === 34 ? '"' : "'", j + 1);
        if (close === -1) return null;
        value = s.slice(j + 1, close);
        j = close + 1;
      } else {
        const vStart = j;
        while (j < s.length && !isWs(s.charCodeAt(j)) && s.charCodeAt(j) !== 62) j++;
        value = s.slice(vStart, j);
      }
    }
    if (wanted && attr.length > 0 && attrs.size < 32) attrs.set(attr, value);
  }
  return null;
}

/** Scans at most `maxChars` of `html`. Never throws, linear in the scanned length. */
export function scanHtml(html: string, maxChars = 65_536, maxHrefs = 100): HtmlScan {
  const s = html.length > maxChars ? html.slice(0, maxChars) : html;
  const hrefs: string[] = [];
  let images = 0;
  let text = "";
  let hiddenDepth = 0;
  let hiddenName = "";
  let i = 0;
  while (i < s.length) {
    const lt = s.indexOf("<", i);
    const chunkEnd = lt === -1 ? s.length : lt;
    if (hiddenDepth === 0 && chunkEnd > i) text += decodeEntities(s.slice(i, chunkEnd));
    if (lt === -1) break;
    i = lt;
    if (s.startsWith("<!--", i)) {
      const close = s.indexOf("-->", i + 4);
      if (close === -1) break;
      i = close + 3;
      continue;
    }
    const next = s.charCodeAt(i + 1);
    const startsTag = isNameChar(next) || next === 47 || next === 33 || next === 63;
    if (!startsTag) {
      // A lone `<` (e.g. "a < b") is text in HTML.
      if (hiddenDepth === 0) text += "<";
      i++;
      continue;
    }
    const tag = parseTag(s, i, hiddenDepth === 0);
    if (tag === null) break; // input ends inside a tag: browsers drop it too
    i = tag.end;
    if (HIDDEN_TAGS.has(tag.name)) {
      if (hiddenDepth === 0 && !tag.closing) {
        hiddenDepth = 1;
        hiddenName = tag.name;
      } else if (tag.name === hiddenName) {
        hiddenDepth += tag.closing ? -1 : 1;
      }
      continue;
    }
    if (hiddenDepth > 0 || tag.closing) {
      if (hiddenDepth === 0 && BLOCK_TAGS.has(tag.name)) text += "\n";
      continue;
    }
    if (tag.name === "a") {
      const href = tag.attrs.get("href");
      if (href !== undefined && hrefs.length < maxHrefs) hrefs.push(decodeEntities(href).trim());
    } else if (tag.name === "img") {
      images++;
      const alt = tag.attrs.get("alt");
      if (alt !== undefined) text += decodeEntities(alt);
    } else if (BLOCK_TAGS.has(tag.name)) {
      text += "\n";
    }
  }
  return { text, hrefs, images };
}
