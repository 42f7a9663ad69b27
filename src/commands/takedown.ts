// `room takedown <room> [reason]` and `room status <room>`: blocking a room on Tyr's own
// homeserver and removing its local members (Synapse's delete-room API; Tyr must be a server
// admin). The takedown shows the room first and waits for ✅; it runs through the consequence
// queue as `takedownRoom`, so it is rate limited, dry-run aware and in the action log.
import { commandsFor, types as t, UserFacingError, type RoomRef } from "./framework/index.ts";
import { code, fmt, type Fragment } from "../format/fragment.ts";
import type { CommandContext } from "./context.ts";
import type { Consequence } from "../consequences/types.ts";
import { errorText } from "../consequences/queue.ts";
import { RoomAdmin, type RoomDetails } from "../matrix/roomAdmin.ts";
import { localMembers, takedownPreview, takedownStatus } from "./takedownPlan.ts";
import { takedownRefusal } from "../policy/roomTakedowns.ts";
import { LIST_SETTING_ARGS, toggleListSetting } from "./listSetting.ts";

const { command } = commandsFor<CommandContext>();

async function roomIdOf(ctx: CommandContext, r: RoomRef): Promise<string> {
  return r.kind === "id" ? r.roomId : ctx.bot.client.resolveRoom(r.alias);
}

function refusalFor(ctx: CommandContext, roomId: string, force: boolean): string | undefined {
  return takedownRefusal(
    roomId,
    {
      managementRoomId: ctx.bot.managementRoomId,
      protectedRooms: ctx.services.policy?.protectedRooms ?? new Set(),
      watchedLists: ctx.services.policy?.lists ?? [],
    },
    force,
  );
}

/** An admin API failure as something the moderator can act on. */
function adminError(ctx: CommandContext, roomId: string, e: unknown): UserFacingError {
  const err = errorText(e);
  if (/M_FORBIDDEN|HTTP_403|M_UNRECOGNIZED|HTTP_404/.test(err) && !/M_NOT_FOUND/.test(err))
    return new UserFacingError(
      `${ctx.bot.session.userId} is not a server admin of ${ctx.bot.serverName} (${err}). Make Tyr's account a server admin, then try again`,
    );
  return new UserFacingError(`the server could not take down ${roomId}: ${err}`);
}

interface Look {
  readonly roomId: string;
  /** Undefined when the server does not know the room (it can still be blocked). */
  readonly details: RoomDetails | undefined;
  readonly local: string[];
}

/** Reads the room through the admin API; throws a clear error when Tyr is not a server admin. */
async function look(ctx: CommandContext, roomId: string): Promise<Look> {
  const admin = new RoomAdmin(ctx.bot.client);
  try {
    const details = await admin.details(roomId);
    const local = localMembers(await admin.members(roomId), ctx.bot.serverName);
    return { roomId, details, local };
  } catch (e) {
    if ((e as { errcode?: string }).errcode === "M_NOT_FOUND") {
      // Tell "no such room" from "no admin API" by asking the block endpoint, which knows every ID.
      try {
        await admin.blocked(roomId);
      } catch (e2) {
        throw adminError(ctx, roomId, e2);
      }
      return { roomId, details: undefined, local: [] };
    }
    throw adminError(ctx, roomId, e);
  }
}

const takedown = command({
  name: "room takedown",
  group: "Server admin",
  summary: "Block a room on Tyr's own homeserver and remove its local members (Tyr must be a server admin)",
  description:
    "Uses Synapse's delete-room API with block: every local member is removed and no local account can join the room again; with --purge its history is also deleted from the database (irreversible). Tyr shows the room (name, members, local members) and waits for a ✅. It never takes down its management room, and takes down a protected room or a watched list only with --force. Progress: room status.",
  args: [
    { name: "room", type: t.room() },
    { name: "reason", type: t.text(), optional: true, rest: true },
  ],
  flags: {
    purge: {
      type: "boolean",
      description: "Also delete the room's history from the database (irreversible)",
    },
    force: { type: "boolean", description: "Take down a protected room or a watched list too" },
  },
  examples: ["room takedown #spam:example.org spam room", "room takedown !abc:example.org --purge abuse"],
  confirm: async (ctx, a) => {
    const roomId = await roomIdOf(ctx, a.room);
    if (refusalFor(ctx, roomId, a.force) !== undefined) return null; // run answers why
    let seen: Look;
    try {
      seen = await look(ctx, roomId);
    } catch {
      return null; // run answers with the error
    }
    return takedownPreview(roomId, seen.details, seen.local, {
      purge: a.purge,
      reason: a.reason,
      server: ctx.bot.serverName,
    });
  },
  run: async (ctx, a): Promise<Fragment> => {
    const roomId = await roomIdOf(ctx, a.room);
    const why = refusalFor(ctx, roomId, a.force);
    if (why !== undefined) return fmt`Not taking down ${code(roomId)}: ${why}.`;
    const seen = await look(ctx, roomId);
    const c: Consequence = {
      kind: "takedownRoom",
      room: roomId,
      purge: a.purge,
      reason: a.reason ?? "",
      cause: ctx.cause,
    };
    const [r] = await ctx.act([c]);
    if (r?.outcome === "dry-run") return fmt`Dry run: ${code(roomId)} would have been taken down.`;
    if (r?.outcome === "skipped") return fmt`Not taking down ${code(roomId)}: ${r.error ?? "refused"}.`;
    if (r?.outcome !== "done") throw adminError(ctx, roomId, r?.error ?? "unknown error");
    const n = seen.local.length;
    return fmt`Taking down ${code(roomId)}: it is blocked on ${code(ctx.bot.serverName)}${n ? `, removing ${n} local member${n === 1 ? "" : "s"}` : ""}${a.purge ? " and purging it" : ""}. Progress: ${code(`${ctx.bot.config.commands.prefix} room status ${roomId}`)}.`;
  },
});

const status = command({
  name: "room status",
  group: "Server admin",
  summary: "Whether a room is blocked on Tyr's homeserver, and how its takedown is going",
  args: [{ name: "room", type: t.room() }],
  examples: ["room status !abc:example.org"],
  run: async (ctx, a) => {
    const roomId = await roomIdOf(ctx, a.room);
    const admin = new RoomAdmin(ctx.bot.client);
    try {
      const [block, deletions] = await Promise.all([admin.blocked(roomId), admin.deleteStatus(roomId)]);
      return takedownStatus(roomId, block, deletions);
    } catch (e) {
      throw adminError(ctx, roomId, e);
    }
  },
});

const autotakedown = command({
  name: "autotakedown",
  group: "Server admin",
  summary: "Whether a watched list's room rules take rooms down on Tyr's homeserver",
  description:
    "With it on, every room the list bans by room ID (m.policy.rule.room, ban or takedown) is taken down as by room takedown, without asking: blocked, local members removed, history kept. Each room once; when no such list bans it any more (rule removed, or autotakedown off), the block is lifted, unless a moderator took the room down by hand. A protected room, a watched list or the management room is never taken down this way (Tyr says so). Tyr must be a server admin. Without on/off, shows the setting.",
  args: LIST_SETTING_ARGS,
  examples: ["autotakedown spam on", "autotakedown spam"],
  run: (ctx, a) =>
    toggleListSetting(ctx, a, {
      key: "autoTakedownRooms",
      cannot: async (ctx) =>
        (await new RoomAdmin(ctx.bot.client).isAdmin(ctx.bot.session.userId))
          ? undefined
          : fmt`${code(ctx.bot.session.userId)} is not a server admin of ${code(ctx.bot.serverName)}. Make Tyr's account a server admin first.`,
      switched: (ctx, name, on) =>
        on
          ? fmt`autoTakedownRooms is on for ${name}: rooms it bans by room ID are being taken down on ${code(ctx.bot.serverName)}.`
          : fmt`autoTakedownRooms is off for ${name}: Tyr takes down no more rooms for it, and lifts the blocks its rules made.`,
    }),
});

export const takedownCommands = [takedown, status, autotakedown];
