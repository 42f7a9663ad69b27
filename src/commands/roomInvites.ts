// Rooms Tyr is invited to, the shell: a moderator inviting Tyr to a room gets a prompt in the
// management room (✅ joins and protects it, ❌ declines); with protectAllJoinedRooms Tyr joins
// moderators' invites at once and protects every room it is joined to. Invites from anyone else
// are left alone (logged). Prompts live in memory, like ban-propagation prompts.
import type { BotParts, Feature } from "../feature.ts";
import type { BatchMeta, TimelineEvent } from "../router.ts";
import type { Services } from "../services.ts";
import { errorText } from "../consequences/queue.ts";
import { editContent, notice, reactionContent } from "../format/content.ts";
import { code, fmt, type Fragment } from "../format/fragment.ts";
import { moderatorProblem, promptReaction, reactorProblem } from "./prompts.ts";
import { sendToManagementRoom } from "../consequences/housekeeping.ts";
import {
  DECLINE_KEY,
  PROTECT_KEY,
  inviteChoice,
  inviteDecision,
  invitePrompt,
  roomsToProtect,
} from "./roomInvitesPlan.ts";

/** Unanswered prompts kept; the oldest is forgotten first. */
const MAX_PENDING = 200;

interface PendingInvite {
  readonly room: string;
  readonly inviter: string;
}

export class RoomInvites implements Feature {
  readonly name = "room-invites";
  private readonly bot: BotParts;
  private readonly services: Services;
  private readonly pending = new Map<string, PendingInvite>();
  /** Rooms with a prompt out, being protected, or protected by this run: one question per room,
   *  and a room a moderator removes with `rooms remove` is not protected again until a restart. */
  private readonly busy = new Set<string>();
  private readonly running = new Set<Promise<void>>();

  constructor(bot: BotParts, services: Services) {
    this.bot = bot;
    this.services = services;
  }

  private get protectAll(): boolean {
    return this.bot.config.protectAllJoinedRooms;
  }

  onInvite(roomId: string, inviter: string | undefined, name?: string): void {
    const policy = this.services.policy;
    if (!policy || this.busy.has(roomId)) return;
    const known =
      roomId === this.bot.managementRoomId ||
      policy.lists.includes(roomId) ||
      policy.protectedRooms.has(roomId);
    const d = inviteDecision(inviter, {
      known,
      inviterProblem: inviter === undefined ? undefined : moderatorProblem(this.bot, inviter),
      protectAll: this.protectAll,
      safeMode: this.bot.safeMode.active,
    });
    if (d.kind === "ignore") {
      if (!known) this.bot.log.info({ roomId, inviter, why: d.why }, "not acting on an invite");
      return;
    }
    this.busy.add(roomId);
    const job =
      d.kind === "protect"
        ? this.protect(roomId, fmt`${code(d.inviter)} invited Tyr to ${code(roomId)}: `)
        : this.ask(roomId, d.inviter, name);
    this.track(
      job.catch((e) => {
        this.busy.delete(roomId);
        this.bot.log.warn({ roomId, error: errorText(e) }, "could not handle an invite");
      }),
    );
  }

  onBatchEnd(): void {
    const policy = this.services.policy;
    if (!this.protectAll || !policy?.loaded || this.bot.safeMode.active) return;
    const me = this.bot.session.userId;
    const joined = this.bot.state
      .roomIds()
      .filter((r) => !this.busy.has(r) && this.bot.state.peek(r)?.membership(me) === "join")
      .map((roomId) => {
        const type = this.bot.state.peek(roomId)?.createEvent?.content.type;
        return { roomId, type: typeof type === "string" ? type : undefined };
      });
    const rooms = roomsToProtect(joined, {
      managementRoomId: this.bot.managementRoomId,
      watchedLists: policy.lists,
      protectedRooms: policy.protectedRooms,
    });
    for (const room of rooms) {
      this.busy.add(room);
      this.track(
        this.protect(room, fmt`protectAllJoinedRooms: `).catch((e) =>
          this.bot.log.warn({ room, error: errorText(e) }, "could not protect a joined room"),
        ),
      );
    }
  }

  async onTimeline(ev: TimelineEvent, meta: BatchMeta): Promise<void> {
    const rel = promptReaction(this.bot, ev, meta);
    const p = rel && this.pending.get(rel.promptId);
    if (!rel || !p) return;
    const choice = inviteChoice(rel.key);
    if (!choice) return;
    const denied = await reactorProblem(this.bot, this.services, ev);
    if (denied) {
      this.bot.log.info({ sender: ev.sender, why: denied }, "ignored a reaction on an invite prompt");
      return;
    }
    this.pending.delete(rel.promptId);
    this.track(this.answer(rel.promptId, p, choice, ev.sender));
  }

  async stop(): Promise<void> {
    await Promise.allSettled([...this.running]);
  }

  private track(job: Promise<void>): void {
    const done = job.finally(() => this.running.delete(done));
    this.running.add(done);
  }

  private async ask(room: string, inviter: string, name: string | undefined): Promise<void> {
    const body = invitePrompt(room, name ?? room, inviter, this.bot.config.commands.prefix);
    const id = await sendToManagementRoom(this.bot, "m.room.message", { ...notice(body) });
    if (!id) return;
    this.pending.set(id, { room, inviter });
    while (this.pending.size > MAX_PENDING) this.pending.delete(this.pending.keys().next().value!);
    for (const key of [PROTECT_KEY, DECLINE_KEY])
      await sendToManagementRoom(this.bot, "m.reaction", { ...reactionContent(id, key) });
  }

  private async answer(promptId: string, p: PendingInvite, choice: "protect" | "decline", moderator: string) {
    let outcome: Fragment;
    try {
      if (choice === "protect") {
        await this.services.policy!.protect(p.room);
        outcome = fmt`${code(p.inviter)} invited Tyr to ${code(p.room)}; ${code(moderator)} chose ${PROTECT_KEY}: Tyr joined it and protects it now.`;
      } else {
        await this.bot.client.leaveRoom(p.room);
        outcome = fmt`${code(p.inviter)} invited Tyr to ${code(p.room)}; ${code(moderator)} chose ${DECLINE_KEY}: invite declined.`;
      }
    } catch (e) {
      outcome = fmt`Could not ${choice} ${code(p.room)}: ${errorText(e)}. Try ${code(`${this.bot.config.commands.prefix} rooms add ${p.room}`)} after inviting Tyr again.`;
    } finally {
      this.busy.delete(p.room);
    }
    await sendToManagementRoom(this.bot, "m.room.message", { ...editContent(promptId, outcome) });
  }

  /** Joins and protects `room` and says so in the management room. */
  private async protect(room: string, why: Fragment): Promise<void> {
    try {
      await this.services.policy!.protect(room);
      await sendToManagementRoom(this.bot, "m.room.message", {
        ...notice(
          fmt`${why}Tyr joined ${code(room)} and protects it now (${code(`${this.bot.config.commands.prefix} rooms remove ${room}`)} undoes that; with protectAllJoinedRooms on, Tyr protects it again at its next start unless it leaves the room).`,
        ),
      });
    } catch (e) {
      this.busy.delete(room);
      throw e;
    }
  }
}
