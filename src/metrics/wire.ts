// Connects the metrics and health routes to the running bot (called by src/main.ts once every
// feature exists): the sources the registry reads, and what readiness asks.
import type { Tyr } from "../bot.ts";
import type { HttpService } from "../http/service.ts";
import type { PolicyFeature } from "../policy/feature.ts";
import type { AntispamStats } from "../antispam/stats.ts";
import { createMetrics } from "./registry.ts";
import { readiness } from "./readiness.ts";
import { metricsRoutes } from "./routes.ts";
import type { Registry } from "prom-client";

const ACL_TYPE = "m.room.server_acl";

export function registerMetrics(
  bot: Tyr,
  http: HttpService,
  parts: { policy: PolicyFeature; cryptoReady: () => boolean; antispam?: AntispamStats; token?: string },
): Registry {
  const { policy } = parts;
  const registry = createMetrics({
    queue: bot.queue,
    transport: bot.client.transport,
    sync: () => bot.syncStatus(),
    router: bot.router,
    policy,
    safeMode: bot.safeMode,
    aclBytes: function* () {
      for (const room of policy.protectedRooms) {
        const acl = bot.state.peek(room)?.get(ACL_TYPE);
        if (acl !== undefined) yield [room, Buffer.byteLength(JSON.stringify(acl.content))] as const;
      }
    },
    ...(parts.antispam !== undefined ? { antispam: parts.antispam } : {}),
  });
  const maxSyncAgeMs = bot.config.metrics.maxSyncAgeSeconds * 1000;
  http.register(
    ...metricsRoutes({
      registry,
      ...(parts.token !== undefined ? { token: parts.token } : {}),
      startedAt: bot.startedAt,
      readiness: () => {
        const s = bot.syncStatus();
        return readiness({
          now: Date.now(),
          lastSyncAt: s.lastSyncAt,
          syncFailures: s.consecutiveFailures,
          maxSyncAgeMs,
          listsLoaded: policy.loaded,
          encryption: bot.config.encryption.enabled,
          cryptoReady: parts.cryptoReady(),
          safeMode: bot.safeMode.list(),
        });
      },
    }),
  );
  return registry;
}
