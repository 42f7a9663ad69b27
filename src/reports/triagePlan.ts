// Triage by reaction, the pure part: which reactions a relayed report takes, what each one means,
// and the moderator command it stands for. The command text is run through the command registry
// like a typed command, so a reaction does exactly what that command does (same checks, same
// consequences, same action log).
import { code, fmt, join, type Fragment } from "../format/fragment.ts";
import { normaliseReactionKey } from "../format/content.ts";
import { parseEventId, parseRoomId, parseUserId } from "../commands/framework/index.ts";
import { reportedUser, reportKey, type Report, type ReportKind } from "./reports.ts";
import { TRIAGE_ACTIONS, type TriageAction, type TriageRecord } from "./store.ts";

/** How long 🔇 mutes. */
export const TRIAGE_MUTE = "1h";

export const TRIAGE_KEYS: Readonly<Record<TriageAction, string>> = {
  ban: "🚫",
  redact: "🗑️",
  kick: "👢",
  mute: "🔇",
  handled: "✅",
  bad: "⛔",
};

const LABELS: Readonly<Record<TriageAction, string>> = {
  ban: "ban through a list",
  redact: "redact",
  kick: "kick",
  mute: `mute ${TRIAGE_MUTE}`,
  handled: "handled",
  bad: "bad report",
};

/** The triage action a reaction key stands for, or undefined. */
export function actionOfKey(key: string): TriageAction | undefined {
  const k = normaliseReactionKey(key);
  return TRIAGE_ACTIONS.find((a) => normaliseReactionKey(TRIAGE_KEYS[a]) === k);
}

/** What a report of this kind can be answered with (a room report names no user or event). */
export function actionsFor(r: Pick<Report, "kind" | "sender">): TriageAction[] {
  const byKind: Record<ReportKind, TriageAction[]> = {
    event: r.sender !== undefined ? ["ban", "redact", "kick", "mute"] : ["redact"],
    user: ["ban", "kick", "mute"],
    room: [],
  };
  return [...byKind[r.kind], "handled", "bad"];
}

/** The line of the notice that tells moderators what to react with. */
export function triageLine(r: Report): Fragment {
  const who = reportedUser(r);
  const parts = actionsFor(r).map((a) =>
    a === "ban" && who
      ? fmt`${TRIAGE_KEYS[a]} ban ${code(who)} through a list`
      : `${TRIAGE_KEYS[a]} ${LABELS[a]}`,
  );
  return fmt`React: ${join(parts, " · ")}.`;
}

export type TriageDecision =
  | { readonly kind: "command"; readonly text: string }
  | { readonly kind: "dismiss"; readonly state: "handled" | "bad" }
  /** A ban, allowed, once a list is chosen. */
  | { readonly kind: "needs-list" }
  | { readonly kind: "refuse"; readonly why: string };

/** The reason Tyr gives with effects made for a report (never the reporter's own words). */
export function triageReason(r: Report): string {
  return `reported abuse (report ${reportKey(r)})`;
}

/**
 * What a triage action on a report does: the moderator command it stands for, a dismissal, or
 * why not. `list` is the policy list a ban goes into (the caller chose it); `spared` are the users
 * no triage acts on (Tyr, the moderators). IDs are validated
 * again here: they came from the homeserver and are about to become command text.
 */
export function decideTriage(
  entry: { readonly report: Report; readonly actions: readonly Pick<TriageRecord, "action" | "outcome">[] },
  action: TriageAction,
  opts: { list?: string; spared?: ReadonlySet<string> } = {},
): TriageDecision {
  const r = entry.report;
  if (!actionsFor(r).includes(action))
    return { kind: "refuse", why: `a ${r.kind} report cannot be answered with ${TRIAGE_KEYS[action]}` };
  if (action === "handled" || action === "bad") return { kind: "dismiss", state: action };
  if (entry.actions.some((a) => a.action === action && a.outcome === "done"))
    return { kind: "refuse", why: `${TRIAGE_KEYS[action]} was already done for this report` };
  const user = reportedUser(r);
  const reason = triageReason(r);
  const validUser = user !== undefined && parseUserId(user).ok;
  const validRoom = r.roomId !== undefined && parseRoomId(r.roomId).ok;
  // An event report acts in the event's room; a user report in the protected rooms.
  const where = r.kind === "event" ? ` --room ${r.roomId}` : "";
  if (action === "redact") {
    if (r.eventId === undefined || !validRoom || !parseEventId(r.eventId).ok)
      return { kind: "refuse", why: "the report names no valid event" };
    return {
      kind: "command",
      text: `redact https://matrix.to/#/${encodeURIComponent(r.roomId!)}/${encodeURIComponent(r.eventId)} ${reason}`,
    };
  }
  if (!validUser) return { kind: "refuse", why: "the report names no valid user" };
  // One click must not turn a report against a moderator (or Tyr) into a rule against them.
  if (opts.spared?.has(user))
    return { kind: "refuse", why: `${user} is Tyr or a moderator; act by hand if you must` };
  if (r.kind === "event" && !validRoom) return { kind: "refuse", why: "the report names no valid room" };
  switch (action) {
    case "ban":
      if (opts.list === undefined) return { kind: "needs-list" };
      return { kind: "command", text: `ban ${opts.list} ${user} ${reason}` };
    case "kick":
      return { kind: "command", text: `kick ${user}${where} ${reason}` };
    case "mute":
      // A report from an unprotected room still mutes there: the moderator asked for it.
      return { kind: "command", text: `mute ${user} ${TRIAGE_MUTE}${where} ${reason}` };
  }
}

/** One line of the notice per triage action taken: who did what, and how it went. */
export function triageHistoryLine(a: {
  readonly action: TriageAction;
  readonly moderator: string;
  readonly outcome: string;
  readonly summary: string;
}): Fragment {
  const failed = a.outcome === "failed" ? " (failed)" : a.outcome === "dry-run" ? " (dry run)" : "";
  return fmt`${TRIAGE_KEYS[a.action]} ${code(a.moderator)}: ${LABELS[a.action]}${failed}. ${a.summary}`;
}
