// In-process stand-ins for the network parts of the bot, for the scale benchmark only (never used
// by src/ or the tests): a client whose calls resolve locally and an executor that counts the
// effects instead of sending them. Everything else is the bot's own code, assembled as Tyr does.
import { configSchema } from "../src/config/schema.ts";
import { refusal } from "../src/consequences/guard.ts";
import { ConsequenceQueue, type Executor } from "../src/consequences/queue.ts";
import type { Consequence } from "../src/consequences/types.ts";
import type { BotParts } from "../src/feature.ts";
import { createLogger } from "../src/logging.ts";
import { TyrClient } from "../src/matrix/client.ts";
import { Messenger } from "../src/matrix/messenger.ts";
import { RoomStateCache } from "../src/matrix/roomState.ts";
import { Router } from "../src/router.ts";
import { ActionLog } from "../src/store/actionLog.ts";
import { SafeModeReasons } from "../src/safemode/reasons.ts";

export const BENCH_BOT = "@tyr:bench.example";
export const BENCH_MODERATOR = "@mod:bench.example";

/** A client that never touches the network: joins, alias look-ups and writes succeed locally. */
class LocalClient extends TyrClient {
  override async joinRoom(roomIdOrAlias: string): Promise<string> {
    return roomIdOrAlias;
  }
  override async resolveRoom(roomIdOrAlias: string): Promise<string> {
    return roomIdOrAlias;
  }
  override async setAccountData(): Promise<Record<string, never>> {
    return {};
  }
  override async doRequest(): Promise<Record<string, never>> {
    return {};
  }
}

/** Counts every effect by kind; answers with a made-up event ID (progress messages edit it). */
export class CountingExecutor implements Executor {
  private readonly counts = new Map<string, number>();
  /** performance.now() of the last ban counted. */
  lastBanAt = 0;
  /** Bans counted per user. */
  readonly bansOf = new Map<string, number>();
  async execute(c: Consequence): Promise<string> {
    if (c.kind === "ban") {
      this.lastBanAt = performance.now();
      this.bansOf.set(c.user, (this.bansOf.get(c.user) ?? 0) + 1);
    }
    const n = (this.counts.get(c.kind) ?? 0) + 1;
    this.counts.set(c.kind, n);
    return `$bench-${c.kind}-${n}`;
  }
  count(kind: Consequence["kind"]): number {
    return this.counts.get(kind) ?? 0;
  }
}

export interface BenchBot extends BotParts {
  readonly executor: CountingExecutor;
}

/** The parts a feature gets from the shell (src/bot.ts), with the network replaced as above. */
export function benchBot(opts: { dataPath: string; managementRoomId: string }): BenchBot {
  const config = configSchema.parse({
    homeserverUrl: "https://bench.example",
    accessToken: "bench",
    dataPath: opts.dataPath,
    managementRoom: opts.managementRoomId,
  });
  const log = createLogger({ level: "warn", format: "json", destination: process.stderr });
  const client = new LocalClient(config.homeserverUrl, "bench", { log: log.child({ module: "http" }) });
  const state = new RoomStateCache();
  const router = new Router(state, log.child({ module: "router" }));
  const actionLog = new ActionLog(opts.dataPath);
  const executor = new CountingExecutor();
  const moderators = (): Set<string> => new Set(state.peek(opts.managementRoomId)?.members(["join"]) ?? []);
  const queue = new ConsequenceQueue(executor, {
    concurrency: config.queue.concurrency,
    maxRetries: config.queue.maxRetries,
    dryRun: false,
    log: log.child({ module: "queue" }),
    actionLog,
    guard: (c) => refusal(c, { botUserId: BENCH_BOT, ownServer: "bench.example", moderators: moderators() }),
  });
  return {
    config,
    log,
    session: { userId: BENCH_BOT, deviceId: "BENCH", accessToken: "bench" },
    client,
    state,
    router,
    messenger: new Messenger(client, state),
    queue,
    actionLog,
    managementRoomId: opts.managementRoomId,
    startedAt: Date.now(),
    serverName: "bench.example",
    moderators,
    lastSyncAt: () => undefined,
    // Start-up failures would show here; the bench checks every list and room loaded instead.
    safeMode: new SafeModeReasons(),
    requestRestart: () => {
      throw new Error("the scale bench never restarts");
    },
    executor,
  };
}
