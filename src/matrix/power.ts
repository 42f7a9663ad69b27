// Power-level arithmetic over room state (pure). Room version 12 made the room creators
// all-powerful without listing them in m.room.power_levels, so "level" may be Infinity.
import type { RoomState } from "./roomState.ts";

const num = (v: unknown, fallback: number): number =>
  typeof v === "number" && Number.isFinite(v)
    ? v
    : typeof v === "string" && /^-?\d+$/.test(v)
      ? Number(v)
      : fallback;

/** Room versions where creators have infinite power (v12 and the MSC4289 test versions). */
export function creatorsArePrivileged(roomVersion: unknown): boolean {
  if (typeof roomVersion !== "string") return false;
  if (/^\d+$/.test(roomVersion)) return Number(roomVersion) >= 12;
  return roomVersion.startsWith("org.matrix.hydra");
}

export function creators(state: RoomState): Set<string> {
  const create = state.createEvent;
  const out = new Set<string>();
  if (!create || !creatorsArePrivileged(create.content.room_version)) return out;
  if (create.sender) out.add(create.sender);
  const extra = create.content.additional_creators;
  if (Array.isArray(extra)) for (const u of extra) if (typeof u === "string") out.add(u);
  return out;
}

export function userLevel(state: RoomState, userId: string): number {
  if (creators(state).has(userId)) return Infinity;
  const pl = state.get("m.room.power_levels");
  if (!pl) {
    // Without a power-levels event the creator has 100 and everyone else 0.
    return state.createEvent?.sender === userId ? 100 : 0;
  }
  const users = pl.content.users;
  if (users && typeof users === "object" && userId in users) {
    return num((users as Record<string, unknown>)[userId], 0);
  }
  return num(pl.content.users_default, 0);
}

export type Action = "ban" | "kick" | "redact" | "invite";

export function actionLevel(state: RoomState, action: Action): number {
  const pl = state.get("m.room.power_levels")?.content ?? {};
  return num(pl[action], action === "invite" ? 0 : 50);
}

export function eventLevel(state: RoomState, eventType: string, isState: boolean): number {
  const pl = state.get("m.room.power_levels");
  const content = pl?.content ?? {};
  const events = content.events;
  if (events && typeof events === "object" && eventType in events) {
    return num((events as Record<string, unknown>)[eventType], 0);
  }
  if (isState) return num(content.state_default, pl ? 50 : 0);
  return num(content.events_default, 0);
}

/** Can `actor` ban/kick `target`? Needs the action level and strictly more power than the target. */
export function canActOn(state: RoomState, actor: string, action: "ban" | "kick", target: string): boolean {
  const mine = userLevel(state, actor);
  return mine >= actionLevel(state, action) && mine > userLevel(state, target);
}

export function canSendState(state: RoomState, actor: string, eventType: string): boolean {
  return userLevel(state, actor) >= eventLevel(state, eventType, true);
}

/** What the bot is missing in a room, as short human phrases (empty = all good). */
export function missingPowers(state: RoomState, botUserId: string): string[] {
  const mine = userLevel(state, botUserId);
  const missing: string[] = [];
  for (const action of ["ban", "kick", "redact"] as const) {
    const need = actionLevel(state, action);
    if (mine < need) missing.push(`${action} (needs ${need}, has ${mine})`);
  }
  for (const type of ["m.room.server_acl", "m.room.power_levels"]) {
    const need = eventLevel(state, type, true);
    if (mine < need) missing.push(`${type} (needs ${need}, has ${mine})`);
  }
  return missing;
}
