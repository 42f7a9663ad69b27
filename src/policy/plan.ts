// Member-ban reconciliation, pure: given some users to look at, the current policy decision for
// each and where they are, say who must be banned where and which of Tyr's earlier policy bans
// must be lifted. Startup, a rule change and a join all call this with different candidates.
import type { Decision } from "../banlists/matcher.ts";
import { compileGlob } from "../banlists/glob.ts";
import type { Rule } from "../banlists/rule.ts";
import { serverHost, serverRuleEntity } from "../banlists/serverName.ts";
import type { Cause, Consequence } from "../consequences/types.ts";

export interface PlanInput {
  candidates: Iterable<string>;
  protectedRooms: ReadonlySet<string>;
  decide(user: string): Decision;
  /** Protected rooms where the user is joined, invited or knocking. */
  roomsOf(user: string): Iterable<string>;
  /** Rooms where Tyr banned the user for a policy rule (room → rule key). */
  policyBansOf(user: string): ReadonlyMap<string, string>;
  /** Current membership in a room, from room state. */
  membership(room: string, user: string): string | undefined;
  /** Whether the bot has the power to ban `user` in `room`. */
  canBan(room: string, user: string): boolean;
  /** A creator of a room version 12 room: unlimited power, never banned (reported instead). */
  isCreator(room: string, user: string): boolean;
  /** The bot and management-room members: never banned, reported instead. */
  isShielded(user: string): boolean;
  /** Lifting bans is only safe when every watched list's rules are known. */
  allowUnbans: boolean;
  /** Auto-suspension of local accounts (absent: off). */
  suspension?: SuspensionInput;
}

export interface SuspensionInput {
  /** Watched lists whose bans also suspend local accounts (`autoSuspend`). */
  lists: ReadonlySet<string>;
  /** Accounts of Tyr's own homeserver: the only ones it can suspend. */
  isLocal(user: string): boolean;
  /** Who holds the suspension Tyr made of `user`, if any: a rule, or a moderator by hand. */
  heldBy(user: string): "policy" | "moderator" | undefined;
}

export interface BanPlan {
  bans: { room: string; user: string; rule: Rule; takedown: boolean }[];
  unbans: { room: string; user: string; ruleKey: string }[];
  /** Rooms where a ban was needed but the bot lacks power, with how many were skipped. */
  noPower: Map<string, number>;
  /** Shielded users some rule matched (reported to moderators, never banned). */
  shielded: { user: string; rule: Rule }[];
  /** Room creators (v12) a rule matched where they are members: cannot be banned there. */
  creators: { room: string; user: string; rule: Rule }[];
  /** Local accounts to suspend because an autoSuspend list bans them. */
  suspends: { user: string; rule: Rule }[];
  /** Local accounts Tyr suspended for a rule that no autoSuspend list's rule bans any more. */
  unsuspends: { user: string }[];
}

export function planMemberBans(input: PlanInput): BanPlan {
  const plan: BanPlan = {
    bans: [],
    unbans: [],
    noPower: new Map(),
    shielded: [],
    creators: [],
    suspends: [],
    unsuspends: [],
  };
  const seen = new Set<string>();
  for (const user of input.candidates) {
    if (seen.has(user)) continue;
    seen.add(user);
    const decision = input.decide(user);
    if (input.suspension) planSuspension(plan, user, decision, input);
    if (decision.action !== "none" && decision.rule) {
      if (input.isShielded(user)) {
        plan.shielded.push({ user, rule: decision.rule });
        continue;
      }
      for (const room of input.roomsOf(user)) {
        if (!input.protectedRooms.has(room) || input.membership(room, user) === "ban") continue;
        if (input.isCreator(room, user)) {
          plan.creators.push({ room, user, rule: decision.rule });
          continue;
        }
        if (!input.canBan(room, user)) {
          plan.noPower.set(room, (plan.noPower.get(room) ?? 0) + 1);
          continue;
        }
        plan.bans.push({ room, user, rule: decision.rule, takedown: decision.action === "takedown" });
      }
      continue;
    }
    if (!input.allowUnbans) continue;
    for (const [room, ruleKey] of input.policyBansOf(user)) {
      // Someone may have unbanned them by hand already; only lift bans that are still there.
      if (input.protectedRooms.has(room) && input.membership(room, user) === "ban")
        plan.unbans.push({ room, user, ruleKey });
    }
  }
  return plan;
}

/** Suspends a local user an autoSuspend list bans; lifts a suspension a rule made once no such
 *  rule is left. A moderator's own suspension is theirs to lift. */
function planSuspension(plan: BanPlan, user: string, decision: Decision, input: PlanInput): void {
  const s = input.suspension!;
  if (!s.isLocal(user)) return;
  const rule =
    decision.action === "none" || input.isShielded(user)
      ? undefined
      : decision.rules.find((r) => s.lists.has(r.list));
  const held = s.heldBy(user);
  if (rule && held === undefined) plan.suspends.push({ user, rule });
  else if (!rule && held === "policy" && input.allowUnbans) plan.unsuspends.push({ user });
}

export function banReason(rule: Rule): string {
  return rule.reason && rule.reason.trim() ? rule.reason : "matched a ban-list rule";
}

/** The consequences of a plan (suspensions included). A takedown's ban asks the server to redact
 *  the user's events (MSC4293 `redact_events`) and is followed by a `redactUser`, which checks that
 *  and falls back to bulk or per-event redaction of the recent events the caller knows. */
export function planConsequences(
  plan: BanPlan,
  recentEventsOf: (room: string, user: string) => string[],
): Consequence[] {
  const out: Consequence[] = [];
  for (const b of plan.bans) {
    const cause: Cause = { by: "policy", rule: b.rule };
    out.push({
      kind: "ban",
      room: b.room,
      user: b.user,
      reason: banReason(b.rule),
      cause,
      ...(b.takedown ? { redactEvents: true } : {}),
    });
    if (b.takedown) {
      const events = recentEventsOf(b.room, b.user);
      const reason = "content removed by a takedown rule";
      out.push({ kind: "redactUser", room: b.room, user: b.user, events, reason, cause });
    }
  }
  for (const x of plan.suspends) {
    out.push({
      kind: "suspend",
      user: x.user,
      reason: banReason(x.rule),
      cause: { by: "policy", rule: x.rule },
    });
  }
  for (const x of plan.unsuspends) {
    out.push({
      kind: "unsuspend",
      user: x.user,
      reason: "no autoSuspend list bans this account any more",
      cause: { by: "system", what: "policy sync" },
    });
  }
  return out;
}

/**
 * A server rule that would hit Tyr's own server (`*`, `*.org`, the server itself) must not turn into
 * bans of every local user when server rules apply to users: the ACL builder refuses such rules,
 * and the member bans must agree. Returns the decision without them.
 */
export function withoutOwnServerRules(decision: Decision, ownServer: string): Decision {
  if (!decision.rules.some((r) => r.kind === "server")) return decision;
  const host = serverHost(ownServer);
  const rules = decision.rules.filter((r) => {
    if (r.kind !== "server" || r.entity === undefined) return true;
    const entity = serverRuleEntity(r.entity); // what the matcher matched: port removed
    return entity === undefined || !compileGlob(entity).matches(host);
  });
  if (rules.length === decision.rules.length) return decision;
  const takedown = rules.find((r) => r.recommendation === "takedown");
  const chosen = takedown ?? rules[0];
  return {
    action: chosen === undefined ? "none" : takedown ? "takedown" : "ban",
    ...(chosen ? { rule: chosen } : {}),
    rules,
    excepted: decision.excepted,
  };
}
