// `since <duration> show|kick|ban|mute`: the clean-up after a join raid. Acts on everyone whose
// current stay in the protected rooms (or one room) began within the window, most recent first, up
// to a limit; kick, ban and mute show who and where first and wait for a ✅. Join times come from the
// membership events Tyr has seen (see RoomState.joinedAt): a member who only changed their
// profile recently is not a recent joiner.
import {
  commandsFor,
  DURATION,
  formatAgo,
  formatDuration,
  types as t,
  type RoomRef,
} from "./framework/index.ts";
import { blocks, bullets, code, fmt, heading, progress, text, type Fragment } from "../format/fragment.ts";
import type { CommandContext } from "./context.ts";
import type { Consequence } from "../consequences/types.ts";
import type { Result } from "../consequences/queue.ts";
import { muteIn } from "./moderation.ts";
import {
  conclude,
  failIfNothingDone,
  got,
  listSome,
  plural,
  PROGRESS_FROM,
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

function userLines(ctx: CommandContext, plan: RecentJoins, scope: Scope): Fragment {
  const lines = plan.users.slice(0, SHOWN).map((u) =>
    scope.rooms.length === 1
      ? fmt`${code(u.user)} joined ${formatAgo(u.joinedAt)}`
      : fmt`${code(u.user)} joined ${formatAgo(u.joinedAt)} (${listSome(
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

const VERBS = {
  kick: { ask: "Kick", doing: "Kicking", done: "Kicked" },
  ban: { ask: "Ban", doing: "Banning", done: "Banned" },
  mute: { ask: "Mute", doing: "Muting", done: "Muted" },
} as const;

const since = command({
  name: "since",
  group: "Moderation",
  summary: "Show, kick, ban or mute everyone who joined the protected rooms (or one room) within a time",
  description: `The clean-up after a raid: acts on members whose current stay began within the duration before the command, most recent first, at most --limit users (default ${DEFAULT_SINCE_LIMIT}). Kick, ban and mute show who and where and wait for your ✅. A member who only changed their name or avatar recently is not a recent joiner; joins older than Tyr's view of the room are not counted. Tyr never acts on itself or members of the management room.`,
  args: [
    { name: "duration", type: t.duration({ max: 30 * DURATION.DAY }) },
    { name: "action", type: t.choice(["show", "kick", "ban", "mute"] as const) },
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
      description: "With kick, ban or mute: also remove their recent messages in those rooms",
    },
    for: {
      type: t.duration(),
      description: "With mute: lift the mutes after this long (default: until unmuted)",
    },
  },
  examples: [
    "since 10m show",
    "since 30m ban raid --room #lobby:example.org",
    "since 2h kick --limit 500 spam wave",
    "since 15m ban --redact spam raid",
    "since 5m mute --for 1h while we look",
  ],
  confirm: async (ctx, a) => {
    // Nothing to confirm for show, nor for a misuse of --for that run refuses.
    if (a.action === "show" || (a.for !== undefined && a.action !== "mute")) return null;
    const r = await recentJoinsFor(ctx, a.duration, a.room, a.limit);
    if (!r.ok || r.value.plan.users.length === 0) return null;
    const { plan, scope } = r.value;
    const span = a.action === "mute" && a.for !== undefined ? ` for ${formatDuration(a.for)}` : "";
    return blocks(
      heading(
        4,
        fmt`${VERBS[a.action].ask} ${plural(plan.users.length, "user")} who joined ${scope.label} in the last ${formatDuration(a.duration)}${span}?`,
      ),
      userLines(ctx, plan, scope),
      notes(plan, a.limit),
      a.redact ? text("Their recent messages in those rooms are removed too.") : false,
      a.reason ? fmt`Reason: ${a.reason}` : false,
    );
  },
  run: async (ctx, a) => {
    if (a.for !== undefined && a.action !== "mute")
      return text("--for goes with mute (how long the mutes last).");
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
    const reason = a.reason ?? "";
    const verbs = VERBS[a.action];
    const shown = plan.targets.length >= PROGRESS_FROM ? ctx.progress() : undefined;
    const label = `${verbs.doing} ${plural(plan.users.length, "recent joiner")} in ${scope.label}`;
    let sanctions: Result[];
    if (a.action === "mute") {
      // Power levels decide per room whether a mute is possible; timed mutes end by themselves.
      sanctions = [];
      for (const u of plan.users) {
        await shown?.update(progress(label, sanctions.length, plan.targets.length)).catch(() => undefined);
        sanctions.push(
          ...(await muteIn(ctx, u.user, u.rooms, a.for, reason || `muted by ${ctx.sender}`)).results,
        );
      }
    } else {
      const kind = a.action;
      const cs: Consequence[] = plan.targets.map((x) => ({
        kind,
        room: x.room,
        user: x.user,
        reason,
        cause: ctx.cause,
      }));
      sanctions = await ctx.act(
        cs,
        (done, total) => void shown?.update(progress(label, done, total)).catch(() => undefined),
      );
    }
    // Then the clean-up of what they posted.
    const redactions = a.redact ? recentMessagesOf(ctx, plan.targets) : [];
    const removed = await ctx.act(
      redactions.map(({ room, event }): Consequence => ({
        kind: "redact",
        room,
        event,
        reason,
        cause: ctx.cause,
      })),
    );
    const tl = tally(sanctions);
    const tr = tally(removed);
    failIfNothingDone(tl, a.action);
    return conclude(
      shown,
      blocks(
        fmt`${verbs.done} ${plural(plan.users.length, "user")} who joined in the last ${window} (${plural(tl.done, a.action)} in ${scope.label}${a.action === "mute" && a.for !== undefined ? `, for ${formatDuration(a.for)}` : ""}).`,
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
