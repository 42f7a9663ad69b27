// Cutting text and HTML to a byte budget (as measured inside serialised JSON) without ever
// splitting a character, an HTML tag or an entity.
import { jsonStringBytes } from "./bytes.ts";
import type { Fragment } from "./fragment.ts";
import { escapeHtml } from "./html.ts";

export const TRUNCATION_MARKER = " …[truncated]";

const VOID_TAGS = new Set(["br", "hr", "img"]);

/** Cut `s` so that its JSON-escaped size plus the marker is at most `maxBytes`; code points
 *  are never split. Returns `s` unchanged when it already fits. */
export function truncateText(s: string, maxBytes: number, marker = TRUNCATION_MARKER): string {
  if (jsonStringBytes(s) <= maxBytes) return s;
  const room = maxBytes - jsonStringBytes(marker);
  if (room < 0) return "";
  let used = 0;
  let end = 0;
  for (const ch of s) {
    const cost = jsonStringBytes(ch);
    if (used + cost > room) break;
    used += cost;
    end += ch.length;
  }
  return s.slice(0, end) + marker;
}

/** Same for HTML produced by the fragment helpers: cuts only between tags, entities and
 *  characters, then closes every element left open. */
export function truncateHtml(html: string, maxBytes: number, marker = TRUNCATION_MARKER): string {
  if (jsonStringBytes(html) <= maxBytes) return html;
  const markerHtml = escapeHtml(marker);
  const markerCost = jsonStringBytes(markerHtml);
  if (markerCost > maxBytes) return "";
  const open: string[] = [];
  let closingCost = 0;
  let used = 0;
  let i = 0;
  let kept = "";
  while (i < html.length) {
    let token: string;
    let tagName: string | undefined;
    let closing = false;
    const c = html[i];
    if (c === "<") {
      const end = html.indexOf(">", i);
      token = end < 0 ? html.slice(i) : html.slice(i, end + 1);
      const m = /^<(\/?)([a-zA-Z][a-zA-Z0-9]*)/.exec(token);
      if (m) {
        closing = m[1] === "/";
        tagName = (m[2] ?? "").toLowerCase();
      }
    } else if (c === "&") {
      const end = html.indexOf(";", i);
      token = end > i && end - i <= 32 ? html.slice(i, end + 1) : "&";
    } else {
      const cp = html.codePointAt(i) ?? 0;
      token = String.fromCodePoint(cp);
    }
    const cost = jsonStringBytes(token);
    let nextClosing = closingCost;
    const opens = tagName !== undefined && !closing && !VOID_TAGS.has(tagName) && !token.endsWith("/>");
    if (opens) nextClosing += tagName!.length + 3;
    if (closing && tagName !== undefined && open[open.length - 1] === tagName)
      nextClosing -= tagName.length + 3;
    if (used + cost + nextClosing + markerCost > maxBytes) break;
    kept += token;
    used += cost;
    closingCost = nextClosing;
    if (opens) open.push(tagName!);
    else if (closing && tagName !== undefined && open[open.length - 1] === tagName) open.pop();
    i += token.length;
  }
  // A marker inside an unclosed <a> would be part of the link; close first, then mark.
  return (
    kept +
    open
      .reverse()
      .map((t) => `</${t}>`)
      .join("") +
    markerHtml
  );
}

/** Cut a fragment so that text + html together take at most `maxBytes`, sharing the budget
 *  in proportion to their sizes. */
export function truncateFragment(f: Fragment, maxBytes: number): Fragment {
  const t = jsonStringBytes(f.text);
  const h = jsonStringBytes(f.html);
  if (t + h <= maxBytes) return f;
  const textBudget = Math.floor((maxBytes * t) / Math.max(1, t + h));
  return { text: truncateText(f.text, textBudget), html: truncateHtml(f.html, maxBytes - textBudget) };
}
