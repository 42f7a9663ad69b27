// The member-ban reconciliation's shell: collects what changed (rules, memberships, or "look at
// everything"), runs one reconciliation at a time, has plan.ts decide and the queue act, and
// tells the moderators what could not be done.
import type { BotParts } from "../feature.ts";
import type { Decision } from "../banlists/matcher.ts";
import { usersMatching } from "../banlists/members.ts";
import type { RuleDiff } from "../banlists/policyList.ts";
import type { Rule } from "../banlists/rule.ts";
import type { RecentEvents } from "../matrix/recentEvents.ts";
import { canActOn, creators } from "../matrix/power.ts";
import { ProgressMessage } from "../consequences/progress.ts";
import type { Consequence } from "../consequences/types.ts";
import { planConsequences, planMemberBans, type BanPlan } from "./plan.ts";
import { displayRoom, type PolicyNotices } from "./notices.ts";
import type { WatchedLists } from "./watchedLists.ts";
import type { ProtectedRooms } from "./protectedRooms.ts";
import type { AutoSuspend } from "./autoSuspend.ts";
import type { RuledTakedowns } from "./ruledTakedowns.ts";

/** Batches at least this big get a progress message in the management room. */
const PROGRESS_THRESHOLD = 20;

export interface ReconcileDeps {
  readonly bot: BotParts;
  readonly notices: PolicyNotices;
  readonly lists: WatchedLists;
  readonly rooms: ProtectedRooms;
  readonly autoSuspend: AutoSuspend;
  readonly takedowns: RuledTakedowns;
  readonly recent: RecentEvents;
  decide(user: string): Decision;
  /** False until the first sync batch was read. */
  ready(): boolean;
  /** Resolves once the settings read at start-up were applied (see PolicyFeature). */
  startupSettled(): Promise<void>;
}

export class Reconciler {
  readonly stats = { bans: 0, unbans: 0, redactions: 0, suspensions: 0, unsuspensions: 0 };
  private fullWanted = false;
  private readonly dirtyUsers = new Set<string>();
  private readonly changedRules: Rule[] = [];
  private running: Promise<void> = Promise.resolve();

  private readonly d: ReconcileDeps;

  constructor(d: ReconcileDeps) {
    this.d = d;
  }

  /** Resolves when the reconciliation in flight (if any) has been submitted and finished. */
  settled(): Promise<void> {
    return this.running;
  }

  requestFull(): void {
    this.fullWanted = true;
    this.schedule();
  }

  /** A protected room's member changed membership. */
  userChanged(user: string): void {
    this.dirtyUsers.add(user);
  }

  /** The rules of a diff are looked at by the next (incremental) reconciliation. */
  rulesChanged(diff: RuleDiff): void {
    for (const r of diff.added) this.changedRules.push(r);
    for (const r of diff.removed) this.changedRules.push(r);
    for (const m of diff.modified) this.changedRules.push(m.previous, m.current);
  }

  /** Reconciliations run one at a time; changes arriving meanwhile are picked up by the next. */
  schedule(): void {
    const { bot } = this.d;
    // In safe mode the queue would refuse every ban anyway; deciding them is wasted work.
    if (!this.d.ready() || bot.safeMode.active) return;
    if (!this.fullWanted && this.dirtyUsers.size === 0 && this.changedRules.length === 0) return;
    this.running = this.running
      .then(() => this.d.startupSettled())
      .then(() => (bot.safeMode.active ? undefined : this.reconcile()))
      .catch((e) => bot.log.error({ err: e }, "reconciliation failed"));
  }

  private candidates(): Set<string> {
    const { bot, rooms, autoSuspend } = this.d;
    const out = new Set<string>();
    const autoSuspendLists = autoSuspend.listsOn();
    if (this.fullWanted) {
      for (const u of rooms.members.userIds()) out.add(u);
      for (const u of bot.actionLog.policyBannedUsers()) out.add(u);
      autoSuspend.candidates(out);
    } else {
      for (const u of this.dirtyUsers) out.add(u);
      const banned = [...bot.actionLog.policyBannedUsers(), ...bot.actionLog.policySuspendedUsers()];
      for (const rule of this.changedRules) {
        for (const u of rooms.members.membersMatching(rule)) out.add(u);
        if (rule.kind !== "room" && banned.length > 0)
          for (const u of usersMatching(rule, banned)) out.add(u);
        if (autoSuspendLists.has(rule.list)) autoSuspend.addLocalEntity(rule, out);
      }
    }
    this.fullWanted = false;
    this.dirtyUsers.clear();
    this.changedRules.length = 0;
    return out;
  }

  private async reconcile(): Promise<void> {
    const { bot, rooms, lists, notices } = this.d;
    const roomRulesChanged = this.fullWanted || this.changedRules.some((r) => r.kind === "room");
    const candidates = this.candidates();
    if (roomRulesChanged) await this.d.takedowns.reconcile();
    if (candidates.size === 0) return;
    const me = bot.session.userId;
    const moderators = bot.moderators();
    const plan = planMemberBans({
      candidates,
      protectedRooms: rooms.rooms,
      decide: (u) => this.d.decide(u),
      roomsOf: (u) => rooms.members.roomsOf(u).keys(),
      policyBansOf: (u) => bot.actionLog.policyBansOf(u),
      membership: (room, u) => bot.state.peek(room)?.membership(u),
      canBan: (room, u) => {
        const state = bot.state.peek(room);
        return state !== undefined && canActOn(state, me, "ban", u);
      },
      isCreator: (room, u) => {
        const state = bot.state.peek(room);
        return state !== undefined && creators(state).has(u);
      },
      isShielded: (u) => u === me || moderators.has(u),
      allowUnbans: lists.allLoaded,
      suspension: this.d.autoSuspend.planInput(),
    });
    for (const { user, rule } of plan.shielded) {
      notices.notifyOnce(
        `shield:${user}:${rule.list}:${rule.stateKey}`,
        `A rule on ${displayRoom(bot, rule.list)} (${rule.entity ?? "hashed entity"}) matches ${user}, ${user === me ? "Tyr itself" : "a member of the management room"}: not banning. Remove or narrow the rule.`,
      );
    }
    for (const { room, user, rule } of plan.creators) {
      const text = `A rule on ${displayRoom(bot, rule.list)} (${rule.entity ?? "hashed entity"}) matches ${user}, a creator of ${room}: in room version 12 creators have unlimited power and cannot be banned, so Tyr does not try there.`;
      bot.log.info({ room, user, rule: rule.stateKey }, "not banning a room creator");
      notices.notifyOnce(`creator:${room}:${user}`, text);
    }
    for (const [room, n] of plan.noPower) {
      notices.notifyOnce(
        `nopower:${room}`,
        `Tyr lacks the power to ban in ${room}: ${n} matching member(s) skipped. Give the bot a power level above theirs and at least the room's ban level.`,
      );
    }
    const consequences: Consequence[] = planConsequences(plan, (room, user) =>
      this.d.recent
        .bySender(room, user)
        .map((e) => e.eventId)
        .filter((id) => !bot.actionLog.wasRedacted(id)),
    );
    for (const u of plan.unbans) {
      consequences.push({
        kind: "unban",
        room: u.room,
        user: u.user,
        reason: "the ban-list rule behind this ban no longer applies",
        cause: { by: "system", what: "policy sync" },
      });
    }
    if (consequences.length === 0) return;
    await this.execute(consequences, plan);
  }

  private async execute(consequences: Consequence[], plan: BanPlan): Promise<void> {
    const { bot } = this.d;
    const rooms = new Set(consequences.flatMap((c) => ("room" in c ? [c.room] : [])));
    const what = [
      plan.bans.length ? `banning ${plan.bans.length}` : "",
      plan.unbans.length ? `unbanning ${plan.unbans.length}` : "",
      plan.suspends.length ? `suspending ${plan.suspends.length}` : "",
      plan.unsuspends.length ? `unsuspending ${plan.unsuspends.length}` : "",
    ]
      .filter(Boolean)
      .join(" and ");
    const progress =
      consequences.length >= PROGRESS_THRESHOLD
        ? new ProgressMessage(bot.queue, bot.managementRoomId, { intervalMs: 3_000 })
        : undefined;
    const label = `Policy sync: ${what} member(s)${rooms.size ? ` in ${rooms.size} room(s)` : ""}`;
    // Queued ahead of the bans (front of the queue), not waited for: the bans need not sit out
    // its round trip.
    void progress?.update(`${label}: 0/${consequences.length}`);
    const results = await bot.queue.submitAll(consequences, (done, total, failed) => {
      void progress?.update(`${label}: ${done}/${total}${failed ? ` (${failed} failed)` : ""}`);
    });
    for (const [i, r] of results.entries()) {
      if (r.outcome !== "done") continue;
      const kind = consequences[i]!.kind;
      if (kind === "ban") this.stats.bans++;
      else if (kind === "unban") this.stats.unbans++;
      else if (kind === "redact") this.stats.redactions++;
      else if (kind === "suspend") this.stats.suspensions++;
      else if (kind === "unsuspend") this.stats.unsuspensions++;
    }
    const failed = results.filter((r) => r.outcome === "failed");
    if (progress) {
      await progress.finish(
        `${label}: done, ${results.length - failed.length}/${results.length} succeeded${failed.length ? `; ${failed.length} failed (see ${bot.config.commands.prefix} log)` : ""}.`,
      );
    } else if (failed.length > 0) {
      this.d.notices.notify(
        `Policy sync: ${failed.length} of ${results.length} actions failed, e.g. ${failed[0]!.error ?? "unknown error"}. See ${bot.config.commands.prefix} log.`,
      );
    }
  }
}
