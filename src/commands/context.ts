// What a command can use. Command groups are written against this interface only; the handler
// builds one per invocation.
import type { BotParts } from "../feature.ts";
import type { Fragment } from "../format/fragment.ts";
import type { Reply } from "../format/paginate.ts";
import type { Consequence } from "../consequences/types.ts";
import type { Result } from "../consequences/queue.ts";
import type { CommandRegistry, ParsedCommand } from "./framework/index.ts";
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

/**
 * A command a moderator asked for elsewhere than in a chat message (a dashboard form, a triage
 * reaction), parsed as if they had typed it; refused as chat would refuse it (a parse error, safe
 * mode), with the reason as text.
 */
export function parseOnBehalf(
  bot: BotParts,
  registry: CommandRegistry<CommandContext>,
  input: string,
): { ok: true; parsed: ParsedCommand<CommandContext> } | { ok: false; error: string } {
  const parsed = registry.parse(input, { prefix: bot.config.commands.prefix });
  if (!parsed.ok) return { ok: false, error: parsed.error };
  const command = parsed.invocation.command;
  if (!bot.safeMode.allows(command)) return { ok: false, error: `${bot.safeMode.refusal(command)}.` };
  return { ok: true, parsed };
}

/** The context for such a command: no chat event behind it, the moderator as its cause. */
export function contextOnBehalf(
  bot: BotParts,
  services: Services,
  registry: CommandRegistry<CommandContext>,
  opts: {
    sender: string;
    command: string;
    /** The event the command hangs off in the management room, if any (a report's notice). */
    eventId?: string;
    via?: string;
    report?: string;
    reply: CommandContext["reply"];
    progress: CommandContext["progress"];
  },
): CommandContext {
  const now = Date.now();
  return {
    bot,
    services,
    registry,
    sender: opts.sender,
    roomId: bot.managementRoomId,
    eventId: opts.eventId ?? "",
    sentAt: now,
    deliveredAt: now,
    cause: {
      by: "moderator",
      user: opts.sender,
      command: opts.command,
      ...(opts.report !== undefined ? { report: opts.report } : {}),
      ...(opts.via !== undefined ? { via: opts.via } : {}),
    },
    reply: opts.reply,
    progress: opts.progress,
    act: (cs, onProgress) => bot.queue.submitAll(cs, onProgress),
  };
}
