// What every prompt Tyr posts in the management room shares (ban propagation, room invites, report
// triage): a moderator's reaction on it and who counts as a moderator. Tyr's own sends go through
// consequences/housekeeping.ts.
import type { BotParts } from "../feature.ts";
import type { BatchMeta, TimelineEvent } from "../router.ts";
import type { Services } from "../services.ts";
import { userLevel } from "../matrix/power.ts";

/** A live reaction (`m.annotation`) in the management room by someone other than Tyr. */
export function promptReaction(
  bot: BotParts,
  ev: TimelineEvent,
  meta: BatchMeta,
): { promptId: string; key: string } | undefined {
  if (meta.initial || meta.stale || ev.type !== "m.reaction") return undefined;
  if (ev.roomId !== bot.managementRoomId || ev.sender === bot.session.userId) return undefined;
  const rel = ev.content["m.relates_to"] as
    { rel_type?: unknown; event_id?: unknown; key?: unknown } | undefined;
  if (rel?.rel_type !== "m.annotation" || typeof rel.event_id !== "string" || typeof rel.key !== "string")
    return undefined;
  return { promptId: rel.event_id, key: rel.key };
}

/** Why `user` is not a moderator (a management-room member at command power), or undefined. */
export function moderatorProblem(bot: BotParts, user: string): string | undefined {
  const room = bot.state.peek(bot.managementRoomId);
  if (!room || room.membership(user) !== "join") return "not a member of the management room";
  if (userLevel(room, user) < bot.config.commands.minPowerLevel) return "below the command power level";
  return undefined;
}

/**
 * Only moderators answer prompts. Element (matrix-js-sdk) sends reactions unencrypted even in
 * encrypted rooms, so such a reaction names no device and is judged like a ✅ confirmation: by its
 * sender, whom the homeserver authenticated. An encrypted reaction does name a device, and must
 * then pass the same trust check as a command.
 */
export async function reactorProblem(
  bot: BotParts,
  services: Services,
  ev: TimelineEvent,
): Promise<string | undefined> {
  return moderatorProblem(bot, ev.sender) ?? (ev.decrypted ? services.crypto?.trustProblem(ev) : undefined);
}
