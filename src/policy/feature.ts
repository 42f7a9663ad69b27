// Policy-list sync, the imperative shell around src/banlists/: follows the watched lists and the
// protected rooms from sync, keeps the matcher and the member index current, and turns every
// change (startup, new rule, removed rule, someone joining) into the same reconciliation.
import { SampledTimer } from "../metrics/sampler.ts";
import type { BotParts, Feature } from "../feature.ts";
import type { BatchMeta, TimelineEvent } from "../router.ts";
import type { StateEvent } from "../matrix/roomState.ts";
import type { Reporting, StatusLine } from "../feature.ts";
import type { RecentEvents } from "../matrix/recentEvents.ts";
import { Matcher } from "../banlists/matcher.ts";
import { MemberIndex, isTrackedMembership, usersMatching } from "../banlists/members.ts";
import { policyType } from "../banlists/parse.ts";
import {
  applyRedaction,
  applyStateEvent,
  emptyRevision,
  fromState,
  isEmptyDiff,
  type PolicyListRevision,
  type RuleDiff,
} from "../banlists/policyList.ts";
import type { Rule } from "../banlists/rule.ts";
import { canActOn } from "../matrix/power.ts";
import { banReason, planConsequences, planMemberBans, withoutOwnServerRules, type BanPlan } from "./plan.ts";
import { planRoomTakedowns } from "./roomTakedowns.ts";
import {
  DEFAULT_LIST_SETTINGS,
  LIST_SETTINGS_KEY,
  PROTECTED_ROOMS_KEY,
  WATCHED_LISTS_KEY,
  parseListSettings,
  parseProtectedRooms,
  parseWatchedLists,
  serialiseProtectedRooms,
  serialiseWatchedLists,
  withListSettings,
  type ListSettings,
} from "./settings.ts";
import { serverOf } from "../consequences/guard.ts";
import { ProgressMessage } from "../consequences/progress.ts";
import { errorText } from "../consequences/queue.ts";
import type { Consequence } from "../consequences/types.ts";
import { fmt, code } from "../format/fragment.ts";

/** Batches at least this big get a progress message in the management room. */
const PROGRESS_THRESHOLD = 20;

export type ListChangeListener = (diff: RuleDiff, list: string) => void;

export class PolicyFeature implements Feature, Reporting {
  readonly name = "policy";
  readonly matcher: Matcher;
  readonly members = new MemberIndex();
  private readonly bot: BotParts;
  private readonly recent: RecentEvents;
  private readonly revisions = new Map<string, PolicyListRevision>();
  /** Watched list room IDs, highest priority first. */
  private watchedLists: string[] = [];
  private readonly protectedSet = new Set<string>();
  private watchedRaw: unknown = {};
  private protectedRaw: unknown = {};
  private listSettingsRaw: unknown = {};
  private listSettings = new Map<string, ListSettings>();
  private ready = false;
  private fullReconcileWanted = false;
  private readonly dirtyUsers = new Set<string>();
  private readonly changedRules: Rule[] = [];
  private readonly reportedOnce = new Set<string>();
  private readonly listeners: ListChangeListener[] = [];
  private reconciling: Promise<void> = Promise.resolve();
  readonly stats = { bans: 0, unbans: 0, redactions: 0, suspensions: 0, unsuspensions: 0 };
  /** Samples how long a member decision takes (for the metrics' latency histogram). */
  readonly decisionTimer = new SampledTimer();

  constructor(bot: BotParts, recent: RecentEvents) {
    this.bot = bot;
    this.recent = recent;
    this.matcher = new Matcher({ serverRulesApplyToUsers: bot.config.acl.banMembersOfDeniedServers });
  }

  // ---- what other parts read -------------------------------------------------------------

  get lists(): readonly string[] {
    return this.watchedLists;
  }

  get protectedRooms(): ReadonlySet<string> {
    return this.protectedSet;
  }

  /** True once the first sync was read and every watched list's rules are in the matcher. */
  get loaded(): boolean {
    return this.ready && this.watchedLists.every((l) => this.revisions.has(l));
  }

  revision(list: string): PolicyListRevision | undefined {
    return this.revisions.get(list);
  }

  /** The ACL feature and others hear about every effective rule change. */
  onListChange(l: ListChangeListener): void {
    this.listeners.push(l);
  }

  /** Resolves when the reconciliation in flight (if any) has been submitted and finished. */
  settled(): Promise<void> {
    return this.reconciling;
  }

  statusLines(): StatusLine[] {
    const lists = this.watchedLists.map(
      (l) => `${this.displayList(l)} (${this.revisions.get(l)?.size ?? "not loaded"} rules)`,
    );
    return [
      { label: "Protected rooms", value: String(this.protectedSet.size) },
      { label: "Watched lists", value: lists.length ? lists.join(", ") : "none" },
      {
        label: "Policy actions",
        value: `${this.stats.bans} bans · ${this.stats.unbans} unbans · ${this.stats.redactions} redactions`,
      },
      { label: "Auto-suspend", value: this.autoSuspendStatus() },
      {
        label: "Room takedown by rules",
        value: this.autoTakedownLists().length
          ? `on for ${this.autoTakedownLists()
              .map((l) => this.displayList(l))
              .join(", ")}`
          : "off (no list has it)",
      },
    ];
  }

  private autoSuspendStatus(): string {
    const lists = [...this.autoSuspendLists()].map((l) => this.displayList(l));
    const held = this.bot.actionLog.suspensionCounts();
    const counts = `${held.policy} account(s) suspended by rules, ${held.moderator} by moderators`;
    return lists.length ? `on for ${lists.join(", ")}; ${counts}` : `off (no list has it); ${counts}`;
  }

  /** For `rules matching`: the account's suspension by Tyr, or why it is (not) suspended. */
  suspensionNote(user: string): string | undefined {
    if (serverOf(user) !== serverOf(this.bot.session.userId)) return undefined;
    const held = this.bot.actionLog.suspensionOf(user);
    const why = held?.reason ? `: ${held.reason}` : "";
    if (held?.ruleKey !== undefined)
      return `suspended by a rule of ${this.displayList(held.list ?? "")}${why}; lifted when no autoSuspend list bans it`;
    if (held) return `suspended by ${held.actor} by hand${why}; only unsuspend lifts it`;
    const d = this.decideMember(user);
    const auto = this.autoSuspendLists();
    const by = d.action === "none" ? undefined : d.rules.find((r) => auto.has(r.list));
    if (by) return `not suspended yet; ${this.displayList(by.list)} has autoSuspend on, so Tyr suspends it`;
    return auto.size ? "not suspended (no autoSuspend list bans it)" : undefined;
  }

  /** What the rules say about a user, as member bans apply them (own-server rules left out). */
  decideMember(user: string): ReturnType<Matcher["decideUser"]> {
    const t = this.decisionTimer.start();
    const d = withoutOwnServerRules(this.matcher.decideUser(user), this.bot.serverName);
    this.decisionTimer.stop(t);
    return d;
  }

  /** A watched list's Tyr settings (defaults when none are stored). */
  settingsOf(list: string): ListSettings {
    return this.listSettings.get(list) ?? DEFAULT_LIST_SETTINGS;
  }

  /** Watched lists whose bans also suspend local accounts. */
  autoSuspendLists(): Set<string> {
    return new Set(this.watchedLists.filter((l) => this.settingsOf(l).autoSuspend));
  }

  /** Watched lists whose room rules take rooms down on Tyr's homeserver. */
  autoTakedownLists(): string[] {
    return this.watchedLists.filter((l) => this.settingsOf(l).autoTakedownRooms);
  }

  /** Changes some of a watched list's settings (stored in account data) and reconciles. */
  async setListSetting(list: string, change: Partial<ListSettings>): Promise<void> {
    const content = withListSettings(this.listSettingsRaw, list, { ...this.settingsOf(list), ...change });
    await this.bot.client.setAccountData(LIST_SETTINGS_KEY, content);
    this.applyListSettings(content);
  }

  private applyListSettings(content: unknown): void {
    this.listSettingsRaw = content;
    const parsed = parseListSettings(content);
    for (const p of parsed.problems) this.bot.log.warn(p);
    this.listSettings = parsed.lists;
    if (this.ready) this.requestFullReconcile();
  }

  displayList(roomId: string): string {
    const alias = this.bot.state.peek(roomId)?.get("m.room.canonical_alias")?.content.alias;
    return typeof alias === "string" ? alias : roomId;
  }

  // ---- settings (account data) ------------------------------------------------------------

  async start(): Promise<void> {
    // Rooms named in the config are protected in addition to the account data list.
    for (const ref of this.bot.config.protectedRooms) {
      try {
        const id = await this.bot.client.resolveRoom(ref);
        this.protectedSet.add(id);
      } catch (e) {
        this.notifyOnce(
          `resolve:${ref}`,
          `Cannot resolve protected room ${ref} from the config: ${errorText(e)}`,
        );
      }
    }
  }

  onAccountData(type: string, content: Record<string, unknown>): void {
    if (type === WATCHED_LISTS_KEY) {
      this.watchedRaw = content;
      const parsed = parseWatchedLists(content);
      for (const p of parsed.problems) this.bot.log.warn(p);
      this.settle(this.setWatched(parsed.rooms));
    } else if (type === LIST_SETTINGS_KEY) {
      this.applyListSettings(content);
    } else if (type === PROTECTED_ROOMS_KEY) {
      this.protectedRaw = content;
      const parsed = parseProtectedRooms(content);
      for (const p of parsed.problems) this.bot.log.warn(p);
      this.settle(this.setProtected(parsed.rooms, false));
    }
  }

  /** Settings read before the first batch ended: the first reconciliation waits for them. */
  private startupSettings: Promise<unknown>[] = [];

  /**
   * Resolves once the lists and rooms read at start-up were joined (or failed to). A failure there
   * means safe mode, which must be known before the first ban or ACL, not after (nothing
   * half-applied): every reconciliation waits for this.
   */
  async startupSettled(): Promise<void> {
    await Promise.allSettled(this.startupSettings);
  }

  private settle(p: Promise<void>): void {
    if (!this.ready) this.startupSettings.push(p);
    p.catch((e: unknown) => this.bot.log.error({ err: e }, "applying settings from account data failed"));
  }

  /** Adds a list at the lowest priority (or moves it to `position`), joins it, persists. */
  async watch(roomId: string): Promise<void> {
    if (this.watchedLists.includes(roomId)) return;
    await this.bot.client.joinRoom(roomId);
    await this.persistWatched([...this.watchedLists, roomId]);
  }

  async unwatch(roomId: string): Promise<void> {
    await this.persistWatched(this.watchedLists.filter((r) => r !== roomId));
  }

  async reorder(lists: readonly string[]): Promise<void> {
    await this.persistWatched(lists);
  }

  async protect(roomId: string): Promise<void> {
    await this.bot.client.joinRoom(roomId);
    const rooms = parseProtectedRooms(this.protectedRaw).rooms;
    if (!rooms.includes(roomId)) {
      const content = serialiseProtectedRooms(this.protectedRaw, [...rooms, roomId]);
      await this.bot.client.setAccountData(PROTECTED_ROOMS_KEY, content);
      this.protectedRaw = content;
    }
    await this.setProtected([...rooms, roomId], true);
  }

  async unprotect(roomId: string): Promise<void> {
    const rooms = parseProtectedRooms(this.protectedRaw).rooms.filter((r) => r !== roomId);
    const content = serialiseProtectedRooms(this.protectedRaw, rooms);
    await this.bot.client.setAccountData(PROTECTED_ROOMS_KEY, content);
    this.protectedRaw = content;
    this.protectedSet.delete(roomId);
    this.members.removeRoom(roomId);
  }

  private async persistWatched(lists: readonly string[]): Promise<void> {
    const content = serialiseWatchedLists(this.watchedRaw, lists);
    await this.bot.client.setAccountData(WATCHED_LISTS_KEY, content);
    this.watchedRaw = content;
    await this.setWatched([...lists]);
  }

  private async setWatched(refs: string[]): Promise<void> {
    // Settings read before the first sync is handled are start-up: a list that cannot be joined
    // then puts Tyr in safe mode (README: Safe mode); later it is only reported.
    const atStartup = !this.ready;
    const ids: string[] = [];
    for (const ref of refs) {
      try {
        ids.push(ref.startsWith("#") ? await this.bot.client.resolveRoom(ref) : ref);
      } catch (e) {
        this.notifyOnce(`resolve:${ref}`, `Cannot resolve the watched list ${ref}: ${errorText(e)}`);
      }
    }
    const removed = this.watchedLists.filter((l) => !ids.includes(l));
    const added = ids.filter((l) => !this.watchedLists.includes(l));
    this.watchedLists = ids;
    this.matcher.setListOrder(ids);
    for (const list of removed) {
      const rev = this.revisions.get(list);
      this.revisions.delete(list);
      if (rev) this.applyDiff(list, { added: [], modified: [], removed: [...rev.rules()] });
    }
    for (const list of added) {
      if (this.bot.state.peek(list)?.createEvent === undefined) {
        try {
          await this.bot.client.joinRoom(list);
        } catch (e) {
          if (atStartup)
            this.bot.safeMode.add({
              key: `join:${list}`,
              what: `Tyr cannot join the watched list ${list} (${errorText(e)})`,
              fix: `unwatch ${list} (or invite Tyr to it)`,
            });
          else
            this.notifyOnce(
              `join:${list}`,
              `Cannot join the watched list ${list}: ${errorText(e)}. Invite the bot or check the room ID.`,
            );
        }
      }
      if (this.ready) this.loadList(list, atStartup);
    }
    // Priorities changed: every decision may have changed.
    if (this.ready) this.requestFullReconcile();
  }

  private async setProtected(refs: string[], fromCommand: boolean): Promise<void> {
    const atStartup = !this.ready && !fromCommand;
    for (const ref of refs) {
      let id = ref;
      try {
        if (ref.startsWith("#")) id = await this.bot.client.resolveRoom(ref);
      } catch (e) {
        this.notifyOnce(`resolve:${ref}`, `Cannot resolve protected room ${ref}: ${errorText(e)}`);
        continue;
      }
      if (this.protectedSet.has(id)) continue;
      this.protectedSet.add(id);
      if (this.bot.state.peek(id)?.createEvent === undefined && !fromCommand) {
        try {
          await this.bot.client.joinRoom(id);
        } catch (e) {
          if (atStartup)
            this.bot.safeMode.add({
              key: `join:${id}`,
              what: `Tyr cannot join the protected room ${id} (${errorText(e)})`,
              fix: `rooms remove ${id} (or invite Tyr to it)`,
            });
          else
            this.notifyOnce(
              `join:${id}`,
              `Cannot join protected room ${id}: ${errorText(e)}. Invite the bot.`,
            );
        }
      }
      this.loadRoomMembers(id);
    }
    if (this.ready) this.requestFullReconcile();
  }

  // ---- sync ---------------------------------------------------------------------------------

  onState(roomId: string, ev: StateEvent): void {
    if (this.protectedSet.has(roomId) && ev.type === "m.room.tombstone") {
      void this.followProtectedUpgrade(roomId, ev);
      return;
    }
    if (this.protectedSet.has(roomId) && ev.type === "m.room.member") {
      this.members.setMembership(roomId, ev.stateKey, ev.content.membership);
      if (isTrackedMembership(ev.content.membership)) this.dirtyUsers.add(ev.stateKey);
      return;
    }
    if (this.protectedSet.has(roomId) && ev.type === "m.room.power_levels") {
      // The bot may have gained the power it lacked: look at everyone again.
      this.reportedOnce.delete(`nopower:${roomId}`);
      if (this.ready) this.requestFullReconcile();
      return;
    }
    if (!this.watchedLists.includes(roomId) || !this.ready) return;
    if (ev.type === "m.room.tombstone") {
      void this.followTombstone(roomId, ev);
      return;
    }
    if (policyType(ev.type) === null) return;
    const rev = this.revisions.get(roomId) ?? emptyRevision(roomId);
    const result = applyStateEvent(rev, rawOf(ev));
    this.revisions.set(roomId, result.revision);
    for (const r of result.rejected)
      this.bot.log.info(
        { list: roomId, stateKey: r.stateKey, reason: r.reason },
        "ignored an invalid policy event",
      );
    this.applyDiff(roomId, result.diff);
  }

  onTimeline(ev: TimelineEvent, meta: BatchMeta): void {
    if (ev.type !== "m.room.redaction" || !ev.redacts || !this.ready || meta.initial) return;
    const rev = this.revisions.get(ev.roomId);
    if (!rev) return;
    const result = applyRedaction(rev, ev.redacts);
    this.revisions.set(ev.roomId, result.revision);
    this.applyDiff(ev.roomId, result.diff);
  }

  onLeave(roomId: string): void {
    if (this.watchedLists.includes(roomId)) {
      // Keep the last known rules: being kicked from a list must not lift its bans.
      this.notify(
        `Tyr is no longer in the watched list ${this.displayList(roomId)}; its last known rules stay in force. Re-invite the bot to follow it again.`,
      );
    }
    if (this.protectedSet.has(roomId)) {
      this.members.removeRoom(roomId);
      this.notify(
        `Tyr is no longer in the protected room ${roomId}; it cannot moderate it until it is invited back.`,
      );
    }
  }

  onInvite(roomId: string, inviter: string | undefined): void {
    // Re-join lists and protected rooms we were kicked from, when someone invites us back.
    if ((this.watchedLists.includes(roomId) || this.protectedSet.has(roomId)) && inviter) {
      this.bot.client
        .joinRoom(roomId)
        .catch((e) => this.bot.log.warn({ roomId, error: errorText(e) }, "could not re-join"));
    }
  }

  onBatchEnd(meta: BatchMeta): void {
    if (!this.ready) {
      // First batch of this run: the state cache now has every room's full state.
      for (const list of this.watchedLists) this.loadList(list, true);
      for (const room of this.protectedSet) this.loadRoomMembers(room);
      this.ready = true;
      this.fullReconcileWanted = true;
    }
    void meta;
    this.scheduleReconcile();
  }

  private loadList(list: string, atStartup = false): void {
    const room = this.bot.state.peek(list);
    if (!room?.createEvent) return;
    const events: unknown[] = [];
    for (const type of room.types()) {
      if (policyType(type) === null) continue;
      for (const ev of room.all(type)) events.push(rawOf(ev));
    }
    const max = this.bot.config.safeMode.maxRulesPerList;
    if (atStartup && events.length > max) {
      // Not loaded at all (no half of a list in effect): Tyr waits in safe mode.
      this.bot.safeMode.add({
        key: `size:${list}`,
        what: `the watched list ${list} has ${events.length} policy events, more than safeMode.maxRulesPerList (${max})`,
        fix: `unwatch ${list} (or raise safeMode.maxRulesPerList in the config)`,
      });
      return;
    }
    const previous = this.revisions.get(list);
    const result = fromState(list, events);
    for (const r of result.rejected)
      this.bot.log.info({ list, stateKey: r.stateKey, reason: r.reason }, "ignored an invalid policy event");
    this.revisions.set(list, result.revision);
    if (previous) this.matcher.removeList(list);
    this.applyDiff(list, result.diff, false);
  }

  private loadRoomMembers(roomId: string): void {
    const room = this.bot.state.peek(roomId);
    if (!room) return;
    this.members.setRoomMembers(
      roomId,
      [...room.all("m.room.member")].map((ev) => [ev.stateKey, ev.content.membership] as const),
    );
  }

  private applyDiff(list: string, diff: RuleDiff, incremental = true): void {
    if (isEmptyDiff(diff)) return;
    this.matcher.apply(diff);
    if (incremental) {
      for (const r of diff.added) this.changedRules.push(r);
      for (const r of diff.removed) this.changedRules.push(r);
      for (const m of diff.modified) this.changedRules.push(m.previous, m.current);
    }
    for (const l of this.listeners) l(diff, list);
  }

  /**
   * A watched list was upgraded: follow the replacement too, right after it. The old list stays
   * watched, because an upgrade does not copy policy rules: dropping it would lift every ban its
   * rules caused until the maintainers re-add them. Moderators unwatch it once the rules moved.
   */
  private async followTombstone(oldRoom: string, ev: StateEvent): Promise<void> {
    const replacement = ev.content.replacement_room;
    if (typeof replacement !== "string" || !replacement.startsWith("!") || replacement === oldRoom) return;
    if (this.watchedLists.includes(replacement)) return;
    try {
      await this.bot.client.joinRoom(replacement);
      const lists = [...this.watchedLists];
      lists.splice(lists.indexOf(oldRoom) + 1, 0, replacement);
      await this.persistWatched(lists);
      this.notify(
        `The watched list ${oldRoom} was upgraded; Tyr now follows its replacement ${replacement} too. The old list's rules stay in force (nothing is unbanned); once they are in the new list, run "${this.bot.config.commands.prefix} unwatch ${oldRoom}".`,
      );
    } catch (e) {
      this.notifyOnce(
        `upgrade:${oldRoom}`,
        `The watched list ${oldRoom} was upgraded to ${replacement}, but Tyr could not join it: ${errorText(e)}`,
      );
    }
  }

  /**
   * A protected room was upgraded: protect its replacement instead (Tyr joins it; the old room is
   * read-only for members after an upgrade). Seeing the tombstone again later (a restart, an old
   * room still named in the config file) changes nothing more.
   */
  private async followProtectedUpgrade(oldRoom: string, ev: StateEvent): Promise<void> {
    const replacement = ev.content.replacement_room;
    if (typeof replacement !== "string" || !replacement.startsWith("!") || replacement === oldRoom) return;
    const already = this.protectedSet.has(replacement);
    try {
      if (!already) await this.protect(replacement);
      await this.unprotect(oldRoom);
    } catch (e) {
      this.notifyOnce(
        `upgrade:${oldRoom}`,
        `The protected room ${oldRoom} was upgraded to ${replacement}, but Tyr could not join it: ${errorText(e)}. Invite Tyr there, then run "${this.bot.config.commands.prefix} rooms add ${replacement}".`,
      );
      return;
    }
    if (!already)
      this.notify(
        `The protected room ${oldRoom} was upgraded; Tyr now protects its replacement ${replacement} instead. Check that Tyr can moderate there ("${this.bot.config.commands.prefix} rooms").`,
      );
  }

  // ---- reconciliation -----------------------------------------------------------------------

  requestFullReconcile(): void {
    this.fullReconcileWanted = true;
    this.scheduleReconcile();
  }

  /** Reconciliations run one at a time; changes arriving meanwhile are picked up by the next. */
  private scheduleReconcile(): void {
    // In safe mode the queue would refuse every ban anyway; deciding them is wasted work.
    if (!this.ready || this.bot.safeMode.active) return;
    if (!this.fullReconcileWanted && this.dirtyUsers.size === 0 && this.changedRules.length === 0) return;
    this.reconciling = this.reconciling
      .then(() => this.startupSettled())
      .then(() => (this.bot.safeMode.active ? undefined : this.reconcile()))
      .catch((e) => this.bot.log.error({ err: e }, "reconciliation failed"));
  }

  private candidates(): Set<string> {
    const out = new Set<string>();
    const autoSuspend = this.autoSuspendLists();
    if (this.fullReconcileWanted) {
      for (const u of this.members.userIds()) out.add(u);
      for (const u of this.bot.actionLog.policyBannedUsers()) out.add(u);
      // Local accounts named by autoSuspend lists need not be in a protected room.
      for (const list of autoSuspend)
        for (const rule of this.revisions.get(list)?.rules("user") ?? []) this.addLocalEntity(rule, out);
      for (const u of this.bot.actionLog.policySuspendedUsers()) out.add(u);
    } else {
      for (const u of this.dirtyUsers) out.add(u);
      const banned = [
        ...this.bot.actionLog.policyBannedUsers(),
        ...this.bot.actionLog.policySuspendedUsers(),
      ];
      for (const rule of this.changedRules) {
        for (const u of this.members.membersMatching(rule)) out.add(u);
        if (rule.kind !== "room" && banned.length > 0)
          for (const u of usersMatching(rule, banned)) out.add(u);
        if (autoSuspend.has(rule.list)) this.addLocalEntity(rule, out);
      }
    }
    this.fullReconcileWanted = false;
    this.dirtyUsers.clear();
    this.changedRules.length = 0;
    return out;
  }

  /** A literal user rule's entity when it is an account of Tyr's own server. */
  private addLocalEntity(rule: Rule, out: Set<string>): void {
    const e = rule.entity;
    if (rule.kind !== "user" || e === undefined || /[*?]/.test(e) || !e.startsWith("@")) return;
    if (serverOf(e) === serverOf(this.bot.session.userId)) out.add(e);
  }

  private async reconcile(): Promise<void> {
    const roomRulesChanged = this.fullReconcileWanted || this.changedRules.some((r) => r.kind === "room");
    const candidates = this.candidates();
    if (roomRulesChanged) await this.takeDownRuledRooms();
    if (candidates.size === 0) return;
    const me = this.bot.session.userId;
    const moderators = this.bot.moderators();
    const allLoaded = this.watchedLists.every((l) => this.revisions.has(l));
    const plan = planMemberBans({
      candidates,
      protectedRooms: this.protectedSet,
      decide: (u) => this.decideMember(u),
      roomsOf: (u) => this.members.roomsOf(u).keys(),
      policyBansOf: (u) => this.bot.actionLog.policyBansOf(u),
      membership: (room, u) => this.bot.state.peek(room)?.membership(u),
      canBan: (room, u) => {
        const state = this.bot.state.peek(room);
        return state !== undefined && canActOn(state, me, "ban", u);
      },
      isShielded: (u) => u === me || moderators.has(u),
      allowUnbans: allLoaded,
      suspension: {
        lists: this.autoSuspendLists(),
        isLocal: (u) => serverOf(u) === serverOf(me),
        heldBy: (u) => {
          const r = this.bot.actionLog.suspensionOf(u);
          return r === undefined ? undefined : r.ruleKey !== undefined ? "policy" : "moderator";
        },
      },
    });
    for (const { user, rule } of plan.shielded) {
      this.notifyOnce(
        `shield:${user}:${rule.list}:${rule.stateKey}`,
        `A rule on ${this.displayList(rule.list)} (${rule.entity ?? "hashed entity"}) matches ${user}, ${user === me ? "Tyr itself" : "a member of the management room"}: not banning. Remove or narrow the rule.`,
      );
    }
    for (const [room, n] of plan.noPower) {
      this.notifyOnce(
        `nopower:${room}`,
        `Tyr lacks the power to ban in ${room}: ${n} matching member(s) skipped. Give the bot a power level above theirs and at least the room's ban level.`,
      );
    }
    const consequences: Consequence[] = planConsequences(plan, (room, user) =>
      this.recent
        .bySender(room, user)
        .map((e) => e.eventId)
        .filter((id) => !this.bot.actionLog.wasRedacted(id)),
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

  /** Takes down the rooms that lists with autoTakedownRooms ban (once per room; see the plan). */
  private async takeDownRuledRooms(): Promise<void> {
    const lists = this.autoTakedownLists();
    if (lists.length === 0) return;
    const rules = lists.flatMap((l) => [...(this.revisions.get(l)?.rules("room") ?? [])]);
    const plan = planRoomTakedowns(
      rules,
      {
        managementRoomId: this.bot.managementRoomId,
        protectedRooms: this.protectedSet,
        watchedLists: this.watchedLists,
      },
      (room) =>
        this.bot.actionLog
          .query({ about: room, limit: 200 })
          .some((r) => r.kind === "takedownRoom" && r.room === room && r.outcome === "done"),
    );
    for (const { room, rule, why } of plan.refused)
      this.notifyOnce(
        `takedown:${room}`,
        `A rule on ${this.displayList(rule.list)} bans the room ${room}, but Tyr does not take it down on its own: ${why}.`,
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
      this.notify(
        `Policy sync: took down ${done.length} room(s) a list bans on ${this.bot.serverName} (blocked, local members removed): ${done.join(", ")}. Progress: ${this.bot.config.commands.prefix} room status <room>.`,
      );
    if (failed.length > 0)
      this.notify(
        `Policy sync: ${failed.length} room takedown(s) failed, e.g. ${failed[0]!.error ?? "unknown error"}. Is Tyr a server admin? See ${this.bot.config.commands.prefix} log.`,
      );
  }

  private async execute(consequences: Consequence[], plan: BanPlan): Promise<void> {
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
        ? new ProgressMessage(this.bot.queue, this.bot.managementRoomId, { intervalMs: 3_000 })
        : undefined;
    const label = `Policy sync: ${what} member(s)${rooms.size ? ` in ${rooms.size} room(s)` : ""}`;
    // Queued ahead of the bans (front of the queue), not waited for: the bans need not sit out
    // its round trip.
    void progress?.update(`${label}: 0/${consequences.length}`);
    const results = await this.bot.queue.submitAll(consequences, (done, total, failed) => {
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
        `${label}: done, ${results.length - failed.length}/${results.length} succeeded${failed.length ? `; ${failed.length} failed (see ${this.bot.config.commands.prefix} log)` : ""}.`,
      );
    } else if (failed.length > 0) {
      this.notify(
        `Policy sync: ${failed.length} of ${results.length} actions failed, e.g. ${failed[0]!.error ?? "unknown error"}. See ${this.bot.config.commands.prefix} log.`,
      );
    }
  }

  // ---- telling the moderators ---------------------------------------------------------------

  private notify(text: string): void {
    void this.bot.queue.submit({ kind: "notify", text, cause: { by: "system", what: "policy sync" } });
  }

  /** Some problems are worth saying once, not on every sync. */
  private notifyOnce(key: string, text: string): void {
    if (this.reportedOnce.has(key)) return;
    this.reportedOnce.add(key);
    this.bot.log.warn(text);
    this.notify(text);
  }

  /** For commands: the room's shortcode-free label plus counts. */
  describe(list: string): ReturnType<typeof fmt> {
    return fmt`${code(this.displayList(list))}: ${String(this.revisions.get(list)?.size ?? 0)} rules`;
  }
}

/** The raw-event shape the banlists parser reads, rebuilt from the state cache. */
function rawOf(ev: StateEvent): Record<string, unknown> {
  return {
    type: ev.type,
    state_key: ev.stateKey,
    content: ev.content,
    event_id: ev.eventId,
    sender: ev.sender,
  };
}
