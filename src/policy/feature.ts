// Policy-list sync, the imperative shell around src/banlists/. This file only wires its parts:
// the watched lists (watchedLists.ts) feed the matcher, the protected rooms (protectedRooms.ts)
// feed the member index, and every change (startup, new rule, removed rule, someone joining)
// becomes the same reconciliation (reconcile.ts), with autoSuspend (autoSuspend.ts) and room
// takedowns by rule (ruledTakedowns.ts) as parts of it.
import { SampledTimer } from "../metrics/sampler.ts";
import type { BotParts, Feature, Reporting, StatusLine } from "../feature.ts";
import type { BatchMeta, TimelineEvent } from "../router.ts";
import type { StateEvent } from "../matrix/roomState.ts";
import type { RecentEvents } from "../matrix/recentEvents.ts";
import { Matcher } from "../banlists/matcher.ts";
import type { MemberIndex } from "../banlists/members.ts";
import { isEmptyDiff, type PolicyListRevision, type RuleDiff } from "../banlists/policyList.ts";
import { withoutOwnServerRules } from "./plan.ts";
import { LIST_SETTINGS_KEY, PROTECTED_ROOMS_KEY, WATCHED_LISTS_KEY, type ListSettings } from "./settings.ts";
import { errorText } from "../consequences/queue.ts";
import { fmt, code } from "../format/fragment.ts";
import { PolicyNotices, displayRoom } from "./notices.ts";
import { WatchedLists } from "./watchedLists.ts";
import { ProtectedRooms } from "./protectedRooms.ts";
import { AutoSuspend } from "./autoSuspend.ts";
import { RuledTakedowns } from "./ruledTakedowns.ts";
import { Reconciler } from "./reconcile.ts";

export type ListChangeListener = (diff: RuleDiff, list: string) => void;

export class PolicyFeature implements Feature, Reporting {
  readonly name = "policy";
  readonly matcher: Matcher;
  /** Samples how long a member decision takes (for the metrics' latency histogram). */
  readonly decisionTimer = new SampledTimer();
  private readonly bot: BotParts;
  private readonly notices: PolicyNotices;
  private readonly watched: WatchedLists;
  private readonly rooms: ProtectedRooms;
  private readonly autoSuspend: AutoSuspend;
  private readonly takedowns: RuledTakedowns;
  private readonly reconciler: Reconciler;
  private ready = false;
  private readonly listeners: ListChangeListener[] = [];
  /** Settings read before the first batch ended: the first reconciliation waits for them. */
  private readonly startupSettings: Promise<unknown>[] = [];

  constructor(bot: BotParts, recent: RecentEvents) {
    this.bot = bot;
    this.matcher = new Matcher({ serverRulesApplyToUsers: bot.config.acl.banMembersOfDeniedServers });
    this.notices = new PolicyNotices(bot);
    const ready = (): boolean => this.ready;
    const requestFullReconcile = (): void => this.requestFullReconcile();
    this.watched = new WatchedLists(
      bot,
      this.notices,
      {
        ready,
        requestFullReconcile,
        applyDiff: (list, diff, incremental) => this.applyDiff(list, diff, incremental),
        forgetList: (list) => this.matcher.removeList(list),
      },
      (ids) => this.matcher.setListOrder(ids),
    );
    this.rooms = new ProtectedRooms(bot, this.notices, {
      ready,
      requestFullReconcile,
      memberChanged: (user) => this.reconciler.userChanged(user),
    });
    this.autoSuspend = new AutoSuspend(bot, this.watched, (u) => this.decideMember(u));
    this.takedowns = new RuledTakedowns(bot, this.watched, this.rooms.rooms, this.notices);
    this.reconciler = new Reconciler({
      bot,
      notices: this.notices,
      lists: this.watched,
      rooms: this.rooms,
      autoSuspend: this.autoSuspend,
      takedowns: this.takedowns,
      recent,
      decide: (u) => this.decideMember(u),
      ready,
      startupSettled: () => this.startupSettled(),
    });
  }

  // ---- what other parts read -------------------------------------------------------------

  get lists(): readonly string[] {
    return this.watched.ids;
  }

  get protectedRooms(): ReadonlySet<string> {
    return this.rooms.rooms;
  }

  get members(): MemberIndex {
    return this.rooms.members;
  }

  get stats(): Reconciler["stats"] {
    return this.reconciler.stats;
  }

  /** True once the first sync was read and every watched list's rules are in the matcher. */
  get loaded(): boolean {
    return this.ready && this.watched.allLoaded;
  }

  revision(list: string): PolicyListRevision | undefined {
    return this.watched.revision(list);
  }

  /** The ACL feature and others hear about every effective rule change. */
  onListChange(l: ListChangeListener): void {
    this.listeners.push(l);
  }

  /** Resolves when the reconciliation in flight (if any) has been submitted and finished. */
  settled(): Promise<void> {
    return this.reconciler.settled();
  }

  statusLines(): StatusLine[] {
    const lists = this.watched.ids.map(
      (l) => `${this.displayList(l)} (${this.watched.revision(l)?.size ?? "not loaded"} rules)`,
    );
    const stats = this.reconciler.stats;
    return [
      { label: "Protected rooms", value: String(this.rooms.rooms.size) },
      { label: "Watched lists", value: lists.length ? lists.join(", ") : "none" },
      {
        label: "Policy actions",
        value: `${stats.bans} bans · ${stats.unbans} unbans · ${stats.redactions} redactions`,
      },
      { label: "Auto-suspend", value: this.autoSuspend.statusValue() },
      { label: "Room takedown by rules", value: this.takedowns.statusValue() },
    ];
  }

  /** For `rules matching`: the account's suspension by Tyr, or why it is (not) suspended. */
  suspensionNote(user: string): string | undefined {
    return this.autoSuspend.note(user);
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
    return this.watched.settingsOf(list);
  }

  /** Watched lists whose bans also suspend local accounts. */
  autoSuspendLists(): Set<string> {
    return this.autoSuspend.listsOn();
  }

  /** Watched lists whose room rules take rooms down on Tyr's homeserver. */
  autoTakedownLists(): string[] {
    return this.takedowns.listsOn();
  }

  /** Changes some of a watched list's settings (stored in account data) and reconciles. */
  async setListSetting(list: string, change: Partial<ListSettings>): Promise<void> {
    await this.watched.setListSetting(list, change);
  }

  displayList(roomId: string): string {
    return displayRoom(this.bot, roomId);
  }

  /** For commands: the room's shortcode-free label plus counts. */
  describe(list: string): ReturnType<typeof fmt> {
    return fmt`${code(this.displayList(list))}: ${String(this.watched.revision(list)?.size ?? 0)} rules`;
  }

  // ---- settings (account data) ------------------------------------------------------------

  async start(): Promise<void> {
    await this.rooms.addConfigured();
  }

  onAccountData(type: string, content: Record<string, unknown>): void {
    if (type === WATCHED_LISTS_KEY) this.settle(this.watched.applyWatched(content));
    else if (type === LIST_SETTINGS_KEY) this.watched.applySettings(content);
    else if (type === PROTECTED_ROOMS_KEY) this.settle(this.rooms.applyProtected(content));
  }

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

  /** Adds a list at the lowest priority, joins it, persists. */
  watch(roomId: string): Promise<void> {
    return this.watched.watch(roomId);
  }

  unwatch(roomId: string): Promise<void> {
    return this.watched.unwatch(roomId);
  }

  reorder(lists: readonly string[]): Promise<void> {
    return this.watched.reorder(lists);
  }

  protect(roomId: string): Promise<void> {
    return this.rooms.protect(roomId);
  }

  unprotect(roomId: string): Promise<void> {
    return this.rooms.unprotect(roomId);
  }

  // ---- sync ---------------------------------------------------------------------------------

  onState(roomId: string, ev: StateEvent): void {
    const roomEvent = ["m.room.tombstone", "m.room.member", "m.room.power_levels"].includes(ev.type);
    if (this.rooms.rooms.has(roomId) && roomEvent) {
      this.rooms.onState(roomId, ev);
      return;
    }
    if (this.watched.has(roomId) && this.ready) this.watched.onState(roomId, ev);
  }

  onTimeline(ev: TimelineEvent, meta: BatchMeta): void {
    if (ev.type !== "m.room.redaction" || !ev.redacts || !this.ready || meta.initial) return;
    this.watched.onRedaction(ev.roomId, ev.redacts);
  }

  onLeave(roomId: string): void {
    if (this.watched.has(roomId)) {
      // Keep the last known rules: being kicked from a list must not lift its bans.
      this.notices.notify(
        `Tyr is no longer in the watched list ${this.displayList(roomId)}; its last known rules stay in force. Re-invite the bot to follow it again.`,
      );
    }
    if (this.rooms.rooms.has(roomId)) this.rooms.onLeave(roomId);
  }

  onInvite(roomId: string, inviter: string | undefined): void {
    // Re-join lists and protected rooms we were kicked from, when someone invites us back.
    if ((this.watched.has(roomId) || this.rooms.rooms.has(roomId)) && inviter) {
      this.bot.client
        .joinRoom(roomId)
        .catch((e) => this.bot.log.warn({ roomId, error: errorText(e) }, "could not re-join"));
    }
  }

  onBatchEnd(meta: BatchMeta): void {
    if (!this.ready) {
      // First batch of this run: the state cache now has every room's full state.
      this.watched.loadAll();
      this.rooms.loadAll();
      this.ready = true;
      this.reconciler.requestFull();
    }
    void meta;
    this.reconciler.schedule();
  }

  private applyDiff(list: string, diff: RuleDiff, incremental: boolean): void {
    if (isEmptyDiff(diff)) return;
    this.matcher.apply(diff);
    if (incremental) this.reconciler.rulesChanged(diff);
    for (const l of this.listeners) l(diff, list);
  }

  requestFullReconcile(): void {
    this.reconciler.requestFull();
  }
}
