// The action log: filters (entity, room, moderator/actor, cause, kind, outcome, dates, free text),
// newest first, 50 a page with an "older" cursor. Parsing the query string is pure and says what
// was wrong with a field instead of failing.
import { h, href, when } from "../html.ts";
import { BASE, layout, type Viewer } from "../layout.ts";
import { CAUSE_KINDS, type ActionSearch, type CauseKind } from "../../store/actionQuery.ts";
import type { StoredRecord } from "../../store/actionLog.ts";

export const LOG_PAGE = 50;
const OUTCOMES = ["done", "failed", "skipped", "dry-run"] as const;
const TEXT_FIELDS = ["entity", "room", "actor", "text"] as const;

export interface LogQuery {
  readonly search: ActionSearch;
  /** The form's values as given (to fill the form again). */
  readonly form: Readonly<Record<string, string>>;
  readonly errors: readonly string[];
}

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

function day(v: string): number | undefined {
  const m = DAY.exec(v);
  if (m === null) return undefined;
  const t = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return Number.isFinite(t) && new Date(t).toISOString().startsWith(v) ? t : undefined;
}

export function parseLogQuery(q: URLSearchParams, kinds: readonly string[]): LogQuery {
  const form: Record<string, string> = {};
  const errors: string[] = [];
  const search: { -readonly [K in keyof ActionSearch]: ActionSearch[K] } = { limit: LOG_PAGE };
  const get = (k: string) => (q.get(k) ?? "").trim();
  for (const k of TEXT_FIELDS) {
    const v = get(k);
    if (v === "") continue;
    if (v.length > 256) {
      errors.push(`${k}: at most 256 characters`);
      continue;
    }
    form[k] = v;
    search[k] = v;
  }
  const cause = get("cause");
  if (cause !== "") {
    if ((CAUSE_KINDS as readonly string[]).includes(cause)) search.cause = form.cause = cause as CauseKind;
    else errors.push(`cause: expected one of ${CAUSE_KINDS.join(", ")}`);
  }
  const kind = get("kind");
  if (kind !== "") {
    if (kinds.includes(kind)) search.kind = form.kind = kind;
    else errors.push(`kind: no action of kind "${kind.slice(0, 40)}" in the log`);
  }
  const outcome = get("outcome");
  if (outcome !== "") {
    if ((OUTCOMES as readonly string[]).includes(outcome)) search.outcome = form.outcome = outcome;
    else errors.push(`outcome: expected one of ${OUTCOMES.join(", ")}`);
  }
  for (const [k, plus] of [
    ["from", 0],
    ["to", 86_400_000],
  ] as const) {
    const v = get(k);
    if (v === "") continue;
    const t = day(v);
    if (t === undefined) errors.push(`${k}: expected a date such as 2026-12-04`);
    else {
      form[k] = v;
      if (k === "from") search.since = t;
      else search.until = t + plus;
    }
  }
  const before = get("before");
  if (before !== "") {
    if (/^[1-9]\d{0,15}$/.test(before)) search.before = Number(before);
    else errors.push("before: expected a record number");
  }
  return { search, form, errors };
}

function select(name: string, label: string, options: readonly string[], value: string | undefined) {
  return h`<div><label for="f-${name}">${label}</label><select id="f-${name}" name="${name}">
<option value="">any</option>${options.map((o) => h`<option${o === value ? h` selected` : ""}>${o}</option>`)}</select></div>`;
}

function input(name: string, label: string, value: string | undefined, type = "search", placeholder = "") {
  return h`<div><label for="f-${name}">${label}</label><input id="f-${name}" name="${name}" type="${type}" value="${value ?? ""}" placeholder="${placeholder}"></div>`;
}

export function logPage(
  v: Viewer,
  data: {
    query: LogQuery;
    records: readonly StoredRecord[];
    matches: number;
    cap: number;
    kinds: readonly string[];
  },
): string {
  const f = data.query.form;
  const errors = data.query.errors;
  const rows = data.records.map(
    (r) => h`<tr>
<td data-label="When">${when(r.ts)}</td>
<td data-label="Action">${r.kind}</td>
<td data-label="Target">${r.target !== undefined ? h`<code>${r.target}</code>` : ""}</td>
<td data-label="Room">${r.room !== undefined ? h`<code>${r.room}</code>` : ""}</td>
<td data-label="By">${r.via !== undefined ? `via ${r.via} by ` : ""}${r.actor}${r.report !== undefined ? ` (for report ${r.report})` : ""}</td>
<td data-label="Outcome" class="outcome-${r.outcome}">${r.outcome}${r.outcome !== "done" && r.detail ? h` <span class="muted">(${r.detail.slice(0, 200)})</span>` : ""}</td>
<td data-label="Reason">${r.reason !== undefined ? r.reason.slice(0, 500) : ""}</td>
</tr>`,
  );
  const last = data.records.at(-1);
  const older =
    last !== undefined && data.records.length === LOG_PAGE
      ? h`<a href="${href(`${BASE}/log`, { ...f, before: last.id })}" rel="next">Older actions →</a>`
      : h``;
  const newest =
    data.query.search.before !== undefined ? h`<a href="${href(`${BASE}/log`, f)}">← Newest</a>` : h``;
  const body = h`<form class="filters panel" method="get" action="${BASE}/log" role="search" aria-label="Filter the action log">
${input("text", "Free text", f.text, "search", "anything: user, reason, server…")}
${input("entity", "Entity (exact)", f.entity, "search", "@user:server")}
${input("room", "Room ID (exact)", f.room, "search", "!room:server")}
${input("actor", "Moderator or actor (exact)", f.actor, "search", "@mod:server")}
${select("cause", "Cause", CAUSE_KINDS, f.cause)}
${select("kind", "Kind", data.kinds, f.kind)}
${select("outcome", "Outcome", OUTCOMES, f.outcome)}
${input("from", "From (UTC day)", f.from, "date")}
${input("to", "To (UTC day)", f.to, "date")}
<div><button type="submit">Search</button> <a href="${BASE}/log">Clear</a></div>
</form>
${errors.length > 0 ? h`<div class="flash error" role="alert"><p>Some filters were not used:</p><ul>${errors.map((e) => h`<li>${e}</li>`)}</ul></div>` : ""}
<p role="status">${data.matches >= data.cap ? `More than ${data.cap}` : data.matches} matching action${data.matches === 1 ? "" : "s"}, newest first.</p>
<div class="table-wrap"><table class="stack">
<thead><tr><th scope="col">When</th><th scope="col">Action</th><th scope="col">Target</th><th scope="col">Room</th><th scope="col">By</th><th scope="col">Outcome</th><th scope="col">Reason</th></tr></thead>
<tbody>${rows.length > 0 ? rows : h`<tr><td colspan="7">No action matches.</td></tr>`}</tbody>
</table></div>
<nav class="pager" aria-label="Pages">${newest}${older}</nav>`;
  return layout(v, "Action log", body);
}
