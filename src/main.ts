// Assembles the bot: the shell (src/bot.ts) plus every feature, in the order they depend on.
import { Tyr } from "./bot.ts";
import type { LoadedConfig } from "./config/load.ts";
import type { Logger } from "./logging.ts";
import { CommandRegistry } from "./commands/framework/index.ts";
import type { CommandContext } from "./commands/context.ts";
import { CommandHandler } from "./commands/handler.ts";
import { coreCommands } from "./commands/core.ts";
import { helpCommand } from "./commands/help.ts";
import type { Services } from "./services.ts";

export async function startBot(loaded: LoadedConfig, log: Logger, signal?: AbortSignal): Promise<Tyr> {
  const bot = await Tyr.create(loaded, log, signal);
  const services: Services = { reporting: [], features: [] };
  const registry = new CommandRegistry<CommandContext>();
  registry.register(helpCommand(registry), ...coreCommands);
  const commands = new CommandHandler(bot, services, registry);
  bot.add(commands);
  services.features.push(commands);
  return bot;
}
