// The imperative shell: builds every part, connects them to the sync loop, and owns start/stop.
// Decisions live in the pure modules (banlists, acl, protections, commands); effects go through
// the consequence queue; network I/O lives in src/matrix/.
import type { LoadedConfig } from "./config/load.ts";
import type { Logger } from "./logging.ts";
import { TyrClient, bridgeBotSdkLogging } from "./matrix/client.ts";
import { establishSession, type Session } from "./matrix/login.ts";
import { Messenger } from "./matrix/messenger.ts";
import { RoomStateCache } from "./matrix/roomState.ts";
import { SyncLoop } from "./matrix/sync.ts";
import { ManagementRoomError, resolveManagementRoom } from "./matrix/managementRoom.ts";
import { Router } from "./router.ts";
import type { Feature, ShellParts, SyncHook } from "./feature.ts";
import { ActionLog } from "./store/actionLog.ts";
import { SyncTokenStore } from "./store/syncToken.ts";
import { ConsequenceQueue } from "./consequences/queue.ts";
import { MatrixExecutor } from "./consequences/execute.ts";
import { refusal } from "./consequences/guard.ts";
import { creators } from "./matrix/power.ts";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { readStoredIdentity } from "./matrix/crypto/store-files.ts";
import { CRYPTO_DIR } from "./matrix/crypto/feature.ts";
import { compactHeap } from "./util/heap.ts";
import { SAFE_MODE_COMMANDS, SafeModeReasons, allowedInSafeMode } from "./safemode/reasons.ts";

export { VERSION } from "./version.ts";

export class StartupError extends Error {}

/** Whether `p` settles within `ms`. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([p.then(() => true as const), late]);
  } finally {
    clearTimeout(timer);
  }
}

export type { BotParts, Feature, SyncHook } from "./feature.ts";

export class Tyr implements ShellParts {
  readonly config: LoadedConfig["config"];
  readonly log: Logger;
  readonly session: Session;
  readonly client: TyrClient;
  readonly state = new RoomStateCache();
  readonly router: Router;
  readonly messenger: Messenger;
  readonly queue: ConsequenceQueue;
  readonly actionLog: ActionLog;
  readonly managementRoomId: string;
  readonly startedAt = Date.now();
  readonly serverName: string;
  /** False on the very first run of this account (no saved sync position): history is not live. */
  readonly resumed: boolean;
  private readonly sync: SyncLoop;
  private readonly features: Feature[] = [];
  /** Work that must run around every sync batch (the crypto engine). */
  readonly syncHooks: SyncHook[] = [];
  private stopping = false;
  /** Start-up failures caused by Tyr's own settings; while any is recorded, Tyr acts on nothing. */
  readonly safeMode = new SafeModeReasons();
  /** Set by the `restart` command: whoever runs the bot starts it again after `run()` returns. */
  restartRequested = false;

  private constructor(opts: {
    loaded: LoadedConfig;
    log: Logger;
    session: Session;
    client: TyrClient;
    managementRoomId: string;
  }) {
    this.config = opts.loaded.config;
    this.log = opts.log;
    this.session = opts.session;
    this.client = opts.client;
    this.managementRoomId = opts.managementRoomId;
    this.serverName = opts.session.userId.slice(opts.session.userId.indexOf(":") + 1);
    this.router = new Router(this.state, this.log.child({ module: "router" }));
    this.messenger = new Messenger(this.client, this.state);
    this.actionLog = new ActionLog(this.config.dataPath);
    this.queue = new ConsequenceQueue(
      new MatrixExecutor(this.client, this.messenger, () => this.managementRoomId, this.config.redaction),
      {
        concurrency: this.config.queue.concurrency,
        maxRetries: this.config.queue.maxRetries,
        dryRun: this.config.dryRun,
        log: this.log.child({ module: "queue" }),
        actionLog: this.actionLog,
        // Safe mode: nothing is half-applied, so every effect but a notice is refused.
        guard: (c) =>
          (this.safeMode.active && !allowedInSafeMode(c, this.managementRoomId)
            ? "Tyr is in safe mode (see status); nothing is applied until it is fixed and restarted"
            : undefined) ??
          refusal(c, {
            botUserId: this.session.userId,
            ownServer: this.serverName,
            moderators: this.moderators(),
            creatorsOf: (room) => {
              const state = this.state.peek(room);
              return state ? creators(state) : new Set<string>();
            },
          }),
      },
    );
    this.safeMode.onAdd((r) => {
      this.log.warn({ what: r.what, fix: r.fix }, "safe mode");
      void this.queue.submit({
        kind: "notify",
        text: `⚠️ Tyr is in safe mode: ${r.what}. Until this is fixed, Tyr applies no moderation and answers only ${SAFE_MODE_COMMANDS.join(", ")}. Fix it with: ${r.fix}, then send restart.`,
        cause: { by: "system", what: "safe mode" },
      });
    });
    const tokens = new SyncTokenStore(this.config.dataPath, this.session.userId);
    this.resumed = tokens.load() !== undefined;
    let firstBatch = true;
    this.sync = new SyncLoop(this.client, {
      log: this.log.child({ module: "sync" }),
      loadToken: () => tokens.load(),
      saveToken: (t) => tokens.save(t),
      onBatch: async (body, meta) => {
        // Crypto first (to-device keys before timeline decryption), and its state saved before
        // the sync token moves on: a crash then replays the batch instead of losing keys.
        for (const h of this.syncHooks) await h.beforeBatch?.(body);
        await this.router.handle(body, meta);
        if (firstBatch) {
          // The run's first batch is every room's full state: give its transient memory back.
          firstBatch = false;
          const c = compactHeap();
          if (c) this.log.info(c, "heap compacted after the first sync");
        }
        for (const h of this.syncHooks) await h.afterBatch?.();
      },
    });
  }

  /**
   * Logs in, joins the management room and prepares every part; `run()` then starts syncing.
   * `afterLogin` runs between the two (the HTTP listener starts there: the homeserver may ask
   * Tyr's antispam endpoints about Tyr's own join).
   */
  static async create(
    loaded: LoadedConfig,
    log: Logger,
    signal?: AbortSignal,
    hooks: { afterLogin?(session: Session): Promise<void> } = {},
  ): Promise<Tyr> {
    bridgeBotSdkLogging(log);
    mkdirSync(loaded.config.dataPath, { recursive: true });
    const stored = loaded.config.encryption.enabled
      ? await readStoredIdentity(join(loaded.config.dataPath, CRYPTO_DIR))
      : undefined;
    const session = await establishSession({
      homeserverUrl: loaded.config.homeserverUrl,
      credentials: loaded.credentials,
      dataPath: loaded.config.dataPath,
      log,
      ...(signal ? { signal } : {}),
      ...(stored ? { preferredDeviceId: stored.deviceId } : {}),
    });
    log.info({ userId: session.userId, deviceId: session.deviceId }, "logged in");
    const client = new TyrClient(loaded.config.homeserverUrl, session.accessToken, {
      log: log.child({ module: "http" }),
    });
    await hooks.afterLogin?.(session);
    const managementRoomId = await resolveManagementRoom(client, {
      managementRoom: loaded.config.managementRoom,
      initialModerator: loaded.config.initialModerator,
      encrypted: loaded.config.encryption.enabled,
      me: session.userId,
      log,
    }).catch((e: unknown) => {
      throw e instanceof ManagementRoomError ? new StartupError(e.message) : e;
    });
    log.info({ managementRoomId }, "management room joined");
    return new Tyr({ loaded, log, session, client, managementRoomId });
  }

  add(feature: Feature): void {
    this.features.push(feature);
    this.router.subscribe(feature);
  }

  /** The feature registered under `name` (for diagnostics and tests). */
  feature(name: string): Feature | undefined {
    return this.features.find((f) => f.name === name);
  }

  moderators(): Set<string> {
    return new Set(this.state.peek(this.managementRoomId)?.members(["join"]) ?? []);
  }

  lastSyncAt(): number | undefined {
    return this.sync.lastSyncAt;
  }

  /** The sync loop's health, for metrics and readiness. */
  syncStatus(): {
    lastSyncAt: number | undefined;
    consecutiveFailures: number;
    batches: number;
    failures: number;
  } {
    const s = this.sync;
    return { lastSyncAt: s.lastSyncAt, consecutiveFailures: s.consecutiveFailures, ...s.stats };
  }

  /** Syncs until `stop()`. Rejects on fatal errors (revoked token). */
  async run(): Promise<void> {
    for (const f of this.features) await f.start?.();
    try {
      await this.sync.run();
    } finally {
      // Let queued effects finish (bounded) before features close (the crypto engine last).
      await Promise.race([this.queue.idle(), new Promise((r) => setTimeout(r, this.stopGraceMs).unref())]);
      // Past the grace, nothing may wait on the homeserver any longer (it may be going down too):
      // features close on local work only.
      this.client.transport.close();
      this.queue.close();
      for (const f of [...this.features].reverse()) await f.stop?.();
      // Closed only once nothing is left to record: an effect still retrying would otherwise
      // happen unrecorded (the process exit closes the database anyway).
      if (await settlesWithin(this.queue.idle(), 1_000)) this.actionLog.close();
    }
  }

  private stopGraceMs = 10_000;

  /** Stops, asking whoever runs the bot (the CLI, a test) to start it again from scratch. */
  requestRestart(): void {
    this.restartRequested = true;
    void this.stop();
  }

  /** Stops syncing; `run()` then lets queued effects finish (bounded) and stops the features. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.stopGraceMs = graceMs;
    this.log.info("shutting down");
    this.sync.stop();
    // A sync batch still being handled can hold `run()` on a request; the grace bounds it too.
    setTimeout(() => this.client.transport.close(), graceMs).unref();
  }
}
