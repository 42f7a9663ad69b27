// Abuse reports users file with their homeserver (spec `POST /rooms/{roomId}/report/{eventId}`),
// as Synapse's admin API lists them, turned into notices for the management room. Pure: the
// responses are untrusted JSON in, validated reports and formatted notices out.
import { blocks, bold, code, fmt, link, permalink, type Fragment } from "../format/fragment.ts";
import { truncateText } from "../format/truncate.ts";

export interface EventReport {
  /** Synapse's report ID: increasing, so it doubles as the relay cursor. */
  readonly id: number;
  readonly receivedTs: number;
  readonly roomId: string;
  readonly eventId: string;
  /** Who reported. */
  readonly reporter: string;
  /** Who sent the reported event. */
  readonly sender: string | undefined;
  readonly reason: string | undefined;
  readonly score: number | undefined;
  /** The room's canonical alias or name, when Synapse knows one. */
  readonly roomName: string | undefined;
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

const str = (v: unknown): string | undefined => (typeof v === "string" && v.length > 0 ? v : undefined);

/** One report of an `event_reports` page, or undefined when it is not usable. */
export function parseReport(v: unknown): EventReport | undefined {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
  const r = v as Record<string, unknown>;
  const id = r["id"];
  const roomId = str(r["room_id"]);
  const eventId = str(r["event_id"]);
  const reporter = str(r["user_id"]);
  if (
    !Number.isSafeInteger(id) ||
    (id as number) < 0 ||
    !roomId?.startsWith("!") ||
    !eventId?.startsWith("$")
  )
    return undefined;
  if (!reporter?.startsWith("@")) return undefined;
  const ts = r["received_ts"];
  const score = r["score"];
  return {
    id: id as number,
    receivedTs: typeof ts === "number" && Number.isFinite(ts) ? ts : 0,
    roomId,
    eventId,
    reporter,
    sender: str(r["sender"]),
    reason: str(r["reason"]),
    score: typeof score === "number" && Number.isFinite(score) ? score : undefined,
    roomName: str(r["canonical_alias"]) ?? str(r["name"]),
  };
}

export interface ReportPage {
  readonly reports: EventReport[];
  /** Offset of the next (older) page, if there is one. */
  readonly next: number | undefined;
  /** Entries that were not usable reports. */
  readonly skipped: number;
}

/** A page of `GET /_synapse/admin/v1/event_reports` (newest first). */
export function parseReportPage(body: unknown): ReportPage {
  const b = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
  const raw = Array.isArray(b["event_reports"]) ? (b["event_reports"] as unknown[]) : [];
  const reports: EventReport[] = [];
  for (const v of raw) {
    const r = parseReport(v);
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
export function newReports(reports: readonly EventReport[], cursor: number): EventReport[] {
  const seen = new Set<number>();
  return reports
    .filter((r) => r.id > cursor && !seen.has(r.id) && seen.add(r.id))
    .sort((a, b) => a.id - b.id);
}

/** The management-room notice for one report. Reasons and bodies are the reporter's and sender's words: shown as text, bounded. */
export function formatReport(
  r: EventReport,
  event: ReportedEvent | undefined,
  opts: { protectedRoom: boolean; prefix: string },
): Fragment {
  const room = r.roomName ?? r.roomId;
  const where = opts.protectedRoom ? fmt`${code(room)} (protected)` : code(room);
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
  const link_ = permalink(r.roomId, r.eventId);
  const actions = r.sender
    ? fmt`Act on it: ${code(`${opts.prefix} redact ${link_}`)}, ${code(`${opts.prefix} kick ${r.sender} --room ${r.roomId}`)}, or ${code(`${opts.prefix} ban <list> ${r.sender}`)}.`
    : fmt`Act on it: ${code(`${opts.prefix} redact ${link_}`)}.`;
  return blocks(
    fmt`${bold(`Report #${r.id}`)} by ${code(r.reporter)}${about} in ${where}: ${link(link_, "the event")}`,
    fmt`Reason: ${r.reason !== undefined ? truncateText(r.reason, MAX_REASON_BYTES) : "(none given)"}${r.score !== undefined ? ` · score ${r.score}` : ""}`,
    content,
    actions,
  );
}
