// Room rules of lists with autoTakedownRooms: the rooms they ban are taken down on Tyr's
// homeserver, and unblocked again when no such rule bans them any more (the decisions are in
// roomTakedowns.ts; the effects are the queue's takedownRoom and unblockRoom).
import type { BotParts } from "../feature.ts";
import type { Consequence } from "../consequences/types.ts";
import { banReason } from "./plan.ts";
import { planRoomTakedowns, planRoomUnblocks } from "./roomTakedowns.ts";
import { displayRoom, type PolicyNotices } from "./notices.ts";
import type { WatchedLists } from "./watchedLists.ts";

export class RuledTakedowns {
  private readonly bot: BotParts;
  private readonly lists: WatchedLists;
  private readonly protectedRooms: ReadonlySet<string>;
  private readonly notices: PolicyNotices;

  constructor(
    bot: BotParts,
    lists: WatchedLists,
    protectedRooms: ReadonlySet<string>,
    notices: PolicyNotices,
  ) {
    this.bot = bot;
    this.lists = lists;
    this.protectedRooms = protectedRooms;
    this.notices = notices;
  }

  /** Watched lists whose room rules take rooms down on Tyr's homeserver. */
  listsOn(): string[] {
    return this.lists.withSetting("autoTakedownRooms");
  }

  statusValue(): string {
    const on = this.listsOn();
    return on.length
      ? `on for ${on.map((l) => displayRoom(this.bot, l)).join(", ")}`
      : "off (no list has it)";
  }

  /** Takes down the rooms that lists with autoTakedownRooms ban (once per room; see the plan),
   *  and unblocks the rooms a rule took down that no such list bans any more. */
  async reconcile(): Promise<void> {
    const rules = this.listsOn().flatMap((l) => [...(this.lists.revision(l)?.rules("room") ?? [])]);
    // Lifting is only safe when every list's rules are known (as for unbans).
    if (this.lists.allLoaded)
      await this.unblock(planRoomUnblocks(this.bot.actionLog.policyTakenDownRooms(), rules));
    if (rules.length === 0) return;
    const plan = planRoomTakedowns(
      rules,
      {
        managementRoomId: this.bot.managementRoomId,
        protectedRooms: this.protectedRooms,
        watchedLists: this.lists.ids,
      },
      (room) => this.bot.actionLog.takedownOf(room) !== undefined,
    );
    for (const { room, rule, why } of plan.refused)
      this.notices.notifyOnce(
        `takedown:${room}`,
        `A rule on ${displayRoom(this.bot, rule.list)} bans the room ${room}, but Tyr does not take it down on its own: ${why}.`,
      );
    if (plan.takedowns.length === 0) return;
    const results = await this.bot.queue.submitAll(
      plan.takedowns.map(({ room, rule }): Consequence => ({
        kind: "takedownRoom",
        room,
        purge: false,
        reason: banReason(rule),
        cause: { by: "policy", rule },
      })),
    );
    const done = plan.takedowns.filter((_, i) => results[i]?.outcome === "done").map((t) => t.room);
    const failed = results.filter((r) => r.outcome === "failed");
    if (done.length > 0)
      this.notices.notify(
        `Policy sync: took down ${done.length} room(s) a list bans on ${this.bot.serverName} (blocked, local members removed): ${done.join(", ")}. Progress: ${this.bot.config.commands.prefix} room status <room>.`,
      );
    if (failed.length > 0)
      this.notices.notify(
        `Policy sync: ${failed.length} room takedown(s) failed, e.g. ${failed[0]!.error ?? "unknown error"}. Is Tyr a server admin? See ${this.bot.config.commands.prefix} log.`,
      );
  }

  private async unblock(rooms: string[]): Promise<void> {
    if (rooms.length === 0) return;
    const results = await this.bot.queue.submitAll(
      rooms.map((room): Consequence => {
        const held = this.bot.actionLog.takedownOf(room);
        return {
          kind: "unblockRoom",
          room,
          reason: "the ban-list rule behind this takedown no longer applies",
          cause: { by: "system", what: `policy sync (rule ${held?.ruleKey ?? "?"} gone)` },
        };
      }),
    );
    const done = rooms.filter((_, i) => results[i]?.outcome === "done");
    const failed = results.filter((r) => r.outcome === "failed");
    if (done.length > 0)
      this.notices.notify(
        `Policy sync: unblocked ${done.length} room(s) on ${this.bot.serverName} that a list rule had taken down; the rule is gone: ${done.join(", ")}. Local members can join again; those removed were not brought back.`,
      );
    if (failed.length > 0)
      this.notices.notify(
        `Policy sync: ${failed.length} room unblock(s) failed, e.g. ${failed[0]!.error ?? "unknown error"}. See ${this.bot.config.commands.prefix} log.`,
      );
  }
}
