// Assembles the bot: the shell (src/bot.ts) plus every feature, in the order they depend on.
import { StartupError, Tyr } from "./bot.ts";
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
import { reportsCommands } from "./commands/reports.ts";
import { aclCommands } from "./commands/acl.ts";
import type { Services } from "./services.ts";
import { CryptoFeature } from "./matrix/crypto/feature.ts";
import { ScheduledConsequences, explicitLevelFrom } from "./consequences/scheduled.ts";
import { ProtectionsFeature } from "./protections/feature.ts";
import { protectionsCommands } from "./commands/protections.ts";
import { moderationCommands } from "./commands/moderation.ts";
import { sinceCommands } from "./commands/since.ts";
import { adminCommands } from "./commands/admin.ts";
import { takedownCommands } from "./commands/takedown.ts";
import { mediaCommands } from "./commands/media.ts";
import { BanPropagation } from "./commands/propagation.ts";
import { RoomInvites } from "./commands/roomInvites.ts";
import { infoCommands } from "./commands/info.ts";
import { cryptoCommands } from "./commands/crypto.ts";
import { readCaFile, trustExtraCertificates } from "./matrix/tls.ts";
import { HttpService } from "./http/service.ts";
import { AntispamFeature, createAntispamHandler } from "./antispam/feature.ts";
import { registerMetrics } from "./metrics/wire.ts";
import { PolicyServerFeature } from "./policyserver/feature.ts";
import { policyServerCommands } from "./commands/policyserver.ts";
import { DashboardFeature } from "./dashboard/feature.ts";

export async function startBot(loaded: LoadedConfig, log: Logger, signal?: AbortSignal): Promise<Tyr> {
  // Before the first request: the login itself must verify against the admin's CA.
  const caFile = loaded.config.homeserverCaFile;
  if (caFile !== undefined) trustExtraCertificates(readCaFile(caFile));
  // Tyr's HTTP listener. The antispam routes start right after login, before Tyr joins its
  // rooms: with the module loaded, the homeserver asks Tyr about Tyr's own joins.
  // Before anything listens: /metrics with bearer auth never goes live without its token.
  const m = loaded.config.metrics;
  const metricsBearer = m.enabled && m.auth === "bearer" ? metricsToken(loaded) : undefined;
  const http = new HttpService(loaded.config.http, log.child({ module: "http-listener" }));
  const antispamHandler =
    loaded.config.antispam.enabled && loaded.antispamSecret !== undefined
      ? createAntispamHandler(loaded.config.antispam, {
          dryRun: loaded.config.dryRun,
          secret: loaded.antispamSecret,
        })
      : undefined;
  let bot: Tyr;
  try {
    bot = await Tyr.create(loaded, log, signal, {
      afterLogin: async (session) => {
        if (antispamHandler === undefined) return;
        antispamHandler.botUserId = session.userId;
        http.register(...antispamHandler.routes());
        await http.start();
      },
    });
  } catch (e) {
    await http.stop(); // a failed start must not leave the port open
    throw e;
  }
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

  const registry = new CommandRegistry<CommandContext>();
  registry.register(helpCommand(registry), ...coreCommands, ...roomCommands, ...listCommands);
  registry.register(...aclCommands);
  registry.register(
    ...moderationCommands,
    ...sinceCommands,
    ...adminCommands,
    ...takedownCommands,
    ...mediaCommands,
    ...infoCommands,
  );
  registry.register(...cryptoCommands);
  registry.register(...reportsCommands);
  const commands = new CommandHandler(bot, services, registry);
  bot.add(commands);

  if (bot.config.reports.enabled) {
    const reports = new ReportsFeature(bot, services, registry, bot.config.reports.pollSeconds);
    bot.add(reports);
    services.reports = reports;
    services.reporting.push(reports);
  }

  if (bot.config.banPropagation.enabled) bot.add(new BanPropagation(bot, services));
  bot.add(new RoomInvites(bot, services));

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

  if (antispamHandler !== undefined) {
    const antispam = new AntispamFeature(bot, { policy, protections, http, handler: antispamHandler });
    bot.add(antispam);
    services.reporting.push(antispam);
  }
  if (bot.config.policyServer.enabled) {
    const policyServer = new PolicyServerFeature(bot, { policy, protections, http });
    bot.add(policyServer);
    services.policyServer = policyServer;
    services.reporting.push(policyServer);
  }
  registry.register(...policyServerCommands);
  if (bot.config.metrics.enabled) {
    registerMetrics(bot, http, {
      policy,
      cryptoReady: () => services.crypto !== undefined,
      ...(antispamHandler !== undefined ? { antispam: antispamHandler.stats } : {}),
      ...(metricsBearer !== undefined ? { token: metricsBearer } : {}),
    });
  }
  if (bot.config.dashboard.enabled) {
    const dashboard = new DashboardFeature(bot, {
      http,
      commands,
      policy,
      protections,
      encryption: services.crypto !== undefined,
      reports: services.reports,
    });
    bot.add(dashboard);
    registry.register(dashboard.command());
  }
  // Added last: routes registered by features go live when it starts, and it stops first.
  bot.add(http);
  return bot;
}

function metricsToken(loaded: LoadedConfig): string {
  if (loaded.metricsToken === undefined)
    throw new StartupError(
      "metrics.auth is bearer but no token was read: set metrics.tokenFile or TYR_METRICS_TOKEN",
    );
  return loaded.metricsToken;
}

/**
 * Calls `then` once the bot has handled its first sync (it is live from then on). Returns a
 * function that cancels the wait (call it when the bot stops first).
 */
export function whenSyncing(bot: Tyr, then: () => void): () => void {
  const timer = setInterval(() => {
    if (bot.lastSyncAt() === undefined) return;
    clearInterval(timer);
    then();
  }, 100);
  timer.unref();
  return () => clearInterval(timer);
}
