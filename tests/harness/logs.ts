// A pino logger whose JSON lines are kept in memory, so tests can assert on what Tyr logged.
import { Writable } from "node:stream";
import { pino, type Logger } from "pino";

export function capturedLogger(): { log: Logger; logs: Record<string, unknown>[] } {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split("\n"))
        if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({ level: "debug", base: { name: "tyr" } }, sink), logs };
}
