// Runs Tyr in-process against the test Synapse, the same way `tyr run` does (startBot), with its
// logs captured in memory so tests can assert on what it said.
import "../../src/node-warnings.ts"; // first, as in every entry point: before matrix-bot-sdk loads
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { validateConfig, type LoadedConfig } from "../../src/config/load.ts";
import { startBot } from "../../src/main.ts";
import type { Tyr } from "../../src/bot.ts";
import type { Synapse } from "./synapse.ts";
import { TestUser } from "./user.ts";
import { capturedLogger } from "./logs.ts";

export interface RunningBot {
  bot: Tyr;
  logs: Record<string, unknown>[];
  dataPath: string;
  stop(): Promise<void>;
  /** Resolves when the sync loop has finished (after stop, or on a fatal error). */
  done: Promise<void>;
}

export function testConfig(opts: {
  url: string;
  accessToken: string;
  /** Omitted for a first run (with `extra.initialModerator`). */
  managementRoom?: string;
  dataPath?: string;
  extra?: Record<string, unknown>;
}): LoadedConfig {
  return validateConfig(
    {
      homeserverUrl: opts.url,
      accessToken: opts.accessToken,
      dataPath: opts.dataPath ?? mkdtempSync(join(tmpdir(), "tyr-data-")),
      ...(opts.managementRoom === undefined ? {} : { managementRoom: opts.managementRoom }),
      logLevel: "debug",
      ...opts.extra,
    },
    { file: "test-config.yaml", env: {} },
  );
}

/**
 * The people of a policy-list test on `synapse`: Tyr's account, a moderator with the management room
 * (Tyr invited), and a list maintainer with a policy list room (named `listName` if given).
 */
export async function policyListCast(
  synapse: Synapse,
  opts: { listName?: string } = {},
): Promise<{ tyr: TestUser; mod: TestUser; maintainer: TestUser; mgmt: string; list: string }> {
  const user = async (name: string) => new TestUser(synapse.url, await synapse.register(name));
  const tyr = await user("tyr");
  const mod = await user("mod");
  const maintainer = await user("listmaint");
  const mgmt = await mod.createRoom({ invite: [tyr.userId] });
  const list = await maintainer.createRoom({
    preset: "public_chat",
    creation_content: { type: "m.policy" },
    ...(opts.listName === undefined ? {} : { name: opts.listName }),
  });
  return { tyr, mod, maintainer, mgmt, list };
}

/**
 * Writes the account data Tyr reads its lists and rooms from (the Mjolnir keys), as a moderator
 * would before starting it: the policy lists it watches (as matrix.to links) and the rooms it protects.
 */
export async function watchAndProtect(
  tyr: TestUser,
  opts: { watchedLists: string[]; protectedRooms: string[] },
): Promise<void> {
  const accountData = (type: string) =>
    `/_matrix/client/v3/user/${encodeURIComponent(tyr.userId)}/account_data/${type}`;
  await tyr.api("PUT", accountData("org.matrix.mjolnir.watched_lists"), {
    references: opts.watchedLists.map((list) => `https://matrix.to/#/${list}`),
  });
  await tyr.api("PUT", accountData("org.matrix.mjolnir.protected_rooms"), { rooms: opts.protectedRooms });
}

export async function runBot(loaded: LoadedConfig): Promise<RunningBot> {
  const { log, logs } = capturedLogger();
  const bot = await startBot(loaded, log);
  const done = bot.run();
  done.catch(() => {});
  // Wait for the first sync to be handled so tests start from a known state.
  const deadline = Date.now() + 30_000;
  while (bot.lastSyncAt() === undefined) {
    if (Date.now() > deadline) throw new Error("Tyr did not complete its first sync within 30 s");
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    bot,
    logs,
    dataPath: loaded.config.dataPath,
    done,
    async stop() {
      await bot.stop();
      await done.catch(() => {});
    },
  };
}
