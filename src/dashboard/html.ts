// HTML for the dashboard, escaped in one place. `h` is a tagged template: interpolated strings and
// numbers are escaped (text and attribute values alike; attributes are always double-quoted in
// the templates), arrays are concatenated, and only `Html` values (made by `h` itself, `trusted`
// for constants, or `fragmentHtml` for the chat replies Tyr's format helpers built) go in as
// markup. Everything from Matrix is attacker-controlled and reaches a page only as a string.
import { escapeHtml } from "../format/html.ts";
import type { Fragment } from "../format/fragment.ts";

export class Html {
  readonly value: string;
  constructor(value: string) {
    this.value = value;
  }
  toString(): string {
    return this.value;
  }
}

export type Piece = Html | string | number | undefined | null | false | readonly Piece[];

function render(p: Piece): string {
  if (p === undefined || p === null || p === false) return "";
  if (p instanceof Html) return p.value;
  if (Array.isArray(p)) return (p as readonly Piece[]).map(render).join("");
  return escapeHtml(String(p));
}

export function h(strings: TemplateStringsArray, ...values: Piece[]): Html {
  let out = strings[0] ?? "";
  values.forEach((v, i) => (out += render(v) + (strings[i + 1] ?? "")));
  return new Html(out);
}

/** Markup written in this codebase (never pass anything that came from outside). */
export function trusted(markup: string): Html {
  return new Html(markup);
}

/** A chat reply's HTML: built by src/format's helpers, which escape every string they are given. */
export function fragmentHtml(f: Fragment): Html {
  return new Html(f.html);
}

/** A URL path with query parameters, each value encoded. */
export function href(path: string, params: Record<string, string | number | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

export function when(ts: number): string {
  return new Date(ts)
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, " UTC");
}
