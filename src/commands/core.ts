// Core commands: status (help is generated in help.ts).
import { commandsFor } from "./framework/index.ts";
import { code, fmt, heading, blocks, keyValue, type Fragment } from "../format/fragment.ts";
import type { CommandContext } from "./context.ts";
import { VERSION } from "../version.ts";
import { formatAgo, formatDuration } from "./framework/index.ts";

const { command } = commandsFor<CommandContext>();

export const coreCommands = [
  command({
    name: "status",
    group: "General",
    summary: "What Tyr is doing: version, uptime, rooms, lists, queue, sync",
    run: (ctx) => statusReport(ctx),
  }),
  command({
    name: "restart",
    group: "General",
    summary: "Stop and start Tyr again (start-up re-read from scratch, e.g. to leave safe mode)",
    run: async (ctx) => {
      await ctx.reply(fmt`Restarting: Tyr starts again and re-reads its settings.`);
      ctx.bot.requestRestart();
    },
  }),
];

export function statusReport(ctx: CommandContext): Fragment {
  const b = ctx.bot;
  const q = b.queue.stats;
  const pairs: [string, Fragment | string][] = [
    ["Version", `Tyr ${VERSION}`],
    ["Uptime", formatDuration(Math.max(1000, Date.now() - b.startedAt))],
    ["Homeserver", b.config.homeserverUrl],
    ["Bot", fmt`${code(b.session.userId)} (device ${code(b.session.deviceId || "unknown")})`],
    // The sync that delivered this command counts: it is newer than the last one the loop recorded.
    ["Last sync", formatAgo(Math.max(b.lastSyncAt() ?? 0, ctx.deliveredAt))],
    [
      "Queue",
      `${b.queue.depth} waiting · ${q.done} done · ${q.failed} failed · ${q.skipped} refused${b.config.dryRun ? " · DRY RUN (nothing is executed)" : ""}`,
    ],
  ];
  if (b.safeMode.active) pairs.push(["Safe mode", `ON: ${b.safeMode.summary()}`]);
  for (const r of ctx.services.reporting)
    for (const line of r.statusLines()) pairs.push([line.label, line.value]);
  return blocks(heading(4, "Tyr status"), keyValue(pairs));
}
