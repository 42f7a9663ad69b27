// What policy sync tells the moderators in the management room, and the problems it says only
// once (an unresolvable list or a missing power level would otherwise be repeated on every sync).
import type { BotParts } from "../feature.ts";
import { errorText } from "../consequences/queue.ts";

export class PolicyNotices {
  private readonly said = new Set<string>();

  private readonly bot: BotParts;

  constructor(bot: BotParts) {
    this.bot = bot;
  }

  notify(text: string): void {
    void this.bot.queue.submit({ kind: "notify", text, cause: { by: "system", what: "policy sync" } });
  }

  /** Says `text` the first time `key` comes up (and logs it). */
  notifyOnce(key: string, text: string): void {
    if (this.said.has(key)) return;
    this.said.add(key);
    this.bot.log.warn(text);
    this.notify(text);
  }

  /** The problem behind `key` may be gone: say it again if it comes back. */
  forget(key: string): void {
    this.said.delete(key);
  }
}

/** A room's canonical alias when it has one (how moderators know a list), else its ID. */
export function displayRoom(bot: BotParts, roomId: string): string {
  const alias = bot.state.peek(roomId)?.get("m.room.canonical_alias")?.content.alias;
  return typeof alias === "string" ? alias : roomId;
}

/** What to say when Tyr cannot join a room it needs (a watched list, a protected room). */
export interface NeededRoom {
  readonly roomId: string;
  /** e.g. "the watched list !x:y" */
  readonly what: string;
  /** The command that gets Tyr out of safe mode without the room. */
  readonly fix: string;
  /** What to do when it fails later. */
  readonly hint: string;
}

/**
 * Joins a room Tyr needs. A failure at start-up puts Tyr in safe mode (README: Safe mode: nothing
 * half-applied); later it is only reported, once.
 */
export async function joinNeeded(
  bot: BotParts,
  notices: PolicyNotices,
  room: NeededRoom,
  atStartup: boolean,
): Promise<void> {
  try {
    await bot.client.joinRoom(room.roomId);
  } catch (e) {
    if (atStartup)
      bot.safeMode.add({
        key: `join:${room.roomId}`,
        what: `Tyr cannot join ${room.what} (${errorText(e)})`,
        fix: `${room.fix} (or invite Tyr to it)`,
      });
    else notices.notifyOnce(`join:${room.roomId}`, `Cannot join ${room.what}: ${errorText(e)}. ${room.hint}`);
  }
}
