// The watched lists Tyr can write user rules to, as reaction prompts offer them (ban propagation,
// report triage): priority order, each with the label moderators know it by.
import type { BotParts } from "../feature.ts";
import type { Services } from "../services.ts";
import { eventTypeFor } from "../banlists/parse.ts";
import { canSendState } from "../matrix/power.ts";
import { listShortcode } from "./lists.ts";
import type { ListChoice } from "./propagationPlan.ts";

export function writableUserLists(bot: BotParts, services: Services): ListChoice[] {
  const me = bot.session.userId;
  const type = eventTypeFor("user");
  return (services.policy?.lists ?? [])
    .filter((l) => {
      const state = bot.state.peek(l);
      return state?.createEvent !== undefined && canSendState(state, me, type);
    })
    .map((list) => ({ list, label: listLabelOf(bot, services, list) }));
}

/** A list's shortcode when it has one, else its alias or room ID. */
export function listLabelOf(bot: BotParts, services: Services, list: string): string {
  return listShortcode(bot.state, list) ?? services.policy?.displayList(list) ?? list;
}
