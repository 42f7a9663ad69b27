// Pure decisions for Synapse's spam-checker callbacks, over what Tyr already knows in memory (the
// policy matcher, protected rooms, open protection incidents, room bans). No network, no clock:
// the feature (feature.ts) supplies the knowledge and turns a verdict into an HTTP answer.
import type { Decision } from "../banlists/matcher.ts";
import { serverOfUser } from "../banlists/entities.ts";
import type { Rule } from "../banlists/rule.ts";
import { withoutOwnServerRules } from "../policy/plan.ts";
import type { PipelineResult } from "../protections/pipeline.ts";
import type { Consequence } from "../consequences/types.ts";

/** What the decisions may consult. Every member answers from memory. */
export interface Knowledge {
  readonly botUserId: string;
  /** Tyr's own server (host, no port): its users are never banned by a server rule. */
  readonly ownServer: string;
  /** Management-room members: never refused (a rule matching them is a mistake to report). */
  readonly moderators: ReadonlySet<string>;
  isProtected(room: string): boolean;
  decideUser(user: string): Decision;
  decideServer(host: string): Decision;
  decideRoom(room: string): Decision;
  /** The protection with an open incident against `user` in `room`, if any. */
  flaggedBy(room: string, user: string): string | undefined;
  /** A protected room where `user` is banned, when the option to refuse their invites is on. */
  roomBanOf?(user: string): string | undefined;
}

export type Why =
  | { readonly kind: "rule"; readonly rule: Rule; readonly takedown: boolean }
  | { readonly kind: "protection"; readonly name: string }
  | { readonly kind: "roomBan"; readonly room: string }
  | { readonly kind: "notReady" };

export type Verdict =
  | { readonly allow: true }
  | {
      readonly allow: false;
      /** Shown to the user by their client. */
      readonly reason: string;
      readonly why: Why;
      /** Who or what was refused (user ID, or the room for a banned room). */
      readonly subject: string;
      readonly room?: string;
    };

export const ALLOW: Verdict = Object.freeze({ allow: true });

const isShielded = (k: Knowledge, user: string) => user === k.botUserId || k.moderators.has(user);

/** The ban (or takedown) a watched list holds against a user or their server, if any. */
export function userBan(k: Knowledge, user: string): Decision | undefined {
  const server = serverOfUser(user);
  const local = server === k.ownServer;
  // A list banning Tyr's own server must not lock out every local user (same rule as member bans).
  const d = withoutOwnServerRules(k.decideUser(user), k.ownServer);
  if (d.action !== "none" && d.rule !== undefined) return d;
  if (!local && server !== "") {
    const s = k.decideServer(server);
    if (s.action !== "none" && s.rule !== undefined) return s;
  }
  return undefined;
}

function roomBan(k: Knowledge, room: string): Decision | undefined {
  const d = k.decideRoom(room);
  return d.action !== "none" && d.rule !== undefined ? d : undefined;
}

function byRule(d: Decision, subject: string, reason: string, room?: string): Verdict {
  const rule = d.rule as Rule;
  const why = rule.reason?.trim() ? ` (${rule.reason.trim().slice(0, 200)})` : "";
  return {
    allow: false,
    reason: `${reason}${why}`,
    why: { kind: "rule", rule, takedown: d.action === "takedown" },
    subject,
    ...(room !== undefined ? { room } : {}),
  };
}

/** user_may_invite and federated_user_may_invite: may `inviter` invite `invitee` into `room`? */
export function decideInvite(k: Knowledge, inviter: string, invitee: string, room: string): Verdict {
  if (isShielded(k, inviter) || invitee === k.botUserId) return ALLOW;
  const banned = userBan(k, inviter);
  if (banned)
    return byRule(banned, inviter, "Invites from you are blocked by this server's moderation policy", room);
  const r = roomBan(k, room);
  if (r)
    return byRule(r, room, "Invites into this room are blocked by this server's moderation policy", room);
  if (k.isProtected(room)) {
    const p = k.flaggedBy(room, inviter);
    if (p !== undefined)
      return {
        allow: false,
        reason:
          "You cannot invite people into this room right now: a moderation protection flagged your activity",
        why: { kind: "protection", name: p },
        subject: inviter,
        room,
      };
  }
  const bannedIn = k.roomBanOf?.(inviter);
  if (bannedIn !== undefined)
    return {
      allow: false,
      reason: "Invites from you are blocked: you are banned from a room this server protects",
      why: { kind: "roomBan", room: bannedIn },
      subject: inviter,
      room,
    };
  return ALLOW;
}

/** user_may_join_room: may the (local) `user` join `room`? */
export function decideJoin(k: Knowledge, user: string, room: string): Verdict {
  if (isShielded(k, user)) return ALLOW;
  if (k.isProtected(room)) {
    const banned = userBan(k, user);
    if (banned)
      return byRule(banned, user, "You cannot join this room: you are banned by its moderation policy", room);
  }
  const r = roomBan(k, room);
  if (r) return byRule(r, room, "This room is blocked by this server's moderation policy", room);
  return ALLOW;
}

/** user_may_create_room: local users a watched list bans cannot create rooms. */
export function decideCreateRoom(k: Knowledge, user: string): Verdict {
  if (isShielded(k, user)) return ALLOW;
  const banned = userBan(k, user);
  return banned
    ? byRule(banned, user, "You cannot create rooms: you are banned by this server's moderation policy")
    : ALLOW;
}

/** The parts of an event check_event_for_spam looks at (after validation). */
export interface CheckedEvent {
  readonly eventId: string;
  readonly roomId: string;
  readonly sender: string;
  readonly type: string;
  /** Has a state_key. */
  readonly isState: boolean;
}

/** Consequences that mean "this event must not exist": its redaction, or removing its sender. */
export function refusingProtection(ev: CheckedEvent, result: PipelineResult): string | undefined {
  for (const c of result.consequences) {
    if (c.cause.by !== "protection" || c.cause.dryRun === true) continue;
    if (c.kind === "redact" && c.event === ev.eventId) return c.cause.name;
    if ((c.kind === "ban" || c.kind === "kick") && c.user === ev.sender && c.room === ev.roomId)
      return c.cause.name;
  }
  return undefined;
}

/**
 * check_event_for_spam for an event of a protected room: refused when its sender is banned by a
 * watched list, or when a protection enforced at the server would redact it or remove its sender.
 * `result` is the server pipeline's answer (protections with enforceAtServer only), or undefined
 * when the event was not run through it (encrypted, unprotected room).
 */
export function decideEvent(k: Knowledge, ev: CheckedEvent, result: PipelineResult | undefined): Verdict {
  if (isShielded(k, ev.sender) || !k.isProtected(ev.roomId)) return ALLOW;
  // State events and redactions pass: Synapse also asks about events arriving over federation,
  // and a refused one is soft-failed there; refusing state would leave the room's state to
  // diverge between servers, and a redaction only ever removes content.
  if (ev.isState || ev.type === "m.room.redaction") return ALLOW;
  const banned = userBan(k, ev.sender);
  if (banned)
    return byRule(
      banned,
      ev.sender,
      "Your message was refused: you are banned by this room's moderation policy",
      ev.roomId,
    );
  if (result === undefined) return ALLOW;
  const p = refusingProtection(ev, result);
  if (p === undefined) return ALLOW;
  return {
    allow: false,
    reason: `Your message was refused as probable spam (${p})`,
    why: { kind: "protection", name: p },
    subject: ev.sender,
    room: ev.roomId,
  };
}

/**
 * What still has to happen after the server refused an event on a protection's word: its other
 * decisions (a ban, a mute, the clean-up of the sender's earlier messages), but not the
 * redaction of the event that never existed, a warning about it in the room (the sender saw the
 * refusal), or dry-run notices (the live pipeline gives those for delivered events).
 */
export function followUpsOfRefusedEvent(
  eventId: string,
  consequences: readonly Consequence[],
): Consequence[] {
  return consequences.filter(
    (c) =>
      !(c.kind === "redact" && c.event === eventId) &&
      c.kind !== "warn" &&
      !(c.kind === "notify" && c.cause.by === "protection"),
  );
}

/** One line saying why, for the action log and Tyr's own log. */
export function describeWhy(why: Why): string {
  switch (why.kind) {
    case "rule":
      return `${why.takedown ? "takedown" : "ban"} rule ${why.rule.entity ?? "(hashed)"} on ${why.rule.list}`;
    case "protection":
      return `protection ${why.name}`;
    case "roomBan":
      return `banned in protected room ${why.room}`;
    case "notReady":
      return "Tyr is not ready (antispam.whenNotReady: deny)";
  }
}
