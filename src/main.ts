// Assembles the bot: the shell (src/bot.ts) plus every feature, in the order they depend on.
import { Tyr } from "./bot.ts";
import type { LoadedConfig } from "./config/load.ts";
import type { Logger } from "./logging.ts";
import { CommandRegistry } from "./commands/framework/index.ts";
import type { CommandContext } from "./commands/context.ts";
import { CommandHandler } from "./commands/handler.ts";
import { coreCommands } from "./commands/core.ts";
import { helpCommand } from "./commands/help.ts";
import { listCommands } from "./commands/lists.ts";
import { roomCommands } from "./commands/rooms.ts";
import { RecentEvents } from "./matrix/recentEvents.ts";
import { PolicyFeature } from "./policy/feature.ts";
import { AclFeature } from "./acl/feature.ts";
import { ReportsFeature } from "./reports/feature.ts";
import { aclCommands } from "./commands/acl.ts";
import type { Services } from "./services.ts";
import { CryptoFeature } from "./matrix/crypto/feature.ts";
import { ScheduledConsequences, explicitLevelFrom } from "./consequences/scheduled.ts";
import { ProtectionsFeature } from "./protections/feature.ts";
import { protectionsCommands } from "./commands/protections.ts";
import { moderationCommands } from "./commands/moderation.ts";
import { sinceCommands } from "./commands/since.ts";
import { adminCommands } from "./commands/admin.ts";
import { BanPropagation } from "./commands/propagation.ts";
import { infoCommands } from "./commands/info.ts";
import { cryptoCommands } from "./commands/crypto.ts";
import { readCaFile, trustExtraCertificates } from "./matrix/tls.ts";

export async function startBot(loaded: LoadedConfig, log: Logger, signal?: AbortSignal): Promise<Tyr> {
  // Before the first request: the login itself must verify against the admin's CA.
  const caFile = loaded.config.homeserverCaFile;
  if (caFile !== undefined) trustExtraCertificates(readCaFile(caFile));
  const bot = await Tyr.create(loaded, log, signal);
  const services: Services = { reporting: [], features: [] };

  // Encryption first: it must see every sync batch before anyone reads the timeline, and it
  // stops last (features stop in reverse order), after the last encrypted reply went out.
  if (bot.config.encryption.enabled) {
    const crypto = await CryptoFeature.start(bot, loaded);
    bot.add(crypto);
    services.crypto = crypto;
    services.reporting.push(crypto);
  }

  const recent = new RecentEvents();
  bot.router.subscribe(recent);
  services.recent = recent;

  const policy = new PolicyFeature(bot, recent);
  bot.add(policy);
  services.policy = policy;
  services.reporting.push(policy);

  const acl = new AclFeature(bot, policy);
  bot.add(acl);
  services.acl = acl;
  services.reporting.push(acl);
  services.features.push(acl);

  if (bot.config.reports.enabled) {
    const reports = new ReportsFeature(bot, policy, bot.config.reports.pollSeconds);
    bot.add(reports);
    services.reporting.push(reports);
  }

  const registry = new CommandRegistry<CommandContext>();
  registry.register(helpCommand(registry), ...coreCommands, ...roomCommands, ...listCommands);
  registry.register(...aclCommands);
  registry.register(...moderationCommands, ...sinceCommands, ...adminCommands, ...infoCommands);
  registry.register(...cryptoCommands);
  const commands = new CommandHandler(bot, services, registry);
  bot.add(commands);

  if (bot.config.banPropagation.enabled) bot.add(new BanPropagation(bot, services));

  const crypto = services.crypto;
  if (crypto) commands.trustGate = (ev) => crypto.trustProblem(ev);

  services.features.push(policy, commands);

  const scheduled = new ScheduledConsequences({
    dataPath: bot.config.dataPath,
    queue: bot.queue,
    log: bot.log.child({ module: "scheduled" }),
    levelOf: explicitLevelFrom(bot.state),
  });
  services.scheduled = scheduled;
  const protections = new ProtectionsFeature(bot, {
    scheduler: scheduled,
    isProtected: (roomId) => policy.protectedRooms.has(roomId),
  });
  for (const f of [scheduled, protections]) {
    bot.add(f);
    services.features.push(f);
  }
  services.reporting.push(protections);
  registry.register(...protectionsCommands(protections));
  return bot;
}
