// Which rooms Tyr refuses to take down, which rooms the room rules of lists with
// autoTakedownRooms take down, and which of those it unblocks again when their rule goes (pure;
// the moderator's `room takedown` uses the same refusal).
import type { Rule } from "../banlists/rule.ts";

export interface TakedownGuard {
  readonly managementRoomId: string;
  readonly protectedRooms: ReadonlySet<string>;
  readonly watchedLists: readonly string[];
}

/** Why Tyr will not take `roomId` down, or undefined. `force` lets a moderator take down a
 *  protected room or a watched list on purpose; the management room is never taken down (Tyr and
 *  the moderators would lose the place they talk in). */
export function takedownRefusal(roomId: string, g: TakedownGuard, force: boolean): string | undefined {
  if (roomId === g.managementRoomId) return "it is Tyr's management room";
  if (force) return undefined;
  if (g.protectedRooms.has(roomId)) return "it is a room Tyr protects (add --force to take it down anyway)";
  if (g.watchedLists.includes(roomId))
    return "it is a policy list Tyr watches (add --force to take it down anyway)";
  return undefined;
}

export interface RoomRulePlan {
  readonly takedowns: { room: string; rule: Rule }[];
  /** Rooms a rule names that Tyr will not take down on its own, with why. */
  readonly refused: { room: string; rule: Rule; why: string }[];
}

/** Which rooms the room rules of lists with autoTakedownRooms take down now. Only literal room
 *  IDs count (an alias or glob could name a room nobody meant); a room whose takedown by Tyr
 *  is in force (`done`) is not taken down again. A list never takes down a protected room or a watched list:
 *  that takes a moderator's `room takedown --force`. */
export function planRoomTakedowns(
  rules: Iterable<Rule>,
  guard: TakedownGuard,
  done: (room: string) => boolean,
): RoomRulePlan {
  const plan: RoomRulePlan = { takedowns: [], refused: [] };
  for (const [room, rule] of ruledRooms(rules)) {
    if (done(room)) continue;
    const why = takedownRefusal(room, guard, false);
    if (why !== undefined) plan.refused.push({ room, rule, why });
    else plan.takedowns.push({ room, rule });
  }
  return plan;
}

/** The rooms the rules ban, each with the first rule that does: only literal room IDs count (an
 *  alias or glob could name a room nobody meant), and an exception takes nothing down. */
export function ruledRooms(rules: Iterable<Rule>): Map<string, Rule> {
  const out = new Map<string, Rule>();
  for (const rule of rules) {
    const room = rule.entity;
    if (rule.kind !== "room" || rule.recommendation === "exception") continue;
    if (room === undefined || !room.startsWith("!") || /[*?]/.test(room) || out.has(room)) continue;
    out.set(room, rule);
  }
  return out;
}

/** Rooms a rule made Tyr take down that no rule of an autoTakedownRooms list bans any more (the
 *  rule was removed, or its list no longer takes rooms down): they are unblocked. A takedown a
 *  moderator made by hand is not in `takenDownByRule`, so only `room` commands lift it. */
export function planRoomUnblocks(takenDownByRule: Iterable<string>, rules: Iterable<Rule>): string[] {
  const ruled = ruledRooms(rules);
  return [...takenDownByRule].filter((room) => !ruled.has(room));
}
