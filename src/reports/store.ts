// The report store, pure core: every relayed report with its state (open, handled, dismissed as a
// bad report) and the triage actions moderators took on it (who, what, how it went). Plain data in,
// new data out; the shell (reportStore.ts) keeps it on disk. A dashboard reads the same entries.
import {
  REPORT_KINDS,
  parseReport,
  reportKey,
  type Report,
  type ReportedEvent,
  type ReporterHistory,
} from "./reports.ts";

export type ReportState = "open" | "handled" | "bad";
/** What a moderator can do to a report (by reaction, or from the dashboard). */
export type TriageAction = "ban" | "redact" | "kick" | "mute" | "handled" | "bad";
export const TRIAGE_ACTIONS: readonly TriageAction[] = ["ban", "redact", "kick", "mute", "handled", "bad"];

export type TriageOutcome = "done" | "failed" | "dry-run";

export interface TriageRecord {
  readonly action: TriageAction;
  readonly moderator: string;
  readonly at: number;
  readonly outcome: TriageOutcome;
  /** What happened, in a sentence (the command's answer or the failure). */
  readonly summary: string;
  /** The list a ban went into. */
  readonly list?: string;
}

export interface ReportEntry {
  /** reportKey(): "event-12". Actions taken for the report carry it in the action log (`report`). */
  readonly key: string;
  readonly report: Report;
  readonly state: ReportState;
  readonly relayedAt: number;
  /** The notice in the management room; reactions on it triage the report. */
  readonly noticeId?: string;
  /** Event reports: what the reported event showed when it was relayed. */
  readonly event?: ReportedEvent;
  /** Oldest first. */
  readonly actions: readonly TriageRecord[];
}

export interface ReportsData {
  /** Oldest first. */
  readonly entries: readonly ReportEntry[];
  /** The list moderators chose last for a 🚫 ban: offered first next time. */
  readonly lastList?: string;
}

/** Entries kept; beyond this, the oldest closed reports are forgotten first. */
export const MAX_ENTRIES = 5_000;
const MAX_SUMMARY = 500;

export const EMPTY_REPORTS: ReportsData = { entries: [] };

/** The state a report is in after a triage action. A failed action changes nothing. */
export function stateAfter(state: ReportState, rec: Pick<TriageRecord, "action" | "outcome">): ReportState {
  if (rec.outcome === "failed") return state;
  return rec.action === "bad" ? "bad" : "handled";
}

/** Adds a newly relayed report (a report already present is kept as it is). */
export function addReport(data: ReportsData, entry: ReportEntry): ReportsData {
  if (data.entries.some((e) => e.key === entry.key)) return data;
  let entries = [...data.entries, entry];
  if (entries.length > MAX_ENTRIES) {
    // Forget closed reports first: an open one is still somebody's work.
    const excess = entries.length - MAX_ENTRIES;
    const closed = new Set(
      entries
        .filter((e) => e.state !== "open")
        .slice(0, excess)
        .map((e) => e.key),
    );
    entries = entries.filter((e) => !closed.has(e.key));
    if (entries.length > MAX_ENTRIES) entries = entries.slice(entries.length - MAX_ENTRIES);
  }
  return { ...data, entries };
}

/** Records a triage action on report `key`; undefined when there is no such report. */
export function recordTriage(data: ReportsData, key: string, rec: TriageRecord): ReportsData | undefined {
  const i = data.entries.findIndex((e) => e.key === key);
  if (i < 0) return undefined;
  const e = data.entries[i]!;
  const kept = { ...rec, summary: rec.summary.slice(0, MAX_SUMMARY) };
  const next: ReportEntry = { ...e, state: stateAfter(e.state, rec), actions: [...e.actions, kept] };
  const entries = [...data.entries];
  entries[i] = next;
  return {
    ...data,
    entries,
    ...(rec.list !== undefined && rec.outcome === "done" ? { lastList: rec.list } : {}),
  };
}

/** Newest first; `open` leaves out handled and bad reports. */
export function listReports(data: ReportsData, filter: "open" | "all", limit: number): ReportEntry[] {
  const out: ReportEntry[] = [];
  for (let i = data.entries.length - 1; i >= 0 && out.length < limit; i--) {
    const e = data.entries[i]!;
    if (filter === "all" || e.state === "open") out.push(e);
  }
  return out;
}

export function countReports(data: ReportsData): Record<ReportState, number> {
  const n = { open: 0, handled: 0, bad: 0 };
  for (const e of data.entries) n[e.state]++;
  return n;
}

/** The reports a reporter filed that Tyr relayed, and how many of them were bad. */
export function reporterHistory(data: ReportsData, reporter: string): ReporterHistory {
  let total = 0;
  let bad = 0;
  for (const e of data.entries)
    if (e.report.reporter === reporter) {
      total++;
      if (e.state === "bad") bad++;
    }
  return { total, bad };
}

// ---- reading the file back: untrusted (hand-edited, older versions, torn) ----

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const STATES: readonly string[] = ["open", "handled", "bad"];
const OUTCOMES: readonly string[] = ["done", "failed", "dry-run"];

function parseTriage(v: unknown): TriageRecord | undefined {
  if (!isObj(v)) return undefined;
  const { action, moderator, at, outcome, summary, list } = v;
  if (!TRIAGE_ACTIONS.includes(action as TriageAction) || typeof moderator !== "string") return undefined;
  if (typeof at !== "number" || !OUTCOMES.includes(outcome as string) || typeof summary !== "string")
    return undefined;
  return {
    action: action as TriageAction,
    moderator,
    at,
    outcome: outcome as TriageOutcome,
    summary: summary.slice(0, MAX_SUMMARY),
    ...(typeof list === "string" ? { list } : {}),
  };
}

/** The report as stored (the parsed form, not Synapse's), checked like a fresh one. */
function parseStoredReport(v: unknown): Report | undefined {
  if (!isObj(v) || !REPORT_KINDS.includes(v.kind as Report["kind"])) return undefined;
  const r = parseReport(
    {
      id: v.id,
      received_ts: v.receivedTs,
      user_id: v.reporter,
      reason: v.reason,
      room_id: v.roomId,
      event_id: v.eventId,
      sender: v.sender,
      target_user_id: v.targetUser,
      score: v.score,
      name: v.roomName,
    },
    v.kind as Report["kind"],
  );
  return r;
}

function parseEvent(v: unknown): ReportedEvent | undefined {
  if (!isObj(v) || typeof v.type !== "string" || typeof v.encrypted !== "boolean") return undefined;
  return { type: v.type, body: typeof v.body === "string" ? v.body : undefined, encrypted: v.encrypted };
}

function parseEntry(v: unknown): ReportEntry | undefined {
  if (!isObj(v)) return undefined;
  const report = parseStoredReport(v.report);
  if (!report || !STATES.includes(v.state as string) || typeof v.relayedAt !== "number") return undefined;
  const actions = Array.isArray(v.actions) ? v.actions.map(parseTriage) : [];
  return {
    key: reportKey(report),
    report,
    state: v.state as ReportState,
    relayedAt: v.relayedAt,
    ...(typeof v.noticeId === "string" ? { noticeId: v.noticeId } : {}),
    ...(parseEvent(v.event) ? { event: parseEvent(v.event)! } : {}),
    actions: actions.filter((a): a is TriageRecord => a !== undefined),
  };
}

/** The store from its file's JSON; unusable entries are dropped and counted. */
export function parseReportsData(json: unknown): { data: ReportsData; skipped: number } {
  if (!isObj(json) || !Array.isArray(json.entries)) return { data: EMPTY_REPORTS, skipped: 0 };
  const entries: ReportEntry[] = [];
  const seen = new Set<string>();
  for (const v of json.entries) {
    const e = parseEntry(v);
    if (e && !seen.has(e.key)) {
      seen.add(e.key);
      entries.push(e);
    }
  }
  const lastList = typeof json.lastList === "string" ? { lastList: json.lastList } : {};
  return {
    data: { entries: entries.slice(-MAX_ENTRIES), ...lastList },
    skipped: json.entries.length - entries.length,
  };
}
