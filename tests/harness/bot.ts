// Runs Tyr in-process against the test Synapse, the same way `tyr run` does (startBot), with its
// logs captured in memory so tests can assert on what it said.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { validateConfig, type LoadedConfig } from "../../src/config/load.ts";
import { startBot } from "../../src/main.ts";
import type { Tyr } from "../../src/bot.ts";

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
  managementRoom: string;
  dataPath?: string;
  extra?: Record<string, unknown>;
}): LoadedConfig {
  return validateConfig(
    {
      homeserverUrl: opts.url,
      accessToken: opts.accessToken,
      dataPath: opts.dataPath ?? mkdtempSync(join(tmpdir(), "tyr-data-")),
      managementRoom: opts.managementRoom,
      logLevel: "debug",
      ...opts.extra,
    },
    { file: "test-config.yaml", env: {} },
  );
}

export async function runBot(loaded: LoadedConfig): Promise<RunningBot> {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split("\n"))
        if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const log = pino({ level: "debug", base: { name: "tyr" } }, sink);
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
