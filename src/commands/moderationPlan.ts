// Pure decisions behind the moderation commands (kick, since, redact, mute, powerlevel): who is hit
// where, which events still need redacting, and whether a power-level change may, must be
// confirmed, or must not happen. No network, no clock: the commands feed them room state.
import { eventLevel, userLevel } from "../matrix/power.ts";
import type { RoomState } from "../matrix/roomState.ts";

/** A glob kick matching more users than this asks for confirmation first. */
export const FEW_USERS = 3;

const KICKABLE: ReadonlySet<string> = new Set(["join", "invite", "knock"]);

export interface KickPlanInput {
  /** Users the pattern matched (or the one literal user). */
  readonly candidates: Iterable<string>;
  /** Rooms to kick from. */
  readonly rooms: readonly string[];
  /** Current membership of `user` in `room`, if known. */
  readonly membership: (room: string, user: string) => string | undefined;
  readonly botUserId: string;
  /** Members of the management room: never kicked. */
  readonly moderators: ReadonlySet<string>;
}

export interface KickPlan {
  readonly kicks: { readonly user: string; readonly room: string }[];
  /** Distinct users who would be kicked, sorted. */
  readonly users: string[];
  /** Rooms with at least one kick, in the order given. */
  readonly rooms: string[];
  /** Matched users who are left alone, and why. */
  readonly spared: { readonly user: string; readonly why: string }[];
}

export function planKicks(input: KickPlanInput): KickPlan {
  const kicks: { user: string; room: string }[] = [];
  const users = new Set<string>();
  const rooms = new Set<string>();
  const spared: { user: string; why: string }[] = [];
  for (const user of new Set(input.candidates)) {
    const present = input.rooms.filter((r) => KICKABLE.has(input.membership(r, user) ?? ""));
    if (present.length === 0) continue;
    if (user === input.botUserId) {
      spared.push({ user, why: "Tyr itself" });
      continue;
    }
    if (input.moderators.has(user)) {
      spared.push({ user, why: "a moderator (member of the management room)" });
      continue;
    }
    users.add(user);
    for (const room of present) {
      kicks.push({ user, room });
      rooms.add(room);
    }
  }
  return {
    kicks,
    users: [...users].sort(),
    rooms: input.rooms.filter((r) => rooms.has(r)),
    spared: spared.sort((a, b) => a.user.localeCompare(b.user)),
  };
}

export interface RecentJoinsInput {
  readonly rooms: readonly string[];
  /** Members of `room` whose current stay began within the window, with when (epoch ms). */
  readonly joinedInWindow: (room: string) => Iterable<readonly [string, number]>;
  readonly botUserId: string;
  /** Members of the management room: never acted on. */
  readonly moderators: ReadonlySet<string>;
  /** At most this many users, the most recent joiners first. */
  readonly limit: number;
}

export interface RecentJoins {
  /** Users to act on, most recent join first, each with the rooms they joined in the window. */
  readonly users: { readonly user: string; readonly rooms: string[]; readonly joinedAt: number }[];
  /** (user, room) pairs for those users. */
  readonly targets: { readonly user: string; readonly room: string }[];
  /** How many more recent joiners the limit left out. */
  readonly overLimit: number;
  /** Recent joiners left alone, and why. */
  readonly spared: { readonly user: string; readonly why: string }[];
}

/** Who joined the rooms since a time (a raid's accounts), for `since`. */
export function planRecentJoins(input: RecentJoinsInput): RecentJoins {
  const byUser = new Map<string, { rooms: string[]; joinedAt: number }>();
  for (const room of input.rooms) {
    for (const [user, at] of input.joinedInWindow(room)) {
      const u = byUser.get(user);
      if (u === undefined) byUser.set(user, { rooms: [room], joinedAt: at });
      else {
        u.rooms.push(room);
        u.joinedAt = Math.max(u.joinedAt, at);
      }
    }
  }
  const spared: { user: string; why: string }[] = [];
  const eligible: { user: string; rooms: string[]; joinedAt: number }[] = [];
  for (const [user, u] of byUser) {
    if (user === input.botUserId) spared.push({ user, why: "Tyr itself" });
    else if (input.moderators.has(user))
      spared.push({ user, why: "a moderator (member of the management room)" });
    else eligible.push({ user, ...u });
  }
  eligible.sort((a, b) => b.joinedAt - a.joinedAt || a.user.localeCompare(b.user));
  const users = eligible.slice(0, input.limit);
  return {
    users,
    targets: users.flatMap((u) => u.rooms.map((room) => ({ user: u.user, room }))),
    overLimit: eligible.length - users.length,
    spared: spared.sort((a, b) => a.user.localeCompare(b.user)),
  };
}

export interface RedactionCandidates {
  readonly room: string;
  /** Event IDs, newest first, possibly with duplicates (recent cache + history scan). */
  readonly events: readonly string[];
}

export interface RedactionSelection {
  readonly redactions: { readonly room: string; readonly event: string }[];
  /** Events skipped because Tyr already redacted them. */
  readonly alreadyRedacted: number;
}

/** At most `limit` events per room, each at most once, none that Tyr already redacted. */
export function selectRedactions(
  candidates: readonly RedactionCandidates[],
  wasRedacted: (eventId: string) => boolean,
  limit: number,
): RedactionSelection {
  const redactions: { room: string; event: string }[] = [];
  const seen = new Set<string>();
  let alreadyRedacted = 0;
  for (const { room, events } of candidates) {
    let taken = 0;
    for (const event of events) {
      if (taken >= limit) break;
      if (seen.has(event)) continue;
      seen.add(event);
      if (wasRedacted(event)) {
        alreadyRedacted++;
        continue;
      }
      redactions.push({ room, event });
      taken++;
    }
  }
  return { redactions, alreadyRedacted };
}

/** The levels that decide whether Tyr may change a user's power level in a room. */
export interface LevelFacts {
  readonly botLevel: number;
  /** Level needed to send `m.room.power_levels`. */
  readonly powerLevelsLevel: number;
  readonly targetLevel: number;
  readonly eventsDefault: number;
}

export function levelFacts(state: RoomState, botUserId: string, target: string): LevelFacts {
  const ed = state.powerLevels.events_default;
  return {
    botLevel: userLevel(state, botUserId),
    powerLevelsLevel: eventLevel(state, "m.room.power_levels", true),
    targetLevel: userLevel(state, target),
    eventsDefault: typeof ed === "number" && Number.isFinite(ed) ? ed : 0,
  };
}

export type LevelDecision =
  | { readonly kind: "ok" }
  /** Nothing to do (already at that level / already muted). */
  | { readonly kind: "noop"; readonly why: string }
  /** Allowed, but a moderator must confirm first. */
  | { readonly kind: "confirm"; readonly why: string }
  | { readonly kind: "refuse"; readonly why: string };

const lvl = (n: number): string => (n === Infinity ? "unlimited (room creator)" : String(n));

/** Matrix's own rules, checked before asking: Tyr needs the level to send power levels and must
 *  outrank the user whose level it changes. */
function basicRefusal(f: LevelFacts, target: string, botUserId: string): string | undefined {
  if (target === botUserId) return "Tyr does not change its own power level; do that from your client";
  if (f.botLevel < f.powerLevelsLevel)
    return `Tyr cannot change power levels here (needs ${lvl(f.powerLevelsLevel)}, has ${lvl(f.botLevel)})`;
  if (f.targetLevel === Infinity) return `${target} created the room and has unlimited power`;
  if (f.targetLevel >= f.botLevel)
    return `${target} has level ${lvl(f.targetLevel)}, not below Tyr's own ${lvl(f.botLevel)}, so Tyr cannot change it`;
  return undefined;
}

/** `powerlevel <user> <level>`: refuse above Tyr's own level, confirm at Tyr's own level. */
export function decidePowerLevel(
  f: LevelFacts,
  target: string,
  requested: number,
  botUserId: string,
): LevelDecision {
  const basic = basicRefusal(f, target, botUserId);
  if (basic !== undefined) return { kind: "refuse", why: basic };
  if (requested > f.botLevel)
    return {
      kind: "refuse",
      why: `${requested} is above Tyr's own level (${lvl(f.botLevel)}); Tyr cannot grant more power than it has`,
    };
  if (requested === f.targetLevel) return { kind: "noop", why: `${target} already has level ${requested}` };
  if (requested >= f.botLevel)
    return {
      kind: "confirm",
      why: `${target} would get Tyr's own level (${requested}): Tyr could no longer kick, ban, mute or demote them`,
    };
  return { kind: "ok" };
}

/** `mute <user>`: who may be muted, and whether they already are. */
export function decideMute(
  f: LevelFacts,
  target: string,
  botUserId: string,
  moderators: ReadonlySet<string>,
): LevelDecision {
  if (moderators.has(target))
    return { kind: "refuse", why: `${target} is a moderator (member of the management room)` };
  const basic = basicRefusal(f, target, botUserId);
  if (basic !== undefined) return { kind: "refuse", why: basic };
  if (f.targetLevel < f.eventsDefault) return { kind: "noop", why: `${target} is already muted` };
  return { kind: "ok" };
}

/** Is the user muted (below the level needed to send messages)? */
export function isMuted(f: LevelFacts): boolean {
  return f.targetLevel < f.eventsDefault;
}

/** `unmute <user>`: only a muted user, and only when Tyr outranks them. */
export function decideUnmute(f: LevelFacts, target: string, botUserId: string): LevelDecision {
  if (!isMuted(f)) return { kind: "noop", why: `${target} is not muted` };
  const basic = basicRefusal(f, target, botUserId);
  if (basic !== undefined) return { kind: "refuse", why: basic };
  return { kind: "ok" };
}
