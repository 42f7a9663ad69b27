// One pino logger for the whole bot. JSON by default (for log shippers), human-readable on a
// terminal or when asked. Secrets are redacted by path so a careless `log.info({config})` can't leak.
import { pino, type Logger } from "pino";

export type LogFormat = "auto" | "json" | "pretty";
export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";

const REDACT = [
  "accessToken",
  "password",
  "*.accessToken",
  "*.password",
  "*.access_token",
  "*.recoveryKey",
  "config.accessToken",
  "config.password",
  "antispamSecret",
  "*.antispamSecret",
  "headers.authorization",
  "headers.Authorization",
];

export function createLogger(opts: {
  level: LogLevel;
  format: LogFormat;
  destination?: NodeJS.WritableStream;
}): Logger {
  const pretty = opts.format === "pretty" || (opts.format === "auto" && Boolean(process.stdout.isTTY));
  const base = { level: opts.level, redact: { paths: REDACT, censor: "[redacted]" }, base: { name: "tyr" } };
  if (pretty) {
    return pino({
      ...base,
      transport: {
        target: "pino-pretty",
        options: { colorize: process.stdout.isTTY, ignore: "pid,hostname,name" },
      },
    });
  }
  return opts.destination ? pino(base, opts.destination as pino.DestinationStream) : pino(base);
}

export type { Logger };
