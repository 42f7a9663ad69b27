// A realistic set of command definitions, as the group files will write them, for testing
// the framework. The run functions only record what they received.
import { commandsFor } from "../../../src/commands/framework/command.ts";
import { CommandRegistry } from "../../../src/commands/framework/registry.ts";
import * as t from "../../../src/commands/framework/types.ts";
import { helpCommand } from "../../../src/commands/help.ts";
import { code, fmt } from "../../../src/format/fragment.ts";

export interface TestCtx {
  readonly calls: { command: string; args: unknown }[];
  /** Users a glob would match, for the confirmation check. */
  readonly matching: (glob: string) => number;
}

const { command } = commandsFor<TestCtx>();

const shortcode = t.word({ pattern: /^[a-z0-9-]{1,32}$/, expected: "a list shortcode", placeholder: "list" });

export const testCommands = [
  command({
    name: "ban",
    group: "Policy lists",
    summary: "Ban an entity on a policy list",
    description: "Adds a ban rule. Users, rooms and servers are told apart by their sigil.",
    args: [
      { name: "list", type: shortcode },
      { name: "entity", type: t.entity() },
      { name: "reason", type: t.text(), rest: true, optional: true },
    ],
    confirm: (_ctx, a) => (a.entity.isGlob ? `This bans everything matching ${a.entity.entity}.` : null),
    examples: ["ban spam @bad:evil.org spamming", "ban spam *.evil.org --yes"],
    run(ctx, args) {
      ctx.calls.push({ command: "ban", args });
      return fmt`Banned ${code(args.entity.entity)} on ${args.list}`;
    },
  }),
  command({
    name: "unban",
    group: "Policy lists",
    summary: "Remove a ban from a policy list and lift the bans it caused",
    args: [
      { name: "list", type: shortcode },
      { name: "entity", type: t.entity() },
    ],
    run(ctx, args) {
      ctx.calls.push({ command: "unban", args });
    },
  }),
  command({
    name: "rules",
    group: "Policy lists",
    summary: "Show the rules of a list",
    args: [{ name: "list", type: shortcode, optional: true }],
    run(ctx, args) {
      ctx.calls.push({ command: "rules", args });
    },
  }),
  command({
    name: "rules matching",
    group: "Policy lists",
    summary: "Show the rules that match an entity",
    args: [{ name: "entity", type: t.entity() }],
    run(ctx, args) {
      ctx.calls.push({ command: "rules matching", args });
    },
  }),
  command({
    name: "list create",
    group: "Policy lists",
    summary: "Create a new policy list",
    args: [
      { name: "shortcode", type: shortcode },
      { name: "alias", type: t.word({ expected: "an alias localpart", placeholder: "alias" }) },
    ],
    run(ctx, args) {
      ctx.calls.push({ command: "list create", args });
    },
  }),
  command({
    name: "acl",
    group: "Server ACL",
    summary: "Show the computed server ACL",
    run(ctx) {
      ctx.calls.push({ command: "acl", args: {} });
    },
  }),
  command({
    name: "acl sync",
    group: "Server ACL",
    summary: "Re-send the ACL to every protected room",
    run(ctx) {
      ctx.calls.push({ command: "acl sync", args: {} });
    },
  }),
  command({
    name: "protections set",
    group: "Protections",
    summary: "Change a protection setting",
    args: [
      { name: "protection", type: t.word() },
      { name: "setting", type: t.word() },
      { name: "value", type: t.text(), rest: true },
    ],
    run(ctx, args) {
      ctx.calls.push({ command: "protections set", args });
    },
  }),
  command({
    name: "kick",
    group: "Moderation",
    summary: "Kick a user, or every user matching a glob",
    args: [
      { name: "user", type: t.userGlob(), description: "who to kick" },
      { name: "reason", type: t.text(), rest: true, optional: true },
    ],
    flags: { room: { type: t.room(), description: "Only in this room", short: "r" } },
    confirm: (ctx, a) => (a.user.isGlob && ctx.matching(a.user.pattern) > 3 ? "wide kick" : null),
    run(ctx, args) {
      ctx.calls.push({ command: "kick", args });
    },
  }),
  command({
    name: "redact",
    group: "Moderation",
    summary: "Remove a user's recent messages, or one message",
    args: [{ name: "target", type: t.oneOf({ user: t.user(), message: t.eventLink() }) }],
    flags: {
      room: { type: t.room(), description: "Only in this room" },
      limit: { type: t.integer({ min: 1, max: 1000 }), description: "How many messages", default: 50 },
    },
    run(ctx, args) {
      ctx.calls.push({ command: "redact", args });
    },
  }),
  command({
    name: "mute",
    aliases: ["silence"],
    group: "Moderation",
    summary: "Stop a user from talking",
    args: [
      { name: "user", type: t.user() },
      { name: "duration", type: t.duration(), optional: true },
      { name: "reason", type: t.text(), rest: true, optional: true },
    ],
    flags: { room: { type: t.room(), description: "Only in this room" } },
    run(ctx, args) {
      ctx.calls.push({ command: "mute", args });
    },
  }),
  command({
    name: "rooms add",
    group: "Rooms",
    summary: "Protect rooms",
    args: [{ name: "room", type: t.room(), variadic: true }],
    run(ctx, args) {
      ctx.calls.push({ command: "rooms add", args });
    },
  }),
  command({
    name: "shutdown",
    group: "Rooms",
    summary: "Shut a room down",
    args: [{ name: "room", type: t.room() }],
    confirm: true,
    run(ctx, args) {
      ctx.calls.push({ command: "shutdown", args });
    },
  }),
];

export function makeRegistry(): CommandRegistry<TestCtx> {
  const registry = new CommandRegistry<TestCtx>(testCommands);
  registry.register(helpCommand(registry));
  return registry;
}

export function makeCtx(matching = 0): TestCtx {
  return { calls: [], matching: () => matching };
}
