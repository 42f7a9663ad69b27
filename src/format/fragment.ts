// Reply building blocks. A Fragment carries the same content twice: `text` for the plain
// `body` and `html` for `formatted_body`. Every string that goes in through these helpers is
// treated as text and escaped, so user input can only ever become text; markup comes only
// from the helpers themselves (or from `trusted`, for constants written in this codebase).
import { escapeHtml, escapeHtmlMultiline, plainText } from "./html.ts";

export interface Fragment {
  readonly text: string;
  readonly html: string;
}

/** Anything that can be placed inline: strings and numbers are escaped, fragments kept. */
export type Inline = string | number | Fragment;

export const EMPTY: Fragment = { text: "", html: "" };

export function isFragment(x: unknown): x is Fragment {
  return (
    typeof x === "object" &&
    x !== null &&
    typeof (x as Fragment).text === "string" &&
    typeof (x as Fragment).html === "string"
  );
}

/** Plain (possibly user-supplied) text; newlines become line breaks. */
export function text(s: string): Fragment {
  return { text: plainText(s), html: escapeHtmlMultiline(s) };
}

export function inline(x: Inline): Fragment {
  if (typeof x === "number") return text(formatNumber(x));
  if (typeof x === "string") return text(x);
  return x;
}

/** Numbers with thousands separators: 12,345 (locale-independent). */
export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const [int, frac] = String(Math.abs(n)).split(".");
  const grouped = (int ?? "").replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${n < 0 ? "-" : ""}${grouped}${frac !== undefined ? `.${frac}` : ""}`;
}

/** Trusted markup written in this codebase; never pass user input here. */
export function trusted(html: string, plain: string): Fragment {
  return { text: plain, html };
}

/**
 * Tagged template: static parts and interpolated strings/numbers are escaped as text,
 * interpolated Fragments are inserted as they are.
 *   fmt`Banned ${code(userId)} in ${n} rooms: ${reason}`
 */
export function fmt(strings: TemplateStringsArray, ...values: Inline[]): Fragment {
  let t = "";
  let h = "";
  strings.forEach((s, i) => {
    t += plainText(s);
    h += escapeHtmlMultiline(s);
    if (i < values.length) {
      const v = inline(values[i] as Inline);
      t += v.text;
      h += v.html;
    }
  });
  return { text: t, html: h };
}

export function concat(...parts: Inline[]): Fragment {
  const fs = parts.map(inline);
  return { text: fs.map((f) => f.text).join(""), html: fs.map((f) => f.html).join("") };
}

export function join(parts: readonly Inline[], separator: Inline = ", "): Fragment {
  const sep = inline(separator);
  const fs = parts.map(inline);
  return { text: fs.map((f) => f.text).join(sep.text), html: fs.map((f) => f.html).join(sep.html) };
}

function wrap(tag: string, x: Inline, plainBefore = "", plainAfter = plainBefore): Fragment {
  const f = inline(x);
  return { text: `${plainBefore}${f.text}${plainAfter}`, html: `<${tag}>${f.html}</${tag}>` };
}

export const bold = (x: Inline): Fragment => wrap("strong", x);
export const italic = (x: Inline): Fragment => wrap("em", x);
export const strike = (x: Inline): Fragment => wrap("del", x);

/** Inline code; the plain form uses backticks so it still stands out. */
export function code(s: string): Fragment {
  return { text: `\`${plainText(s)}\``, html: `<code>${escapeHtmlMultiline(s)}</code>` };
}

export function codeBlock(s: string): Fragment {
  return { text: plainText(s), html: `<pre><code>${escapeHtml(s)}</code></pre>` };
}

export function heading(level: 1 | 2 | 3 | 4 | 5 | 6, x: Inline): Fragment {
  const f = inline(x);
  return { text: f.text, html: `<h${level}>${f.html}</h${level}>` };
}

export function paragraph(x: Inline): Fragment {
  const f = inline(x);
  return { text: f.text, html: `<p>${f.html}</p>` };
}

const SAFE_SCHEMES = /^(https?:\/\/|matrix:)/i;

/** A link; hrefs other than http(s) and matrix: URIs are shown as text, never linked. */
export function link(href: string, label?: Inline): Fragment {
  const l = label === undefined ? text(href) : inline(label);
  // eslint-disable-next-line no-control-regex
  if (!SAFE_SCHEMES.test(href) || /[\s\u0000-\u001f]/u.test(href)) {
    return label === undefined
      ? l
      : { text: `${l.text} (${plainText(href)})`, html: `${l.html} (${escapeHtml(href)})` };
  }
  const plain = label === undefined || l.text === href ? plainText(href) : `${l.text} (${plainText(href)})`;
  return { text: plain, html: `<a href="${escapeHtml(href)}">${l.html}</a>` };
}

/** matrix.to permalink for a user ID, room ID or alias, optionally to an event. */
export function permalink(id: string, eventId?: string, via: readonly string[] = []): string {
  let url = `https://matrix.to/#/${encodeURIComponent(id)}`;
  if (eventId !== undefined) url += `/${encodeURIComponent(eventId)}`;
  if (via.length > 0) url += `?${via.map((v) => `via=${encodeURIComponent(v)}`).join("&")}`;
  return url;
}

function indentContinuation(s: string, indent: string): string {
  return s.replace(/\n/g, `\n${indent}`);
}

/** Bulleted list (block). */
export function bullets(items: readonly Inline[]): Fragment {
  if (items.length === 0) return EMPTY;
  const fs = items.map(inline);
  return {
    text: fs.map((f) => `• ${indentContinuation(f.text, "  ")}`).join("\n"),
    html: `<ul>${fs.map((f) => `<li>${f.html}</li>`).join("")}</ul>`,
  };
}

/** Numbered list (block), optionally starting at `start`. */
export function numbered(items: readonly Inline[], start = 1): Fragment {
  if (items.length === 0) return EMPTY;
  const fs = items.map(inline);
  const attr = start === 1 ? "" : ` start="${start}"`;
  return {
    text: fs.map((f, i) => `${start + i}. ${indentContinuation(f.text, "   ")}`).join("\n"),
    html: `<ol${attr}>${fs.map((f) => `<li>${f.html}</li>`).join("")}</ol>`,
  };
}

/** "Key: value" pairs as a list — Matrix clients render lists far more reliably than tables. */
export function keyValue(pairs: readonly (readonly [Inline, Inline])[]): Fragment {
  return bullets(pairs.map(([k, v]) => concat(bold(k), ": ", v)));
}

/** A table rendered as a list: one item per row, "column: value" joined by " · ". */
export function table(columns: readonly string[], rows: readonly (readonly Inline[])[]): Fragment {
  return bullets(
    rows.map((row) =>
      join(
        row.map((cell, i) =>
          columns[i] === undefined ? inline(cell) : concat(italic(columns[i]), ": ", cell),
        ),
        " · ",
      ),
    ),
  );
}

const BLOCK_START = /^<(ul|ol|h[1-6]|p|pre|blockquote|div|table|hr)[\s>/]/;
const BLOCK_END = /(<\/(ul|ol|h[1-6]|p|pre|blockquote|div|table)>|<hr\s*\/?>)$/;

/** Blocks one after another (each on its own line in the plain form). */
export function blocks(...parts: readonly (Fragment | undefined | false)[]): Fragment {
  const fs = parts.filter((p): p is Fragment => isFragment(p) && (p.text !== "" || p.html !== ""));
  let html = "";
  fs.forEach((f, i) => {
    const prev = fs[i - 1];
    // Inline runs next to each other need an explicit break; block elements bring their own.
    if (prev !== undefined && !BLOCK_END.test(prev.html) && !BLOCK_START.test(f.html)) html += "<br>";
    html += f.html;
  });
  return { text: fs.map((f) => f.text).join("\n"), html };
}

/** One progress line for a long job, meant to be edited in place (see `editContent`):
 *  "banning 340 users in 12 rooms: 120/4,080 (2%)". */
export function progress(label: string, done: number, total: number): Fragment {
  const safeTotal = Math.max(0, Math.floor(total));
  const safeDone = Math.min(Math.max(0, Math.floor(done)), safeTotal);
  const pct = safeTotal === 0 ? 100 : Math.floor((safeDone * 100) / safeTotal);
  return fmt`${label}: ${safeDone}/${safeTotal} (${pct}%)`;
}
