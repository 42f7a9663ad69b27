// The protection contract. A protection is one file exporting `defineProtection({...})`: a name,
// a description, a settings schema and handlers that DECIDE. Handlers get the event, resolved
// settings, a per-room state object the protection owns, and the time; they return consequences
// and never touch the network. The pipeline runs them, catches their failures and applies dry-run.
import type { Cause, Consequence } from "../consequences/types.ts";
import type { MembershipChange, Reaction, RoomMessage } from "./event.ts";
import type { PowerLevels } from "./exemptions.ts";
import type { SettingsOf, SettingsSchema } from "./settings.ts";

/** What the bot knows about a room, supplied by the caller with each event. */
export interface RoomContext {
  /** Parsed `m.room.power_levels` (see parsePowerLevels); absent → everyone at level 0. */
  readonly powerLevels?: PowerLevels;
  /** Members of the management room: exempt everywhere. */
  readonly managementMembers?: ReadonlySet<string>;
  /** Names others must not imitate (e.g. moderators' display names); used by bad-names. */
  readonly protectedNames?: readonly string[];
  /** Current `join_rule` of the room, when known; join-wave restores it after a lockdown. */
  readonly joinRule?: string;
}

export interface HandlerContext<V, St> {
  readonly room: string;
  readonly settings: V;
  /** This protection's state for this room: created by `createState`, owned by the protection. */
  readonly state: St;
  /** The pipeline clock (ms). Windows use this, never the forgeable origin_server_ts. */
  readonly now: number;
  /** Attach to every consequence. */
  readonly cause: Cause;
  readonly roomInfo: RoomContext;
  /** When the pipeline saw `user` join this room (pipeline clock), if it did and they haven't left. */
  joinedAt(user: string): number | undefined;
}

export interface TickContext<V, St> {
  readonly room: string;
  readonly settings: V;
  readonly state: St;
  readonly now: number;
  readonly cause: Cause;
}

export interface Protection<S extends SettingsSchema = SettingsSchema, St = unknown> {
  /** Stable identifier used in commands and account data: lower-case, dash-separated. */
  readonly name: string;
  readonly description: string;
  /** Other names that refer to this protection (e.g. Mjolnir's), for the enabled list. */
  readonly aliases?: readonly string[];
  readonly settings: S;
  /** Fresh per-room state. Must stay bounded however many events arrive (see lru.ts). */
  createState(): St;
  onMessage?(ev: RoomMessage, ctx: HandlerContext<SettingsOf<S>, St>): readonly Consequence[];
  onMembership?(ev: MembershipChange, ctx: HandlerContext<SettingsOf<S>, St>): readonly Consequence[];
  onReaction?(ev: Reaction, ctx: HandlerContext<SettingsOf<S>, St>): readonly Consequence[];
  /** Called periodically (and by tests) for timers such as restoring a join rule. */
  onTick?(ctx: TickContext<SettingsOf<S>, St>): readonly Consequence[];
}

/** Identity function that checks a protection's handlers against its own schema and state. */
export function defineProtection<const S extends SettingsSchema, St>(
  p: Protection<S, St>,
): Protection<S, St> {
  return p;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a registry holds protections of every schema/state
export type AnyProtection = Protection<any, any>;

// ---- consequence helpers ----

interface Ctx {
  readonly room: string;
  readonly cause: Cause;
}

export function redact(ctx: Ctx, eventId: string, reason: string): Consequence {
  return { kind: "redact", room: ctx.room, event: eventId, reason, cause: ctx.cause };
}
// A protection's ban or kick asks the server to redact the offender's events too (MSC4293); where
// the server ignores that, the pipeline's own clean-up redactions still remove the recent ones.
export function ban(ctx: Ctx, user: string, reason: string): Consequence {
  return { kind: "ban", room: ctx.room, user, reason, cause: ctx.cause, redactEvents: true };
}
export function kick(ctx: Ctx, user: string, reason: string): Consequence {
  return { kind: "kick", room: ctx.room, user, reason, cause: ctx.cause, redactEvents: true };
}
export function mute(ctx: Ctx, user: string, durationMs: number, reason: string): Consequence {
  return { kind: "mute", room: ctx.room, user, durationMs, reason, cause: ctx.cause };
}
export function warn(ctx: Ctx, text: string): Consequence {
  return { kind: "warn", room: ctx.room, text, cause: ctx.cause };
}
export function notify(ctx: Ctx, text: string): Consequence {
  return { kind: "notify", text, cause: ctx.cause };
}
export function setJoinRule(ctx: Ctx, joinRule: "invite" | "public" | "knock", reason: string): Consequence {
  return { kind: "setJoinRule", room: ctx.room, joinRule, reason, cause: ctx.cause };
}
