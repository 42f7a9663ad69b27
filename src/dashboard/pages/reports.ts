// Abuse reports (src/reports/): open or all, newest first, each with what was reported and the
// triage so far, and the same actions as the reactions on its notice in the management room.
// Everything in a report comes from strangers: it reaches the page only as escaped text.
import { h, href, when } from "../html.ts";
import { BASE, csrfField, layout, type Flash, type Viewer } from "../layout.ts";
import type { ReportEntry } from "../../reports/store.ts";
import { TRIAGE_KEYS } from "../../reports/triagePlan.ts";
import { TRIAGE_ACTIONS, type TriageAction } from "../../reports/store.ts";
import type { ListChoice } from "../../commands/propagationPlan.ts";

const LABEL: Record<TriageAction, string> = {
  ban: "Ban (via a list)",
  redact: "Redact",
  kick: "Kick",
  mute: "Mute 1 h",
  handled: "Handled",
  bad: "Bad report",
};

function target(e: ReportEntry) {
  const r = e.report;
  if (r.kind === "user") return h`user <code>${r.targetUser ?? "?"}</code>`;
  if (r.kind === "room") return h`room <code>${r.roomName ?? r.roomId ?? "?"}</code>`;
  return h`event by <code>${r.sender ?? "?"}</code> in <code>${r.roomName ?? r.roomId ?? "?"}</code>${
    e.event !== undefined
      ? e.event.encrypted
        ? h`<br><span class="muted">(encrypted)</span>`
        : e.event.body !== undefined
          ? h`<br><q>${e.event.body.slice(0, 500)}</q>`
          : ""
      : ""
  }`;
}

export function reportsPage(
  v: Viewer,
  data: {
    which: "open" | "all";
    entries: readonly ReportEntry[];
    counts: { open: number; handled: number; bad: number };
    /** A ban that needs a list: the lists to choose from, for this report. */
    choose?: { key: string; lists: readonly ListChoice[] };
    flash?: Flash;
  },
): string {
  const rows = data.entries.map((e) => {
    const choose = data.choose?.key === e.key ? data.choose.lists : undefined;
    return h`<tr>
<td data-label="Report"><strong>${e.key}</strong><br><span class="muted">${when(e.report.receivedTs)}</span></td>
<td data-label="Reported">${target(e)}</td>
<td data-label="By"><code>${e.report.reporter}</code>${e.report.reason !== undefined ? h`<br><q>${e.report.reason.slice(0, 500)}</q>` : ""}</td>
<td data-label="State">${e.state}${e.actions.map((a) => h`<br><span class="muted">${a.action} by ${a.moderator}: ${a.outcome} — ${a.summary.slice(0, 300)}</span>`)}</td>
<td data-label="Triage">${
      e.state === "open"
        ? h`<form method="post" action="${BASE}/reports" class="row">${csrfField(v)}<input type="hidden" name="report" value="${e.key}">${
            choose
              ? h`<div><label for="list-${e.key}">List for the ban</label><select id="list-${e.key}" name="list">${choose.map((l) => h`<option value="${l.list}">${l.label}</option>`)}</select></div><button type="submit" name="action" value="ban" class="fit">Ban</button>`
              : TRIAGE_ACTIONS.map(
                  (a) =>
                    h`<button type="submit" name="action" value="${a}" class="fit${a === "ban" || a === "kick" ? " danger" : " secondary"}" aria-label="${LABEL[a]}: report ${e.key}">${TRIAGE_KEYS[a]} ${LABEL[a]}</button>`,
                )
          }</form>`
        : ""
    }</td>
</tr>`;
  });
  const body = h`<p>${data.counts.open} open, ${data.counts.handled} handled, ${data.counts.bad} bad. Show:
<a href="${href(`${BASE}/reports`)}"${data.which === "open" ? h` aria-current="page"` : ""}>open</a> ·
<a href="${href(`${BASE}/reports`, { which: "all" })}"${data.which === "all" ? h` aria-current="page"` : ""}>all</a></p>
<p class="muted">The buttons do what the reactions on a report's notice do in the management room (the same command, the same checks); the notice shows the result.</p>
<div class="table-wrap"><table class="stack"><thead><tr><th scope="col">Report</th><th scope="col">Reported</th><th scope="col">By</th><th scope="col">State</th><th scope="col">Triage</th></tr></thead>
<tbody>${rows.length > 0 ? rows : h`<tr><td colspan="5">No ${data.which === "open" ? "open " : ""}reports.</td></tr>`}</tbody></table></div>`;
  return layout(v, "Reports", body, data.flash);
}
