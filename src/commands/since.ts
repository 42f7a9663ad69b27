// `since <duration> show|kick|ban`: the clean-up after a join raid. Acts on everyone whose current
// stay in the protected rooms (or one room) began within the window, most recent first, up to a
// limit; kick and ban show who and where first and wait for a ✅. Join times come from the
// membership events Tyr has seen (see RoomState.joinedAt): a member who only changed their
// profile recently is not a recent joiner.
import { commandsFor, DURATION, formatDuration, types as t, type RoomRef } from "./framework/index.ts";
import { blocks, bullets, code, fmt, heading, text, type Fragment } from "../format/fragment.ts";
import type { CommandContext } from "./context.ts";
import type { Consequence } from "../consequences/types.ts";
import {
  actWithProgress,
  conclude,
  failIfNothingDone,
  got,
  listSome,
  plural,
  problems,
  roomFlag,
  roomLabel,
  scopeOf,
  tally,
  type Got,
  type Scope,
} from "./effects.ts";
import { planRecentJoins, type RecentJoins } from "./moderationPlan.ts";

const { command } = commandsFor<CommandContext>();

export const DEFAULT_SINCE_LIMIT = 200;
export const MAX_SINCE_LIMIT = 5_000;
/** Users listed one per line in `show` and in a preview; the rest are counted. */
const SHOWN = 50;

async function recentJoinsFor(
  ctx: CommandContext,
  windowMs: number,
  room: RoomRef | undefined,
  limit: number | undefined,
): Promise<Got<{ plan: RecentJoins; scope: Scope }>> {
  const scope = await scopeOf(ctx, room);
  if (!scope.ok) return scope;
  // The window ends when the command was sent, so a ✅ later acts on the people the preview
  // showed, not on whoever joined in between (run the command again for those).
  const until = Math.min(ctx.sentAt, Date.now());
  const plan = planRecentJoins({
    rooms: scope.value.rooms,
    joinedInWindow: (r) => ctx.bot.state.peek(r)?.joinedBetween(until - windowMs, until) ?? [],
    botUserId: ctx.bot.session.userId,
    moderators: ctx.bot.moderators(),
    limit: limit ?? DEFAULT_SINCE_LIMIT,
  });
  return got({ plan, scope: scope.value });
}

function ago(ts: number): string {
  return `${formatDuration(Math.max(1000, Date.now() - ts))} ago`;
}

function userLines(ctx: CommandContext, plan: RecentJoins, scope: Scope): Fragment {
  const lines = plan.users.slice(0, SHOWN).map((u) =>
    scope.rooms.length === 1
      ? fmt`${code(u.user)} joined ${ago(u.joinedAt)}`
      : fmt`${code(u.user)} joined ${ago(u.joinedAt)} (${listSome(
          u.rooms.map((r) => roomLabel(ctx, r)),
          3,
        )})`,
  );
  const more = plan.users.length - SHOWN;
  return blocks(bullets(lines), more > 0 ? text(`and ${plural(more, "more user")}`) : false);
}

function notes(plan: RecentJoins, limit: number | undefined): Fragment | false {
  const lines: Fragment[] = [];
  if (plan.overLimit > 0)
    lines.push(
      fmt`${plural(plan.overLimit, "earlier joiner")} left out by the limit of ${String(limit ?? DEFAULT_SINCE_LIMIT)} (raise it with ${code("--limit")}).`,
    );
  if (plan.spared.length > 0)
    lines.push(
      fmt`Left alone: ${listSome(
        plan.spared.map((s) => `${s.user} (${s.why})`),
        5,
      )}.`,
    );
  return lines.length > 0 ? blocks(...lines) : false;
}

const since = command({
  name: "since",
  group: "Moderation",
  summary: "Show, kick or ban everyone who joined the protected rooms (or one room) within a time",
  description: `The clean-up after a raid: acts on members whose current stay began within the duration before the command, most recent first, at most --limit users (default ${DEFAULT_SINCE_LIMIT}). Kick and ban show who and where and wait for your ✅. A member who only changed their name or avatar recently is not a recent joiner; joins older than Tyr's view of the room are not counted. Tyr never acts on itself or members of the management room.`,
  args: [
    { name: "duration", type: t.duration({ max: 30 * DURATION.DAY }) },
    { name: "action", type: t.choice(["show", "kick", "ban"] as const) },
    { name: "reason", type: t.text(), optional: true, rest: true },
  ],
  flags: {
    ...roomFlag,
    limit: {
      type: t.integer({ min: 1, max: MAX_SINCE_LIMIT }),
      description: `At most this many users (default ${DEFAULT_SINCE_LIMIT})`,
    },
    redact: {
      type: "boolean",
      description: "With kick or ban: also remove their recent messages in those rooms",
    },
  },
  examples: [
    "since 10m show",
    "since 30m ban raid --room #lobby:example.org",
    "since 2h kick --limit 500 spam wave",
    "since 15m ban --redact spam raid",
  ],
  confirm: async (ctx, a) => {
    if (a.action === "show") return null;
    const r = await recentJoinsFor(ctx, a.duration, a.room, a.limit);
    if (!r.ok || r.value.plan.users.length === 0) return null;
    const { plan, scope } = r.value;
    const verb = a.action === "ban" ? "Ban" : "Kick";
    return blocks(
      heading(
        4,
        fmt`${verb} ${plural(plan.users.length, "user")} who joined ${scope.label} in the last ${formatDuration(a.duration)}?`,
      ),
      userLines(ctx, plan, scope),
      notes(plan, a.limit),
      a.redact ? text("Their recent messages in those rooms are removed too.") : false,
      a.reason ? fmt`Reason: ${a.reason}` : false,
    );
  },
  run: async (ctx, a) => {
    const r = await recentJoinsFor(ctx, a.duration, a.room, a.limit);
    if (!r.ok) return r.reply;
    const { plan, scope } = r.value;
    const window = formatDuration(a.duration);
    if (plan.users.length === 0)
      return blocks(fmt`Nobody joined ${scope.label} in the last ${window}.`, notes(plan, a.limit));
    if (a.action === "show")
      return blocks(
        heading(4, fmt`${plural(plan.users.length, "user")} joined ${scope.label} in the last ${window}`),
        userLines(ctx, plan, scope),
        notes(plan, a.limit),
      );
    const kind = a.action;
    const cs: Consequence[] = plan.targets.map((x) => ({
      kind,
      room: x.room,
      user: x.user,
      reason: a.reason ?? "",
      cause: ctx.cause,
    }));
    // Sanctions first (the queue runs them ahead), then the clean-up of what they posted.
    const redactions = a.redact ? recentMessagesOf(ctx, plan.targets) : [];
    for (const { room, event } of redactions)
      cs.push({ kind: "redact", room, event, reason: a.reason ?? "", cause: ctx.cause });
    const verb = a.action === "ban" ? "Banning" : "Kicking";
    const { results, shown } = await actWithProgress(
      ctx,
      `${verb} ${plural(plan.users.length, "recent joiner")} in ${scope.label}`,
      cs,
    );
    const tl = tally(results.slice(0, plan.targets.length));
    const tr = tally(results.slice(plan.targets.length));
    failIfNothingDone(tl, a.action);
    return conclude(
      shown,
      blocks(
        fmt`${a.action === "ban" ? "Banned" : "Kicked"} ${plural(plan.users.length, "user")} who joined in the last ${window} (${plural(tl.done, a.action)} in ${scope.label}).`,
        a.redact ? text(`Removed ${plural(tr.done, "recent message")} they sent.`) : false,
        problems(tl),
        problems(tr),
        notes(plan, a.limit),
      ),
    );
  },
});

/** What the users sent recently in those rooms (Tyr's cache of recent events), minus what Tyr already removed. */
function recentMessagesOf(
  ctx: CommandContext,
  targets: readonly { readonly user: string; readonly room: string }[],
): { room: string; event: string }[] {
  const recent = ctx.services.recent;
  if (recent === undefined) return [];
  const out: { room: string; event: string }[] = [];
  for (const { user, room } of targets)
    for (const e of recent.bySender(room, user))
      if (!ctx.bot.actionLog.wasRedacted(e.eventId)) out.push({ room, event: e.eventId });
  return out;
}

export const sinceCommands = [since];
