// Following the watched policy lists: which lists (in priority order, from account data), their
// Tyr settings, joining them, reading their rules from room state and live events, and following
// a list's upgrade. Every rule change leaves here as a RuleDiff through `hooks.applyDiff`.
import type { BotParts } from "../feature.ts";
import type { StateEvent } from "../matrix/roomState.ts";
import { policyType } from "../banlists/parse.ts";
import {
  applyRedaction,
  applyStateEvent,
  emptyRevision,
  fromState,
  type PolicyListRevision,
  type RuleDiff,
} from "../banlists/policyList.ts";
import {
  DEFAULT_LIST_SETTINGS,
  LIST_SETTINGS_KEY,
  WATCHED_LISTS_KEY,
  parseListSettings,
  parseWatchedLists,
  serialiseWatchedLists,
  withListSettings,
  type ListSettings,
} from "./settings.ts";
import { errorText } from "../consequences/queue.ts";
import { joinNeeded, type PolicyNotices } from "./notices.ts";

export interface ListHooks {
  /** False until the first sync batch was read (start-up). */
  ready(): boolean;
  /** A list's rules changed; `incremental` is false for a whole list (re)loaded. */
  applyDiff(list: string, diff: RuleDiff, incremental: boolean): void;
  /** A list is read again from scratch: its earlier rules leave the matcher first. */
  forgetList(list: string): void;
  /** Priorities or settings changed: every decision may have changed. */
  requestFullReconcile(): void;
}

export class WatchedLists {
  private readonly revisions = new Map<string, PolicyListRevision>();
  /** Watched list room IDs, highest priority first. */
  private order: string[] = [];
  private watchedRaw: unknown = {};
  private settingsRaw: unknown = {};
  private settings = new Map<string, ListSettings>();

  private readonly bot: BotParts;
  private readonly notices: PolicyNotices;
  private readonly hooks: ListHooks;
  /** Called with the new priority order before any rule of a new or dropped list moves. */
  private readonly onOrder: (ids: readonly string[]) => void;

  constructor(
    bot: BotParts,
    notices: PolicyNotices,
    hooks: ListHooks,
    onOrder: (ids: readonly string[]) => void,
  ) {
    this.bot = bot;
    this.notices = notices;
    this.hooks = hooks;
    this.onOrder = onOrder;
  }

  get ids(): readonly string[] {
    return this.order;
  }

  has(roomId: string): boolean {
    return this.order.includes(roomId);
  }

  /** True when every watched list's rules are known. */
  get allLoaded(): boolean {
    return this.order.every((l) => this.revisions.has(l));
  }

  revision(list: string): PolicyListRevision | undefined {
    return this.revisions.get(list);
  }

  /** A watched list's Tyr settings (defaults when none are stored). */
  settingsOf(list: string): ListSettings {
    return this.settings.get(list) ?? DEFAULT_LIST_SETTINGS;
  }

  /** Watched lists with a setting on, in priority order. */
  withSetting(key: "autoSuspend" | "autoTakedownRooms"): string[] {
    return this.order.filter((l) => this.settingsOf(l)[key]);
  }

  /** Changes some of a watched list's settings (stored in account data). */
  async setListSetting(list: string, change: Partial<ListSettings>): Promise<void> {
    const content = withListSettings(this.settingsRaw, list, { ...this.settingsOf(list), ...change });
    await this.bot.client.setAccountData(LIST_SETTINGS_KEY, content);
    this.applySettings(content);
  }

  applySettings(content: unknown): void {
    this.settingsRaw = content;
    const parsed = parseListSettings(content);
    for (const p of parsed.problems) this.bot.log.warn(p);
    this.settings = parsed.lists;
    if (this.hooks.ready()) this.hooks.requestFullReconcile();
  }

  /** The watched-lists account data changed (another client, or Tyr itself at start-up). */
  applyWatched(content: unknown): Promise<void> {
    this.watchedRaw = content;
    const parsed = parseWatchedLists(content);
    for (const p of parsed.problems) this.bot.log.warn(p);
    return this.setWatched(parsed.rooms);
  }

  /** Adds a list at the lowest priority, joins it, persists. */
  async watch(roomId: string): Promise<void> {
    if (this.order.includes(roomId)) return;
    await this.bot.client.joinRoom(roomId);
    await this.persist([...this.order, roomId]);
  }

  async unwatch(roomId: string): Promise<void> {
    await this.persist(this.order.filter((r) => r !== roomId));
  }

  async reorder(lists: readonly string[]): Promise<void> {
    await this.persist(lists);
  }

  private async persist(lists: readonly string[]): Promise<void> {
    const content = serialiseWatchedLists(this.watchedRaw, lists);
    await this.bot.client.setAccountData(WATCHED_LISTS_KEY, content);
    this.watchedRaw = content;
    await this.setWatched([...lists]);
  }

  private async setWatched(refs: string[]): Promise<void> {
    // Settings read before the first sync is handled are start-up: a list that cannot be joined
    // then puts Tyr in safe mode (README: Safe mode); later it is only reported.
    const atStartup = !this.hooks.ready();
    const ids: string[] = [];
    for (const ref of refs) {
      try {
        ids.push(ref.startsWith("#") ? await this.bot.client.resolveRoom(ref) : ref);
      } catch (e) {
        this.notices.notifyOnce(`resolve:${ref}`, `Cannot resolve the watched list ${ref}: ${errorText(e)}`);
      }
    }
    const removed = this.order.filter((l) => !ids.includes(l));
    const added = ids.filter((l) => !this.order.includes(l));
    this.order = ids;
    this.onOrder(ids);
    for (const list of removed) {
      const rev = this.revisions.get(list);
      this.revisions.delete(list);
      if (rev) this.hooks.applyDiff(list, { added: [], modified: [], removed: [...rev.rules()] }, true);
    }
    for (const list of added) {
      if (this.bot.state.peek(list)?.createEvent === undefined) {
        const room = { roomId: list, what: `the watched list ${list}`, fix: `unwatch ${list}` };
        const hint = "Invite the bot or check the room ID.";
        await joinNeeded(this.bot, this.notices, { ...room, hint }, atStartup);
      }
      if (this.hooks.ready()) this.load(list, atStartup);
    }
    if (this.hooks.ready()) this.hooks.requestFullReconcile();
  }

  /** Reads every watched list from the state cache (the first batch of a run). */
  loadAll(): void {
    for (const list of this.order) this.load(list, true);
  }

  private load(list: string, atStartup = false): void {
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
    if (previous) this.hooks.forgetList(list);
    this.hooks.applyDiff(list, result.diff, false);
  }

  /** A state event in a watched list (after start-up). */
  onState(list: string, ev: StateEvent): void {
    if (ev.type === "m.room.tombstone") {
      void this.followTombstone(list, ev);
      return;
    }
    if (policyType(ev.type) === null) return;
    const rev = this.revisions.get(list) ?? emptyRevision(list);
    const result = applyStateEvent(rev, rawOf(ev));
    this.revisions.set(list, result.revision);
    for (const r of result.rejected)
      this.bot.log.info({ list, stateKey: r.stateKey, reason: r.reason }, "ignored an invalid policy event");
    this.hooks.applyDiff(list, result.diff, true);
  }

  /** A redaction in a watched list removes the rule it redacts. */
  onRedaction(list: string, redacts: string): void {
    const rev = this.revisions.get(list);
    if (!rev) return;
    const result = applyRedaction(rev, redacts);
    this.revisions.set(list, result.revision);
    this.hooks.applyDiff(list, result.diff, true);
  }

  /**
   * A watched list was upgraded: follow the replacement too, right after it. The old list stays
   * watched, because an upgrade does not copy policy rules: dropping it would lift every ban its
   * rules caused until the maintainers re-add them. Moderators unwatch it once the rules moved.
   */
  private async followTombstone(oldRoom: string, ev: StateEvent): Promise<void> {
    const replacement = ev.content.replacement_room;
    if (typeof replacement !== "string" || !replacement.startsWith("!") || replacement === oldRoom) return;
    if (this.order.includes(replacement)) return;
    try {
      await this.bot.client.joinRoom(replacement);
      const lists = [...this.order];
      lists.splice(lists.indexOf(oldRoom) + 1, 0, replacement);
      await this.persist(lists);
      this.notices.notify(
        `The watched list ${oldRoom} was upgraded; Tyr now follows its replacement ${replacement} too. The old list's rules stay in force (nothing is unbanned); once they are in the new list, run "${this.bot.config.commands.prefix} unwatch ${oldRoom}".`,
      );
    } catch (e) {
      this.notices.notifyOnce(
        `upgrade:${oldRoom}`,
        `The watched list ${oldRoom} was upgraded to ${replacement}, but Tyr could not join it: ${errorText(e)}`,
      );
    }
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
