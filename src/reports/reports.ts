// Abuse reports users file with their homeserver, as Synapse's admin API lists them, turned into
// notices for the management room. The spec has three kinds: event reports (`POST
// /rooms/{roomId}/report/{eventId}`), room reports (`POST /rooms/{roomId}/report`, v1.13) and user
// reports (`POST /users/{userId}/report`, v1.14). Pure: the responses are untrusted JSON in,
// validated reports and formatted notices out.
import { blocks, bold, code, fmt, join, link, permalink, type Fragment } from "../format/fragment.ts";
import { truncateText } from "../format/truncate.ts";

export type ReportKind = "event" | "room" | "user";
export const REPORT_KINDS: readonly ReportKind[] = ["event", "room", "user"];

export interface Report {
  readonly kind: ReportKind;
  /** Synapse's report ID within its kind: increasing, so it doubles as the relay cursor. */
  readonly id: number;
  readonly receivedTs: number;
  /** Who reported. */
  readonly reporter: string;
  readonly reason: string | undefined;
  /** Event reports: the event's room; room reports: the reported room. */
  readonly roomId?: string;
  /** Event reports: the reported event. */
  readonly eventId?: string;
  /** Event reports: who sent the reported event (when Synapse knows). */
  readonly sender?: string;
  /** User reports: the reported user. */
  readonly targetUser?: string;
  readonly score?: number;
  /** The room's canonical alias or name, when Synapse knows one. */
  readonly roomName?: string;
}

/** A report's ID across kinds ("event-12", "user-3", "room-5"): what moderators and the dashboard use. */
export function reportKey(r: { readonly kind: ReportKind; readonly id: number }): string {
  return `${r.kind}-${r.id}`;
}

/** The kind and number of a report key, or undefined when it is not one. */
export function parseReportKey(s: string): { kind: ReportKind; id: number } | undefined {
  const m = /^(event|room|user)-(\d{1,15})$/.exec(s.trim().toLowerCase());
  return m ? { kind: m[1] as ReportKind, id: Number(m[2]) } : undefined;
}

/** Parts of the reported event worth showing (from the report's `event_json`). */
export interface ReportedEvent {
  readonly type: string;
  /** Plain text of a message, when it has one and is not encrypted. */
  readonly body: string | undefined;
  readonly encrypted: boolean;
}

const MAX_REASON_BYTES = 1_000;
const MAX_BODY_BYTES = 1_500;
/** Matrix IDs are at most 255 bytes; longer ones are not real and would bloat every notice. */
const MAX_ID_LENGTH = 255;

const str = (v: unknown): string | undefined => (typeof v === "string" && v.length > 0 ? v : undefined);
const id = (v: unknown, sigil: string): string | undefined => {
  const s = str(v);
  return s?.startsWith(sigil) && s.length <= MAX_ID_LENGTH && !/\s/.test(s) ? s : undefined;
};

/** Where each kind is listed in Synapse's admin API, and under which key of the page. */
export const ADMIN_LIST: Readonly<Record<ReportKind, { path: string; key: string }>> = {
  event: { path: "/_synapse/admin/v1/event_reports", key: "event_reports" },
  room: { path: "/_synapse/admin/v1/room_reports", key: "room_reports" },
  user: { path: "/_synapse/admin/v1/user_reports", key: "user_reports" },
};

/** One report of an admin-API page, or undefined when it is not usable. */
export function parseReport(v: unknown, kind: ReportKind = "event"): Report | undefined {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
  const r = v as Record<string, unknown>;
  const n = r["id"];
  const reporter = id(r["user_id"], "@");
  if (!Number.isSafeInteger(n) || (n as number) < 0 || reporter === undefined) return undefined;
  const ts = r["received_ts"];
  const base = {
    kind,
    id: n as number,
    receivedTs: typeof ts === "number" && Number.isFinite(ts) ? ts : 0,
    reporter,
    reason: str(r["reason"]),
  };
  const roomName = str(r["canonical_alias"]) ?? str(r["name"]);
  const named = roomName !== undefined ? { roomName } : {};
  switch (kind) {
    case "event": {
      const roomId = id(r["room_id"], "!");
      const eventId = id(r["event_id"], "$");
      if (roomId === undefined || eventId === undefined) return undefined;
      const sender = id(r["sender"], "@");
      const score = r["score"];
      return {
        ...base,
        roomId,
        eventId,
        ...(sender !== undefined ? { sender } : {}),
        ...(typeof score === "number" && Number.isFinite(score) ? { score } : {}),
        ...named,
      };
    }
    case "room": {
      const roomId = id(r["room_id"], "!");
      return roomId === undefined ? undefined : { ...base, roomId, ...named };
    }
    case "user": {
      const targetUser = id(r["target_user_id"], "@");
      return targetUser === undefined ? undefined : { ...base, targetUser };
    }
  }
}

export interface ReportPage {
  readonly reports: Report[];
  /** Offset of the next (older) page, if there is one. */
  readonly next: number | undefined;
  /** Entries that were not usable reports. */
  readonly skipped: number;
}

/** A page of one of the admin API's report lists (newest first). */
export function parseReportPage(body: unknown, kind: ReportKind = "event"): ReportPage {
  const b = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
  const listed = b[ADMIN_LIST[kind].key];
  const raw = Array.isArray(listed) ? (listed as unknown[]) : [];
  const reports: Report[] = [];
  for (const v of raw) {
    const r = parseReport(v, kind);
    if (r) reports.push(r);
  }
  const next = b["next_token"];
  return {
    reports,
    next: Number.isSafeInteger(next) && (next as number) > 0 ? (next as number) : undefined,
    skipped: raw.length - reports.length,
  };
}

/** The reported event from a report's details (`event_json`), if present. */
export function parseReportedEvent(details: unknown): ReportedEvent | undefined {
  const d = (typeof details === "object" && details !== null ? details : {}) as Record<string, unknown>;
  const ev = d["event_json"];
  if (typeof ev !== "object" || ev === null) return undefined;
  const e = ev as Record<string, unknown>;
  const type = str(e["type"]);
  if (type === undefined) return undefined;
  const content = (typeof e["content"] === "object" && e["content"] !== null ? e["content"] : {}) as Record<
    string,
    unknown
  >;
  return { type, body: str(content["body"]), encrypted: type === "m.room.encrypted" };
}

/** Reports newer than the cursor, oldest first (the order to relay them in). */
export function newReports(reports: readonly Report[], cursor: number): Report[] {
  const seen = new Set<number>();
  return reports
    .filter((r) => r.id > cursor && !seen.has(r.id) && seen.add(r.id))
    .sort((a, b) => a.id - b.id);
}

/** The user a report is about: the reported event's sender, or the reported user. */
export function reportedUser(r: Report): string | undefined {
  return r.kind === "event" ? r.sender : r.kind === "user" ? r.targetUser : undefined;
}

/** What Tyr knows of the reporter's earlier reports. */
export interface ReporterHistory {
  /** Reports by this reporter Tyr has relayed, this one included. */
  readonly total: number;
  /** Of those, how many moderators dismissed as bad reports. */
  readonly bad: number;
}

export interface ReportNoticeOptions {
  readonly protectedRoom: boolean;
  readonly prefix: string;
  readonly history?: ReporterHistory;
  /** The triage line (reactions this report takes), from triagePlan.ts. */
  readonly triage?: Fragment;
}

function historyNote(h: ReporterHistory | undefined): string {
  if (h === undefined) return "";
  const first = h.total <= 1 ? "their first report" : `${h.total} reports from them`;
  return ` (${first}${h.bad > 0 ? `, ${h.bad} dismissed as bad` : ""})`;
}

/** The management-room notice for one report. Reasons and bodies are the reporter's and sender's words: shown as text, bounded. */
export function formatReport(
  r: Report,
  event: ReportedEvent | undefined,
  opts: ReportNoticeOptions,
): Fragment {
  const key = reportKey(r);
  const by = fmt`${bold(`Report ${key}`)} by ${code(r.reporter)}${historyNote(opts.history)}`;
  const room = r.roomId !== undefined ? (r.roomName ?? r.roomId) : "";
  const where = opts.protectedRoom ? fmt`${code(room)} (protected)` : code(room);
  const reason = fmt`Reason: ${r.reason !== undefined ? truncateText(r.reason, MAX_REASON_BYTES) : "(none given)"}${r.score !== undefined ? ` · score ${r.score}` : ""}`;
  const p = opts.prefix;
  if (r.kind === "user")
    return blocks(
      fmt`${by} about the user ${code(r.targetUser ?? "")}.`,
      reason,
      opts.triage ?? false,
      fmt`Or: ${code(`${p} kick ${r.targetUser}`)}, ${code(`${p} ban <list> ${r.targetUser}`)}.`,
    );
  if (r.kind === "room")
    return blocks(
      fmt`${by} about the room ${where}${room !== r.roomId ? fmt` (${code(r.roomId ?? "")})` : ""}.`,
      reason,
      opts.triage ?? false,
    );
  const about = r.sender
    ? fmt` about ${code(r.sender)}'s ${event?.type === "m.room.message" || !event ? "message" : code(event.type)}`
    : "";
  const content = !event
    ? fmt`The reported event could not be read.`
    : event.encrypted
      ? fmt`The message is encrypted: the homeserver cannot show it.`
      : event.body !== undefined
        ? fmt`Message: “${truncateText(event.body, MAX_BODY_BYTES)}”`
        : false;
  const link_ = permalink(r.roomId ?? "", r.eventId);
  const commands = [code(`${p} redact ${link_}`)];
  if (r.sender)
    commands.push(code(`${p} kick ${r.sender} --room ${r.roomId}`), code(`${p} ban <list> ${r.sender}`));
  return blocks(
    fmt`${by}${about} in ${where}: ${link(link_, "the event")}`,
    reason,
    content,
    opts.triage ?? false,
    fmt`Or: ${join(commands, ", ")}.`,
  );
}
