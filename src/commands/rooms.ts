// Protected rooms: list, add (join and report missing power), remove.
import { commandsFor, types as t, type RoomRef } from "./framework/index.ts";
import { code, fmt, heading, text, type Fragment } from "../format/fragment.ts";
import type { PagedReply } from "../format/paginate.ts";
import type { CommandContext } from "./context.ts";
import { missingPowers } from "../matrix/power.ts";
import type { PolicyFeature } from "../policy/feature.ts";

const { command } = commandsFor<CommandContext>();

function policy(ctx: CommandContext): PolicyFeature {
  const p = ctx.services.policy;
  if (!p) throw new Error("room protection is not available");
  return p;
}

async function roomId(ctx: CommandContext, r: RoomRef): Promise<string> {
  return r.kind === "id" ? r.roomId : ctx.bot.client.resolveRoom(r.alias);
}

function roomLine(ctx: CommandContext, id: string): Fragment {
  const state = ctx.bot.state.peek(id);
  const name = state?.get("m.room.name")?.content.name;
  const alias = state?.get("m.room.canonical_alias")?.content.alias;
  const label = typeof alias === "string" ? alias : id;
  const missing = state ? missingPowers(state, ctx.bot.session.userId) : ["not joined yet"];
  const members = state ? state.members(["join"]).length : 0;
  return fmt`${code(label)}${typeof name === "string" ? ` “${name}”` : ""} — ${String(members)} members${missing.length ? ` — missing: ${missing.join(", ")}` : ""}`;
}

export const roomCommands = [
  command({
    name: "rooms",
    group: "Protected rooms",
    summary: "The rooms Tyr protects, with what power it lacks in each",
    run: (ctx) => {
      const rooms = [...policy(ctx).protectedRooms];
      if (rooms.length === 0)
        return fmt`No protected rooms yet. Add one with ${code(`${ctx.bot.config.commands.prefix} rooms add <room>`)}.`;
      return {
        header: heading(4, `Protected rooms (${rooms.length})`),
        sections: [{ items: rooms.map((r) => roomLine(ctx, r)) }],
      } satisfies PagedReply;
    },
  }),
  command({
    name: "rooms add",
    group: "Protected rooms",
    summary: "Protect a room: join it, apply the lists, run the protections",
    args: [{ name: "room", type: t.room() }],
    examples: ["rooms add #lobby:example.org"],
    run: async (ctx, a) => {
      const id = await roomId(ctx, a.room);
      await policy(ctx).protect(id);
      // The join's state arrives with the next sync; give it a moment so the report is accurate.
      const deadline = Date.now() + 5_000;
      while (!ctx.bot.state.peek(id)?.createEvent && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      const state = ctx.bot.state.peek(id);
      const missing = state ? missingPowers(state, ctx.bot.session.userId) : [];
      return missing.length
        ? fmt`Protecting ${code(id)}, but Tyr is missing power there: ${missing.join(", ")}. Raise the bot's power level so it can act.`
        : fmt`Protecting ${code(id)}. Tyr has the power it needs there.`;
    },
  }),
  command({
    name: "rooms remove",
    group: "Protected rooms",
    summary: "Stop protecting a room (Tyr stays in it; nothing is undone)",
    args: [{ name: "room", type: t.room() }],
    run: async (ctx, a) => {
      const id = await roomId(ctx, a.room);
      if (!policy(ctx).protectedRooms.has(id)) return text(`${id} is not a protected room.`);
      await policy(ctx).unprotect(id);
      return fmt`No longer protecting ${code(id)}.`;
    },
  }),
];
