// Tyr's own messages in the management room (prompts, their edits, its reactions): through the
// queue and the Messenger, so they are encrypted whenever the room is, and kept out of the action
// log. Returns the new event's ID, or undefined (logged) when it could not be sent.
import type { BotParts } from "../feature.ts";
import { HOUSEKEEPING } from "./types.ts";

export async function sendToManagementRoom(
  bot: Pick<BotParts, "queue" | "log" | "managementRoomId">,
  eventType: string,
  content: Record<string, unknown>,
  opts: { front?: boolean } = {},
): Promise<string | undefined> {
  const r = await bot.queue.submit(
    { kind: "send", room: bot.managementRoomId, eventType, content, cause: HOUSEKEEPING },
    opts,
  );
  if (r.outcome !== "done") bot.log.warn({ error: r.error }, "could not send to the management room");
  return r.detail;
}
