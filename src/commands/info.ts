// Look-up commands: resolve an alias, read the action log, audit a room's security settings.
// They change nothing.
import { commandsFor, parseMatrixLink, types as t } from "./framework/index.ts";
import { blocks, code, fmt, heading, italic, text, type Fragment } from "../format/fragment.ts";
import type { PagedReply } from "../format/paginate.ts";
import type { CommandContext } from "./context.ts";
import type { ActionRecord } from "../store/actionLog.ts";
import { RoomState, toStateEvent } from "../matrix/roomState.ts";
import type { RawEvent } from "../matrix/syncTypes.ts";
import { auditRoom, renderAudit } from "./audit.ts";
import { resolveRoomRef, roomLabel } from "./effects.ts";

const { command } = commandsFor<CommandContext>();

export const DEFAULT_LOG_LIMIT = 20;
export const MAX_LOG_LIMIT = 500;

const enc = encodeURIComponent;

function when(ts: number): string {
  return new Date(ts)
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, " UTC");
}

const OUTCOME: Record<ActionRecord["outcome"], string> = {
  done: "done",
  failed: "FAILED",
  skipped: "refused",
  "dry-run": "dry run",
};

/** One action-log record as a line; every field is data from the log and is escaped as text. */
export function describeRecord(r: ActionRecord, roomName: (id: string) => string = (id) => id): Fragment {
  const target = r.target !== undefined ? fmt` ${code(r.target)}` : text("");
  const room = r.room !== undefined ? fmt` in ${code(roomName(r.room))}` : text("");
  const reason = r.reason
    ? fmt` — “${r.reason.length > 300 ? `${r.reason.slice(0, 300)}…` : r.reason}”`
    : text("");
  const detail = r.outcome !== "done" && r.detail ? fmt` (${r.detail.slice(0, 200)})` : text("");
  const by = r.via !== undefined ? `via ${r.via} by ${r.actor}` : `by ${r.actor}`;
  const report = r.report !== undefined ? fmt` (for report ${code(r.report)})` : text("");
  return fmt`${italic(when(r.ts))} ${r.kind}${target}${room} ${by}${report}: ${OUTCOME[r.outcome]}${detail}${reason}`;
}

/** What to search the log for: user and room links become their IDs, aliases their room IDs. */
async function subject(ctx: CommandContext, raw: string): Promise<{ about: string } | { reply: Fragment }> {
  if (/^(https?:\/\/|matrix:)/i.test(raw)) {
    const l = parseMatrixLink(raw);
    if (!l.ok) return { reply: text(`That link could not be read: ${l.error}`) };
    if (l.value.kind === "user") return { about: l.value.userId };
    if (l.value.eventId !== undefined) return { about: l.value.eventId };
    raw = l.value.room.kind === "id" ? l.value.room.roomId : l.value.room.alias;
  }
  if (raw.startsWith("#")) {
    const id = await resolveRoomRef(ctx, { kind: "alias", alias: raw, via: [] });
    return id.ok ? { about: id.value } : { reply: id.reply };
  }
  return { about: raw };
}

const resolve = command({
  name: "resolve",
  group: "Information",
  summary: "Which room an alias points to",
  args: [{ name: "alias", type: t.room() }],
  examples: ["resolve #lobby:example.org"],
  run: async (ctx, a) => {
    if (a.alias.kind === "id")
      return fmt`${code(a.alias.roomId)} is already a room ID${ctx.bot.state.peek(a.alias.roomId) ? " (Tyr is in it)" : ""}.`;
    const alias = a.alias.alias;
    let res: { room_id?: unknown; servers?: unknown };
    try {
      res = (await ctx.bot.client.doRequest(
        "GET",
        `/_matrix/client/v3/directory/room/${enc(alias)}`,
      )) as typeof res;
    } catch (e) {
      if ((e as { errcode?: string }).errcode === "M_NOT_FOUND")
        return fmt`No room has the alias ${code(alias)}.`;
      throw e;
    }
    if (typeof res.room_id !== "string") return fmt`The homeserver gave no room for ${code(alias)}.`;
    const id = res.room_id;
    const servers = Array.isArray(res.servers)
      ? res.servers.filter((s): s is string => typeof s === "string")
      : [];
    const protectedRoom = ctx.services.policy?.protectedRooms.has(id) ?? false;
    const where = protectedRoom
      ? "a protected room"
      : ctx.bot.state.peek(id)
        ? "Tyr is in it"
        : "Tyr is not in it";
    return blocks(
      fmt`${code(alias)} → ${code(id)} (${where}).`,
      servers.length
        ? text(
            `Servers in the room: ${servers.slice(0, 10).join(", ")}${servers.length > 10 ? ` and ${servers.length - 10} more` : ""}.`,
          )
        : false,
    );
  },
});

const log = command({
  name: "log",
  group: "Information",
  summary: "What Tyr did, newest first: every ban, kick, redaction, mute, ACL and power-level change",
  description:
    "Without an argument, the latest actions. With a user, room, alias, server or event ID, only the actions that mention it (as target, room or actor).",
  args: [
    {
      name: "about",
      type: t.word({ maxLength: 512, placeholder: "entity|room", expected: "a user, room, server or event" }),
      optional: true,
    },
  ],
  flags: {
    limit: {
      type: t.integer({ min: 1, max: MAX_LOG_LIMIT }),
      description: `How many actions to show (default ${DEFAULT_LOG_LIMIT})`,
    },
  },
  examples: ["log", "log @spammer:evil.org", "log #lobby:example.org --limit 100"],
  run: async (ctx, a) => {
    const limit = a.limit ?? DEFAULT_LOG_LIMIT;
    let about: string | undefined;
    if (a.about !== undefined) {
      const s = await subject(ctx, a.about);
      if ("reply" in s) return s.reply;
      about = s.about;
    }
    const records = ctx.bot.actionLog.query(about === undefined ? { limit } : { about, limit });
    if (records.length === 0)
      return about === undefined ? text("The action log is empty.") : fmt`No action mentions ${code(about)}.`;
    const header = heading(
      4,
      about === undefined
        ? text(`The last ${records.length} action${records.length === 1 ? "" : "s"} (newest first)`)
        : fmt`${String(records.length)} action${records.length === 1 ? "" : "s"} about ${code(about)} (newest first)`,
    );
    const items = records.map((r) => describeRecord(r, (id) => roomLabel(ctx, id)));
    return {
      header,
      sections: [{ items }],
      ...(records.length === limit
        ? { footer: text(`Showing at most ${limit}; use --limit for more (up to ${MAX_LOG_LIMIT}).`) }
        : {}),
    } satisfies PagedReply;
  },
});

/** The room's state: from sync when Tyr is in the room, else fetched (works for rooms Tyr can peek). */
async function stateOf(ctx: CommandContext, roomId: string): Promise<RoomState | undefined> {
  const cached = ctx.bot.state.peek(roomId);
  if (cached?.createEvent) return cached;
  try {
    const events = (await ctx.bot.client.getRoomState(roomId)) as RawEvent[];
    const state = new RoomState(roomId);
    for (const raw of Array.isArray(events) ? events : []) {
      const ev = toStateEvent(raw);
      if (ev) state.set(ev);
    }
    return state.createEvent ? state : undefined;
  } catch {
    return undefined;
  }
}

const audit = command({
  name: "audit",
  group: "Information",
  summary: "A security report for a room: who can join and read, encryption, server ACL, moderation power",
  description:
    "Checks the join rule, the public room directory, guest access, history visibility, encryption, the server ACL, and whether Tyr and the moderators (members of the management room) have the power to ban, kick, redact and change the ACL — with a short verdict for each.",
  args: [{ name: "room", type: t.room() }],
  examples: ["audit #lobby:example.org"],
  run: async (ctx, a) => {
    const id = await resolveRoomRef(ctx, a.room);
    if (!id.ok) return id.reply;
    const state = await stateOf(ctx, id.value);
    const label = a.room.kind === "alias" ? a.room.alias : roomLabel(ctx, id.value);
    if (!state)
      return fmt`Tyr cannot read the settings of ${code(label)}: it is not in the room. Invite it, or protect the room with ${code(`${ctx.bot.config.commands.prefix} rooms add ${label}`)}.`;
    let published: boolean | undefined;
    try {
      const v = (await ctx.bot.client.doRequest(
        "GET",
        `/_matrix/client/v3/directory/list/room/${enc(id.value)}`,
      )) as {
        visibility?: unknown;
      };
      published = v.visibility === "public" ? true : v.visibility === "private" ? false : undefined;
    } catch {
      published = undefined;
    }
    const me = ctx.bot.session.userId;
    const moderators = [...ctx.bot.moderators()].filter((m) => m !== me).sort();
    return renderAudit(auditRoom({ state, published, botUserId: me, moderators }), label);
  },
});

export const infoCommands = [resolve, log, audit];
