// Lists and rules: every watched list, a search across all their rules, one rule's details, and
// forms to add or remove a rule in the lists Tyr can write (run as the `ban`/`unban` commands).
import { h, href } from "../html.ts";
import { BASE, csrfField, layout, type Flash, type Viewer } from "../layout.ts";
import type { Rule } from "../../banlists/rule.ts";

export const RULE_PAGE = 100;

export interface ListInfo {
  readonly id: string;
  readonly label: string;
  readonly rules: number;
  readonly writable: boolean;
}

/** Rules whose entity, reason or state key contains `q` (any case), at most `limit`. Pure. */
export function searchRules(
  rules: Iterable<Rule>,
  q: string,
  limit = RULE_PAGE,
): { found: Rule[]; more: boolean } {
  const needle = q.toLowerCase();
  const found: Rule[] = [];
  for (const r of rules) {
    const hay = [r.entity, r.reason, r.stateKey, r.sha256];
    if (needle !== "" && !hay.some((x) => x !== undefined && x.toLowerCase().includes(needle))) continue;
    if (found.length === limit) return { found, more: true };
    found.push(r);
  }
  return { found, more: false };
}

export function ruleId(r: Rule): string {
  return `${r.list}|${r.kind}|${r.stateKey}`;
}

function ruleRow(v: Viewer, r: Rule, lists: readonly ListInfo[]) {
  const list = lists.find((l) => l.id === r.list);
  const removable = list?.writable === true && r.entity !== undefined;
  return h`<tr>
<td data-label="List">${list?.label ?? r.list}</td>
<td data-label="Kind">${r.kind}</td>
<td data-label="Entity"><a href="${href(`${BASE}/lists`, { rule: ruleId(r) })}"><code>${r.entity ?? `sha256:${r.sha256 ?? "?"}`}</code></a></td>
<td data-label="Recommendation">${r.recommendation}</td>
<td data-label="Reason">${r.reason ?? ""}</td>
<td data-label="Remove">${
    removable
      ? h`<form method="post" action="${BASE}/lists/remove" class="inline">${csrfField(v)}<input type="hidden" name="list" value="${r.list}"><input type="hidden" name="entity" value="${r.entity ?? ""}"><button type="submit" class="danger" aria-label="Remove the rule for ${r.entity ?? ""}">Remove</button></form>`
      : ""
  }</td>
</tr>`;
}

export function listsPage(
  v: Viewer,
  data: {
    lists: readonly ListInfo[];
    q: string;
    found: readonly Rule[];
    more: boolean;
    detail?: Rule;
    flash?: Flash;
  },
): string {
  const writable = data.lists.filter((l) => l.writable);
  const detail = data.detail
    ? h`<section class="panel" aria-labelledby="rule-h"><h2 id="rule-h">Rule details</h2><dl>
${(
  [
    ["List", data.lists.find((l) => l.id === data.detail?.list)?.label ?? data.detail.list],
    ["Kind", data.detail.kind],
    ["Entity", data.detail.entity ?? "(hashed)"],
    ["SHA-256", data.detail.sha256 ?? ""],
    ["Recommendation", data.detail.recommendation],
    ["Reason", data.detail.reason ?? ""],
    ["Event type", data.detail.eventType],
    ["State key", data.detail.stateKey],
    ["Set by", data.detail.sender ?? ""],
    ["Event", data.detail.eventId ?? ""],
  ] as const
)
  .filter(([, x]) => x !== "")
  .map(([k, x]) => h`<dt>${k}</dt><dd><code>${x}</code></dd>`)}
</dl></section>`
    : h``;
  const body = h`${detail}
<h2>Watched lists</h2>
<div class="table-wrap"><table class="stack"><thead><tr><th scope="col">List</th><th scope="col">Room</th><th scope="col">Rules</th><th scope="col">Tyr can write</th></tr></thead><tbody>
${data.lists.map((l) => h`<tr><td data-label="List">${l.label}</td><td data-label="Room"><code>${l.id}</code></td><td data-label="Rules">${l.rules}</td><td data-label="Tyr can write">${l.writable ? "yes" : "no"}</td></tr>`)}
${data.lists.length === 0 ? h`<tr><td colspan="4">No watched lists. Watch one with <code>${v.prefix} watch</code>.</td></tr>` : ""}
</tbody></table></div>
${
  writable.length > 0
    ? h`<section class="panel" aria-labelledby="add-h"><h2 id="add-h">Add a ban rule</h2>
<form method="post" action="${BASE}/lists/add">${csrfField(v)}
<div class="row">
<div><label for="add-list">List</label><select id="add-list" name="list">${writable.map((l) => h`<option value="${l.id}">${l.label}</option>`)}</select></div>
<div><label for="add-entity">User, room or server (globs allowed)</label><input id="add-entity" name="entity" type="text" required placeholder="@spammer:evil.org"></div>
<div><label for="add-for">For (optional)</label><input id="add-for" name="for" type="text" placeholder="7d"></div>
</div>
<div><label for="add-reason">Reason</label><input id="add-reason" name="reason" type="text" placeholder="spam"></div>
<p><button type="submit">Add rule</button></p>
</form></section>`
    : h`<p class="muted">Tyr cannot write to any watched list, so rules cannot be added here.</p>`
}
<h2>Search rules</h2>
<form method="get" action="${BASE}/lists" role="search" class="row">
<div><label for="q">Entity, reason or state key contains</label><input id="q" name="q" type="search" value="${data.q}"></div>
<button type="submit">Search</button>
</form>
<p role="status">${data.found.length}${data.more ? "+" : ""} rule${data.found.length === 1 ? "" : "s"}${data.q ? h` matching <code>${data.q}</code>` : ""}${data.more ? ` (first ${RULE_PAGE} shown; narrow the search)` : ""}.</p>
<div class="table-wrap"><table class="stack"><thead><tr><th scope="col">List</th><th scope="col">Kind</th><th scope="col">Entity</th><th scope="col">Recommendation</th><th scope="col">Reason</th><th scope="col"><span class="skip">Actions</span></th></tr></thead>
<tbody>${data.found.map((r) => ruleRow(v, r, data.lists))}</tbody></table></div>`;
  return layout(v, "Lists & rules", body, data.flash);
}
