// The command shell (CommandHandler) over an in-memory bot: a management room whose state is
// built here, a queue that records what would be sent, and the logs captured as JSON lines.
// For handler behaviour that needs no homeserver: how failures are logged and answered, what
// `status` shows, which messages count as addressed to Tyr.
import { SafeModeReasons } from "../../../src/safemode/reasons.ts";
import { CommandHandler } from "../../../src/commands/handler.ts";
import type { CommandContext } from "../../../src/commands/context.ts";
import { CommandRegistry, type Command } from "../../../src/commands/framework/index.ts";
import { validateConfig } from "../../../src/config/load.ts";
import type { BotParts } from "../../../src/feature.ts";
import { RoomState, toStateEvent } from "../../../src/matrix/roomState.ts";
import type { Services } from "../../../src/services.ts";
import type { Consequence } from "../../../src/consequences/types.ts";
import type { BatchMeta } from "../../../src/router.ts";
import { capturedLogger } from "../../harness/logs.ts";

export const MGMT = "!mgmt:example.org";
export const MOD = "@mod:example.org";

export interface HandlerHarness {
  readonly handler: CommandHandler;
  /** Every log line, parsed (pino levels: 30 info, 40 warn, 50 error). */
  readonly logs: Record<string, unknown>[];
  /** Bodies of the messages Tyr sent to the management room (replies, not reactions). */
  readonly replies: string[];
  /** Sends `body` as the moderator and waits until the command (if any) has finished. */
  say(body: string, meta?: BatchMeta): Promise<void>;
  /** When the bot says its last sync completed; settable. */
  lastSyncAt: number | undefined;
  /** The bot's safe-mode reasons (add one to put it in safe mode). */
  readonly safeMode: SafeModeReasons;
  /** How often `restart` asked the bot to restart. */
  readonly restarts: number;
}

export function handlerHarness(opts: {
  commands: readonly Command<CommandContext>[];
  botUserId?: string;
  botDisplayName?: string;
  services?: Partial<Services>;
  /** Other joined members of the management room: user ID → display name. */
  members?: Record<string, string>;
  /** Merged into the management room's m.room.power_levels (e.g. to take a power from Tyr). */
  powerLevels?: Record<string, unknown>;
}): HandlerHarness {
  const botUserId = opts.botUserId ?? "@tyr:example.org";
  const { log, logs } = capturedLogger();
  const room = new RoomState(MGMT);
  const state = (type: string, stateKey: string, content: Record<string, unknown>) =>
    room.set(toStateEvent({ type, state_key: stateKey, sender: MOD, content, event_id: `$${type}` })!);
  state("m.room.create", "", { room_version: "10" });
  state("m.room.power_levels", "", { users: { [MOD]: 100, [botUserId]: 100 }, ...opts.powerLevels });
  state("m.room.member", MOD, { membership: "join" });
  for (const [user, displayname] of Object.entries(opts.members ?? {}))
    state("m.room.member", user, { membership: "join", displayname });
  state("m.room.member", botUserId, {
    membership: "join",
    ...(opts.botDisplayName ? { displayname: opts.botDisplayName } : {}),
  });

  const replies: string[] = [];
  let sent = 0;
  const queue = {
    depth: 0,
    stats: { done: 0, failed: 0, skipped: 0 },
    submit: (c: Consequence) => {
      if (c.kind === "send" && c.eventType === "m.room.message" && typeof c.content.body === "string")
        replies.push(c.content.body);
      return Promise.resolve({ outcome: "done", detail: `$sent${++sent}` });
    },
    submitAll: (cs: readonly Consequence[]) =>
      Promise.resolve(cs.map(() => ({ outcome: "done", detail: `$sent${++sent}` }))),
  };
  const { config } = validateConfig(
    {
      homeserverUrl: "https://example.org",
      accessToken: "t",
      dataPath: "/nonexistent",
      managementRoom: MGMT,
    },
    { file: "test.yaml", env: {} },
  );
  const clock = { lastSyncAt: undefined as number | undefined };
  const safeMode = new SafeModeReasons();
  let restarts = 0;
  const bot = {
    safeMode,
    requestRestart: () => restarts++,
    config,
    log,
    session: { userId: botUserId, deviceId: "TYRDEVICE" },
    state: { peek: (id: string) => (id === MGMT ? room : undefined) },
    router: {},
    queue,
    managementRoomId: MGMT,
    startedAt: Date.now() - 60_000,
    serverName: "example.org",
    moderators: () => new Set([MOD]),
    lastSyncAt: () => clock.lastSyncAt,
  } as unknown as BotParts;
  const services: Services = { reporting: [], features: [], ...opts.services };
  const registry = new CommandRegistry<CommandContext>().register(...opts.commands);
  const handler = new CommandHandler(bot, services, registry);
  let n = 0;
  return {
    handler,
    logs,
    replies,
    safeMode,
    get restarts() {
      return restarts;
    },
    get lastSyncAt() {
      return clock.lastSyncAt;
    },
    set lastSyncAt(at: number | undefined) {
      clock.lastSyncAt = at;
    },
    async say(body: string, meta: BatchMeta = { initial: false }) {
      await handler.onTimeline(
        {
          roomId: MGMT,
          eventId: `$cmd${++n}`,
          sender: MOD,
          type: "m.room.message",
          ts: Date.now(),
          content: { msgtype: "m.text", body },
          raw: {},
        },
        meta,
      );
      await handler.stop(); // waits for the command started beside the sync loop
    },
  };
}
