/**
 * Tyr's command framework (pure: no network, no clock, no randomness).
 *
 * A command group is one file exporting an array of commands:
 *
 *   import { commandsFor, types as t } from "./framework/index.ts";
 *   import { fmt, code } from "../format/fragment.ts";
 *   const { command } = commandsFor<BotContext>();
 *   export const kickCommands = [
 *     command({
 *       name: "kick", group: "Moderation", summary: "Kick a user (or every user matching a glob)",
 *       args: [{ name: "user", type: t.userGlob() }, { name: "reason", type: t.text(), rest: true, optional: true }],
 *       flags: { room: { type: t.room(), description: "Only this room (default: all protected rooms)" } },
 *       confirm: (ctx, a) => (a.user.isGlob ? `kick everyone matching ${a.user.pattern}` : null),
 *       examples: ["kick @spam:evil.org spamming", "kick @*:evil.org --room #lobby:example.org"],
 *       run: async (ctx, a, inv) => fmt`Kicked ${code(a.user.pattern)}`, // a.user: Pattern, a.room: RoomRef | undefined
 *     }),
 *   ];
 *
 * Wiring (the bot shell):
 *
 *   const registry = new CommandRegistry<BotContext>();
 *   registry.register(...kickCommands, helpCommand(registry));
 *   const outcome = interpretMessage(registry, event.content, { userId, displayName }, config.prefix);
 *   if (outcome === null) return;                                   // not for the bot
 *   if (!outcome.ok) return send(paginate(text(outcome.error)));    // precise error
 *   const preview = await outcome.confirmation(ctx);                 // null → run now
 *   const reply = await outcome.run(ctx);                            // Reply | undefined
 *   if (reply) for (const page of paginate(reply, { relatesTo: threadReply(event.event_id) })) send(page);
 *
 * Argument types (`types`): user, room, server, userGlob, serverGlob, entity, eventLink,
 * duration, integer, number, choice, text, word, oneOf; or build one with `argType`.
 * Parsing never throws: every failure is `{ ok: false, error }` with one clear sentence.
 */
export {
  commandsFor,
  defineCommand,
  YES_FLAG,
  type ArgSpec,
  type BooleanFlag,
  type Command,
  type CommandResult,
  type CommandSpec,
  type ConfirmDecision,
  type FlagSpec,
  type FlagSpecs,
  type Invocation,
  type ValueFlag,
  type Values,
} from "./command.ts";
export { DURATION, formatAgo, formatDuration, parseDuration, type DurationOptions } from "./duration.ts";
export { helpForCommand, helpOverview, helpTopic } from "./help.ts";
export {
  addressForms,
  commandText,
  DEFAULT_PREFIX,
  detectInvocation,
  nearMissAddress,
  htmlToCommandText,
  stripReplyFallback,
  type BotIdentity,
  type NearMiss,
} from "./invocation.ts";
export {
  parseEventId,
  parseMatrixLink,
  parseRoomAlias,
  parseRoomId,
  parseRoomIdOrAlias,
  parseServerName,
  parseUserId,
  roomRefToString,
  serverNameProblem,
  type EventRef,
  type MatrixLink,
  type RoomRef,
} from "./matrix-ids.ts";
export {
  argUsage,
  CommandRegistry,
  interpretMessage,
  misaddressedCommand,
  usageLine,
  type Misaddressed,
  type ParsedCommand,
  type ParseFailure,
  type ParseOptions,
  type ParseOutcome,
} from "./registry.ts";
export { err, ok, type ParseResult } from "./result.ts";
export { closest, editDistance } from "./suggest.ts";
export { UserFacingError } from "../../util/userFacingError.ts";
export { MAX_COMMAND_LENGTH, scan, tokenize, type ScanResult, type Token } from "./tokenizer.ts";
export * as types from "./types.ts";
export type { ArgType, Entity, Pattern, ValueOf } from "./types.ts";
