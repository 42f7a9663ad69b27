// The rooms Tyr protects: which ones (config file plus account data), joining them, their members
// (the index member bans are decided over), and following a protected room's upgrade.
import type { BotParts } from "../feature.ts";
import type { StateEvent } from "../matrix/roomState.ts";
import { MemberIndex, isTrackedMembership } from "../banlists/members.ts";
import { PROTECTED_ROOMS_KEY, parseProtectedRooms, serialiseProtectedRooms } from "./settings.ts";
import { errorText } from "../consequences/queue.ts";
import { joinNeeded, type PolicyNotices } from "./notices.ts";

export interface RoomHooks {
  /** False until the first sync batch was read (start-up). */
  ready(): boolean;
  requestFullReconcile(): void;
  /** A member's membership changed: their decision must be looked at again. */
  memberChanged(user: string): void;
}

export class ProtectedRooms {
  readonly members = new MemberIndex();
  private readonly set = new Set<string>();
  private raw: unknown = {};

  private readonly bot: BotParts;
  private readonly notices: PolicyNotices;
  private readonly hooks: RoomHooks;

  constructor(bot: BotParts, notices: PolicyNotices, hooks: RoomHooks) {
    this.bot = bot;
    this.notices = notices;
    this.hooks = hooks;
  }

  get rooms(): ReadonlySet<string> {
    return this.set;
  }

  /** Rooms named in the config are protected in addition to the account data list. */
  async addConfigured(): Promise<void> {
    for (const ref of this.bot.config.protectedRooms) {
      try {
        this.set.add(await this.bot.client.resolveRoom(ref));
      } catch (e) {
        this.notices.notifyOnce(
          `resolve:${ref}`,
          `Cannot resolve protected room ${ref} from the config: ${errorText(e)}`,
        );
      }
    }
  }

  /** The protected-rooms account data changed. */
  applyProtected(content: unknown): Promise<void> {
    this.raw = content;
    const parsed = parseProtectedRooms(content);
    for (const p of parsed.problems) this.bot.log.warn(p);
    return this.setProtected(parsed.rooms, false);
  }

  async protect(roomId: string): Promise<void> {
    await this.bot.client.joinRoom(roomId);
    const rooms = parseProtectedRooms(this.raw).rooms;
    if (!rooms.includes(roomId)) {
      const content = serialiseProtectedRooms(this.raw, [...rooms, roomId]);
      await this.bot.client.setAccountData(PROTECTED_ROOMS_KEY, content);
      this.raw = content;
    }
    await this.setProtected([...rooms, roomId], true);
  }

  async unprotect(roomId: string): Promise<void> {
    const rooms = parseProtectedRooms(this.raw).rooms.filter((r) => r !== roomId);
    const content = serialiseProtectedRooms(this.raw, rooms);
    await this.bot.client.setAccountData(PROTECTED_ROOMS_KEY, content);
    this.raw = content;
    this.set.delete(roomId);
    this.members.removeRoom(roomId);
  }

  private async setProtected(refs: string[], fromCommand: boolean): Promise<void> {
    const atStartup = !this.hooks.ready() && !fromCommand;
    for (const ref of refs) {
      let id = ref;
      try {
        if (ref.startsWith("#")) id = await this.bot.client.resolveRoom(ref);
      } catch (e) {
        this.notices.notifyOnce(`resolve:${ref}`, `Cannot resolve protected room ${ref}: ${errorText(e)}`);
        continue;
      }
      if (this.set.has(id)) continue;
      this.set.add(id);
      if (this.bot.state.peek(id)?.createEvent === undefined && !fromCommand) {
        const room = { roomId: id, what: `the protected room ${id}`, fix: `rooms remove ${id}` };
        await joinNeeded(this.bot, this.notices, { ...room, hint: "Invite the bot." }, atStartup);
      }
      this.loadMembers(id);
    }
    if (this.hooks.ready()) this.hooks.requestFullReconcile();
  }

  /** Reads every protected room's members from the state cache (the first batch of a run). */
  loadAll(): void {
    for (const room of this.set) this.loadMembers(room);
  }

  private loadMembers(roomId: string): void {
    const room = this.bot.state.peek(roomId);
    if (!room) return;
    this.members.setRoomMembers(
      roomId,
      [...room.all("m.room.member")].map((ev) => [ev.stateKey, ev.content.membership] as const),
    );
  }

  /** A state event in a protected room. */
  onState(roomId: string, ev: StateEvent): void {
    if (ev.type === "m.room.tombstone") {
      void this.followUpgrade(roomId, ev);
    } else if (ev.type === "m.room.member") {
      this.members.setMembership(roomId, ev.stateKey, ev.content.membership);
      if (isTrackedMembership(ev.content.membership)) this.hooks.memberChanged(ev.stateKey);
    } else if (ev.type === "m.room.power_levels") {
      // The bot may have gained the power it lacked: look at everyone again.
      this.notices.forget(`nopower:${roomId}`);
      if (this.hooks.ready()) this.hooks.requestFullReconcile();
    }
  }

  onLeave(roomId: string): void {
    this.members.removeRoom(roomId);
    this.notices.notify(
      `Tyr is no longer in the protected room ${roomId}; it cannot moderate it until it is invited back.`,
    );
  }

  /**
   * A protected room was upgraded: protect its replacement instead (Tyr joins it; the old room is
   * read-only for members after an upgrade). Seeing the tombstone again later (a restart, an old
   * room still named in the config file) changes nothing more.
   */
  private async followUpgrade(oldRoom: string, ev: StateEvent): Promise<void> {
    const replacement = ev.content.replacement_room;
    if (typeof replacement !== "string" || !replacement.startsWith("!") || replacement === oldRoom) return;
    const already = this.set.has(replacement);
    try {
      if (!already) await this.protect(replacement);
      await this.unprotect(oldRoom);
    } catch (e) {
      this.notices.notifyOnce(
        `upgrade:${oldRoom}`,
        `The protected room ${oldRoom} was upgraded to ${replacement}, but Tyr could not join it: ${errorText(e)}. Invite Tyr there, then run "${this.bot.config.commands.prefix} rooms add ${replacement}".`,
      );
      return;
    }
    if (!already)
      this.notices.notify(
        `The protected room ${oldRoom} was upgraded; Tyr now protects its replacement ${replacement} instead. Check that Tyr can moderate there ("${this.bot.config.commands.prefix} rooms").`,
      );
  }
}
