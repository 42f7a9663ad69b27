// Overview: what `status` says, and charts of actions and protection hits over the last days. Pure.
import { stackedBars } from "../charts.ts";
import { h, fragmentHtml } from "../html.ts";
import { layout, type Viewer } from "../layout.ts";
import type { Fragment } from "../../format/fragment.ts";

export const CHART_DAYS = 14;
const DAY_MS = 86_400_000;

export interface HistogramRow {
  readonly bucket: number;
  readonly cause: string;
  readonly n: number;
}

/** Per-cause daily counts for the chart, oldest day first, from the log's histogram. Pure. */
export function dailySeries(rows: readonly HistogramRow[], days = CHART_DAYS): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const c of ["moderator", "policy", "protection", "system"]) out[c] = new Array<number>(days).fill(0);
  for (const r of rows) {
    const series = out[r.cause];
    const b = Math.floor(r.bucket);
    if (series !== undefined && b >= 0 && b < days) series[b] = (series[b] ?? 0) + r.n;
  }
  return out;
}

export function chartStart(now: number, days = CHART_DAYS): number {
  return Math.floor(now / DAY_MS) * DAY_MS - (days - 1) * DAY_MS;
}

export function overviewPage(
  v: Viewer,
  data: { status: Fragment; since: number; rows: readonly HistogramRow[]; logSize: number },
): string {
  const s = dailySeries(data.rows);
  const labels = Array.from({ length: CHART_DAYS }, (_, i) =>
    new Date(data.since + i * DAY_MS).toISOString().slice(5, 10),
  );
  const body = h`<section class="panel reply" aria-label="Status">${fragmentHtml(data.status)}</section>
<h2>Activity, last ${CHART_DAYS} days</h2>
${stackedBars("Actions per day by cause", labels, [
  { label: "moderators", cls: "c-mod", values: s.moderator ?? [] },
  { label: "policy lists", cls: "c-pol", values: s.policy ?? [] },
  { label: "protections", cls: "c-prot", values: s.protection ?? [] },
  { label: "Tyr itself", cls: "c-sys", values: s.system ?? [] },
])}
${stackedBars("Protection hits per day", labels, [{ label: "protection hits", cls: "c-prot", values: s.protection ?? [] }])}
<p class="muted">${data.logSize} actions in the log. <a href="/dashboard/log">Search the action log</a>.</p>`;
  return layout(v, "Overview", body);
}
