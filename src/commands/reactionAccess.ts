// Who may answer Tyr's reaction prompts in the management room (ban propagation, report triage):
// the same people who may command it, judged the same way.
import type { BotParts } from "../feature.ts";
import type { TimelineEvent } from "../router.ts";
import type { Services } from "../services.ts";
import { userLevel } from "../matrix/power.ts";

/**
 * Why this reaction does not count, or undefined when it does. Only management-room members at
 * command power answer prompts. Element (matrix-js-sdk) sends reactions unencrypted even in
 * encrypted rooms, so such a reaction names no device and is judged like a ✅ confirmation: by
 * its sender, whom the homeserver authenticated. An encrypted reaction does name a device, and
 * must then pass the same trust check as a command.
 */
export async function reactionProblem(
  bot: BotParts,
  services: Services,
  ev: TimelineEvent,
): Promise<string | undefined> {
  const room = bot.state.peek(bot.managementRoomId);
  if (!room || room.membership(ev.sender) !== "join") return "not a member of the management room";
  if (userLevel(room, ev.sender) < bot.config.commands.minPowerLevel) return "below the command power level";
  return ev.decrypted ? services.crypto?.trustProblem(ev) : undefined;
}

/** The annotation a reaction event makes (target event and key), or undefined for anything else. */
export function annotationOf(ev: TimelineEvent): { eventId: string; key: string } | undefined {
  if (ev.type !== "m.reaction") return undefined;
  const rel = ev.content["m.relates_to"] as
    { rel_type?: unknown; event_id?: unknown; key?: unknown } | undefined;
  if (rel?.rel_type !== "m.annotation" || typeof rel.event_id !== "string" || typeof rel.key !== "string")
    return undefined;
  return { eventId: rel.event_id, key: rel.key };
}
