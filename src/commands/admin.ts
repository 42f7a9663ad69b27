// Commands for homeserver admins whose Tyr is a server admin of a Synapse: deactivate a spam
// account of their own server (the end of the road after an abuse report). Irreversible, so it
// always shows what it will do and waits for the moderator's ✅.
import { commandsFor, types as t, UserFacingError } from "./framework/index.ts";
import { blocks, code, fmt, heading, text } from "../format/fragment.ts";
import type { CommandContext } from "./context.ts";
import { refusal, serverOf } from "../consequences/guard.ts";
import type { Consequence } from "../consequences/types.ts";

const { command } = commandsFor<CommandContext>();

function deactivation(
  ctx: CommandContext,
  user: string,
  erase: boolean,
  reason: string | undefined,
): Consequence {
  return { kind: "deactivate", user, erase, reason: reason ?? "", cause: ctx.cause };
}

/** Why Tyr will not deactivate `user` (the queue's guard would refuse it too), or undefined. */
function problem(ctx: CommandContext, c: Consequence): string | undefined {
  return refusal(c, {
    botUserId: ctx.bot.session.userId,
    ownServer: ctx.bot.serverName,
    moderators: ctx.bot.moderators(),
  });
}

const deactivate = command({
  name: "deactivate",
  group: "Server admin",
  summary: "Deactivate an account of Tyr's own homeserver (Tyr must be a Synapse server admin)",
  description:
    "Irreversible: the account is logged out everywhere, leaves every room and can never log in again; its user ID cannot be registered again. With --erase the server also hides its messages from people who join rooms later. Tyr always asks for a ✅ first, and never deactivates itself, a moderator, or an account of another server (ban those with a list instead).",
  args: [
    { name: "user", type: t.user() },
    { name: "reason", type: t.text(), optional: true, rest: true },
  ],
  flags: {
    erase: { type: "boolean", description: "Also mark the account's messages as erased (GDPR erasure)" },
  },
  examples: ["deactivate @spammer:example.org spam account", "deactivate @bot123:example.org --erase"],
  confirm: (ctx, a) => {
    const c = deactivation(ctx, a.user, a.erase, a.reason);
    if (problem(ctx, c) !== undefined) return null; // run answers why
    return blocks(
      heading(4, fmt`Deactivate ${code(a.user)}${a.erase ? " and erase its messages" : ""}?`),
      text(
        "This cannot be undone: the account is logged out everywhere, leaves every room and can never log in or be registered again.",
      ),
      a.reason ? fmt`Reason (kept in Tyr's action log): ${a.reason}` : false,
    );
  },
  run: async (ctx, a) => {
    const c = deactivation(ctx, a.user, a.erase, a.reason);
    const why = problem(ctx, c);
    if (why !== undefined) {
      const remote = serverOf(a.user) !== serverOf(ctx.bot.session.userId);
      return remote
        ? fmt`${code(a.user)} is not an account of ${code(ctx.bot.serverName)}: Tyr can only deactivate its own server's accounts. Ban it with ${code(`${ctx.bot.config.commands.prefix} ban <list> ${a.user}`)} instead.`
        : text(`Not deactivating: ${why}.`);
    }
    const [r] = await ctx.act([c]);
    if (r?.outcome === "dry-run") return fmt`Dry run: ${code(a.user)} would have been deactivated.`;
    if (r?.outcome !== "done") {
      const err = r?.error ?? "unknown error";
      if (/M_FORBIDDEN|HTTP_403/.test(err))
        throw new UserFacingError(
          `the homeserver refused: ${ctx.bot.session.userId} is not a server admin of ${ctx.bot.serverName} (${err})`,
        );
      throw new UserFacingError(err); // the queue has logged the failed action
    }
    return fmt`Deactivated ${code(a.user)}${a.erase ? " and erased its messages" : ""}: it is logged out everywhere and has left every room.`;
  },
});

export const adminCommands = [deactivate];
