// What a command can use. Command groups are written against this interface only; the handler
// builds one per invocation.
import type { BotParts } from "../feature.ts";
import type { Fragment } from "../format/fragment.ts";
import type { Reply } from "../format/paginate.ts";
import type { Consequence } from "../consequences/types.ts";
import type { Result } from "../consequences/queue.ts";
import type { CommandRegistry } from "./framework/index.ts";
import type { Services } from "../services.ts";

export interface Progress {
  /** Shows (first call) or edits (later calls) one progress message; throttled internally. */
  update(f: Fragment | string): Promise<void>;
  /** The final state, shown at once. */
  finish(f: Fragment | string): Promise<void>;
}

export interface CommandContext {
  readonly bot: BotParts;
  readonly services: Services;
  readonly registry: CommandRegistry<CommandContext>;
  /** The moderator who sent the command. */
  readonly sender: string;
  readonly roomId: string;
  readonly eventId: string;
  /** When the command was sent (origin_server_ts): "the last 10 minutes" count back from here. */
  readonly sentAt: number;
  /**
   * When the sync that delivered the command (or the ✅ that confirmed it) reached Tyr. The sync
   * loop records a sync only after its whole batch is handled, so while a command runs this is
   * newer than `bot.lastSyncAt()`.
   */
  readonly deliveredAt: number;
  /** Sends pages of a reply to the command (threaded); returns the event IDs. */
  reply(r: Reply): Promise<string[]>;
  /** One message that long operations edit as they go. */
  progress(): Progress;
  /** Submits effects on behalf of the sender, with their command as the cause. */
  act(
    cs: readonly Consequence[],
    onProgress?: (done: number, total: number, failed: number) => void,
  ): Promise<Result[]>;
  /** The cause for effects this command makes. */
  readonly cause: { by: "moderator"; user: string; command: string; via?: string; report?: string };
}
