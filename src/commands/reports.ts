// `reports [open|all] [--limit N]`: the relayed abuse reports with their state and the triage done
// on them, newest first, from the report store.
import { commandsFor, formatAgo, types as t } from "./framework/index.ts";
import { code, fmt, heading, text, type Fragment } from "../format/fragment.ts";
import { truncateText } from "../format/truncate.ts";
import type { PagedReply } from "../format/paginate.ts";
import type { CommandContext } from "./context.ts";
import { reportedUser } from "../reports/reports.ts";
import { TRIAGE_KEYS } from "../reports/triagePlan.ts";
import type { ReportEntry } from "../reports/store.ts";

const { command } = commandsFor<CommandContext>();

export const DEFAULT_REPORTS_LIMIT = 20;
export const MAX_REPORTS_LIMIT = 500;
const REASON_BYTES = 200;

const STATE_LABEL = { open: "open", handled: "handled", bad: "bad report" } as const;

/** One line per report: key, state, who reported what, and the last triage (who did what). */
export function reportLine(e: ReportEntry, now = Date.now()): Fragment {
  const r = e.report;
  const who = reportedUser(r);
  const about =
    r.kind === "room"
      ? fmt`the room ${code(r.roomName ?? r.roomId ?? "")}`
      : r.kind === "user"
        ? fmt`the user ${code(who ?? "")}`
        : who !== undefined
          ? fmt`${code(who)}'s message in ${code(r.roomName ?? r.roomId ?? "")}`
          : fmt`a message in ${code(r.roomName ?? r.roomId ?? "")}`;
  const last = e.actions.at(-1);
  const triage = last
    ? fmt` — ${TRIAGE_KEYS[last.action]} by ${code(last.moderator)}${last.outcome === "failed" ? " (failed)" : ""}`
    : "";
  const reason = r.reason !== undefined ? truncateText(r.reason, REASON_BYTES) : "(no reason)";
  return fmt`${code(e.key)} [${STATE_LABEL[e.state]}] ${formatAgo(r.receivedTs || e.relayedAt, now)}: ${code(r.reporter)} reported ${about}: “${reason}”${triage}`;
}

const reports = command({
  name: "reports",
  group: "Moderation",
  summary: "List relayed abuse reports (open ones by default) with their state",
  description:
    "Reports are triaged by reacting to their notice (🚫 ban through a list, 🗑️ redact, 👢 kick, 🔇 mute 1 h, ✅ handled, ⛔ bad report). Needs reports.enabled.",
  args: [{ name: "which", type: t.choice(["open", "all"] as const), optional: true }],
  flags: {
    limit: {
      type: t.integer({ min: 1, max: MAX_REPORTS_LIMIT }),
      description: `How many reports to show (default ${DEFAULT_REPORTS_LIMIT})`,
    },
  },
  examples: ["reports", "reports all --limit 50"],
  run: (ctx, a) => {
    const desk = ctx.services.reports;
    if (!desk)
      return text("Abuse reports are not relayed: set reports.enabled: true (Tyr must be a server admin).");
    const which = a.which ?? "open";
    const limit = a.limit ?? DEFAULT_REPORTS_LIMIT;
    // One more than shown tells whether there are more.
    const entries = desk.list(which, limit + 1);
    const n = desk.counts();
    const totals = `${n.open} open, ${n.handled} handled, ${n.bad} bad`;
    if (entries.length === 0)
      return text(which === "open" ? `No open reports (${totals}).` : "No reports relayed yet.");
    const shown = entries.slice(0, limit);
    const more = entries.length > limit;
    return {
      header: heading(4, text(`${which === "open" ? "Open reports" : "Reports"}, newest first (${totals})`)),
      sections: [{ items: shown.map((e) => reportLine(e)) }],
      ...(more
        ? {
            footer: text(
              `Showing the newest ${limit}; use --limit for more (up to ${MAX_REPORTS_LIMIT})${which === "open" ? "" : ', or "reports open" for the open ones'}.`,
            ),
          }
        : {}),
    } satisfies PagedReply;
  },
});

export const reportsCommands = [reports];
