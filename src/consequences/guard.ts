// The last line of defence, checked right before any effect runs: whatever a policy list, a
// protection or a typo says, Tyr never bans itself or a moderator, and never denies its own server.
import { compileGlob } from "../banlists/glob.ts";
import { serverHost } from "../banlists/serverName.ts";
import type { Consequence } from "./types.ts";

export interface GuardContext {
  botUserId: string;
  /** The bot's server name, port included if it has one. */
  ownServer: string;
  /** Current members of the management room. */
  moderators: ReadonlySet<string>;
  /** The creators of a room whose version gives them unlimited power (v12): never banned,
   *  kicked, muted or demoted (absent: not known). */
  creatorsOf?(room: string): ReadonlySet<string>;
}

/** The server part of a user ID as written (port kept), lower-cased: whose account it is. */
export const serverOf = (userId: string): string => userId.slice(userId.indexOf(":") + 1).toLowerCase();

/** Why `c` must not run, or undefined when it may. */
export function refusal(c: Consequence, ctx: GuardContext): string | undefined {
  const creator = creatorRefusal(c, ctx);
  if (creator !== undefined) return creator;
  switch (c.kind) {
    case "ban":
    case "kick":
    case "mute":
      if (c.user === ctx.botUserId) return `refusing to ${c.kind} Tyr itself`;
      if (ctx.moderators.has(c.user))
        return `refusing to ${c.kind} ${c.user}: a member of the management room`;
      return undefined;
    case "deactivate":
    case "suspend":
    case "lock":
      if (c.user === ctx.botUserId) return `refusing to ${c.kind} Tyr itself`;
      if (ctx.moderators.has(c.user))
        return `refusing to ${c.kind} ${c.user}: a member of the management room`;
      return notOwnAccount(c.kind, c.user, ctx);
    case "unsuspend":
    case "unlock":
      return notOwnAccount(c.kind, c.user, ctx);
    case "quarantineMedia": {
      if (c.target.scope !== "user") return undefined;
      const user = c.target.id;
      if (user === ctx.botUserId) return "refusing to quarantine Tyr's own media";
      if (ctx.moderators.has(user))
        return `refusing to quarantine the media of ${user}: a member of the management room`;
      // Synapse quarantines only the uploads of its own accounts this way.
      return notOwnAccount("quarantine the media of", user, ctx);
    }
    case "setPowerLevel":
      // Tyr lowering (or otherwise rewriting) its own level could lock it out of the room.
      if (c.user === ctx.botUserId) return "refusing to change Tyr's own power level";
      return undefined;
    case "setAcl": {
      const host = serverHost(ctx.ownServer);
      const bad = c.content.deny.find((d) => compileGlob(d).matches(host));
      if (bad !== undefined) return `refusing a server ACL that denies Tyr's own server (${bad})`;
      if (!c.content.allow.some((a) => compileGlob(a).matches(host)))
        return "refusing a server ACL that does not allow Tyr's own server";
      return undefined;
    }
    default:
      return undefined;
  }
}

/** Server-admin actions reach only accounts of Tyr's own homeserver. */
function notOwnAccount(kind: string, user: string, ctx: GuardContext): string | undefined {
  return serverOf(user) === serverOf(ctx.botUserId)
    ? undefined
    : `refusing to ${kind} ${user}: not an account of Tyr's own homeserver`;
}

/** Room version 12: a room's creators have unlimited power. The server would refuse a ban, kick or
 *  demotion of one; Tyr does not try. */
function creatorRefusal(c: Consequence, ctx: GuardContext): string | undefined {
  if (c.kind !== "ban" && c.kind !== "kick" && c.kind !== "mute" && c.kind !== "setPowerLevel")
    return undefined;
  if (!ctx.creatorsOf?.(c.room).has(c.user)) return undefined;
  const verb = c.kind === "setPowerLevel" || c.kind === "mute" ? "demote" : c.kind;
  return `not trying to ${verb} ${c.user}: a creator of ${c.room}, and in room version 12 creators have unlimited power (nobody can ban, kick or demote them)`;
}
