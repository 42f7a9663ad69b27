// autoSuspend: local accounts a watched list with autoSuspend bans are suspended, and
// unsuspended when no such list bans them any more (the decisions are in plan.ts). This module
// is what the reconciliation and the moderators see of it.
import type { BotParts } from "../feature.ts";
import type { Decision } from "../banlists/matcher.ts";
import type { Rule } from "../banlists/rule.ts";
import { serverOf } from "../consequences/guard.ts";
import type { SuspensionInput } from "./plan.ts";
import { displayRoom } from "./notices.ts";
import type { WatchedLists } from "./watchedLists.ts";

export class AutoSuspend {
  private readonly bot: BotParts;
  private readonly lists: WatchedLists;
  private readonly decide: (user: string) => Decision;

  constructor(bot: BotParts, lists: WatchedLists, decide: (user: string) => Decision) {
    this.bot = bot;
    this.lists = lists;
    this.decide = decide;
  }

  /** Watched lists whose bans also suspend local accounts. */
  listsOn(): Set<string> {
    return new Set(this.lists.withSetting("autoSuspend"));
  }

  private isLocal(user: string): boolean {
    return serverOf(user) === serverOf(this.bot.session.userId);
  }

  /** What the member-ban plan needs to decide suspensions. */
  planInput(): SuspensionInput {
    return {
      lists: this.listsOn(),
      isLocal: (u) => this.isLocal(u),
      heldBy: (u) => {
        const r = this.bot.actionLog.suspensionOf(u);
        return r === undefined ? undefined : r.ruleKey !== undefined ? "policy" : "moderator";
      },
    };
  }

  /** Users a full reconciliation looks at for suspensions, beyond protected rooms' members. */
  candidates(out: Set<string>): void {
    // Local accounts named by autoSuspend lists need not be in a protected room.
    for (const list of this.listsOn())
      for (const rule of this.lists.revision(list)?.rules("user") ?? []) this.addLocalEntity(rule, out);
    for (const u of this.bot.actionLog.policySuspendedUsers()) out.add(u);
  }

  /** A literal user rule's entity when it is an account of Tyr's own server. */
  addLocalEntity(rule: Rule, out: Set<string>): void {
    const e = rule.entity;
    if (rule.kind !== "user" || e === undefined || /[*?]/.test(e) || !e.startsWith("@")) return;
    if (this.isLocal(e)) out.add(e);
  }

  statusValue(): string {
    const lists = [...this.listsOn()].map((l) => displayRoom(this.bot, l));
    const held = this.bot.actionLog.suspensionCounts();
    const counts = `${held.policy} account(s) suspended by rules, ${held.moderator} by moderators`;
    return lists.length ? `on for ${lists.join(", ")}; ${counts}` : `off (no list has it); ${counts}`;
  }

  /** For `rules matching`: the account's suspension by Tyr, or why it is (not) suspended. */
  note(user: string): string | undefined {
    if (!this.isLocal(user)) return undefined;
    const held = this.bot.actionLog.suspensionOf(user);
    const why = held?.reason ? `: ${held.reason}` : "";
    if (held?.ruleKey !== undefined)
      return `suspended by a rule of ${displayRoom(this.bot, held.list ?? "")}${why}; lifted when no autoSuspend list bans it`;
    if (held) return `suspended by ${held.actor} by hand${why}; only unsuspend lifts it`;
    const d = this.decide(user);
    const auto = this.listsOn();
    const by = d.action === "none" ? undefined : d.rules.find((r) => auto.has(r.list));
    if (by)
      return `not suspended yet; ${displayRoom(this.bot, by.list)} has autoSuspend on, so Tyr suspends it`;
    return auto.size ? "not suspended (no autoSuspend list bans it)" : undefined;
  }
}
