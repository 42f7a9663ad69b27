// `media quarantine <mxc|@user|room> [reason]`: quarantining media on Tyr's own homeserver
// (Synapse's media admin API; Tyr must be a server admin). One upload goes at once; a local
// account's uploads or a room's media are shown (how many) and wait for ✅. It runs through the
// consequence queue as `quarantineMedia`, so it is dry-run aware and in the action log.
import { commandsFor, types as t, UserFacingError } from "./framework/index.ts";
import { code, fmt, type Fragment } from "../format/fragment.ts";
import type { CommandContext } from "./context.ts";
import { refusal } from "../consequences/guard.ts";
import type { Consequence } from "../consequences/types.ts";
import { errorText } from "../consequences/queue.ts";
import { RoomAdmin } from "../matrix/roomAdmin.ts";
import { MediaAdmin, type MediaTarget } from "../matrix/mediaAdmin.ts";
import { parseMediaTarget, quarantinePreview } from "./mediaPlan.ts";

const { command } = commandsFor<CommandContext>();

/** The target as the moderator wrote it, an alias resolved; a clear error when it is neither. */
async function targetOf(ctx: CommandContext, raw: string): Promise<MediaTarget> {
  const id = raw.startsWith("#") ? await ctx.bot.client.resolveRoom(raw) : raw;
  const t = parseMediaTarget(id);
  if ("error" in t) throw new UserFacingError(t.error);
  return t;
}

function quarantine(ctx: CommandContext, target: MediaTarget, reason: string | undefined): Consequence {
  return { kind: "quarantineMedia", target, reason: reason ?? "", cause: ctx.cause };
}

/** Why Tyr will not do it: not a server admin, or an account it never acts on. */
async function problem(ctx: CommandContext, c: Consequence): Promise<string | undefined> {
  const why = refusal(c, {
    botUserId: ctx.bot.session.userId,
    ownServer: ctx.bot.serverName,
    moderators: ctx.bot.moderators(),
  });
  if (why !== undefined) return why;
  if (!(await new RoomAdmin(ctx.bot.client).isAdmin(ctx.bot.session.userId)))
    return `${ctx.bot.session.userId} is not a server admin of ${ctx.bot.serverName}. Make Tyr's account a server admin, then try again`;
  return undefined;
}

/** What the server lists now, for the confirmation (undefined when it cannot say). */
async function countOf(
  ctx: CommandContext,
  t: MediaTarget,
): Promise<{ local: number; remote?: number } | undefined> {
  const admin = new MediaAdmin(ctx.bot.client);
  try {
    return t.scope === "user" ? { local: await admin.uploadsOf(t.id) } : await admin.mediaIn(t.id);
  } catch {
    return undefined;
  }
}

const quarantineCommand = command({
  name: "media quarantine",
  group: "Server admin",
  summary: "Quarantine media on Tyr's homeserver: one upload, a local account's uploads, or a room's media",
  description:
    "Uses Synapse's media admin API (Tyr must be a server admin): quarantined media is no longer served to anyone. An mxc URI quarantines that one file at once; a local user ID quarantines everything the account uploaded, a room (ID or alias) everything its messages refer to, local or from other servers — those two show how many files and wait for a ✅. Never Tyr's own or a moderator's uploads.",
  args: [
    {
      name: "target",
      type: t.word({ placeholder: "mxc|@user|room" }),
      description: "mxc://server/id, @user:server or a room",
    },
    { name: "reason", type: t.text(), optional: true, rest: true },
  ],
  examples: [
    "media quarantine mxc://example.org/abcDEF123 csam",
    "media quarantine @spammer:example.org",
    "media quarantine #spam:example.org",
  ],
  confirm: async (ctx, a) => {
    let target: MediaTarget;
    try {
      target = await targetOf(ctx, a.target);
    } catch {
      return null; // run answers with the error
    }
    if (target.scope === "media" || (await problem(ctx, quarantine(ctx, target, a.reason))) !== undefined)
      return null;
    return quarantinePreview(target, await countOf(ctx, target), {
      server: ctx.bot.serverName,
      reason: a.reason,
    });
  },
  run: async (ctx, a): Promise<Fragment> => {
    const target = await targetOf(ctx, a.target);
    const c = quarantine(ctx, target, a.reason);
    const why = await problem(ctx, c);
    if (why !== undefined) return fmt`Not quarantining ${code(target.id)}: ${why}.`;
    const [r] = await ctx.act([c]);
    if (r?.outcome === "dry-run")
      return fmt`Dry run: the media of ${code(target.id)} would have been quarantined.`;
    if (r?.outcome === "skipped") return fmt`Not quarantining ${code(target.id)}: ${r.error ?? "refused"}.`;
    if (r?.outcome !== "done")
      throw new UserFacingError(
        `the server could not quarantine ${target.id}: ${errorText(r?.error ?? "unknown error")}`,
      );
    const n = Number(r.detail ?? "0");
    return target.scope === "media"
      ? fmt`Quarantined ${code(target.id)}: ${code(ctx.bot.serverName)} no longer serves it.`
      : fmt`Quarantined ${String(n)} file${n === 1 ? "" : "s"} of ${code(target.id)}: ${code(ctx.bot.serverName)} no longer serves them.`;
  },
});

export const mediaCommands = [quarantineCommand];
