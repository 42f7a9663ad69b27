// Moderation commands: kick, redact, mute, unmute, powerlevel. Every effect is a Consequence
// submitted through the queue (rate limits, retries, dry-run, action log, and the guard that never
// touches Tyr itself or the moderators); the decisions are pure (moderationPlan.ts).
import { commandsFor, formatDuration, types as t, type Pattern, type RoomRef } from "./framework/index.ts";
import { blocks, bold, code, fmt, heading, join, text, type Fragment } from "../format/fragment.ts";
import type { CommandContext } from "./context.ts";
import type { Consequence } from "../consequences/types.ts";
import { errorText, type Result } from "../consequences/queue.ts";
import { scheduleKey } from "../consequences/scheduled.ts";
import { usersMatching } from "../banlists/members.ts";
import type { Rule } from "../banlists/rule.ts";
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
  resolveRoomRef,
  scopeOf,
  tally,
  type Got,
  type Scope,
} from "./effects.ts";
import {
  decideMute,
  decidePowerLevel,
  decideUnmute,
  FEW_USERS,
  levelFacts,
  planKicks,
  selectRedactions,
  type KickPlan,
  type LevelDecision,
} from "./moderationPlan.ts";

const { command } = commandsFor<CommandContext>();

export const DEFAULT_REDACT_LIMIT = 100;
export const MAX_REDACT_LIMIT = 1_000;
/** `/messages` pages read per room when looking for older messages of a user. */
const MAX_SCAN_PAGES = 5;
const SCAN_CONCURRENCY = 8;
const MEMBER: readonly ("join" | "invite" | "knock")[] = ["join", "invite", "knock"];

// ---- kick ----------------------------------------------------------------------------------

function matchingMembers(ctx: CommandContext, pattern: string, rooms: readonly string[]): string[] {
  const probe: Rule = {
    list: "",
    kind: "user",
    entity: pattern,
    recommendation: "ban",
    eventType: "",
    stateKey: "",
  };
  const policy = ctx.services.policy;
  const out = new Set<string>();
  const unindexed = rooms.filter((r) => !policy?.protectedRooms.has(r));
  // Protected rooms: the member index looks only at the users the glob can match.
  if (policy && unindexed.length < rooms.length)
    for (const u of policy.members.membersMatching(probe)) out.add(u);
  for (const r of unindexed)
    for (const u of usersMatching(probe, ctx.bot.state.peek(r)?.members([...MEMBER]) ?? [])) out.add(u);
  return [...out];
}

async function kickPlanFor(
  ctx: CommandContext,
  user: Pattern,
  room: RoomRef | undefined,
): Promise<Got<{ plan: KickPlan; scope: Scope }>> {
  const scope = await scopeOf(ctx, room);
  if (!scope.ok) return scope;
  const candidates = user.isGlob ? matchingMembers(ctx, user.pattern, scope.value.rooms) : [user.pattern];
  const plan = planKicks({
    candidates,
    rooms: scope.value.rooms,
    membership: (r, u) => ctx.bot.state.peek(r)?.membership(u),
    botUserId: ctx.bot.session.userId,
    moderators: ctx.bot.moderators(),
  });
  return got({ plan, scope: scope.value });
}

function sparedLine(plan: KickPlan): Fragment | false {
  if (plan.spared.length === 0) return false;
  return fmt`Not kicking ${join(plan.spared.slice(0, 5).map((s) => fmt`${code(s.user)} (${s.why})`))}${plan.spared.length > 5 ? ` and ${plan.spared.length - 5} more` : ""}.`;
}

const kick = command({
  name: "kick",
  group: "Moderation",
  summary: "Kick a user, or every member matching a glob, from the protected rooms",
  description: `A glob (@spam*:evil.org) kicks every matching member; when it matches more than ${FEW_USERS} users Tyr shows who and where, and waits for your ✅. Tyr never kicks itself or members of the management room.`,
  args: [
    { name: "user", type: t.userGlob() },
    { name: "reason", type: t.text(), optional: true, rest: true },
  ],
  flags: roomFlag,
  examples: ["kick @spammer:evil.org spamming", "kick @*:evil.org --room #lobby:example.org raid"],
  confirm: async (ctx, a) => {
    if (!a.user.isGlob) return null;
    const r = await kickPlanFor(ctx, a.user, a.room);
    if (!r.ok || r.value.plan.users.length <= FEW_USERS) return null;
    const { plan } = r.value;
    return blocks(
      heading(4, fmt`Kick ${plural(plan.users.length, "user")} matching ${code(a.user.pattern)}?`),
      fmt`${plural(plan.kicks.length, "kick")} in ${plural(plan.rooms.length, "room")}: ${listSome(
        plan.rooms.map((id) => roomLabel(ctx, id)),
        10,
      )}`,
      fmt`Users: ${listSome(plan.users)}`,
      sparedLine(plan),
      a.reason ? fmt`Reason: ${a.reason}` : false,
    );
  },
  run: async (ctx, a) => {
    const r = await kickPlanFor(ctx, a.user, a.room);
    if (!r.ok) return r.reply;
    const { plan, scope } = r.value;
    if (plan.kicks.length === 0) {
      const spared = sparedLine(plan);
      if (spared) return spared;
      return a.user.isGlob
        ? fmt`No member of ${scope.label} matches ${code(a.user.pattern)}.`
        : fmt`${code(a.user.pattern)} is not a member of ${scope.label}.`;
    }
    const cs: Consequence[] = plan.kicks.map((k) => ({
      kind: "kick",
      room: k.room,
      user: k.user,
      reason: a.reason ?? "",
      cause: ctx.cause,
    }));
    const { results, shown } = await actWithProgress(
      ctx,
      `Kicking ${plural(plan.users.length, "user")} from ${plural(plan.rooms.length, "room")}`,
      cs,
    );
    const tl = tally(results);
    failIfNothingDone(tl, "kick");
    const kicked = new Set(plan.kicks.filter((_, i) => results[i]?.outcome === "done").map((k) => k.user));
    const who = plan.users.length === 1 ? code(plan.users[0]!) : text(plural(kicked.size, "user"));
    return conclude(
      shown,
      blocks(
        fmt`Kicked ${who} (${plural(tl.done, "kick")} in ${plural(plan.rooms.length, "room")}).`,
        problems(tl),
        sparedLine(plan),
      ),
    );
  },
});

// ---- redact --------------------------------------------------------------------------------

interface MessagesResponse {
  chunk?: { event_id?: unknown; sender?: unknown; type?: unknown; state_key?: unknown; unsigned?: unknown }[];
  end?: unknown;
}

/** The user's messages in a room from the server's history, newest first: a bounded back-scan. */
async function historyOf(ctx: CommandContext, room: string, user: string, want: number): Promise<string[]> {
  const out: string[] = [];
  const filter = JSON.stringify({ senders: [user], limit: Math.min(want, 100) });
  let from: string | undefined;
  for (let page = 0; page < MAX_SCAN_PAGES && out.length < want; page++) {
    const qs: Record<string, string> = { dir: "b", limit: String(Math.min(want, 100)), filter };
    if (from !== undefined) qs.from = from;
    let res: MessagesResponse;
    try {
      res = (await ctx.bot.client.doRequest(
        "GET",
        `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/messages`,
        qs,
      )) as MessagesResponse;
    } catch (e) {
      ctx.bot.log.info({ room, error: errorText(e) }, "redact: cannot read the room's history");
      break;
    }
    const chunk = Array.isArray(res.chunk) ? res.chunk : [];
    for (const ev of chunk) {
      if (typeof ev.event_id !== "string" || ev.sender !== user) continue;
      if (ev.state_key !== undefined || ev.type === "m.room.redaction") continue;
      const unsigned = ev.unsigned as { redacted_because?: unknown } | undefined;
      if (unsigned?.redacted_because !== undefined) continue;
      out.push(ev.event_id);
    }
    if (typeof res.end !== "string" || chunk.length === 0) break;
    from = res.end;
  }
  return out;
}

async function mapLimited<T, R>(items: readonly T[], n: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

const redact = command({
  name: "redact",
  group: "Moderation",
  summary: "Remove a user's recent messages (protected rooms or one room), or one message by its link",
  description: `With a user: their most recent messages, at most --limit per room (default ${DEFAULT_REDACT_LIMIT}), in every protected room or the --room given. With a message link: that message. Tyr never redacts the same event twice.`,
  args: [
    { name: "target", type: t.oneOf({ user: t.user(), message: t.eventLink() }) },
    { name: "reason", type: t.text(), optional: true, rest: true },
  ],
  flags: {
    ...roomFlag,
    limit: {
      type: t.integer({ min: 1, max: MAX_REDACT_LIMIT }),
      description: `At most this many messages per room (default ${DEFAULT_REDACT_LIMIT})`,
    },
  },
  examples: [
    "redact @spammer:evil.org spam",
    "redact @spammer:evil.org --room #lobby:example.org --limit 20",
    "redact https://matrix.to/#/!room:example.org/$event",
  ],
  run: async (ctx, a) => {
    const reason = a.reason ?? "";
    if (a.target.kind === "message") {
      if (a.room !== undefined || a.limit !== undefined)
        return text("--room and --limit apply to a user; a message link already names its room and message.");
      const ref = a.target.value;
      const room = await resolveRoomRef(ctx, ref.room);
      if (!room.ok) return room.reply;
      if (ctx.bot.actionLog.wasRedacted(ref.eventId))
        return fmt`Tyr already redacted ${code(ref.eventId)}; not redacting it again.`;
      const [r] = await ctx.act([
        { kind: "redact", room: room.value, event: ref.eventId, reason, cause: ctx.cause },
      ]);
      const tl = tally(r ? [r] : []);
      failIfNothingDone(tl, `redact ${ref.eventId}`);
      return blocks(
        tl.done ? fmt`Redacted ${code(ref.eventId)} in ${code(roomLabel(ctx, room.value))}.` : false,
        problems(tl),
      );
    }
    const user = a.target.value;
    const limit = a.limit ?? DEFAULT_REDACT_LIMIT;
    const scope = await scopeOf(ctx, a.room);
    if (!scope.ok) return scope.reply;
    const candidates = await mapLimited(scope.value.rooms, SCAN_CONCURRENCY, async (room) => {
      const recent = ctx.services.recent?.bySender(room, user, limit).map((e) => e.eventId) ?? [];
      const older = await historyOf(ctx, room, user, limit);
      return { room, events: [...recent, ...older] };
    });
    const sel = selectRedactions(candidates, (id) => ctx.bot.actionLog.wasRedacted(id), limit);
    const skipped = sel.alreadyRedacted
      ? text(
          `${plural(sel.alreadyRedacted, "message")} already redacted by Tyr earlier ${sel.alreadyRedacted === 1 ? "was" : "were"} left alone.`,
        )
      : false;
    if (sel.redactions.length === 0)
      return blocks(fmt`Found no messages of ${code(user)} to redact in ${scope.value.label}.`, skipped);
    const rooms = new Set(sel.redactions.map((x) => x.room));
    const cs: Consequence[] = sel.redactions.map((x) => ({
      kind: "redact",
      room: x.room,
      event: x.event,
      reason,
      cause: ctx.cause,
    }));
    const { results, shown } = await actWithProgress(
      ctx,
      `Redacting ${plural(cs.length, "message")} of ${user} in ${plural(rooms.size, "room")}`,
      cs,
    );
    const tl = tally(results);
    failIfNothingDone(tl, "redact");
    return conclude(
      shown,
      blocks(
        fmt`Redacted ${plural(tl.done, "message")} of ${code(user)} in ${plural(rooms.size, "room")}.`,
        problems(tl),
        skipped,
      ),
    );
  },
});

// ---- mute / unmute -------------------------------------------------------------------------

interface RoomDecision {
  readonly room: string;
  readonly decision: LevelDecision;
}

/** Rooms a command about `user` applies to: the --room given, or the protected rooms they are in. */
function roomsWithMember(ctx: CommandContext, scope: Scope, user: string): string[] {
  if (scope.explicit) return scope.rooms;
  return scope.rooms.filter((r) => {
    const m = ctx.bot.state.peek(r)?.membership(user);
    return m !== undefined && (MEMBER as readonly string[]).includes(m);
  });
}

function decisionsFor(
  ctx: CommandContext,
  rooms: readonly string[],
  decide: (f: ReturnType<typeof levelFacts>) => LevelDecision,
  user: string,
): RoomDecision[] {
  return rooms.flatMap((room) => {
    const state = ctx.bot.state.peek(room);
    return state ? [{ room, decision: decide(levelFacts(state, ctx.bot.session.userId, user)) }] : [];
  });
}

/**
 * Mutes `user` in each of `rooms` where Tyr may (power levels decide, per room), for `durationMs`
 * or until unmuted; the end of a timed mute is scheduled (surviving restarts), and a mute that is
 * already in place only gets its end changed. Shared by `mute` and `since … mute`.
 */
export async function muteIn(
  ctx: CommandContext,
  user: string,
  rooms: readonly string[],
  durationMs: number | undefined,
  reason: string,
): Promise<{ ds: RoomDecision[]; results: Result[] }> {
  const scheduled = ctx.services.scheduled;
  const moderators = ctx.bot.moderators();
  const ds = decisionsFor(ctx, rooms, (f) => decideMute(f, user, ctx.bot.session.userId, moderators), user);
  const until = durationMs !== undefined ? Date.now() + durationMs : undefined;
  const results: Result[] = [];
  for (const d of ds) {
    const base = { room: d.room, user, reason, cause: ctx.cause };
    const unmuteKey = scheduleKey({ kind: "unmute", ...base });
    if (d.decision.kind === "ok") {
      const m = { kind: "mute" as const, ...base, ...(durationMs !== undefined ? { durationMs } : {}) };
      // An indefinite mute replaces any timed one still pending.
      if (durationMs === undefined) scheduled?.cancel(unmuteKey);
      results.push(await (scheduled ? scheduled.submitMute(m) : ctx.act([m]).then((r) => r[0]!)));
    } else if (d.decision.kind === "noop" && scheduled) {
      // Already muted: only the end of the mute changes.
      if (until !== undefined)
        scheduled.scheduleConsequence(until, { kind: "unmute", ...base, reason: `mute expired (${reason})` });
      else scheduled.cancel(unmuteKey);
    }
  }
  return { ds, results };
}

function why(
  ctx: CommandContext,
  ds: readonly RoomDecision[],
  kind: LevelDecision["kind"],
): Fragment | false {
  const hit = ds.filter((d) => d.decision.kind === kind);
  if (hit.length === 0) return false;
  const label = kind === "refuse" ? "Not possible" : kind === "noop" ? "Nothing to do" : "Note";
  return fmt`${label} in ${plural(hit.length, "room")}: ${join(
    hit
      .slice(0, 5)
      .map((d) => fmt`${code(roomLabel(ctx, d.room))} (${"why" in d.decision ? d.decision.why : ""})`),
    "; ",
  )}${hit.length > 5 ? ` and ${hit.length - 5} more` : ""}.`;
}

const mute = command({
  name: "mute",
  group: "Moderation",
  summary: "Stop a user from sending messages (power level below events_default), optionally for a while",
  description:
    "Mutes in every protected room the user is in, or only the --room given. With a duration (30m, 2h, 1d) the mute is lifted automatically, even if Tyr restarts meanwhile; the user's earlier level is restored.",
  args: [
    { name: "user", type: t.user() },
    { name: "duration", type: t.duration(), optional: true },
    { name: "reason", type: t.text(), optional: true, rest: true },
  ],
  flags: roomFlag,
  examples: ["mute @loud:example.org 30m flooding", "mute @troll:evil.org --room #lobby:example.org"],
  run: async (ctx, a) => {
    const scheduled = ctx.services.scheduled;
    if (a.duration !== undefined && !scheduled) return text("Timed mutes are not available in this setup.");
    const scope = await scopeOf(ctx, a.room);
    if (!scope.ok) return scope.reply;
    const rooms = roomsWithMember(ctx, scope.value, a.user);
    if (rooms.length === 0) return fmt`${code(a.user)} is not a member of ${scope.value.label}.`;
    const reason = a.reason ?? `muted by ${ctx.sender}`;
    const until = a.duration !== undefined ? Date.now() + a.duration : undefined;
    const { ds, results } = await muteIn(ctx, a.user, rooms, a.duration, reason);
    const tl = tally(results);
    failIfNothingDone(tl, `mute ${a.user}`);
    const untilText = until !== undefined ? new Date(until).toISOString().replace(/\.\d+Z$/, "Z") : "";
    const span =
      a.duration !== undefined ? ` for ${formatDuration(a.duration)} (until ${untilText})` : " until unmuted";
    const already = ds.filter((d) => d.decision.kind === "noop").length;
    const alreadyEnd =
      until !== undefined ? `that mute now ends at ${untilText}` : "that mute now lasts until unmuted";
    return blocks(
      tl.done ? fmt`Muted ${code(a.user)} in ${plural(tl.done, "room")}${span}.` : false,
      already
        ? text(
            `${a.user} was already muted in ${plural(already, "room")}; ${scheduled ? alreadyEnd : "left as it is"}.`,
          )
        : false,
      why(ctx, ds, "refuse"),
      problems(tl),
    );
  },
});

const unmute = command({
  name: "unmute",
  group: "Moderation",
  summary: "Let a muted user send messages again (restores their earlier level)",
  args: [{ name: "user", type: t.user() }],
  flags: roomFlag,
  examples: ["unmute @loud:example.org", "unmute @loud:example.org --room #lobby:example.org"],
  run: async (ctx, a) => {
    const scope = await scopeOf(ctx, a.room);
    if (!scope.ok) return scope.reply;
    const scheduled = ctx.services.scheduled;
    const pending = scheduled?.pending() ?? [];
    const ds = decisionsFor(
      ctx,
      scope.value.rooms,
      (f) => decideUnmute(f, a.user, ctx.bot.session.userId),
      a.user,
    );
    const cs: Consequence[] = [];
    const keys: string[] = [];
    for (const d of ds) {
      const base = {
        kind: "unmute" as const,
        room: d.room,
        user: a.user,
        reason: `unmuted by ${ctx.sender}`,
        cause: ctx.cause,
      };
      const key = scheduleKey(base);
      // A manual unmute also ends the timer; not muted any more means a stale timer: drop it.
      if (d.decision.kind !== "ok") {
        if (d.decision.kind === "noop") scheduled?.cancel(key);
        continue;
      }
      const entry = pending.find((e) => e.key === key);
      const restore = entry?.consequence.kind === "unmute" ? entry.consequence.restoreLevel : undefined;
      cs.push(restore !== undefined ? { ...base, restoreLevel: restore } : base);
      keys.push(key);
    }
    const refused = why(ctx, ds, "refuse");
    if (cs.length === 0) return blocks(refused || fmt`${code(a.user)} is not muted in ${scope.value.label}.`);
    const results = await ctx.act(cs);
    results.forEach((r, i) => {
      if (r.outcome === "done") scheduled?.cancel(keys[i]!);
    });
    const tl = tally(results);
    failIfNothingDone(tl, `unmute ${a.user}`);
    return blocks(fmt`Unmuted ${code(a.user)} in ${plural(tl.done, "room")}.`, refused, problems(tl));
  },
});

// ---- powerlevel ----------------------------------------------------------------------------

async function levelPlan(
  ctx: CommandContext,
  user: string,
  level: number,
  room: RoomRef | undefined,
): Promise<Got<{ ds: RoomDecision[]; scope: Scope }>> {
  const scope = await scopeOf(ctx, room);
  if (!scope.ok) return scope;
  const rooms = roomsWithMember(ctx, scope.value, user);
  const ds = decisionsFor(ctx, rooms, (f) => decidePowerLevel(f, user, level, ctx.bot.session.userId), user);
  return got({ ds, scope: scope.value });
}

const powerlevel = command({
  name: "powerlevel",
  aliases: ["pl"],
  group: "Moderation",
  summary: "Set a user's power level in the protected rooms they are in (or one room)",
  description:
    "Raising someone to Tyr's own level asks for confirmation (Tyr could no longer act on them); above Tyr's level is refused, as Matrix does not allow it.",
  args: [
    { name: "user", type: t.user() },
    { name: "level", type: t.integer() },
  ],
  flags: roomFlag,
  examples: [
    "powerlevel @helper:example.org 50",
    "powerlevel @helper:example.org 0 --room #lobby:example.org",
  ],
  confirm: async (ctx, a) => {
    const r = await levelPlan(ctx, a.user, a.level, a.room);
    if (!r.ok) return null;
    const c = r.value.ds.filter((d) => d.decision.kind === "confirm");
    if (c.length === 0) return null;
    return blocks(
      heading(4, fmt`Give ${code(a.user)} power level ${String(a.level)}?`),
      fmt`That is Tyr's own level in ${plural(c.length, "room")}: ${listSome(
        c.map((d) => roomLabel(ctx, d.room)),
        10,
      )}. Tyr could no longer kick, ban, mute or demote ${code(a.user)} there.`,
    );
  },
  run: async (ctx, a) => {
    const r = await levelPlan(ctx, a.user, a.level, a.room);
    if (!r.ok) return r.reply;
    const { ds, scope } = r.value;
    if (ds.length === 0)
      return fmt`${code(a.user)} is not a member of ${scope.label}; name a room with ${code("--room")}.`;
    const go = ds.filter((d) => d.decision.kind === "ok" || d.decision.kind === "confirm");
    const refused = why(ctx, ds, "refuse");
    const noop = why(ctx, ds, "noop");
    if (go.length === 0) return blocks(refused, noop);
    const results = await ctx.act(
      go.map((d) => ({
        kind: "setPowerLevel" as const,
        room: d.room,
        user: a.user,
        level: a.level,
        reason: `set by ${ctx.sender}`,
        cause: ctx.cause,
      })),
    );
    const tl = tally(results);
    failIfNothingDone(tl, `change the power level of ${a.user}`);
    return blocks(
      tl.done
        ? fmt`Set the power level of ${code(a.user)} to ${bold(String(a.level))} in ${plural(tl.done, "room")}.`
        : false,
      refused,
      noop,
      problems(tl),
    );
  },
});

export const moderationCommands = [kick, redact, mute, unmute, powerlevel];
