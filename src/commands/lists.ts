// Policy list commands: which lists Tyr follows, and maintaining the moderators' own lists.
import {
  commandsFor,
  DURATION,
  formatDuration,
  types as t,
  UserFacingError,
  type Entity,
} from "./framework/index.ts";
import {
  blocks,
  bold,
  code,
  fmt,
  formatNumber,
  heading,
  join,
  text,
  type Fragment,
} from "../format/fragment.ts";
import type { PagedReply } from "../format/paginate.ts";
import type { CommandContext } from "./context.ts";
import type { PolicyFeature } from "../policy/feature.ts";
import type { RoomStateCache } from "../matrix/roomState.ts";
import type { Recommendation, Rule, RuleKind } from "../banlists/rule.ts";
import { fromState } from "../banlists/policyList.ts";
import { eventTypeFor } from "../banlists/parse.ts";
import { ruleStateKey } from "../banlists/stateKey.ts";
import type { Consequence } from "../consequences/types.ts";
import { scheduleKey } from "../consequences/scheduled.ts";
import type { AclPlan } from "../acl/build.ts";
import { describeLeftOut, leftOutByList } from "../acl/roomSync.ts";

const { command } = commandsFor<CommandContext>();

export const SHORTCODE_KEY = "org.matrix.mjolnir.shortcode";
const RECOMMENDATION_EVENT: Record<Exclude<Recommendation, "exception">, string> = {
  ban: "m.ban",
  takedown: "m.takedown",
};

function policy(ctx: CommandContext): PolicyFeature {
  const p = ctx.services.policy;
  if (!p) throw new Error("policy lists are not available");
  return p;
}

/** A watched list by shortcode, room ID or alias. */
export async function resolveList(ctx: CommandContext, ref: string): Promise<string> {
  const p = policy(ctx);
  const byShortcode = p.lists.find((l) => {
    const sc = ctx.bot.state.peek(l)?.get(SHORTCODE_KEY)?.content.shortcode;
    return typeof sc === "string" && sc.toLowerCase() === ref.toLowerCase();
  });
  if (byShortcode) return byShortcode;
  if (ref.startsWith("!") || ref.startsWith("#")) {
    const id = ref.startsWith("#") ? await ctx.bot.client.resolveRoom(ref) : ref;
    if (p.lists.includes(id)) return id;
    throw new UserFacingError(
      `${ref} is not a watched list; watch it first with "${ctx.bot.config.commands.prefix} watch ${ref}"`,
    );
  }
  throw new UserFacingError(
    `no watched list has the shortcode "${ref}"; see "${ctx.bot.config.commands.prefix} lists"`,
  );
}

/** A list's shortcode (Mjolnir's state event in the list room), if it has one. */
export function listShortcode(state: RoomStateCache, list: string): string | undefined {
  const sc = state.peek(list)?.get(SHORTCODE_KEY)?.content.shortcode;
  return typeof sc === "string" ? sc : undefined;
}

function shortcodeOf(ctx: CommandContext, list: string): string | undefined {
  return listShortcode(ctx.bot.state, list);
}

function listLabel(ctx: CommandContext, list: string): Fragment {
  const sc = shortcodeOf(ctx, list);
  return sc ? fmt`${bold(sc)} (${code(policy(ctx).displayList(list))})` : code(policy(ctx).displayList(list));
}

/** When Tyr will remove each rule it wrote with `--for` (schedule key → epoch ms). */
function ruleExpiries(ctx: CommandContext): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of ctx.services.scheduled?.pending() ?? [])
    if (e.consequence.kind === "setState") out.set(e.key, e.at);
  return out;
}

function describeRule(ctx: CommandContext, r: Rule, expiries: ReadonlyMap<string, number>): Fragment {
  const what = r.entity !== undefined ? code(r.entity) : fmt`hashed ${code(r.sha256 ?? "?")}`;
  const at = expiries.get(scheduleKey(ruleRemoval(ctx, r.list, r.eventType, r.stateKey, "", "")));
  const expiry = at === undefined ? "" : ` (expires in ${formatDuration(Math.max(1000, at - Date.now()))})`;
  return fmt`${r.kind} ${what} — ${r.recommendation}${r.reason ? `: ${r.reason}` : ""}${expiry}`;
}

/** Globs that reach far: everything, a whole server's users, or very short literal parts. */
export function isWide(e: Entity): boolean {
  if (!e.isGlob) return false;
  const literalChars = (s: string) => s.replace(/[*?.:@!#]/g, "").length;
  if (e.kind === "user") {
    const colon = e.entity.indexOf(":");
    const local = colon < 0 ? e.entity : e.entity.slice(0, colon);
    const server = colon < 0 ? "*" : e.entity.slice(colon + 1);
    // `@*:server` and `@a*:server` reach (nearly) a whole server; `@spam*:*` reaches every server.
    return literalChars(local) < 4 || literalChars(server) < 4;
  }
  return literalChars(e.entity) < 4;
}

function ruleContent(
  entity: string,
  recommendation: string,
  reason: string | undefined,
): Record<string, unknown> {
  return { entity, recommendation, reason: reason ?? "" };
}

/** The removal of a rule Tyr wrote: an empty state event at the same type and state key. */
function ruleRemoval(
  ctx: CommandContext,
  list: string,
  eventType: string,
  stateKey: string,
  target: string,
  reason: string,
): Consequence {
  return { kind: "setState", room: list, eventType, stateKey, content: {}, target, reason, cause: ctx.cause };
}

/** The state event that puts a ban or takedown rule for `entity` into `list`. */
export function ruleWrite(
  list: string,
  kind: RuleKind,
  entity: string,
  rec: Exclude<Recommendation, "exception">,
  reason: string | undefined,
  cause: Consequence["cause"],
): Extract<Consequence, { kind: "setState" }> {
  return {
    kind: "setState",
    room: list,
    eventType: eventTypeFor(kind),
    stateKey: ruleStateKey(kind, entity, rec),
    content: ruleContent(entity, RECOMMENDATION_EVENT[rec], reason),
    target: entity,
    reason: reason ?? "",
    cause,
  };
}

async function writeRule(
  ctx: CommandContext,
  list: string,
  e: Entity,
  rec: Exclude<Recommendation, "exception">,
  reason: string | undefined,
  forMs: number | undefined,
): Promise<Fragment> {
  const write = ruleWrite(list, e.kind as RuleKind, e.entity, rec, reason, ctx.cause);
  const { eventType, stateKey } = write;
  const scheduled = ctx.services.scheduled;
  if (forMs !== undefined && scheduled === undefined)
    throw new Error("timed rules need the scheduler, which is not running");
  const [r] = await ctx.act([write]);
  // The queue has logged the failed action; this only tells the moderator.
  if (!r || r.outcome !== "done") throw new UserFacingError(r?.error ?? "the rule could not be written");
  // The expiry lives in Tyr's schedule (kept across restarts): removing the rule then lifts the
  // bans it caused like any other removal. Writing the rule again without --for makes it permanent.
  const expiry = ruleRemoval(ctx, list, eventType, stateKey, e.entity, `${rec} expired`);
  let until = "";
  if (forMs !== undefined && r.outcome === "done") {
    const at = Date.now() + forMs;
    scheduled!.scheduleConsequence(at, expiry);
    until = ` It expires in ${formatDuration(forMs)} (${new Date(at).toISOString().replace(/\.\d+Z$/, "Z")}).`;
  } else scheduled?.cancel(scheduleKey(expiry));
  return fmt`Added ${rec} rule for ${code(e.entity)} to ${listLabel(ctx, list)}. Protected rooms follow within seconds.${until}`;
}

const forFlag = {
  for: {
    type: t.duration({ max: 10 * DURATION.YEAR }),
    description: "Remove the rule again after this long (an expiring ban), lifting the bans it caused",
  },
} as const;

/**
 * What watching `list` would do to the server ACLs, read from the ACL computed with it (see
 * AclFeature.planWith): what would be denied, and what would not fit or is refused, so the
 * preview never promises more than Tyr then sends.
 */
export function describeAclPreview(plan: AclPlan, list: string): string {
  const s = plan.lists.find((l) => l.list === list);
  if (s === undefined || s.serverRules === 0) return "It has no server rules for the ACLs.";
  const already = [
    s.covered ? `${formatNumber(s.covered)} already covered by a broader entry` : "",
    s.excepted ? `${formatNumber(s.excepted)} lifted by exceptions` : "",
  ].filter(Boolean);
  const leftOut = leftOutByList(plan).find((g) => g.list === list);
  const size = s.leftOutForSize
    ? ` (the ACL would use ${formatNumber(plan.bytes)} of its ${formatNumber(plan.budgetBytes)} bytes)`
    : "";
  return `In the server ACLs it would deny ${formatNumber(s.kept)} more server name(s)${already.length ? ` (${already.join(", ")})` : ""}${leftOut ? `; ${describeLeftOut(leftOut)}${size}` : ""}.`;
}

/** Members of protected rooms a (possibly glob) user entity would hit now. */
function affectedMembers(ctx: CommandContext, e: Entity): string[] {
  const p = policy(ctx);
  if (e.kind === "room") return [];
  const probe: Rule = {
    list: "",
    kind: e.kind,
    entity: e.entity,
    recommendation: "ban",
    eventType: "",
    stateKey: "",
  };
  return p.members.membersMatching(probe);
}

export const listCommands = [
  command({
    name: "lists",
    group: "Policy lists",
    summary: "The policy lists Tyr follows, in priority order, with rule counts",
    run: (ctx) => {
      const p = policy(ctx);
      if (p.lists.length === 0)
        return fmt`No lists are watched. Use ${code(`${ctx.bot.config.commands.prefix} watch <room>`)} or create one with ${code(`${ctx.bot.config.commands.prefix} list create`)}.`;
      const items = p.lists.map((l, i) => {
        const rev = p.revision(l);
        const counts = rev
          ? `${rev.count("user")} user, ${rev.count("room")} room, ${rev.count("server")} server rules`
          : "not loaded yet";
        return fmt`${String(i + 1)}. ${listLabel(ctx, l)} — ${counts}${p.settingsOf(l).autoSuspend ? " · autoSuspend on" : ""}${p.settingsOf(l).autoTakedownRooms ? " · autoTakedownRooms on" : ""}`;
      });
      return {
        header: heading(4, "Watched policy lists (first = highest priority)"),
        sections: [{ items, style: "lines" }],
      } satisfies PagedReply;
    },
  }),
  command({
    name: "list create",
    group: "Policy lists",
    summary: "Create a new policy list room, watch it, and make you its admin",
    args: [
      {
        name: "shortcode",
        type: t.word({
          pattern: /^[a-z0-9][a-z0-9_-]{0,31}$/i,
          expected: "a shortcode (letters, digits, - or _)",
          placeholder: "shortcode",
        }),
      },
      {
        name: "alias",
        type: t.word({
          pattern: /^[a-z0-9._=/-]{1,64}$/,
          expected: "an alias localpart (lower-case letters, digits, . _ = - /)",
          placeholder: "alias-localpart",
        }),
      },
    ],
    examples: ["list create spam community-bans"],
    run: async (ctx, a) => {
      const res = (await ctx.bot.client.createRoom({
        preset: "public_chat",
        room_alias_name: a.alias,
        name: `${a.shortcode} ban list`,
        topic: `Policy list maintained with Tyr (shortcode ${a.shortcode})`,
        creation_content: { type: "m.policy" },
        invite: [ctx.sender],
        // The creator (Tyr) needs no entry: it has 100, or unlimited power in room version 12.
        power_level_content_override: { users: { [ctx.sender]: 100 }, events_default: 50, state_default: 50 },
        initial_state: [{ type: SHORTCODE_KEY, state_key: "", content: { shortcode: a.shortcode } }],
      })) as string;
      await policy(ctx).watch(res);
      return fmt`Created ${code(`#${a.alias}:${ctx.bot.serverName}`)} (${code(res)}) with shortcode ${bold(a.shortcode)}, invited you with power 100, and started watching it.`;
    },
  }),
  command({
    name: "watch",
    group: "Policy lists",
    summary: "Follow a policy list: preview what it would do, then confirm",
    args: [{ name: "room", type: t.room() }],
    examples: ["watch #community-bans:matrix.org"],
    confirm: async (ctx, a) => {
      const p = policy(ctx);
      const ref = a.room.kind === "id" ? a.room.roomId : a.room.alias;
      const id = a.room.kind === "id" ? a.room.roomId : await ctx.bot.client.resolveRoom(ref);
      if (p.lists.includes(id)) return null;
      await ctx.bot.client.joinRoom(id, a.room.via as string[]);
      const state = (await ctx.bot.client.getRoomState(id)) as Record<string, unknown>[];
      const { revision, rejected } = fromState(id, state);
      const users = new Set<string>();
      for (const r of revision.rules()) {
        if (r.recommendation === "exception") continue;
        for (const u of p.members.membersMatching(r)) users.add(u);
      }
      const acl = ctx.services.acl?.planWith({ id, rules: [...revision.rules("server")] });
      return blocks(
        heading(4, fmt`Watch ${code(ref)}?`),
        text(
          `It has ${revision.count("user")} user, ${revision.count("room")} room and ${revision.count("server")} server rules${rejected.length ? ` (${rejected.length} invalid, ignored)` : ""}.`,
        ),
        text(`Applied now, it would ban ${users.size} member(s) of the protected rooms.`),
        acl ? text(describeAclPreview(acl, id)) : false,
        users.size > 0 ? fmt`For example: ${join([...users].slice(0, 10).map((u) => code(u)))}` : false,
      );
    },
    run: async (ctx, a) => {
      const id = a.room.kind === "id" ? a.room.roomId : await ctx.bot.client.resolveRoom(a.room.alias);
      const p = policy(ctx);
      if (p.lists.includes(id)) return fmt`Already watching ${listLabel(ctx, id)}.`;
      await p.watch(id);
      return fmt`Now watching ${code(a.room.kind === "id" ? id : a.room.alias)} at the lowest priority (${String(p.lists.length)} of ${String(p.lists.length)}).`;
    },
  }),
  command({
    name: "unwatch",
    group: "Policy lists",
    summary: "Stop following a policy list (bans it caused are lifted)",
    args: [
      { name: "list", type: t.word({ placeholder: "list" }), description: "shortcode, room ID or alias" },
    ],
    run: async (ctx, a) => {
      const list = await resolveList(ctx, a.list);
      await policy(ctx).unwatch(list);
      return fmt`Stopped watching ${code(policy(ctx).displayList(list))}. Bans Tyr made only because of it are being lifted.`;
    },
  }),
  command({
    name: "ban",
    group: "Policy lists",
    summary: "Add a ban rule for a user, room or server (globs allowed) to a list",
    description:
      "The kind of rule follows the sigil: @user, !room or #alias, otherwise a server. Wide globs such as @*:server ask for confirmation first.",
    args: [
      {
        name: "list",
        type: t.word({ placeholder: "list" }),
        description: "shortcode, room ID or alias of a watched list",
      },
      { name: "entity", type: t.entity({ globs: true }) },
      { name: "reason", type: t.text(), optional: true, rest: true },
    ],
    examples: [
      "ban spam @spammer:evil.org spamming links",
      "ban spam evil.org",
      "ban spam @*:evil.org spam server",
      "ban spam @troll:example.org --for 7d cooling off",
    ],
    confirm: (ctx, a) => {
      if (!isWide(a.entity)) return null;
      const hits = affectedMembers(ctx, a.entity);
      return fmt`${code(a.entity.entity)} is a wide pattern: it matches ${String(hits.length)} current member(s) of protected rooms${hits.length ? `, e.g. ${hits.slice(0, 5).join(", ")}` : ""}.`;
    },
    flags: forFlag,
    run: async (ctx, a) => writeRule(ctx, await resolveList(ctx, a.list), a.entity, "ban", a.reason, a.for),
  }),
  command({
    name: "takedown",
    group: "Policy lists",
    summary: "Add a takedown rule: ban and also remove the entity's recent messages",
    args: [
      { name: "list", type: t.word({ placeholder: "list" }) },
      { name: "entity", type: t.entity({ globs: true }) },
      { name: "reason", type: t.text(), optional: true, rest: true },
    ],
    examples: ["takedown spam @spammer:evil.org csam"],
    confirm: (ctx, a) => {
      const hits = affectedMembers(ctx, a.entity);
      return fmt`Takedown of ${code(a.entity.entity)}: bans ${String(hits.length)} current member(s) of protected rooms and redacts their recent messages there.`;
    },
    flags: forFlag,
    run: async (ctx, a) =>
      writeRule(ctx, await resolveList(ctx, a.list), a.entity, "takedown", a.reason, a.for),
  }),
  command({
    name: "unban",
    group: "Policy lists",
    summary: "Remove every rule for an entity from a list and lift the bans it caused",
    args: [
      { name: "list", type: t.word({ placeholder: "list" }) },
      { name: "entity", type: t.entity({ globs: true }) },
    ],
    examples: ["unban spam @innocent:example.org"],
    run: async (ctx, a) => {
      const p = policy(ctx);
      const list = await resolveList(ctx, a.list);
      const rev = p.revision(list);
      const kind = a.entity.kind as RuleKind;
      const lower = a.entity.entity.toLowerCase();
      // Every rule in the list for this entity, whatever tool wrote it (state keys differ) and
      // every type variant (m.policy.rule.*, m.room.rule.*, org.matrix.mjolnir.rule.*).
      const targets = new Map<string, { type: string; stateKey: string }>();
      for (const r of rev?.rules(kind) ?? []) {
        if (r.entity?.toLowerCase() !== lower || r.recommendation === "exception") continue;
        for (const v of rev!.variants(kind, r.stateKey))
          targets.set(`${v.eventType}|${v.stateKey}`, { type: v.eventType, stateKey: v.stateKey });
      }
      if (targets.size === 0)
        return fmt`${listLabel(ctx, list)} has no ban or takedown rule for ${code(a.entity.entity)}.`;
      const removals = [...targets.values()].map((x) =>
        ruleRemoval(ctx, list, x.type, x.stateKey, a.entity.entity, "unban"),
      );
      // An expiry still pending for these rules has nothing left to do.
      for (const x of removals) ctx.services.scheduled?.cancel(scheduleKey(x));
      const results = await ctx.act(removals);
      const failed = results.filter((r) => r.outcome !== "done");
      if (failed.length)
        throw new UserFacingError(
          `could not remove ${failed.length} rule event(s): ${failed[0]!.error ?? ""}`,
        );
      // Bans Tyr made for these rules are lifted by the policy sync once the removal arrives.
      // A literal user may also have been banned by hand or by another bot: lift those too,
      // unless another rule still bans them.
      let unbanned = 0;
      const stillBanned: string[] = [];
      if (kind === "user" && !a.entity.isGlob) {
        const user = a.entity.entity;
        await waitForRuleGone(p, list, kind, lower);
        if (p.matcher.decideUser(user).action !== "none") stillBanned.push(user);
        else {
          const unbans: Consequence[] = [];
          for (const room of p.protectedRooms) {
            if (ctx.bot.state.peek(room)?.membership(user) === "ban") {
              unbans.push({
                kind: "unban",
                room,
                user,
                reason: `unbanned by ${ctx.sender}`,
                cause: ctx.cause,
              });
            }
          }
          unbanned = (await ctx.act(unbans)).filter((r) => r.outcome === "done").length;
        }
      }
      return blocks(
        fmt`Removed ${String(targets.size)} rule event(s) for ${code(a.entity.entity)} from ${listLabel(ctx, list)}.`,
        unbanned ? text(`Unbanned in ${unbanned} protected room(s).`) : false,
        stillBanned.length
          ? fmt`${code(stillBanned[0]!)} is still banned by another rule; see ${code(`${ctx.bot.config.commands.prefix} rules matching ${stillBanned[0]!}`)}.`
          : false,
      );
    },
  }),
  command({
    name: "rules",
    group: "Policy lists",
    summary: "List the rules of one or every watched list",
    args: [{ name: "list", type: t.word({ placeholder: "list" }), optional: true }],
    run: async (ctx, a) => {
      const p = policy(ctx);
      const lists = a.list ? [await resolveList(ctx, a.list)] : [...p.lists];
      const expiries = ruleExpiries(ctx);
      const sections = lists.map((l) => {
        const rules = [...(p.revision(l)?.rules() ?? [])].sort(
          (x, y) => x.kind.localeCompare(y.kind) || (x.entity ?? "").localeCompare(y.entity ?? ""),
        );
        return {
          title: `${shortcodeOf(ctx, l) ?? p.displayList(l)} (${rules.length} rules)`,
          items: rules.length ? rules.map((r) => describeRule(ctx, r, expiries)) : [text("no rules")],
        };
      });
      return { header: heading(4, "Policy rules"), sections } satisfies PagedReply;
    },
  }),
  command({
    name: "rules matching",
    group: "Policy lists",
    summary: "Which rules match a user, room or server, and what Tyr does about it",
    args: [{ name: "entity", type: t.entity() }],
    examples: ["rules matching @someone:example.org", "rules matching evil.org"],
    run: (ctx, a) => {
      const p = policy(ctx);
      const m = p.matcher;
      const e = a.entity.entity;
      const matches =
        a.entity.kind === "user"
          ? m.matchUser(e)
          : a.entity.kind === "server"
            ? m.matchServer(e)
            : m.matchRoom(e);
      const d = m.decide(matches, a.entity.kind as RuleKind);
      if (matches.length === 0) {
        const note = a.entity.kind === "user" ? p.suspensionNote(e) : undefined;
        return fmt`No rule matches ${code(e)}.${note ? ` Account: ${note}.` : ""}`;
      }
      const expiries = ruleExpiries(ctx);
      const items = matches.map((r) => fmt`${listLabel(ctx, r.list)}: ${describeRule(ctx, r, expiries)}`);
      const suspension = a.entity.kind === "user" ? p.suspensionNote(e) : undefined;
      return {
        header: fmt`${String(matches.length)} rule(s) match ${code(e)}. Decision: ${bold(d.action === "none" ? "nothing (excepted or no ban)" : d.action)}.${suspension ? ` Account: ${suspension}.` : ""}`,
        sections: [{ items }],
      } satisfies PagedReply;
    },
  }),
];

/** The sync loop applies our own removal shortly after we send it; wait for it (bounded). */
async function waitForRuleGone(
  p: PolicyFeature,
  list: string,
  kind: RuleKind,
  lowerEntity: string,
): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const still = [...(p.revision(list)?.rules(kind) ?? [])].some(
      (r) => r.entity?.toLowerCase() === lowerEntity && r.recommendation !== "exception",
    );
    if (!still) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}
