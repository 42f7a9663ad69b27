// The `help` command: pure, generated from the registry's own definitions.
import { commandsFor, type Command } from "./framework/command.ts";
import { helpOverview, helpTopic } from "./framework/help.ts";
import type { CommandRegistry } from "./framework/registry.ts";
import { text } from "./framework/types.ts";

export function helpCommand<Ctx>(registry: CommandRegistry<Ctx>): Command<Ctx> {
  const { command } = commandsFor<Ctx>();
  return command({
    name: "help",
    group: "General",
    summary: "List the commands, or explain one",
    description: "Without an argument, lists every command. With a command name, shows how to use it.",
    args: [
      {
        name: "command",
        type: text({ maxLength: 200, placeholder: "command" }),
        optional: true,
        rest: true,
        description: "a command name, possibly several words (rules matching)",
      },
    ],
    examples: ["help", "help ban", "help rules matching"],
    run: (_ctx, args, inv) =>
      args.command === undefined
        ? helpOverview(registry, inv.prefix)
        : helpTopic(registry, args.command, inv.prefix),
  });
}
