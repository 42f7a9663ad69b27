// `policyserver enable|disable <room>` and `policyserver status`: name Tyr in a protected room's
// m.room.policy (MSC4284) so every homeserver in the room asks Tyr before it accepts an event, or
// remove it again; and what the policy server has been asked per room (src/policyserver/).
import { commandsFor, types as t, UserFacingError, type RoomRef } from "./framework/index.ts";
import {
  blocks,
  bold,
  code,
  fmt,
  formatNumber,
  heading,
  join,
  text,
  type Fragment,
} from "../format/fragment.ts";
import type { PagedReply, Section } from "../format/paginate.ts";
import type { CommandContext } from "./context.ts";
import type { Consequence } from "../consequences/types.ts";
import { canSendState, eventLevel, userLevel } from "../matrix/power.ts";
import { formatAgo } from "./framework/duration.ts";
import { resolveRoomRef, roomLabel } from "./effects.ts";
import type { PolicyServerFeature } from "../policyserver/feature.ts";
import { POLICY_STATE_TYPE, policyServerOf, policyStateContent } from "../federation/policyState.ts";

const { command } = commandsFor<CommandContext>();
const GROUP = "Policy server";

function feature(ctx: CommandContext): PolicyServerFeature {
  const f = ctx.services.policyServer;
  if (!f)
    throw new UserFacingError(
      "The policy server is off: set policyServer.enabled: true in Tyr's config, have your reverse proxy send /_matrix/policy/ to Tyr, and restart (README: Policy server).",
    );
  return f;
}

interface Target {
  readonly roomId: string;
  /** Why Tyr cannot change the room's policy state, if it cannot. */
  readonly problem?: Fragment;
  /** The server name the room's m.room.policy names now, if any. */
  readonly current?: string;
  readonly namesTyr: boolean;
}

/** The room and what stands in the way of changing its m.room.policy. */
async function target(ctx: CommandContext, f: PolicyServerFeature, ref: RoomRef): Promise<Target | Fragment> {
  const r = await resolveRoomRef(ctx, ref);
  if (!r.ok) return r.reply;
  const roomId = r.value;
  const policy = ctx.services.policy;
  if (!policy?.protectedRooms.has(roomId))
    return fmt`${code(roomId)} is not a protected room: protect it first (${code(`${ctx.bot.config.commands.prefix} rooms add ${roomId}`)}); Tyr judges events only in its protected rooms.`;
  const state = ctx.bot.state.peek(roomId);
  if (state === undefined) return fmt`Tyr has not synced ${code(roomId)} yet; try again in a moment.`;
  const ref2 = policyServerOf(state.get(POLICY_STATE_TYPE)?.content, undefined);
  const base = { roomId, namesTyr: f.namesTyr(roomId), ...(ref2 ? { current: ref2.via } : {}) };
  const me = ctx.bot.session.userId;
  if (!canSendState(state, me, POLICY_STATE_TYPE)) {
    const need = eventLevel(state, POLICY_STATE_TYPE, true);
    return {
      ...base,
      problem: fmt`Tyr cannot send ${code(POLICY_STATE_TYPE)} in ${code(roomLabel(ctx, roomId))}: it needs power level ${String(need)} and has ${String(userLevel(state, me))}. Raise Tyr's power level (or lower the level for ${code(POLICY_STATE_TYPE)}) and try again.`,
    };
  }
  return base;
}

function setPolicy(
  ctx: CommandContext,
  roomId: string,
  content: Record<string, unknown>,
  reason: string,
): Consequence {
  return {
    kind: "setState",
    room: roomId,
    eventType: POLICY_STATE_TYPE,
    stateKey: "",
    content,
    reason,
    cause: ctx.cause,
  };
}

async function apply(ctx: CommandContext, c: Consequence): Promise<string | undefined> {
  const [r] = await ctx.act([c]);
  if (r?.outcome === "done") return undefined;
  if (r?.outcome === "dry-run") return "dry run: nothing was sent";
  return r?.error ?? r?.outcome ?? "no result";
}

/** Whether a member of `server` is joined in `roomId` (Synapse ignores a `via` that is not). */
function viaInRoom(ctx: CommandContext, roomId: string, server: string): boolean {
  const state = ctx.bot.state.peek(roomId);
  if (state === undefined) return false;
  for (const m of state.all("m.room.member"))
    if (m.content.membership === "join" && m.stateKey.endsWith(`:${server}`)) return true;
  return false;
}

const TRADE_OFF =
  "While Tyr (or the reverse proxy in front of it) is unreachable, homeservers refuse every new event in the room: nobody can post until Tyr is back or the policy server is removed. Changing m.room.policy itself is always allowed, so a moderator can remove it in an emergency (README: Policy server).";

export const policyServerCommands = [
  command({
    name: "policyserver enable",
    group: GROUP,
    summary: "Make Tyr the room's policy server: every homeserver in it asks Tyr before accepting an event",
    description: `Sets the room's ${POLICY_STATE_TYPE} to name Tyr's policy server name and public key, after a preview and a ✅. Tyr needs the power to send that state event. ${TRADE_OFF}`,
    args: [{ name: "room", type: t.room(), description: "a protected room" }],
    examples: ["policyserver enable #community:example.org"],
    confirm: async (ctx, a) => {
      const f = feature(ctx);
      const tg = await target(ctx, f, a.room);
      if (!("roomId" in tg) || tg.problem !== undefined || tg.namesTyr) return null; // run answers
      const content = policyStateContent({ via: f.serverName, publicKey: f.key.publicKeyBase64 });
      return blocks(
        heading(4, fmt`Make Tyr the policy server of ${code(roomLabel(ctx, tg.roomId))}?`),
        fmt`Tyr sends ${code(POLICY_STATE_TYPE)}: ${code(JSON.stringify(content))}${tg.current ? fmt` (replacing ${code(tg.current)})` : ""}.`,
        viaInRoom(ctx, tg.roomId, f.serverName)
          ? false
          : fmt`${bold("Warning:")} no member of ${code(f.serverName)} is joined in the room, so homeservers will ignore this policy server.`,
        text(TRADE_OFF),
      );
    },
    run: async (ctx, a) => {
      const f = feature(ctx);
      const tg = await target(ctx, f, a.room);
      if (!("roomId" in tg)) return tg;
      if (tg.problem !== undefined) return tg.problem;
      if (tg.namesTyr)
        return fmt`${code(roomLabel(ctx, tg.roomId))} already names Tyr (${code(f.serverName)}) as its policy server.`;
      const content = policyStateContent({ via: f.serverName, publicKey: f.key.publicKeyBase64 });
      const failed = await apply(ctx, setPolicy(ctx, tg.roomId, content, "Tyr is the room's policy server"));
      if (failed !== undefined)
        return fmt`Could not set ${code(POLICY_STATE_TYPE)} in ${code(tg.roomId)}: ${failed}.`;
      return fmt`${code(roomLabel(ctx, tg.roomId))} now names Tyr (${code(f.serverName)}) as its policy server. Check the sign requests with ${code(`${ctx.bot.config.commands.prefix} policyserver status`)}.`;
    },
  }),
  command({
    name: "policyserver disable",
    group: GROUP,
    summary: "Remove the room's policy server (events are accepted without asking Tyr)",
    description: `Replaces the room's ${POLICY_STATE_TYPE} with empty content, after a ✅. Homeservers then accept events without asking any policy server.`,
    args: [{ name: "room", type: t.room(), description: "a protected room" }],
    examples: ["policyserver disable #community:example.org"],
    confirm: async (ctx, a) => {
      const f = feature(ctx);
      const tg = await target(ctx, f, a.room);
      if (!("roomId" in tg) || tg.problem !== undefined || tg.current === undefined) return null;
      return blocks(
        heading(
          4,
          fmt`Remove the policy server ${code(tg.current)} from ${code(roomLabel(ctx, tg.roomId))}?`,
        ),
        text("Homeservers will accept events in the room without asking any policy server."),
      );
    },
    run: async (ctx, a) => {
      const f = feature(ctx);
      const tg = await target(ctx, f, a.room);
      if (!("roomId" in tg)) return tg;
      if (tg.problem !== undefined) return tg.problem;
      if (tg.current === undefined) return fmt`${code(roomLabel(ctx, tg.roomId))} has no policy server.`;
      const failed = await apply(ctx, setPolicy(ctx, tg.roomId, {}, "policy server removed"));
      if (failed !== undefined)
        return fmt`Could not change ${code(POLICY_STATE_TYPE)} in ${code(tg.roomId)}: ${failed}.`;
      return fmt`${code(roomLabel(ctx, tg.roomId))} has no policy server any more.`;
    },
  }),
  command({
    name: "policyserver status",
    group: GROUP,
    summary:
      "Per protected room: policy server state, sign requests in the last hour by server, refusals, last error",
    run: (ctx): PagedReply => {
      const f = feature(ctx);
      const now = Date.now();
      const rooms = [...(ctx.services.policy?.protectedRooms ?? [])];
      const items = rooms.map((roomId) => {
        const state = ctx.bot.state.peek(roomId);
        const ref = policyServerOf(state?.get(POLICY_STATE_TYPE)?.content, undefined);
        const named = f.namesTyr(roomId)
          ? "names Tyr"
          : ref
            ? `names ${ref.via}${ref.via === f.serverName ? " with another key (every event is refused: run enable again)" : ""}`
            : "not set";
        const hour = f.stats.lastHour(roomId, now);
        const servers = hour.byServer
          .slice(0, 10)
          .map(
            ([s, c]) =>
              `${s} ${formatNumber(c.requests)}${c.refused ? ` (${formatNumber(c.refused)} refused)` : ""}`,
          );
        const err = f.stats.lastError(roomId);
        return blocks(
          fmt`${bold(roomLabel(ctx, roomId))}: ${POLICY_STATE_TYPE} ${named} · ${formatNumber(hour.requests)} sign requests in the last hour, ${formatNumber(hour.refused)} refused`,
          servers.length ? fmt`By server: ${join(servers)}` : false,
          err ? fmt`Last error ${formatAgo(err.at)}: ${err.text}` : false,
        );
      });
      const s = f.stats;
      const sections: Section[] = [
        { title: "Protected rooms", items: items.length ? items : [text("No protected rooms.")] },
      ];
      return {
        header: blocks(
          heading(4, "Policy server"),
          fmt`Answering as ${code(f.serverName)} with key ${code(f.key.publicKeyBase64)}${ctx.bot.config.dryRun ? " · DRY RUN: signs everything, logs what it would refuse" : ""}`,
          fmt`${formatNumber(s.authFailures)} unauthenticated requests · ${formatNumber(s.rateLimited)} rate-limited · last request ${s.lastRequestAt === undefined ? "never since start" : formatAgo(s.lastRequestAt)}`,
        ),
        sections,
      };
    },
  }),
];
