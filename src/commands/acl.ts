// Server ACL commands: `acl` (what Tyr computed and where it stands in each room), `acl sync`
// (send it again everywhere it differs), `import <room> <list>` (adopt a room's bans and ACL as
// rules on a list, so a community keeps its history when it moves to Tyr).
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
import type { AclFeature } from "../acl/feature.ts";
import type { PolicyFeature } from "../policy/feature.ts";
import { describeLeftOut, describeStatus, leftOutByList } from "../acl/roomSync.ts";
import { importRoomRules, type ImportSkip, type PolicyRuleToSend } from "../acl/importRoom.ts";
import { canSendState } from "../matrix/power.ts";
import { errorText } from "../consequences/queue.ts";
import type { Consequence } from "../consequences/types.ts";
import { resolveList } from "./lists.ts";

const { command } = commandsFor<CommandContext>();

/** Imports at least this big report progress. */
const IMPORT_PROGRESS_THRESHOLD = 20;

function acl(ctx: CommandContext): AclFeature {
  const a = ctx.services.acl;
  if (!a) throw new Error("server ACL sync is not available");
  return a;
}

function policy(ctx: CommandContext): PolicyFeature {
  const p = ctx.services.policy;
  if (!p) throw new Error("policy lists are not available");
  return p;
}

function percent(part: number, whole: number): string {
  return whole <= 0 ? "0%" : `${Math.round((part * 100) / whole)}%`;
}

function aclReport(ctx: CommandContext): PagedReply {
  const feature = acl(ctx);
  const p = policy(ctx);
  const plan = feature.currentPlan();
  const cfg = ctx.bot.config.acl;
  const c = plan.content;
  const header = blocks(
    heading(4, "Server ACL"),
    fmt`${bold(formatNumber(c.deny.length))} server entries denied · ${formatNumber(plan.bytes)} of ${formatNumber(plan.budgetBytes)} bytes used (${percent(plan.bytes, plan.budgetBytes)}) · allow: ${join(c.allow.map((a) => code(a)))} · IP literals: ${c.allow_ip_literals ? "allowed" : "blocked"}`,
    cfg.banMembersOfDeniedServers
      ? text("Members of denied servers are banned from the protected rooms (acl.banMembersOfDeniedServers).")
      : text(
          "Members of denied servers stay in the rooms: an ACL only stops their server's traffic. Set acl.banMembersOfDeniedServers to ban them too.",
        ),
  );
  const sections: Section[] = [];

  const listItems = plan.lists.map((s) => {
    const parts = [`${formatNumber(s.serverRules)} server rules → ${formatNumber(s.kept)} in the ACL`];
    if (s.covered) parts.push(`${formatNumber(s.covered)} covered by broader globs`);
    if (s.excepted) parts.push(`${formatNumber(s.excepted)} lifted by exceptions`);
    if (s.leftOutForSize) parts.push(`${formatNumber(s.leftOutForSize)} left out for size`);
    if (s.dropped) parts.push(`${formatNumber(s.dropped)} refused`);
    return fmt`${code(p.displayList(s.list))}: ${parts.join(", ")}`;
  });
  const unloaded = p.lists.filter((l) => p.revision(l) === undefined);
  for (const l of unloaded)
    listItems.push(fmt`${code(p.displayList(l))}: not loaded yet (its rules are not in the ACL)`);
  sections.push({
    title: "Lists (first = highest priority; it wins when the ACL must be cut)",
    items: listItems.length ? listItems : [text("No watched lists.")],
  });

  const problems: Fragment[] = leftOutByList(plan).map(
    (g) => fmt`${code(p.displayList(g.list))}: ${describeLeftOut(g)}`,
  );
  const examples = plan.dropped.filter((d) => !d.exception).slice(0, 10);
  for (const d of examples)
    problems.push(
      fmt`refused ${code(d.entity || "(empty)")} from ${code(p.displayList(d.list))}: ${d.reason}`,
    );
  if (plan.dropped.length > examples.length)
    problems.push(text(`… and ${plan.dropped.length - examples.length} more refused rule(s).`));
  for (const x of plan.conflicts.slice(0, 10)) {
    problems.push(
      fmt`exception ${code(x.exception)} (${code(p.displayList(x.exceptionList))}) cannot lift the broader deny ${code(x.deny)} (${code(p.displayList(x.denyList))}): an ACL cannot carve exceptions out of a glob`,
    );
  }
  for (const n of plan.notes) problems.push(text(n));
  if (problems.length) sections.push({ title: "Left out / adjusted", items: problems });

  const rooms = feature.roomReports();
  sections.push({
    title: `Protected rooms (${rooms.length})`,
    items: rooms.length
      ? rooms.map(
          (r) =>
            fmt`${feature.roomLabel(r.room)} — ${r.needsUpdate ? "out of date: update pending" : describeStatus(r.status)}`,
        )
      : [text("No protected rooms.")],
  });
  return { header, sections };
}

// ---- import ---------------------------------------------------------------------------------

interface ImportPrep {
  readonly roomId: string;
  readonly list: string;
  readonly toWrite: readonly PolicyRuleToSend[];
  readonly already: number;
  readonly users: number;
  readonly servers: number;
  readonly skipped: readonly ImportSkip[];
  /** Why Tyr cannot write rules into the list, if it cannot. */
  readonly cannotWrite: string | undefined;
}

async function roomIdOf(ctx: CommandContext, r: RoomRef): Promise<string> {
  return r.kind === "id" ? r.roomId : ctx.bot.client.resolveRoom(r.alias);
}

async function prepareImport(ctx: CommandContext, ref: RoomRef, listRef: string): Promise<ImportPrep> {
  const p = policy(ctx);
  const list = await resolveList(ctx, listRef);
  const roomId = await roomIdOf(ctx, ref);
  let state: unknown[];
  try {
    state = (await ctx.bot.client.getRoomState(roomId)) as unknown[];
  } catch (e) {
    throw new UserFacingError(
      `Tyr cannot read the state of ${roomId} (${errorText(e)}); invite Tyr to the room first`,
      {
        cause: e,
      },
    );
  }
  const plan = importRoomRules(state, { roomId, ownServer: ctx.bot.serverName });
  // Rules the list already has (any tool's state key, ban or takedown) are not written again.
  const existing = new Set<string>();
  for (const r of p.revision(list)?.rules() ?? []) {
    if (r.entity !== undefined && r.recommendation !== "exception")
      existing.add(`${r.kind}|${r.entity.toLowerCase()}`);
  }
  const kindOf = (r: PolicyRuleToSend) => (r.type === "m.policy.rule.user" ? "user" : "server");
  const toWrite = plan.rules.filter((r) => !existing.has(`${kindOf(r)}|${r.content.entity.toLowerCase()}`));
  const listState = ctx.bot.state.peek(list);
  const me = ctx.bot.session.userId;
  const missing = ["m.policy.rule.user", "m.policy.rule.server"].filter(
    (type) => toWrite.some((r) => r.type === type) && (!listState || !canSendState(listState, me, type)),
  );
  return {
    roomId,
    list,
    toWrite,
    already: plan.rules.length - toWrite.length,
    users: plan.rules.filter((r) => r.type === "m.policy.rule.user").length,
    servers: plan.rules.filter((r) => r.type === "m.policy.rule.server").length,
    skipped: plan.skipped,
    cannotWrite: missing.length
      ? `Tyr lacks the power level to send ${missing.join(" and ")} in that list`
      : undefined,
  };
}

function skippedLines(skipped: readonly ImportSkip[], max = 5): Fragment | false {
  if (skipped.length === 0) return false;
  const shown = skipped
    .slice(0, max)
    .map((s) => fmt`${code(s.entity || "(empty)")} (${s.source === "ban" ? "ban" : "ACL"}: ${s.reason})`);
  return fmt`${String(skipped.length)} entr${skipped.length === 1 ? "y" : "ies"} skipped: ${join(shown, "; ")}${skipped.length > max ? " …" : ""}`;
}

function importPreview(ctx: CommandContext, prep: ImportPrep): Fragment {
  const p = policy(ctx);
  return blocks(
    heading(4, fmt`Import ${code(prep.roomId)} into ${code(p.displayList(prep.list))}?`),
    text(
      `Found ${prep.users} banned user(s) and ${prep.servers} denied server entr${prep.servers === 1 ? "y" : "ies"}: ${prep.toWrite.length} new rule(s) to write${prep.already ? `, ${prep.already} already on the list` : ""}.`,
    ),
    skippedLines(prep.skipped),
    prep.cannotWrite ? text(`Warning: ${prep.cannotWrite}; the writes would fail.`) : false,
    text("Every room protected through this list then bans those users and denies those servers."),
  );
}

export const aclCommands = [
  command({
    name: "acl",
    group: "Server ACL",
    summary: "The computed server ACL: size, what was left out and why, and each protected room's state",
    run: (ctx) => aclReport(ctx),
  }),
  command({
    name: "acl sync",
    group: "Server ACL",
    summary: "Send the computed server ACL again to every protected room where it differs",
    run: async (ctx) => {
      const feature = acl(ctx);
      const progress = ctx.progress();
      let shown = false;
      const r = await feature.syncNow({
        cause: ctx.cause,
        progress: (done, total, failed) => {
          if (total < 5) return;
          shown = true;
          void progress.update(
            `Setting the server ACL: ${done}/${total}${failed ? ` (${failed} failed)` : ""}`,
          );
        },
      });
      const summary = blocks(
        text(
          `Server ACL sync: ${r.sent} room(s) updated, ${r.inSync} already in sync or excluded${r.blocked ? `, ${r.blocked} blocked (see ${ctx.bot.config.commands.prefix} acl)` : ""}${r.failed.length ? `, ${r.failed.length} failed` : ""}.`,
        ),
        r.failed.length
          ? join(
              r.failed.slice(0, 5).map((f) => fmt`${feature.roomLabel(f.room)}: ${f.error}`),
              "; ",
            )
          : false,
      );
      if (shown) {
        await progress.finish(summary);
        return undefined;
      }
      return summary;
    },
  }),
  command({
    name: "import",
    group: "Server ACL",
    summary: "Turn a room's bans and server ACL deny entries into rules on a watched list",
    description:
      "Reads the room's current bans and m.room.server_acl deny entries and writes one ban rule per user and server to the list (entries already on it are skipped). Entries that would deny Tyr's own server, globbed user IDs and invalid names are skipped with a reason. Shows the counts and asks for confirmation first.",
    args: [
      { name: "room", type: t.room(), description: "the room to import from (Tyr must be in it)" },
      {
        name: "list",
        type: t.word({ placeholder: "list" }),
        description: "shortcode, room ID or alias of a watched list",
      },
    ],
    examples: ["import #old-community:example.org spam"],
    confirm: async (ctx, a) => {
      const prep = await prepareImport(ctx, a.room, a.list);
      return prep.toWrite.length === 0 ? null : importPreview(ctx, prep);
    },
    run: async (ctx, a) => {
      const p = policy(ctx);
      const prep = await prepareImport(ctx, a.room, a.list);
      const listName = p.displayList(prep.list);
      if (prep.toWrite.length === 0) {
        return blocks(
          fmt`Nothing to import from ${code(prep.roomId)}: ${prep.already ? `all ${prep.already} ban(s) and deny entries are already on ${listName}` : "it has no bans and no denied servers"}.`,
          skippedLines(prep.skipped),
        );
      }
      const consequences: Consequence[] = prep.toWrite.map((r) => ({
        kind: "setState",
        room: prep.list,
        eventType: r.type,
        stateKey: r.stateKey,
        content: { ...r.content },
        target: r.content.entity,
        reason: r.content.reason,
        cause: ctx.cause,
      }));
      const progress = consequences.length >= IMPORT_PROGRESS_THRESHOLD ? ctx.progress() : undefined;
      const label = `Importing ${consequences.length} rules into ${listName}`;
      await progress?.update(`${label}: 0/${consequences.length}`);
      const results = await ctx.act(consequences, (done, total, failed) => {
        void progress?.update(`${label}: ${done}/${total}${failed ? ` (${failed} failed)` : ""}`);
      });
      const failed = results.filter((r) => r.outcome !== "done");
      const written = results.length - failed.length;
      const summary = blocks(
        fmt`Imported ${String(written)} of ${String(results.length)} rule(s) from ${code(prep.roomId)} into ${code(listName)}${prep.already ? ` (${prep.already} were already there)` : ""}.${failed.length ? ` ${failed.length} failed: ${failed[0]!.error ?? failed[0]!.outcome}.` : ""}`,
        skippedLines(prep.skipped),
        written ? text("Protected rooms follow within seconds.") : false,
      );
      if (progress) {
        await progress.finish(summary);
        return undefined;
      }
      return summary;
    },
  }),
];
