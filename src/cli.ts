// `tyr` command line. Exit codes: 0 ok; 1 runtime failure; 2 bad config or usage.
import "./node-warnings.ts"; // first: before anything loads matrix-bot-sdk
import { Command, CommanderError } from "commander";
import { ConfigError, loadConfigFile } from "./config/load.ts";
import { createLogger } from "./logging.ts";
import { StartupError, VERSION } from "./bot.ts";
import { LoginError } from "./matrix/login.ts";
import { FatalSyncError } from "./matrix/sync.ts";
import { startBot, whenSyncing } from "./main.ts";
import { exitWhenDrained } from "./util/exitWhenDrained.ts";

function fail(code: number, message: string): never {
  process.stderr.write(`tyr: ${message}\n`);
  process.exit(code);
}

const program = new Command()
  .name("tyr")
  .description("Tyr: a Matrix moderation bot (ban lists, server ACLs, spam protections, E2EE)")
  .version(VERSION, "-V, --version")
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

program
  .command("run")
  .description("run the bot in the foreground")
  .requiredOption("-c, --config <file>", "path to the YAML config file")
  .action(async (opts: { config: string }) => {
    const loaded = loadOrExit(opts.config);
    const log = createLogger({ level: loaded.config.logLevel, format: loaded.config.logFormat });
    for (const w of loaded.warnings) log.warn(w);
    const abort = new AbortController();
    let bot: Awaited<ReturnType<typeof startBot>> | undefined;
    const onSignal = (sig: string) => {
      log.info({ signal: sig }, "signal received");
      abort.abort();
      if (!bot) {
        // Still starting (logging in, joining, setting up encryption): nothing to hand over yet.
        log.info("shutting down");
        process.exit(0);
      }
      void bot.stop();
    };
    process.once("SIGINT", () => onSignal("SIGINT"));
    process.once("SIGTERM", () => onSignal("SIGTERM"));
    try {
      // `restart` (the way out of safe mode) stops the bot; it then starts again in this process.
      // The config file is read again, so a restart also picks up a fixed config.
      for (let current = loaded; ; current = loadOrExit(opts.config)) {
        bot = await startBot(current, log, abort.signal);
        const cancel = whenSyncing(bot, () => log.info("syncing: Tyr is up"));
        await bot.run().finally(cancel);
        if (!bot.restartRequested || abort.signal.aborted) break;
        log.info("restarting on request");
      }
      log.info("stopped");
      log.flush?.();
      exitWhenDrained("tyr");
    } catch (e) {
      if (e instanceof StartupError || e instanceof LoginError || e instanceof FatalSyncError)
        fail(1, e.message);
      log.fatal({ err: e }, "Tyr stopped on an unexpected error");
      fail(1, `unexpected error: ${(e as Error).message ?? String(e)}`);
    }
  });

const configCmd = program.command("config").description("configuration tools");
configCmd
  .command("check")
  .description("validate a config file and list every problem")
  .requiredOption("-c, --config <file>", "path to the YAML config file")
  .action((opts: { config: string }) => {
    const loaded = loadOrExit(opts.config, { lenientSecrets: true });
    for (const w of loaded.warnings) process.stdout.write(`warning: ${w}\n`);
    process.stdout.write(`${opts.config}: OK\n`);
  });

function loadOrExit(
  file: string,
  opts: { lenientSecrets?: boolean } = {},
): ReturnType<typeof loadConfigFile> {
  try {
    return loadConfigFile(file, process.env, opts);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      fail(2, `invalid config ${file}`);
    }
    throw e;
  }
}

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    if (e.exitCode === 0) process.exit(0);
    process.exit(2);
  }
  fail(1, (e as Error).message);
}
