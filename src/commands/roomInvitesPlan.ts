// Rooms Tyr is invited to, the pure part: which invites Tyr acts on (only moderators'), whether it
// asks or protects at once (protectAllJoinedRooms), which joined rooms that option protects, and
// the prompt.
import { code, fmt, type Fragment } from "../format/fragment.ts";
import { normaliseReactionKey } from "../format/content.ts";

export const PROTECT_KEY = "✅";
export const DECLINE_KEY = "❌";

export interface InviteFacts {
  /** The management room, a watched list or a protected room: handled elsewhere (re-join). */
  readonly known: boolean;
  /** Why the inviter is not a moderator (management-room member at command power), or undefined. */
  readonly inviterProblem: string | undefined;
  readonly protectAll: boolean;
  /** Safe mode applies nothing (README: Safe mode): no prompt, no join. */
  readonly safeMode: boolean;
}

export type InviteDecision =
  | { readonly kind: "ignore"; readonly why: string }
  | { readonly kind: "prompt"; readonly inviter: string }
  | { readonly kind: "protect"; readonly inviter: string };

/** What Tyr does with an invite to a room it does not know yet. */
export function inviteDecision(inviter: string | undefined, facts: InviteFacts): InviteDecision {
  if (facts.known) return { kind: "ignore", why: "a room Tyr already uses" };
  if (inviter === undefined) return { kind: "ignore", why: "the invite names no inviter" };
  if (facts.inviterProblem !== undefined)
    return { kind: "ignore", why: `the inviter is not a moderator (${facts.inviterProblem})` };
  if (facts.safeMode) return { kind: "ignore", why: "Tyr is in safe mode (see status)" };
  return { kind: facts.protectAll ? "protect" : "prompt", inviter };
}

/** The prompt in the management room for a moderator's invite. */
export function invitePrompt(room: string, roomLabel: string, inviter: string, prefix: string): Fragment {
  const name = roomLabel === room ? code(room) : fmt`${code(roomLabel)} (${code(room)})`;
  return fmt`${code(inviter)} invited Tyr to ${name}. Protect it? React ${PROTECT_KEY} to join and protect it (same as ${code(`${prefix} rooms add ${room}`)}), or ${DECLINE_KEY} to decline the invite.`;
}

/** A reaction's meaning on an invite prompt, or undefined for any other key. */
export function inviteChoice(key: string): "protect" | "decline" | undefined {
  const k = normaliseReactionKey(key);
  if (k === normaliseReactionKey(PROTECT_KEY)) return "protect";
  if (k === normaliseReactionKey(DECLINE_KEY)) return "decline";
  return undefined;
}

export interface JoinedRoom {
  readonly roomId: string;
  /** The room's type from its create event (`m.policy` for policy lists). */
  readonly type: string | undefined;
}

/** The joined rooms protectAllJoinedRooms protects: all but the management room, watched lists
 *  and other policy rooms, and the rooms already protected. */
export function roomsToProtect(
  joined: readonly JoinedRoom[],
  g: { managementRoomId: string; watchedLists: readonly string[]; protectedRooms: ReadonlySet<string> },
): string[] {
  return joined
    .filter(
      (r) =>
        r.roomId !== g.managementRoomId &&
        !g.watchedLists.includes(r.roomId) &&
        !g.protectedRooms.has(r.roomId) &&
        r.type !== "m.policy",
    )
    .map((r) => r.roomId);
}
